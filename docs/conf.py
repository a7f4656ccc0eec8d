"""Sphinx configuration of the softmaxkit documentation site.

Build it (offline; warnings are errors, as in tests/test_docs.py) with

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

and open ``docs/_build/html/index.html``. The API reference comes from the
numpydoc docstrings, the theory page is ``theory.md``, generated from
``softmaxkit.theory`` (``python -m softmaxkit.theory --docs > docs/theory.md``),
and the gallery runs every script in ``examples/`` at build time.
"""

from __future__ import annotations

import os

import softmaxkit

project = "softmaxkit"
author = "softmaxkit developers"
copyright = "softmaxkit developers"
release = softmaxkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.zip"]

# Markdown pages: $...$ and $$...$$ mathematics (MathJax), anchors for ## and ### headings
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# numpydoc: no autosummary tables of members (the API page lists what is public)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types
autodoc_member_order = "bysource"

sphinx_gallery_conf = {
    "examples_dirs": os.path.join(os.path.dirname(__file__), "..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py runs at build time
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
}

html_theme = "alabaster"
html_title = f"softmaxkit {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "The softmax family, exact at every edge, and the classifier built on it.",
    "fixed_sidebar": True,
}
mathjax3_config = {"tex": {"packages": {"[+]": ["ams"]}}}

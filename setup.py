"""The compiled core (softmaxkit._fast._core) is the only thing setup.py adds to
pyproject.toml: a C extension built when the package is installed. It is optional:
without a C compiler (or if the build fails) the package installs and runs on its
NumPy path, and ``softmaxkit --version`` says which one is in use. Nothing is
compiled at import."""

from __future__ import annotations

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    compile_args = ["/O2"]
else:
    # -fno-trapping-math lets the compiler vectorise the branch-free exponential (a
    # comparison that could trap otherwise blocks if-conversion); no result
    # depends on floating-point exception flags. -ffp-contract=off: no fused
    # multiply-adds the source does not write, so that a row's result does not
    # depend on whether it fell in a loop's vector body or its scalar remainder
    # (with contraction they differed by up to 2 ulp, so results changed with the
    # block partition).
    compile_args = ["-O3", "-fno-trapping-math", "-ffp-contract=off"]

setup(
    ext_modules=[
        Extension(
            "softmaxkit._fast._core",
            ["src/softmaxkit/_fast/_core.c"],
            depends=[  # the kernels, included per instruction set and precision
                "src/softmaxkit/_fast/_core_isa.h",
                "src/softmaxkit/_fast/_core_tile.h",
            ],
            extra_compile_args=compile_args,
            optional=True,
        )
    ]
)

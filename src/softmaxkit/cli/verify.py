"""``softmaxkit verify``: prove the six results and print the report."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "check the six softmax results symbolically (SymPy) and numerically"
EPILOG = """examples:
  softmaxkit verify
  softmaxkit verify --format markdown > theory.md
  softmaxkit verify --format json
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        allow_abbrev=False,  # --c must not silently mean --calibrate
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--details", action="store_true", help="every step (text format)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..theory.__main__ import main

    argv = ["--format", args.format] + (["--details"] if args.details else [])
    return main(argv)

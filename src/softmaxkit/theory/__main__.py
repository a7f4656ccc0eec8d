"""``python -m softmaxkit.theory``: prove the six results and print the report.

Exit status 0 when every result is proven, 1 when any check fails, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import MISSING_SYMPY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m softmaxkit.theory",
        description="Check the six softmax results symbolically (SymPy) and numerically.",
        epilog=(
            "examples:\n"
            "  python -m softmaxkit.theory\n"
            "  python -m softmaxkit.theory --details\n"
            "  python -m softmaxkit.theory --format json > theory.json\n"
            "  python -m softmaxkit.theory --docs > docs/theory.md"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    parser.add_argument("--details", action="store_true", help="show every step (text format)")
    parser.add_argument(
        "--docs", action="store_true", help="print docs/theory.md (Markdown, no measured numbers)"
    )
    args = parser.parse_args(argv)
    try:
        from . import verify_all
        from ._report import docs_markdown, render_json, render_markdown, render_text
        from ._unicode import to_unicode
    except ImportError:
        sys.stderr.write(f"error: {MISSING_SYMPY}\n")
        return 2
    live = sys.stderr.isatty()  # a progress line on a terminal; nothing in a pipe or log
    start = time.perf_counter()

    def progress(i: int, n: int, title: str) -> None:
        elapsed = time.perf_counter() - start
        sys.stderr.write(f"\r\033[Kchecking {i}/{n}: {to_unicode(title)} ({elapsed:.0f} s)")
        sys.stderr.flush()

    checks = verify_all(progress=progress if live else None)
    if live:
        sys.stderr.write("\r\033[K")  # the line erased: the report follows cleanly
        sys.stderr.flush()
    if args.docs:
        text = docs_markdown(checks)
    elif args.format == "json":
        text = render_json(checks)
    elif args.format == "markdown":
        text = render_markdown(checks)
    else:
        text = render_text(checks, details=args.details)
    sys.stdout.write(text)
    return 0 if all(c.status == "proven" for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

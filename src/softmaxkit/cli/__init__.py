"""The ``softmaxkit`` command line: train, evaluate, predict, verify, jacobian.

Each command lives in its own module; this one builds the parser and turns bad
input into a one-line message and exit status 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from .. import __version__
from ._errors import MISSING_EXTRA, UsageError

__all__ = ["load_model", "main"]


def load_model(path: str):  # type: ignore[no-untyped-def]
    """The fitted scikit-learn ``Pipeline`` (scaler + SoftmaxRegression) in a run's model.npz.

    Returns ``(pipeline, feature_columns, target_column)``; ``pipeline.predict``
    takes raw rows with those columns, exactly as ``softmaxkit predict`` does.
    """
    from ._model import load_model as _load

    return _load(path)


class _Parser(argparse.ArgumentParser):
    """argparse with the project's rule for bad input: one line, exit status 2 (its
    own ``error`` prints the whole usage block first). Sub-commands inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    """``softmaxkit X.Y.Z`` and, on a second line, which path the NumPy kernels take."""
    from .._fast.numpy import compiled_core

    return f"softmaxkit {__version__}\n{compiled_core()}"


def build_parser() -> argparse.ArgumentParser:
    from . import evaluate, jacobian, predict, train, verify

    parser = _Parser(
        prog="softmaxkit",
        allow_abbrev=False,
        description="Train, evaluate and use a multinomial softmax classifier; check the "
        "softmax results behind it.",
        epilog="examples:\n  softmaxkit train\n  softmaxkit train data.csv --target label "
        "--calibrate\n  softmaxkit predict runs/<run>/model.npz new.csv --proba\n"
        "  softmaxkit jacobian 5 7 8\n\nsee 'softmaxkit COMMAND --help' for each command",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (train, evaluate, predict, verify, jacobian):
        module.add_parser(sub)
    return parser


def _needs_tables(command: str) -> bool:
    return command in ("train", "evaluate", "predict")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the report
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    command = args.run.__module__.rsplit(".", 1)[-1]  # the module is named as the command
    try:
        if _needs_tables(command):
            try:
                import matplotlib  # noqa: F401
                import pandas  # noqa: F401
            except ImportError:
                raise UsageError(MISSING_EXTRA) from None
        return int(args.run(args))
    except UsageError as exc:
        sys.stderr.write(f"softmaxkit {command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("softmaxkit: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0

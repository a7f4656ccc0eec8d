"""The one exception the commands raise for bad input: printed as one line, exit 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: a message saying what is wrong and what to do."""


MISSING_EXTRA = 'the command line needs pandas and matplotlib: pip install "softmaxkit[cli]"'

"""InputError: a problem with something the user gave (a file, a field, a flag), not a bug.

The command line shows an InputError as one line with exit code 2; any other exception is an
internal error, shown with a hint to rerun in debug mode for the traceback."""

from __future__ import annotations


class InputError(ValueError):
    """A bad input file, field or flag; str() is one line that names it."""

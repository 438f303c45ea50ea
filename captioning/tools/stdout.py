"""`captioning caption -o -`: records as JSONL on standard output, and nothing else there."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator


class StdoutLog:
    """Standard output as a records log: UTF-8 bytes (an undecodable file name is written as a
    \\udcXX escape, as in files), flushed per batch, never closed. A closed pipe (`| head`) is a
    system error, after which the process's stdout goes to /dev/null so exiting stays quiet."""

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        buffer = getattr(sys.stdout, "buffer", None)
        with _pipe():
            if buffer is None:  # a text-only stream (a notebook's, a test's)
                sys.stdout.write(data.decode("utf-8"))
            else:
                sys.stdout.flush()
                buffer.write(data)

    def flush(self) -> None:
        with _pipe():
            sys.stdout.flush()

    def close(self) -> None:
        """Standard output stays open: it is the process's, not this log's."""


@contextlib.contextmanager
def _pipe() -> Iterator[None]:
    """A reader that went away becomes one system error naming standard output."""
    try:
        yield
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        raise OSError(errno.EPIPE, os.strerror(errno.EPIPE), "standard output") from None

"""Progress that reads well wherever it goes: a tqdm bar on a terminal; elsewhere (a log file, a
pipe, torchrun's collected output) a plain log line every quarter of the work, so logs never
fill with carriage-return fragments of a redrawn bar."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

log = logging.getLogger("captioning.progress")
LINES = 4  # log lines per pass when stderr is not a terminal


def on_terminal() -> bool:
    return sys.stderr.isatty()


class _Lines:
    """tqdm's update/set_postfix/close, written as a few log lines instead of a redrawn bar."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.done = total, desc, unit, 0
        self.every = max(1, math.ceil(total / LINES)) if total else None
        self.next = self.every

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.next is not None and self.done >= self.next:
            log.info("%s: %d/%d %s", self.desc, self.done, self.total, self.unit)
            self.next += self.every

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def counter(total: int | None, desc: str, enabled: bool = True, unit: str = "it") -> Any:
    """A counter with tqdm's update(n): a bar on a terminal, log lines elsewhere, nothing when
    not enabled. Use it as a context manager."""
    if enabled and on_terminal():
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
    return _Lines(total if enabled else None, desc, unit)


def progress_bar(items: Iterable, desc: str, enabled: bool = True, unit: str = "it") -> Iterator:
    """Iterate over items while showing progress (see counter)."""
    total = len(items) if hasattr(items, "__len__") else None
    with counter(total, desc, enabled, unit) as count:
        for item in items:
            yield item
            count.update(1)

"""Progress of long work: tqdm's bar on a terminal, plain lines elsewhere.

Off a terminal (CI, logs, notebooks) tqdm's bar is either silent or a stream of carriage returns; there a
line goes to stderr every tenth of the work (and at least every ``interval`` seconds), with the rate and
the time left, so that a log shows that the work advances and when it will end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``update(n)`` as work is done, ``close()`` (or a ``with`` block) at the end."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", file: IO[str] | None = None,
                 interval: float = 30.0) -> None:
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.file = file or sys.stderr
        self.done = 0
        self.start = self.last_line = time.perf_counter()
        self.step = max(1, -(-total // 10)) if total else None
        isatty = getattr(self.file, "isatty", None)
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.file, leave=False) \
            if isatty is not None and isatty() else None

    def update(self, n: int = 1, **postfix: Any) -> None:
        before, self.done = self.done, self.done + n
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix(**postfix)
            return
        now = time.perf_counter()
        crossed = self.step is not None and self.done // self.step > before // self.step
        if crossed or now - self.last_line >= self.interval:
            self.last_line = now
            print(self._line(now - self.start), file=self.file, flush=True)

    def _line(self, elapsed: float) -> str:
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        line = f"{self.desc}: {count} {self.unit}, {rate:.1f} {self.unit}/s"
        if self.total and rate and self.done < self.total:
            line += f", {_duration((self.total - self.done) / rate)} left"
        return line + f" ({_duration(elapsed)} elapsed)"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(items: Iterable[T], desc: str, unit: str = "it", total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` while reporting progress (``total`` defaults to ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit) as bar:
        for item in items:
            yield item
            bar.update()

"""The bot's sense of time. Logic takes `now` as a parameter; the running bot asks a Clock.

`OffsetFileClock` lets the sandbox and crash tests move a separately running bot through time
(`:advance 7d`): the file holds seconds to add to the real time. It is never used in production.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # epoch seconds


def system_clock() -> float:
    return time.time()


class OffsetFileClock:
    def __init__(self, path: Path, base: Clock = system_clock) -> None:
        self.path = path
        self.base = base
        self._stamp: tuple[int, int] | None = None
        self._offset = 0.0

    def _read_offset(self) -> float:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return 0.0
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._offset = float(self.path.read_text().strip() or 0)
            except (OSError, ValueError):
                log.warning(
                    "clock file %s is unreadable; keeping offset %s", self.path, self._offset
                )
            self._stamp = stamp
        return self._offset

    def __call__(self) -> float:
        return self.base() + self._read_offset()

    def advance(self, seconds: float) -> None:
        new = self._read_offset() + seconds
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(new))
        os.replace(tmp, self.path)


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)

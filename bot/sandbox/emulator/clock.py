"""A settable clock for tests: pass `ManualClock()` as the emulator's clock, then `advance()`."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class ManualClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float = 1_735_689_600.0) -> None:  # 2025-01-01T00:00:00Z
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; got {seconds} seconds")
        self.now += seconds
        return self.now

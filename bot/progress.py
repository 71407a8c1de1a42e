"""A small progress display for long terminal commands (no progress library is installed).

On a terminal: one line redrawn in place, `transcripts [########------] 120/200`. Elsewhere
(a pipe, a log file, CI): a plain `transcripts: 120/200` line at each tenth and at the end, so
logs stay readable. Writes to the stream it is given (stderr by default), never to stdout,
which stays for the command's result.
"""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._stage = ""
        self._shown = -1  # tenths shown in plain mode
        self._open = False  # a TTY line waiting for its newline

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self._end_line()
            self._stage, self._shown = stage, -1
        if total <= 0:
            return
        done = max(0, min(done, total))
        if self.tty:
            filled = WIDTH * done // total
            bar = "#" * filled + "-" * (WIDTH - filled)
            self.stream.write(f"\r{stage} [{bar}] {done}/{total}")
            self._open = True
            if done == total:
                self._end_line()
        else:
            tenth = 10 * done // total
            if tenth > self._shown and (tenth == 10 or total >= 10):
                self._shown = tenth
                self.stream.write(f"{stage}: {done}/{total}\n")
        self.stream.flush()

    def close(self) -> None:
        self._end_line()

    def _end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

"""Leaving the sandbox: Ctrl-C at its prompt (a terminal sends SIGINT to the foreground process
group) or a SIGTERM leaves at once, with the bot process stopped gracefully, once."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]


def read_until(fd: int, text: str, deadline: float) -> str:
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other side closed
                break
            seen += chunk
            if text.encode() in seen:
                return seen.decode(errors="replace")
    raise AssertionError(f"{text!r} never came; the screen had:\n{seen.decode(errors='replace')}")


def start_at_a_terminal(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`vgbot sandbox` on a pseudo-terminal, in a process group of its own (as a shell runs a
    foreground job), once its prompt shows; and the terminal's side to read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    env["VGBOT_DB"] = str(tmp_path / "vgbot.sqlite3")
    main, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox"],
        cwd=REPO,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        read_until(main, "member #general> ", time.monotonic() + 90)
    except BaseException:
        proc.kill()
        os.close(main)
        raise
    return proc, main


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_at_the_prompt_leaves_at_once_and_stops_the_bot_once(tmp_path, sig):
    proc, main = start_at_a_terminal(tmp_path)
    try:
        os.killpg(proc.pid, sig)  # what the terminal does on Ctrl-C: the whole group
        assert proc.wait(timeout=30) == 0  # not after one more Enter
        # The terminal is left as the shell needs it: echo and line editing on.
        modes = termios.tcgetattr(main)[3]
        assert modes & termios.ECHO and modes & termios.ICANON
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    log = (tmp_path / "sandbox" / "bot.log").read_text()
    assert "shutting down" in log and "second signal" not in log, log[-2000:]
    assert "bot.chat.runner: stopped" in log, log[-2000:]


def test_no_bot_outlives_a_sandbox_killed_outright(tmp_path):
    """SIGKILL (or Ctrl-\\) gives the sandbox no chance to stop its bot: the bot stops
    itself, gracefully, when its parent dies."""
    proc, main = start_at_a_terminal(tmp_path)
    try:
        (bot,) = psutil.Process(proc.pid).children()
        proc.kill()
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs([bot], timeout=30)
        assert gone and not alive
    finally:
        for child in psutil.Process(proc.pid).children() if proc.poll() is None else []:
            child.kill()
        os.close(main)
    log = (tmp_path / "sandbox" / "bot.log").read_text()
    assert "bot.chat.runner: stopped" in log, log[-2000:]

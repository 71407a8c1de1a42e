"""The environment of a bot process pointed at the local emulator (the sandbox, and the tests
that run the bot as its own process): the same `vgbot run` as production, other settings."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.sandbox.emulator import Emulator


def bot_env(
    emu: Emulator,
    guild_id: int,
    *,
    db: Path,
    content_dir: Path,
    prompts_dir: Path,
    clock_offset_file: Path,
    base: Mapping[str, str],
    **settings: Any,
) -> dict[str, str]:
    """`base` (usually os.environ) plus what connects the bot to `emu`; `settings` become
    VGBOT_<NAME> variables (e.g. tick_interval=0.2)."""
    env = dict(base)
    env.update(
        {
            "DISCORD_TOKEN": emu.token,
            "DISCORD_API_BASE": emu.api_base,
            "DISCORD_GATEWAY_URL": emu.gateway_url,
            "VGBOT_DB": str(db),
            "VGBOT_CONTENT_DIR": str(content_dir),
            "VGBOT_PROMPTS_DIR": str(prompts_dir),
            "VGBOT_DEV_GUILD_ID": str(guild_id),
            "VGBOT_CLOCK_OFFSET_FILE": str(clock_offset_file),
        }
    )
    env.update({f"VGBOT_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def _stopped_with_this_process() -> Callable[[], None] | None:
    """For the child, before it runs: SIGTERM when the process that started it dies, however
    it dies (SIGKILL, Ctrl-\\), so no bot outlives its sandbox (Linux's PR_SET_PDEATHSIG).
    libc is loaded here, in the parent: the child only makes the call."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None  # not Linux: the sandbox's own signal handlers are all there is
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return setup


_PR_SET_PDEATHSIG = 1


def spawn_bot(
    env: Mapping[str, str], log_path: Path, *, stop_with_parent: bool = False
) -> subprocess.Popen[bytes]:
    """`python -m bot run` with `env`, its output appended to `log_path`. `stop_with_parent`
    (from the main thread only: Linux ties it to the thread that starts the child)."""
    setup = _stopped_with_this_process() if stop_with_parent else None
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C at the sandbox's prompt (which the terminal sends to the
            # whole foreground group) reaches the sandbox alone, which then stops the bot with
            # one SIGTERM, gracefully. Two signals would read as "stop at once".
            start_new_session=True,
            preexec_fn=setup,  # a C call, made ready in the parent
        )

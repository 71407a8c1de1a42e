"""The bot's heartbeat task: rewrite the health file (bot/health.py) while connected.

`detail()` says what to write, or None while the bot is not connected: then no beat is
written, the file ages, and `vgbot health` (Docker's HEALTHCHECK) reports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.health import HEARTBEAT_INTERVAL, write_heartbeat

log = logging.getLogger(__name__)

NOT_CONNECTED_RECHECK = 1.0  # seconds: beat soon after (re)connecting, not a whole interval late


async def beat(
    path: Path,
    *,
    clock: Callable[[], float],
    detail: Callable[[], Mapping[str, Any] | None],
    interval: float = HEARTBEAT_INTERVAL,
) -> None:
    """Beat every `interval` seconds while `detail()` gives something, until cancelled."""
    log.info("heartbeat: %s every %g s while connected", path, interval)
    while True:
        now = detail()
        if now is None:
            await asyncio.sleep(min(interval, NOT_CONNECTED_RECHECK))
            continue
        await asyncio.to_thread(write_heartbeat, path, clock(), now)
        await asyncio.sleep(interval)

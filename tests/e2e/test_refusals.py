"""What the operator, moderators and members are told when Discord says no: the real bot against
the emulator, which answers as Discord does (a reset token, refusals with Discord's JSON codes)."""

from __future__ import annotations

import asyncio

import pytest

from bot.chat.runner import serve
from tests.e2e.conftest import BotFactory, World


async def test_a_token_reset_while_running_stops_the_bot_with_the_fix(
    world: World, bots: BotFactory, caplog: pytest.LogCaptureFixture
):
    """Reset in the Developer Portal, the old token is refused when the bot reconnects (4004):
    the operator is told to set the new one, and the exit status (2) stops systemd's restarts."""
    running = asyncio.create_task(serve(bots.settings()))
    await world.emu.wait_ready(timeout=20)
    world.emu.reset_token()
    await world.emu.drop_gateway(4000)
    assert await asyncio.wait_for(running, 30) == 2
    (stopped,) = [r for r in caplog.records if r.name == "bot.chat.runner" and r.levelno >= 40]
    assert "Discord refused the token" in stopped.getMessage()
    assert "DISCORD_TOKEN" in stopped.getMessage() and stopped.exc_info is None
    assert world.emu.token not in caplog.text

"""What the operator, moderators and members are told when Discord says no: the real bot against
the emulator, which answers as Discord does (a reset token, refusals with Discord's JSON codes)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta

import pytest

from bot.chat.runner import serve
from tests.e2e.conftest import BotFactory, World
from tests.e2e.test_scheduling_e2e import bot_posts, cog_of, command, weekly_options


def outbox(bots: BotFactory) -> list[sqlite3.Row]:
    with sqlite3.connect(bots.settings().db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM outbox ORDER BY due_at").fetchall()


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


async def test_a_post_refused_for_the_token_waits_for_a_good_one(world: World, bots: BotFactory):
    """A 401 is the operator's token, not the post: the post is kept, not failed, and goes out
    once when Discord accepts the bot again."""
    run = await bots.start()
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=5))
    )
    world.emu.inject_fault("POST", rf"^/channels/{world.general.id}/messages$", 401)
    world.clock.advance(5 * 60 + 1)
    await cog_of(run).ticker.tick()
    assert bot_posts(world, world.general) == []
    (row,) = outbox(bots)
    assert row["state"] != "failed" and "DISCORD_TOKEN" in row["last_error"], dict(row)

    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 1
    assert "✅" in (await command(world, "weekly", "show"))["content"]


async def test_a_thread_refused_after_its_message_says_the_message_is_up(
    world: World, bots: BotFactory
):
    """Discord's server-wide limit of active threads (160006) refuses the thread once the message
    is posted: moderators are told the message is there (so nobody posts it again) and what to
    do about the limit."""
    await bots.start()
    await command(
        world, "schedule", "thread", {"topic": "open-source-usability", "when": "in 1 hour"}
    )
    world.emu.inject_fault("POST", r"/messages/\d+/threads$", 400, code=160006)
    ran = (await command(world, "schedule", "run-now", {"id": 1}))["content"]
    (post,) = bot_posts(world, world.general)
    link = f"/channels/{world.guild.id}/{world.general.id}/{post['id']}"
    assert world.emu.threads(world.general) == []
    for told in (ran, (await command(world, "schedule", "list"))["content"]):
        assert "message was posted" in told and link in told, told
        assert "archive" in told, told


async def test_an_interaction_that_arrives_too_late_is_one_warning(
    world: World, bots: BotFactory, caplog: pytest.LogCaptureFixture
):
    """An interaction replayed after a gateway outage is past Discord's 3 s to answer: Discord
    answers 10062 Unknown interaction. That is not a bug of the bot: one warning saying so, no
    traceback, and no second try to tell a member Discord already told."""
    await bots.start()
    said = asyncio.Event()  # the bot's error handler runs after the refused answer
    heard = logging.Handler(logging.WARNING)
    heard.emit = lambda record: said.set()  # type: ignore[method-assign]
    logging.getLogger("bot.chat.client").addHandler(heard)
    try:
        async with world.emu.gateway_outage(code=4000):
            await world.emu.invoke(
                "episode", {"query": "11"}, user=world.alice, channel=world.general
            )
            world.clock.advance(5)
        await asyncio.wait_for(said.wait(), 10)
    finally:
        logging.getLogger("bot.chat.client").removeHandler(heard)

    def told() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "bot.chat.client" and r.levelno >= 30]

    (warning,) = told()
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "10062" in warning.getMessage() and "/episode" in warning.getMessage()
    callbacks = [r for r in world.emu.requests if r.path.endswith("/callback")]
    assert [r.status for r in callbacks] == [404]


async def test_a_cloudflare_ban_is_named_and_the_post_waits(
    world: World, bots: BotFactory, caplog: pytest.LogCaptureFixture
):
    """Cloudflare's 429 (too many invalid requests from this IP) is not Discord's rate limit and
    discord.py does not retry it: the log says what it is, and the post goes out on a later tick."""
    run = await bots.start()
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=5))
    )
    world.emu.inject_fault(
        "POST", rf"^/channels/{world.general.id}/messages$", 429, retry_after=600, cloudflare=True
    )
    world.clock.advance(5 * 60 + 1)
    await cog_of(run).ticker.tick()
    (retry,) = [r for r in caplog.records if r.name == "bot.services.publisher"]
    assert "Cloudflare" in retry.getMessage() and "error code: 1015" in retry.getMessage()
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 1

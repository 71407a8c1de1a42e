"""One bot in several servers: settings, schedules and posts of one never show in, change or
hold up another's; a server that removes the bot, or goes down for a while, costs the others
nothing. The real bot against the emulator; ticks are triggered directly at the ManualClock's
time, never by sleeping."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.chat.moderation_cog import ModerationCog
from bot.sandbox.emulator import Channel, Guild, User
from tests.e2e.conftest import BotFactory, BotRun, World

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Club:
    """The second server: its own channel, moderator and admin."""

    guild: Guild
    general: Channel
    mod: User
    admin: User


@pytest.fixture
def club(world: World) -> Club:
    guild = world.emu.add_guild("Listening Club")
    general = world.emu.add_channel(guild, "lobby")
    mod = world.emu.add_moderator(guild, "club-mod")
    role = world.emu.add_role(guild, "Admin", "MANAGE_GUILD")
    admin = world.emu.add_member(guild, "club-admin", roles=[role])
    return Club(guild, general, mod, admin)


def now(world: World) -> datetime:
    return datetime.fromtimestamp(world.clock(), UTC)


def cog_of(run: BotRun) -> ModerationCog:
    cog = run.bot.get_cog("Moderation")
    assert isinstance(cog, ModerationCog)
    return cog


async def ask(
    world: World,
    name: str,
    sub: str | None,
    options: dict[str, Any],
    *,
    user: User,
    channel: Channel,
) -> str:
    handle = await world.emu.invoke(name, options, user=user, channel=channel, subcommand=sub)
    reply = await handle.response(timeout=10)
    assert handle.ephemeral
    return str(reply["content"])


def weekly_at(world: World, channel: Channel, ahead: timedelta, tz: str = "UTC") -> dict[str, Any]:
    at = (now(world) + ahead).astimezone(ZoneInfo(tz))
    return {"channel": channel.id, "weekday": DAYS[at.weekday()], "time": f"{at:%H:%M}", "tz": tz}


def bot_posts(world: World, channel: Channel | int) -> list[dict[str, Any]]:
    bot_id = str(world.emu.bot_user.id)
    return [
        m
        for m in world.emu.messages(channel)
        if m["author"]["id"] == bot_id and "interaction_metadata" not in m
    ]


def outbox(db: Path) -> list[tuple[str, int, str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT key, guild_id, state, last_error FROM outbox ORDER BY due_at, key"
        ).fetchall()


async def test_a_server_down_for_a_while_holds_up_only_its_own_posts(
    world: World, bots: BotFactory, club: Club
):
    run = await bots.start()
    # The club's prompt comes first: while the club is down, the other's must still go out.
    reply = await ask(
        world,
        "weekly",
        "set",
        weekly_at(world, club.general, timedelta(minutes=2)),
        user=club.mod,
        channel=club.general,
    )
    assert reply.startswith("**Weekly prompt set**"), reply
    reply = await ask(
        world,
        "weekly",
        "set",
        weekly_at(world, world.general, timedelta(minutes=3)),
        user=world.mod,
        channel=world.general,
    )
    assert reply.startswith("**Weekly prompt set**"), reply
    world.clock.advance(4 * 60)
    gone = asyncio.ensure_future(run.bot.wait_for("guild_unavailable"))
    async with world.emu.guild_outage(club.guild):
        await asyncio.wait_for(gone, 10)
        await cog_of(run).ticker.tick()
        assert len(bot_posts(world, world.general)) == 1
        assert bot_posts(world, club.general) == []
        states = {guild: state for _, guild, state, _ in outbox(bots.settings().db)}
        assert states == {world.guild.id: "sent", club.guild.id: "pending"}
    back = asyncio.ensure_future(run.bot.wait_for("guild_available"))
    await asyncio.wait_for(back, 10)
    await cog_of(run).ticker.tick()
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, club.general)) == 1
    assert len(bot_posts(world, world.general)) == 1
    assert len(world.emu.threads(club.general)) == 1


def requests_to(world: World, channel: Channel, since: int) -> list[str]:
    """The bot's REST requests about `channel` from the `since`th recorded one on."""
    return [f"{r.method} {r.path}" for r in world.emu.requests[since:] if str(channel.id) in r.path]


async def test_a_server_that_removed_the_bot_is_paused_until_it_is_invited_back(
    world: World, bots: BotFactory, club: Club, caplog: pytest.LogCaptureFixture
):
    """Removed from a server, the bot used to try its weekly prompt and threads there every
    week, each one failing with an error in the log, for ever. Now they are paused (one log
    line); invited back, they resume at their next time, with nothing posted late."""
    run = await bots.start()
    for guild_channel, mod, minutes in ((club.general, club.mod, 2), (world.general, world.mod, 3)):
        reply = await ask(
            world,
            "weekly",
            "set",
            weekly_at(world, guild_channel, timedelta(minutes=minutes)),
            user=mod,
            channel=guild_channel,
        )
        assert reply.startswith("**Weekly prompt set**"), reply
    reply = await ask(
        world,
        "schedule",
        "thread",
        {"topic": "open-source-usability", "when": "in 2 minutes", "repeat": "weekly"},
        user=club.mod,
        channel=club.general,
    )
    assert reply.startswith("Scheduled `#1`"), reply
    removed = asyncio.ensure_future(run.bot.wait_for("guild_remove"))
    world.emu.remove_bot(club.guild)
    await asyncio.wait_for(removed, 10)
    caplog.clear()
    since = len(world.emu.requests)
    for ahead in (timedelta(minutes=4), timedelta(days=7), timedelta(hours=1)):
        world.clock.advance(ahead.total_seconds())
        for _ in range(2):
            await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 2
    assert requests_to(world, club.general, since) == []
    rows = [
        (state, error)
        for _, guild, state, error in outbox(bots.settings().db)
        if guild == club.guild.id
    ]
    assert len(rows) == 4, rows  # two weeks, the prompt and the thread
    assert all(state == "skipped" and "not in the server" in (error or "") for state, error in rows)
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, problems
    assert "Listening Club" in problems[0] and "paused" in problems[0], problems

    # Invited back an hour after a paused week's time (within its grace window): that week
    # stays unposted; the next week's prompt and thread go out, once each.
    joined = asyncio.ensure_future(run.bot.wait_for("guild_join"))
    world.emu.add_bot(club.guild)
    await asyncio.wait_for(joined, 10)
    for _ in range(2):
        await cog_of(run).ticker.tick()
    assert bot_posts(world, club.general) == []
    world.clock.advance(timedelta(days=7, hours=-1).total_seconds())
    for _ in range(2):
        await cog_of(run).ticker.tick()
    assert len(bot_posts(world, club.general)) == 2
    assert len(bot_posts(world, world.general)) == 3
    shown = await ask(world, "weekly", "show", {}, user=club.mod, channel=club.general)
    assert "✅" in shown and "not in the server" in shown, shown


async def test_a_server_that_removed_the_bot_while_it_was_stopped_is_paused_from_the_start(
    world: World, bots: BotFactory, club: Club, caplog: pytest.LogCaptureFixture
):
    """No GUILD_DELETE reaches a bot that is down: READY simply leaves the server out. The
    week due meanwhile is planned once READY has told the bot its servers: skipped, logged
    once."""
    run = await bots.start()
    for guild_channel, mod in ((club.general, club.mod), (world.general, world.mod)):
        reply = await ask(
            world,
            "weekly",
            "set",
            weekly_at(world, guild_channel, timedelta(minutes=2)),
            user=mod,
            channel=guild_channel,
        )
        assert reply.startswith("**Weekly prompt set**"), reply
    await bots.stop(run)
    world.emu.remove_bot(club.guild)
    world.clock.advance(3 * 60)
    caplog.clear()
    since = len(world.emu.requests)
    run = await bots.start()
    for _ in range(2):
        await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 1
    world.clock.advance(7 * 3600)  # beyond the grace window
    for _ in range(2):
        await cog_of(run).ticker.tick()
    assert requests_to(world, club.general, since) == []
    rows = {guild: (state, error) for _, guild, state, error in outbox(bots.settings().db)}
    state, error = rows[club.guild.id]
    assert state == "skipped" and "not in the server" in (error or ""), error
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    paused = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert len(paused) == 1 and "Listening Club" in paused[0], paused


async def test_each_servers_settings_and_schedules_are_its_own(
    world: World, bots: BotFactory, club: Club
):
    await bots.start()
    reply = await ask(
        world,
        "config",
        "timezone",
        {"zone": "America/New_York"},
        user=club.admin,
        channel=club.general,
    )
    assert reply.startswith("**Time zone** is now America/New_York"), reply
    reply = await ask(
        world,
        "schedule",
        "thread",
        {"topic": "open-source-usability", "when": "in 1 hour", "repeat": "weekly"},
        user=club.mod,
        channel=club.general,
    )
    assert reply.startswith("Scheduled `#1`"), reply
    await ask(
        world,
        "weekly",
        "set",
        weekly_at(world, club.general, timedelta(hours=2)),
        user=club.mod,
        channel=club.general,
    )

    ada = world.emu.add_member(world.guild, "ada", "MANAGE_GUILD")
    shown = await ask(world, "config", "show", {}, user=ada, channel=world.general)
    assert "UTC (default)" in shown and "New_York" not in shown, shown
    listed = await ask(world, "schedule", "list", {}, user=world.mod, channel=world.general)
    assert "None. Add one" in listed and "#1" not in listed, listed
    weekly = await ask(world, "weekly", "show", {}, user=world.mod, channel=world.general)
    assert weekly.startswith("No weekly prompt is set"), weekly
    for sub in ("cancel", "run-now"):
        refused = await ask(
            world, "schedule", sub, {"id": 1}, user=world.mod, channel=world.general
        )
        assert "there is no schedule #1 in this server" in refused, refused
    listed = await ask(world, "schedule", "list", {}, user=club.mod, channel=club.general)
    assert "`#1`" in listed and "next <t:" in listed, listed
    assert bot_posts(world, club.general) == [] and bot_posts(world, world.general) == []


async def test_weekly_prompts_in_two_zones_each_post_once_at_their_local_time(
    world: World, bots: BotFactory, club: Club
):
    run = await bots.start()
    # Kolkata is 5:30 ahead of UTC and New York 5 hours behind: read as UTC, either is wrong.
    for channel, mod, ahead, tz in (
        (world.general, world.mod, timedelta(hours=1), "Asia/Kolkata"),
        (club.general, club.mod, timedelta(hours=2), "America/New_York"),
    ):
        reply = await ask(
            world, "weekly", "set", weekly_at(world, channel, ahead, tz), user=mod, channel=channel
        )
        assert reply.startswith("**Weekly prompt set**"), reply
    world.clock.advance(3600 - 60)
    await cog_of(run).ticker.tick()
    assert bot_posts(world, world.general) == [] and bot_posts(world, club.general) == []
    world.clock.advance(90)
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 1 and bot_posts(world, club.general) == []
    world.clock.advance(3600)
    await cog_of(run).ticker.tick()
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 1 and len(bot_posts(world, club.general)) == 1


async def test_the_bot_wide_announcement_role_is_shown_only_where_it_is_a_role(
    world: World, bots: BotFactory, club: Club
):
    """`announce_role_id` is a role of one server. Elsewhere the announcement leaves it out,
    but /config show said it would mention '<@&id> (bot default)', which Discord renders as
    '@deleted-role'."""
    fans = world.emu.add_role(world.guild, "new-episodes")
    await bots.start(announce_role_id=fans.id)
    ada = world.emu.add_member(world.guild, "ada", "MANAGE_GUILD")
    shown = await ask(world, "config", "show", {}, user=ada, channel=world.general)
    assert f"**Announcement role**: <@&{fans.id}> (bot default)" in shown, shown

    shown = await ask(world, "config", "show", {}, user=club.admin, channel=club.general)
    assert str(fans.id) not in shown, shown
    assert "**Announcement role**: none: announcements mention nobody here" in shown, shown
    assert "/config role" in shown, shown


async def test_a_server_with_only_release_announcements_gets_its_pause_line_too(
    world: World, bots: BotFactory, club: Club, caplog: pytest.LogCaptureFixture
):
    """The pause was logged for servers with schedules only: one that had only asked for
    release announcements got no line, and its held announcements were later skipped
    without a word."""
    run = await bots.start()
    reply = await ask(
        world,
        "config",
        "channel",
        {"which": "announcements", "channel": club.general.id},
        user=club.admin,
        channel=club.general,
    )
    assert reply.startswith(f"**Announcement channel** is now <#{club.general.id}>"), reply
    removed = asyncio.ensure_future(run.bot.wait_for("guild_remove"))
    world.emu.remove_bot(club.guild)
    await asyncio.wait_for(removed, 10)
    caplog.clear()
    for _ in range(3):
        world.clock.advance(3600)
        await cog_of(run).ticker.tick()
    paused = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert len(paused) == 1, paused
    assert "Listening Club" in paused[0] and "release announcements" in paused[0], paused


async def test_a_send_cut_short_in_a_server_that_removed_the_bot_waits_for_its_return(
    world: World, bots: BotFactory, club: Club, caplog: pytest.LogCaptureFixture
):
    """A row left 'sending' may be on Discord already (here its message is, its thread is
    not). It is not skipped past its grace window like a pending one, which would leave the
    post there unrecorded (or half made): it is held, untried and unlogged, while the bot is
    out, and finished from what Discord shows once it is invited back."""
    run = await bots.start()
    reply = await ask(
        world,
        "weekly",
        "set",
        weekly_at(world, club.general, timedelta(minutes=2)),
        user=club.mod,
        channel=club.general,
    )
    assert reply.startswith("**Weekly prompt set**"), reply
    # A 401 is kept for the next tick (not failed): the row stays 'sending' with its message.
    world.emu.inject_fault("POST", r"/messages/\d+/threads$", 401)
    world.clock.advance(3 * 60)
    await cog_of(run).ticker.tick()
    (made,) = bot_posts(world, club.general)
    assert [state for _, _, state, _ in outbox(bots.settings().db)] == ["sending"]
    removed = asyncio.ensure_future(run.bot.wait_for("guild_remove"))
    world.emu.remove_bot(club.guild)
    await asyncio.wait_for(removed, 10)
    caplog.clear()
    since = len(world.emu.requests)
    for _ in range(3):
        world.clock.advance(7 * 3600)  # each beyond the grace window
        await cog_of(run).ticker.tick()
    assert requests_to(world, club.general, since) == []
    assert [state for _, _, state, _ in outbox(bots.settings().db)][:1] == ["sending"]
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and "paused" in problems[0], problems

    joined = asyncio.ensure_future(run.bot.wait_for("guild_join"))
    world.emu.add_bot(club.guild)
    await asyncio.wait_for(joined, 10)
    await cog_of(run).ticker.tick()
    assert [m["id"] for m in bot_posts(world, club.general)] == [made["id"]]
    assert [t["id"] for t in world.emu.threads(club.general)] == [made["id"]]
    rows = outbox(bots.settings().db)
    assert rows[0][2] == "sent", rows


async def test_a_week_due_while_stopped_in_a_server_that_removed_the_bot_is_not_posted_late(
    world: World, bots: BotFactory, club: Club
):
    """The scheduler ticks as the bot connects, before READY tells it its servers: the week
    due meanwhile was planned 'pending', and posted late if the bot was invited back within
    its grace window, while one due after READY was skipped. The planner now waits for READY
    (which wakes it) and both are skipped alike."""
    run = await bots.start()
    reply = await ask(
        world,
        "weekly",
        "set",
        weekly_at(world, club.general, timedelta(minutes=2)),
        user=club.mod,
        channel=club.general,
    )
    assert reply.startswith("**Weekly prompt set**"), reply
    await bots.stop(run)
    world.emu.remove_bot(club.guild)
    world.clock.advance(3 * 60)
    run = await bots.start()
    await cog_of(run).ticker.tick()
    joined = asyncio.ensure_future(run.bot.wait_for("guild_join"))
    world.emu.add_bot(club.guild)
    await asyncio.wait_for(joined, 10)
    for _ in range(2):
        await cog_of(run).ticker.tick()
    assert bot_posts(world, club.general) == []
    ((_, _, state, error),) = outbox(bots.settings().db)
    assert state == "skipped" and "not in the server" in (error or ""), (state, error)

"""Where Discord sends the bot interactions besides the servers it is in: a server that added
the app with the applications.commands scope only (the commands are there, the bot is not), and
a DM with the bot. (A server that kicked it: tests/e2e/test_multiguild_e2e.py.) The real bot
against the emulator."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import BotFactory, World
from tests.e2e.test_scheduling_e2e import weekly_options

INVITE = "https://discord.com/oauth2/authorize?client_id={}&scope=bot%20applications.commands"


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


async def test_server_commands_where_only_the_commands_were_added_say_to_invite_the_bot(
    world: World, bots: BotFactory, caplog: pytest.LogCaptureFixture
):
    """Added with the applications.commands scope alone, the app's commands show in the server
    but the bot cannot see its channels or post there: a moderator is told so, with the invite
    link the README gives (this bot's id filled in), and nothing is saved. Once invited with the
    `bot` scope, the same command works."""
    emu = world.emu
    outside = emu.add_guild("Commands Only", with_bot=False)
    room = emu.add_channel(outside, "room")
    boss = emu.add_moderator(outside, "boss")
    admin = emu.add_member(outside, "admin", "MANAGE_GUILD")
    await bots.start()
    invite = INVITE.format(emu.application_id)
    asked: list[tuple[str, str | None, dict[str, Any], Any]] = [
        ("weekly", "set", weekly_options(world, room, timedelta(days=1)), boss),
        ("weekly", "show", {}, boss),
        ("schedule", "list", {}, boss),
        ("feed", "status", {}, boss),
        ("config", "show", {}, admin),
        ("reload", None, {}, admin),
    ]
    for name, sub, options, who in asked:
        handle = await emu.invoke(name, options, user=who, channel=room, subcommand=sub)
        reply = await handle.response(timeout=10)
        assert handle.ephemeral, name
        text = reply["content"]
        assert "not in this server" in text and invite in text, (name, sub, text)
        assert "permissions=309237730304" in text and "Nothing was changed" in text
    assert problems(caplog) == []

    bot = bots.runs[0].bot
    joined = asyncio.ensure_future(
        bot.wait_for("guild_join", check=lambda g: g.id == outside.id, timeout=10)
    )
    emu.add_bot(outside)
    await joined
    handle = await emu.invoke(
        "weekly",
        weekly_options(world, room, timedelta(days=1)),
        user=boss,
        channel=room,
        subcommand="set",
    )
    assert "<#" in (await handle.response(timeout=10))["content"]


async def test_the_catalogue_answers_where_only_the_commands_were_added(
    world: World, bots: BotFactory, caplog: pytest.LogCaptureFixture
):
    """/episode, /topic and /about need nothing of the server: they answer as anywhere."""
    emu = world.emu
    outside = emu.add_guild("Commands Only", with_bot=False)
    room = emu.add_channel(outside, "room")
    bob = emu.add_member(outside, "bob")
    await bots.start()
    episode = await (
        await emu.invoke("episode", {"query": "11"}, user=bob, channel=room)
    ).response()
    assert episode["embeds"][0]["title"].startswith("Episode 11")
    topic = await (await emu.invoke("topic", {"query": "moats"}, user=bob, channel=room)).response()
    assert topic["embeds"][0]["title"] == "Defensible moats"
    about = await (await emu.invoke("about", {}, user=bob, channel=room)).response()
    assert "Catalogue" in about["content"]
    assert problems(caplog) == []


async def test_the_catalogue_answers_in_a_dm_with_the_bot(
    world: World, bots: BotFactory, caplog: pytest.LogCaptureFixture
):
    """/episode, /topic and /about are synced with DMs allowed: there the interaction has a
    `user` and no guild. They answer (and autocomplete) as in a server; the server commands
    are not offered in DMs at all (dm_permission false)."""
    emu = world.emu
    await bots.start()
    dm = emu.dm(world.alice)
    choices = await emu.autocomplete("episode", {"query": "stagnation"}, user="alice", channel=dm)
    assert [c["value"] for c in choices] == ["11"]
    episode = await (
        await emu.invoke("episode", {"query": "11"}, user="alice", channel=dm)
    ).response()
    assert episode["embeds"][0]["title"].startswith("Episode 11")
    unknown = await emu.invoke("topic", {"query": "quantum knitting"}, user="alice", channel=dm)
    assert "has not covered" in str((await unknown.response())["embeds"]) and unknown.ephemeral
    about = await (await emu.invoke("about", {}, user="alice", channel=dm)).response()
    assert "Catalogue" in about["content"]
    for name in ("weekly", "schedule", "feed", "config", "reload"):
        definition = next(c for c in emu.commands() if c["name"] == name)
        assert definition["dm_permission"] is False or definition["contexts"] == [0], name
    assert problems(caplog) == []


async def test_server_commands_in_a_thread_and_just_after_the_invite_are_not_told_to_invite(
    world: World, bots: BotFactory
):
    """The 'invite the bot' refusal asks whether the client knows the server: a thread's
    interaction carries its server's id, and a server the bot was just invited to is known
    once its GUILD_CREATE, sent before any interaction there, is read (no wait for it here)."""
    from tests.e2e.test_scheduling_e2e import cog_of, command

    emu = world.emu
    run = await bots.start()
    await command(world, "weekly", "set", weekly_options(world, world.general, timedelta(hours=1)))
    world.clock.advance(3600 + 30)
    await cog_of(run).ticker.tick()
    (thread,) = emu.threads(world.general)
    handle = await emu.invoke(
        "weekly", {}, user=world.mod, channel=int(thread["id"]), subcommand="show"
    )
    shown = (await handle.response(timeout=10))["content"]
    assert f"<#{world.general.id}>" in shown and "not in this server" not in shown, shown

    outside = emu.add_guild("Commands Only", with_bot=False)
    room = emu.add_channel(outside, "room")
    boss = emu.add_moderator(outside, "boss")
    emu.add_bot(outside)
    handle = await emu.invoke("weekly", {}, user=boss, channel=room, subcommand="show")
    assert (await handle.response(timeout=10))["content"].startswith("No weekly prompt is set")

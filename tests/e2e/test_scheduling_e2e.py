"""/weekly and /schedule end to end: the real bot (real database, content/ and prompts/) against
the emulator. Time moves by advancing the shared ManualClock, and ticks are triggered directly
(`cog.ticker.tick()`), never by sleeping until a schedule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.chat.client import LOADING
from bot.chat.moderation_cog import ModerationCog
from bot.core.content import load_dir
from bot.ops.backup import backup, restore
from bot.sandbox.emulator import EmulatorError, Perm
from bot.services.publisher import marker_for
from tests.e2e.conftest import REPO, BotFactory, BotRun, World


def cog_of(run: BotRun) -> ModerationCog:
    cog = run.bot.get_cog("Moderation")
    assert isinstance(cog, ModerationCog), "the scheduling cog is not loaded"
    return cog


def now(world: World) -> datetime:
    return datetime.fromtimestamp(world.clock(), UTC)


def weekly_options(world: World, channel: Any, ahead: timedelta) -> dict[str, Any]:
    """/weekly set options for a moment `ahead` of the emulator's (and bot's) clock, in UTC."""
    at = now(world) + ahead
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return {
        "channel": channel.id,
        "weekday": days[at.weekday()],
        "time": f"{at:%H:%M}",
        "tz": "UTC",
    }


async def command(
    world: World, name: str, sub: str, options: dict[str, Any] | None = None, *, user: Any = None
) -> dict[str, Any]:
    handle = await world.emu.invoke(
        name, options or {}, user=user or world.mod, channel=world.general, subcommand=sub
    )
    reply = await handle.response(timeout=10)
    assert handle.ephemeral, f"/{name} {sub} should answer privately"
    return reply


def bot_posts(world: World, channel: Any) -> list[dict[str, Any]]:
    bot_id = str(world.emu.bot_user.id)
    return [
        m
        for m in world.emu.messages(channel)
        if m["author"]["id"] == bot_id and "interaction_metadata" not in m
    ]


def post_requests(world: World, path: str) -> list[Any]:
    return [r for r in world.emu.requests if r.method == "POST" and r.path == path]


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("weekly_prompts", "schedules", "outbox", "topic_history")
        }


async def test_a_weekly_prompt_posts_one_message_and_one_thread(world: World, bots: BotFactory):
    run = await bots.start()
    reply = await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(hours=1))
    )
    assert "Weekly prompt set" in reply["content"] and "<t:" in reply["content"]
    world.clock.advance(3600 + 30)
    await cog_of(run).ticker.tick()
    await cog_of(run).ticker.tick()
    run = await bots.restart(run)  # a restart ticks again on start: still one post
    await cog_of(run).ticker.tick()

    (post,) = bot_posts(world, world.general)
    (thread,) = world.emu.threads(world.general)
    assert thread["id"] == post["id"] and post["thread"]["id"] == thread["id"]
    (sent,) = post_requests(world, f"/channels/{world.general.id}/messages")
    assert sent.json["enforce_nonce"] is True and 1 <= len(sent.json["nonce"]) <= 25
    assert sent.json["allowed_mentions"]["parse"] == []
    row = tables(bots.settings().db)["outbox"][0]
    assert marker_for(row[0]) in post["content"]

    shown = await command(world, "weekly", "show")
    assert "✅" in shown["content"] and f"<#{thread['id']}>" in shown["content"]


async def test_a_forum_channel_gets_a_forum_post(world: World, bots: BotFactory):
    run = await bots.start()
    await command(world, "weekly", "set", weekly_options(world, world.forum, timedelta(minutes=5)))
    world.clock.advance(5 * 60 + 1)
    await cog_of(run).ticker.tick()
    await cog_of(run).ticker.tick()

    (post,) = world.emu.threads(world.forum)
    starter = world.emu.messages(int(post["id"]))[0]
    key, payload = tables(bots.settings().db)["outbox"][0][0], None
    assert starter["id"] == post["id"] and marker_for(key) in starter["content"]
    with sqlite3.connect(bots.settings().db) as conn:
        (payload,) = conn.execute("SELECT payload FROM outbox").fetchone()
    assert post["name"] == json.loads(payload)["title"]
    assert len(post_requests(world, f"/channels/{world.forum.id}/threads")) == 1
    assert bot_posts(world, world.general) == []


async def test_a_forum_post_takes_no_tag_reserved_to_moderators(world: World, bots: BotFactory):
    tags = ["Discussion", "Chat"]
    forum = world.emu.add_channel(
        world.guild, "talk", "forum", tags=tags, require_tag=True, moderated_tags=["Discussion"]
    )
    strict = world.emu.add_channel(
        world.guild, "staff-picks", "forum", tags=tags, require_tag=True, moderated_tags=tags
    )
    run = await bots.start()
    refused = await command(
        world, "weekly", "set", weekly_options(world, strict, timedelta(minutes=5))
    )
    assert "lack Manage Threads" in refused["content"], refused["content"]
    await command(world, "weekly", "set", weekly_options(world, forum, timedelta(minutes=5)))
    world.clock.advance(5 * 60 + 1)
    await cog_of(run).ticker.tick()

    (post,) = world.emu.threads(forum)
    names = {t["id"]: t["name"] for t in forum.available_tags}
    assert [names[t] for t in post["applied_tags"]] == ["Chat"]


@pytest.mark.parametrize("where", ["text", "forum"])
async def test_a_restored_backup_does_not_post_again_what_was_posted_since(
    world: World, bots: BotFactory, tmp_path: Path, where: str
):
    channel = world.general if where == "text" else world.forum
    run = await bots.start()
    await command(world, "weekly", "set", weekly_options(world, channel, timedelta(hours=1)))
    backup(bots.settings().db, tmp_path / "nightly.sqlite3", now=now(world))
    world.clock.advance(3600 + 30)
    await cog_of(run).ticker.tick()
    made = bot_posts(world, channel) if where == "text" else world.emu.threads(channel)
    assert len(made) == 1

    await bots.stop(run)
    world.clock.advance(3 * 3600)  # Discord's nonce memory is long gone: only the marker tells
    restore(tmp_path / "nightly.sqlite3", bots.settings().db, now=now(world))
    run = await bots.start()
    await cog_of(run).ticker.tick()

    again = bot_posts(world, channel) if where == "text" else world.emu.threads(channel)
    assert [p["id"] for p in again] == [made[0]["id"]]
    with sqlite3.connect(bots.settings().db) as conn:
        states = conn.execute("SELECT state, message_id FROM outbox").fetchall()
    assert states == [("sent", int(made[0]["id"]))]


@pytest.mark.parametrize("may_delete", [True, False])
async def test_a_forum_post_made_twice_by_a_retry_leaves_one(
    world: World, bots: BotFactory, may_delete: bool
):
    """Discord made the post, then answered 502; discord.py retried and made it again."""
    run = await bots.start()
    await command(world, "weekly", "set", weekly_options(world, world.forum, timedelta(minutes=5)))
    change = {"allow" if may_delete else "deny": "MANAGE_THREADS"}
    world.emu.set_bot_permissions(world.forum, **change)
    world.emu.inject_fault("POST", rf"^/channels/{world.forum.id}/threads$", 502, after=True)
    world.clock.advance(5 * 60 + 1)
    await cog_of(run).ticker.tick()

    assert len(post_requests(world, f"/channels/{world.forum.id}/threads")) == 2
    with sqlite3.connect(bots.settings().db) as conn:
        ((state, thread_id),) = conn.execute("SELECT state, thread_id FROM outbox").fetchall()
    posts = world.emu.threads(world.forum)
    marked = [p for p in posts if "-# ref " in world.emu.messages(int(p["id"]))[0]["content"]]
    assert state == "sent" and [int(p["id"]) for p in marked] == [thread_id]
    if may_delete:
        assert len(posts) == 1
    else:  # the copy points to the post that counts
        (copy,) = [p for p in posts if int(p["id"]) != thread_id]
        assert f"<#{thread_id}>" in world.emu.messages(int(copy["id"]))[0]["content"]


async def test_a_restore_finds_a_post_in_a_busy_channel(
    world: World, bots: BotFactory, tmp_path: Path
):
    """The search reads a bounded number of messages: a post due before the restore is looked
    for from its own time, not from the backup's, past a lively channel's chatter."""
    run = await bots.start()
    await command(world, "weekly", "set", weekly_options(world, world.general, timedelta(hours=1)))
    backup(bots.settings().db, tmp_path / "nightly.sqlite3", now=now(world))
    world.clock.advance(60)
    for i in range(600):
        world.emu.post_message(world.general, f"chat {i}", user=world.mod)
    world.clock.advance(3600 - 60 + 30)
    await cog_of(run).ticker.tick()
    (made,) = bot_posts(world, world.general)
    await bots.stop(run)
    world.clock.advance(15 * 60)
    restore(tmp_path / "nightly.sqlite3", bots.settings().db, now=now(world))
    run = await bots.start()
    await cog_of(run).ticker.tick()
    assert [p["id"] for p in bot_posts(world, world.general)] == [made["id"]]


async def test_a_non_moderator_is_refused_and_nothing_changes(world: World, bots: BotFactory):
    await bots.start()
    await command(world, "weekly", "set", weekly_options(world, world.general, timedelta(days=1)))
    before = tables(bots.settings().db)

    schedule = world.emu.world.find_command(world.guild.id, "schedule")
    assert schedule is not None
    needed = int(schedule.definition["default_member_permissions"])
    assert needed == Perm.MANAGE_THREADS
    with pytest.raises(EmulatorError, match="may not use /schedule"):
        await world.emu.invoke(
            "schedule",
            {"topic": "evals", "when": "in 1 hour"},
            user=world.alice,
            channel=world.general,
            subcommand="thread",
        )
    # A server admin may widen who sees the command (Integrations settings): the bot checks
    # again when it runs.
    weekly = world.emu.world.find_command(world.guild.id, "weekly")
    assert weekly is not None
    for synced in (schedule, weekly):
        synced.definition["default_member_permissions"] = None
    refused = [
        await command(
            world, "schedule", "thread", {"topic": "x", "when": "in 1 hour"}, user=world.alice
        ),
        await command(world, "schedule", "cancel", {"id": 1}, user=world.alice),
        await command(world, "weekly", "off", user=world.alice),
    ]
    for reply in refused:
        assert "Only moderators" in reply["content"] and "Nothing was changed" in reply["content"]
    assert tables(bots.settings().db) == before


async def test_a_template_with_everyone_pings_nobody(
    world: World, bots: BotFactory, tmp_path: Path
):
    prompts = tmp_path / "prompts"
    for kind in ("weekly", "thread", "announce"):
        (prompts / kind).mkdir(parents=True)
        (prompts / kind / "loud.j2").write_text("@everyone @here what about {{ topic.title }}?\n")
    run = await bots.start(prompts_dir=prompts)
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=2))
    )
    world.clock.advance(121)
    await cog_of(run).ticker.tick()

    (post,) = bot_posts(world, world.general)
    assert post["content"].startswith("@everyone @here what about")
    assert post["mention_everyone"] is False and post["mentions"] == []
    (sent,) = post_requests(world, f"/channels/{world.general.id}/messages")
    assert sent.json["allowed_mentions"]["parse"] == []
    assert not sent.json["allowed_mentions"].get("roles")


async def test_schedule_list_run_now_and_cancel(world: World, bots: BotFactory):
    run = await bots.start()
    reply = await command(
        world,
        "schedule",
        "thread",
        {"topic": "open-source-usability", "when": "in 2 hours", "repeat": "weekly"},
    )
    assert "Scheduled `#1`" in reply["content"]
    listed = await command(world, "schedule", "list")
    assert "`#1`" in listed["content"] and ":R>" in listed["content"]

    ran = await command(world, "schedule", "run-now", {"id": 1})
    assert "Posted `#1` now" in ran["content"]
    again = await command(world, "schedule", "run-now", {"id": 1})  # the same minute
    assert "`#1` was already posted this minute" in again["content"]
    assert len(bot_posts(world, world.general)) == 1
    assert (await command(world, "schedule", "list"))["content"] == listed["content"]

    world.clock.advance(2 * 3600 + 1)
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 2  # the scheduled one, as well
    assert len(world.emu.threads(world.general)) == 2

    assert "Cancelled `#1`" in (await command(world, "schedule", "cancel", {"id": 1}))["content"]
    again = await command(world, "schedule", "cancel", {"id": 1})
    assert "already cancelled" in again["content"]
    world.clock.advance(7 * 24 * 3600)
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 2


async def test_needs_attention_names_each_post_that_went_wrong(world: World, bots: BotFactory):
    run = await bots.start()
    for topic in ("open-source-usability", "open-source-risk"):
        await command(world, "schedule", "thread", {"topic": topic, "when": "in 1 hour"})
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=60))
    )
    world.emu.set_bot_permissions(world.general, deny="SEND_MESSAGES")  # taken away since
    world.clock.advance(3600 + 30)
    await cog_of(run).ticker.tick()

    listed = (await command(world, "schedule", "list"))["content"]
    attention = listed.split("**Needs attention**\n")[1].splitlines()
    assert len(attention) == 3 and all("lacks Send Messages" in line for line in attention)
    assert sum("`#1` **" in line for line in attention) == 1
    assert sum("`#2` **" in line for line in attention) == 1
    assert sum("the weekly prompt" in line for line in attention) == 1


async def test_a_preview_says_when_nothing_will_be_posted(world: World, bots: BotFactory):
    await bots.start()
    unset = await command(world, "weekly", "preview")
    assert unset["content"].startswith("No weekly prompt is set") and unset["embeds"]
    await command(world, "weekly", "set", weekly_options(world, world.general, timedelta(hours=1)))
    on = await command(world, "weekly", "preview")
    assert on["content"].startswith("Preview of the prompt for <t:")
    await command(world, "weekly", "off")
    off = await command(world, "weekly", "preview")
    assert off["content"].startswith("The weekly prompt is **off**: nothing will be posted.")


async def test_a_weekly_thread_from_a_date_posts_first_on_that_date(world: World, bots: BotFactory):
    await bots.start()
    first = (now(world) + timedelta(days=16)).replace(second=0, microsecond=0)
    options = {"topic": "open-source-usability", "when": f"{first:%Y-%m-%d %H:%M}"}
    reply = await command(world, "schedule", "thread", {**options, "repeat": "weekly"})
    stamp = f"<t:{int(first.timestamp())}:F>"
    assert f"every {first:%A} at {first:%H:%M} (UTC) from {first:%a %Y-%m-%d}" in reply["content"]
    assert f"First post: {stamp}" in reply["content"], reply["content"]
    assert f"next {stamp}" in (await command(world, "schedule", "list"))["content"]


async def test_a_title_is_echoed_and_a_twin_schedule_refused_with_a_way_out(
    world: World, bots: BotFactory
):
    await bots.start()
    options = {"topic": "open-source-usability", "when": "friday 18:00", "repeat": "weekly"}
    made = await command(world, "schedule", "thread", {**options, "title": "Ship *it*"})
    assert "(titled “Ship \\*it\\*”)" in made["content"], made["content"]
    assert "(titled “Ship \\*it\\*”)" in (await command(world, "schedule", "list"))["content"]
    twin = (await command(world, "schedule", "thread", options))["content"]
    assert "Nothing was saved: schedule #1 already opens a thread" in twin
    assert "/schedule cancel id:1" in twin and "title" not in twin


async def test_a_one_off_says_the_time_it_was_read_as(world: World, bots: BotFactory):
    await bots.start()
    options = {"topic": "open-source-usability", "when": "2027-07-09 18:00 America/New_York"}
    made = (await command(world, "schedule", "thread", options))["content"]
    assert "once at 2027-07-09 22:00 UTC (18:00 in America/New_York)" in made, made
    listed = (await command(world, "schedule", "list"))["content"]
    assert "(18:00 in America/New_York)" in listed
    late = {"topic": "open-source-risk", "when": "2027-07-08 22:00 America/New_York"}
    made = (await command(world, "schedule", "thread", late))["content"]
    assert "once at 2027-07-09 02:00 UTC (22:00 on 2027-07-08 in America/New_York)" in made


async def test_unclear_input_gets_a_precise_error_and_saves_nothing(world: World, bots: BotFactory):
    await bots.start()
    before = tables(bots.settings().db)
    bad_time = await command(
        world, "schedule", "thread", {"topic": "open-source-usability", "when": "someday"}
    )
    assert bad_time["content"].startswith("Nothing was saved: "), bad_time["content"]
    assert "unknown word 'someday'" in bad_time["content"]
    bad_topic = await command(
        world, "schedule", "thread", {"topic": "usabilty", "when": "in 1 hour"}
    )
    assert "no topic called 'usabilty'" in bad_topic["content"]
    bad_zone = await command(
        world,
        "weekly",
        "set",
        {**weekly_options(world, world.general, timedelta(days=1)), "tz": "Mars/Base"},
    )
    assert bad_zone["content"].startswith("Nothing was saved: tz: unknown time zone 'Mars/Base'")
    # No channel given and none configured: that is said, and so is everything else wrong.
    no_channel = await command(
        world, "weekly", "set", {"weekday": "friday", "time": "25:00", "tz": "Mars/Base"}
    )
    text = no_channel["content"]
    assert "Pick a text or forum channel" in text and "Also fix: " in text, text
    assert "no hour 25" in text and "unknown time zone 'Mars/Base'" in text, text
    assert tables(bots.settings().db) == before


async def test_missing_bot_permissions_are_told_to_moderators(world: World, bots: BotFactory):
    run = await bots.start()
    world.emu.set_bot_permissions(world.general, deny="CREATE_PUBLIC_THREADS")
    refused = await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=1))
    )
    assert "lack Create Public Threads" in refused["content"]
    assert tables(bots.settings().db)["weekly_prompts"] == []

    world.emu.set_bot_permissions(world.general, allow="CREATE_PUBLIC_THREADS")
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=1))
    )
    world.emu.set_bot_permissions(world.general, deny="SEND_MESSAGES")
    world.clock.advance(61)
    await cog_of(run).ticker.tick()
    assert bot_posts(world, world.general) == []
    shown = await command(world, "weekly", "show")
    assert "❌" in shown["content"] and "lacks Send Messages" in shown["content"]


async def test_a_prompt_that_failed_leaves_its_topic_to_the_next_week(
    world: World, bots: BotFactory
):
    """A prompt that never reached Discord used its topic all the same: the rotation went on
    and that topic waited a whole cycle to be discussed. The next week's prompt takes it."""
    run = await bots.start()
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=1))
    )
    world.emu.set_bot_permissions(world.general, deny="SEND_MESSAGES")
    world.clock.advance(61)
    await cog_of(run).ticker.tick()
    with sqlite3.connect(bots.settings().db) as conn:
        ((state, payload),) = conn.execute("SELECT state, payload FROM outbox").fetchall()
    assert state == "failed"
    missed = json.loads(payload)["topic"]

    world.emu.set_bot_permissions(world.general)  # granted again
    world.clock.advance(7 * 24 * 3600)
    await cog_of(run).ticker.tick()
    with sqlite3.connect(bots.settings().db) as conn:
        rows = conn.execute("SELECT state, payload FROM outbox ORDER BY due_at").fetchall()
    assert [state for state, _ in rows] == ["failed", "sent"]
    assert json.loads(rows[1][1])["topic"] == missed
    assert len(bot_posts(world, world.general)) == 1


async def _servers_loaded(bot: Any) -> None:
    """Until every server's data is in. Not by "guild_available": discord.py skips that event
    when a GUILD_CREATE lands just as its 2 s wait for them ends (seen under load)."""
    while any(g.unavailable for g in bot.guilds):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bot.wait_for("socket_event_type"), 0.2)


async def test_a_post_due_while_the_servers_reload_waits_for_them(world: World, bots: BotFactory):
    """After a session Discord will not resume, READY lists every server as unavailable and their
    data follows later. A post due in between waits for it instead of failing."""
    run = await bots.start()
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=1))
    )
    world.clock.advance(61)
    async with world.emu.guilds_held():
        connected = asyncio.ensure_future(run.bot.wait_for("connect"))
        await world.emu.invalidate_session(resumable=False)
        await asyncio.wait_for(connected, 10)
        assert all(g.unavailable for g in run.bot.guilds)
        await cog_of(run).ticker.tick()
        assert bot_posts(world, world.general) == []
        with sqlite3.connect(bots.settings().db) as conn:
            ((state, error),) = conn.execute("SELECT state, last_error FROM outbox").fetchall()
        assert state == "pending", error  # neither failed nor paused: the server is loading
    await asyncio.wait_for(_servers_loaded(run.bot), 10)
    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, world.general)) == 1


async def test_a_moderator_command_before_the_server_has_loaded_says_so(
    world: World, bots: BotFactory
):
    """Between READY and a server's data (after a restart, or a session Discord will not
    resume) the bot knows neither its channels nor its roles: a moderator was refused for a
    permission they have, or shown a Python object, where the bot should say to try again."""
    run = await bots.start()
    async with world.emu.guilds_held():
        connected = asyncio.ensure_future(run.bot.wait_for("connect"))
        await world.emu.invalidate_session(resumable=False)
        await asyncio.wait_for(connected, 10)
        available = asyncio.ensure_future(
            run.bot.wait_for("guild_available", check=lambda g: g.id == world.guild.id)
        )
        for sub, options in [
            ("thread", {"topic": "open-source-usability", "when": "in 1 hour"}),
            (
                "thread",
                {"topic": "open-source-usability", "when": "in 1 hour", "channel": "#general"},
            ),
        ]:
            reply = await command(world, "schedule", sub, options)
            assert reply["content"] == LOADING
        reply = await command(
            world, "weekly", "set", weekly_options(world, world.general, timedelta(hours=1))
        )
        assert reply["content"] == LOADING
        # /episode needs nothing of the server's: it answers.
        handle = await world.emu.invoke(
            "episode", {"query": "11"}, user=world.alice, channel=world.general
        )
        assert "Great Stagnation" in (await handle.response(timeout=10))["embeds"][0]["title"]
    await asyncio.wait_for(available, 10)
    reply = await command(
        world, "schedule", "thread", {"topic": "open-source-usability", "when": "in 1 hour"}
    )
    assert reply["content"].startswith("Scheduled `#1`")


async def test_an_over_long_post_is_cut_to_fit_with_its_marker(
    world: World, bots: BotFactory, tmp_path: Path
):
    prompts = tmp_path / "prompts"
    for kind in ("weekly", "thread", "announce"):
        (prompts / kind).mkdir(parents=True)
        (prompts / kind / "long.j2").write_text(
            "{{ topic.title }}\n{% for i in range(300) %}word{{ i }} {% endfor %}\n"
        )
    run = await bots.start(prompts_dir=prompts)
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=2))
    )
    world.clock.advance(121)
    await cog_of(run).ticker.tick()

    (post,) = bot_posts(world, world.general)
    key = tables(bots.settings().db)["outbox"][0][0]
    assert len(post["content"]) <= 2000 and post["content"].endswith(f"-# {marker_for(key)}")
    assert "…" in post["content"]


async def test_the_servers_config_gives_the_zone_and_the_discussion_channel(
    world: World, bots: BotFactory
):
    run = await bots.start()
    role = world.emu.add_role(world.guild, "Admin", "MANAGE_GUILD")
    ada = world.emu.add_member(world.guild, "ada", roles=[role])
    for sub, options in (
        ("channel", {"which": "discussion", "channel": world.forum.id}),
        ("timezone", {"zone": "Asia/Tokyo"}),
    ):
        reply = await command(world, "config", sub, options, user=ada)
        assert " is now " in reply["content"], reply["content"]

    # No channel, no zone: the discussion channel, and a plain time read in Tokyo.
    tokyo = now(world).astimezone(ZoneInfo("Asia/Tokyo")) + timedelta(hours=2)
    when = f"{tokyo:%Y-%m-%d %H:%M}"
    reply = await command(world, "schedule", "thread", {"topic": "open-source-risk", "when": when})
    assert f"in <#{world.forum.id}>" in reply["content"], reply["content"]
    due = tokyo.replace(second=0, microsecond=0).astimezone(UTC)
    assert f"<t:{int(due.timestamp())}:F>" in reply["content"]
    day = f"{tokyo + timedelta(days=3):%A}"  # days away: only the scheduled thread is due below
    reply = await command(world, "weekly", "set", {"weekday": day.lower(), "time": "18:00"})
    assert f"every {day} at 18:00 (Asia/Tokyo) in <#{world.forum.id}>" in reply["content"]

    world.clock.advance((due - now(world)).total_seconds())
    await cog_of(run).ticker.tick()
    (post,) = world.emu.threads(world.forum)
    assert post["owner_id"] == str(world.emu.bot_user.id)


async def test_a_one_off_is_cancelled_after_the_scheduler_ticked(world: World, bots: BotFactory):
    run = await bots.start()
    await command(
        world, "schedule", "thread", {"topic": "open-source-usability", "when": "in 2 hours"}
    )
    world.clock.advance(60)
    await cog_of(run).ticker.tick()  # nothing due yet: the bot ticks every 30 s all the same

    reply = await command(world, "schedule", "cancel", {"id": 1})
    assert reply["content"].startswith("Cancelled `#1`"), reply["content"]
    world.clock.advance(2 * 3600)
    await cog_of(run).ticker.tick()
    assert bot_posts(world, world.general) == []


async def test_manage_threads_in_one_channel_moderates_that_channel_only(
    world: World, bots: BotFactory
):
    # Manage Threads given to a member in one channel's overwrites lets Discord offer the
    # commands there; it must not reach the server's other channels.
    club = world.emu.add_channel(world.guild, "book-club")
    world.emu.set_permissions(club, world.alice, allow="MANAGE_THREADS")
    await bots.start()
    await command(world, "weekly", "set", weekly_options(world, world.general, timedelta(days=1)))
    await command(
        world, "schedule", "thread", {"topic": "open-source-usability", "when": "in 2 hours"}
    )
    before = tables(bots.settings().db)

    async def as_alice(name: str, sub: str, options: dict[str, Any] | None = None) -> str:
        handle = await world.emu.invoke(
            name, options or {}, user=world.alice, channel=club, subcommand=sub
        )
        return str((await handle.response(timeout=10))["content"])

    refused = [
        await as_alice(
            "schedule",
            "thread",
            {"topic": "open-source-usability", "when": "in 3 hours", "channel": world.general.id},
        ),
        await as_alice("schedule", "cancel", {"id": 1}),
        await as_alice("schedule", "run-now", {"id": 1}),
        await as_alice("weekly", "off"),
        await as_alice("weekly", "set", weekly_options(world, world.general, timedelta(days=2))),
        # Moving the weekly prompt to her channel changes #general too.
        await as_alice("weekly", "set", weekly_options(world, club, timedelta(days=2))),
    ]
    for text in refused:
        assert f"Manage Threads permission in <#{world.general.id}>" in text, text
        assert "Nothing was changed" in text, text
    assert tables(bots.settings().db) == before
    assert bot_posts(world, world.general) == []
    # In the channel she moderates, she may.
    ok = await as_alice(
        "schedule", "thread", {"topic": "open-source-usability", "when": "in 3 hours"}
    )
    assert ok.startswith("Scheduled `#2`"), ok


async def test_a_long_schedule_list_shows_every_schedule_and_what_needs_attention(
    world: World, bots: BotFactory
):
    run = await bots.start()
    slugs = [t.slug for t in load_dir(REPO / "content").topics]  # every topic: 12
    assert len(slugs) >= 12
    for slug in slugs:
        options = {"topic": slug, "when": "in 1 hour", "repeat": "weekly"}
        assert "Scheduled" in (await command(world, "schedule", "thread", options))["content"]
    world.emu.set_bot_permissions(world.general, deny="SEND_MESSAGES")  # taken away since
    world.clock.advance(3600 + 30)
    await cog_of(run).ticker.tick()

    handle = await world.emu.invoke(
        "schedule", {}, user=world.mod, channel=world.general, subcommand="list"
    )
    first = await handle.response(timeout=10)
    shown = "\n".join([first["content"], *(m["content"] for m in handle.followups)])
    assert all(
        len(m) <= 2000 for m in [first["content"], *(m["content"] for m in handle.followups)]
    )
    for n in range(1, len(slugs) + 1):
        assert f"`#{n}` **" in shown, f"#{n} is missing from /schedule list"
    assert "**Needs attention**" in shown and "lacks Send Messages" in shown


async def _prompt_waiting_for_a_retry(world: World, run: BotRun) -> None:
    """The weekly prompt in #general is due, and its send fails in a way that is tried again
    (Cloudflare's ban: nothing is created, discord.py does not retry it)."""
    await command(
        world, "weekly", "set", weekly_options(world, world.general, timedelta(minutes=5))
    )
    world.emu.inject_fault(
        "POST", rf"^/channels/{world.general.id}/messages$", 429, retry_after=600, cloudflare=True
    )
    world.clock.advance(5 * 60 + 1)
    await cog_of(run).ticker.tick()
    assert bot_posts(world, world.general) == []


@pytest.mark.parametrize("kind", ["text", "forum"])
async def test_a_prompt_waiting_for_a_retry_goes_where_the_moderator_moved_it(
    world: World, bots: BotFactory, kind: str
):
    run = await bots.start()
    await _prompt_waiting_for_a_retry(world, run)
    moved_to = world.emu.add_channel(world.guild, "prompts") if kind == "text" else world.forum
    options = weekly_options(world, moved_to, timedelta(minutes=-1))  # this week's time, as before
    reply = await command(world, "weekly", "set", options)
    assert f"will go to <#{moved_to.id}>" in reply["content"], reply["content"]
    shown = await command(world, "weekly", "show")
    assert f"→ <#{moved_to.id}>" in shown["content"], shown["content"]

    await cog_of(run).ticker.tick()
    await cog_of(run).ticker.tick()
    made = bot_posts(world, moved_to) if kind == "text" else world.emu.threads(moved_to)
    assert len(made) == 1 and bot_posts(world, world.general) == []
    with sqlite3.connect(bots.settings().db) as conn:
        rows = conn.execute("SELECT state, channel_id FROM outbox").fetchall()
    assert rows == [("sent", moved_to.id)]


async def test_a_prompt_that_reached_the_old_channel_is_not_posted_again_where_it_moved(
    world: World, bots: BotFactory
):
    """The send failed as far as the bot knows, but Discord had made the message (its answer
    was lost): the move finds it in the old channel and posts nothing more."""
    run = await bots.start()
    await _prompt_waiting_for_a_retry(world, run)
    with sqlite3.connect(bots.settings().db) as conn:
        ((key,),) = conn.execute("SELECT key FROM outbox").fetchall()
    made = world.emu.post_message(
        world.general, f"Prompt\n\n-# {marker_for(key)}", user=world.emu.bot_user
    )
    moved_to = world.emu.add_channel(world.guild, "prompts")
    await command(world, "weekly", "set", weekly_options(world, moved_to, timedelta(minutes=-1)))
    world.clock.advance(10 * 60)  # past Discord's nonce memory: only the marker tells

    await cog_of(run).ticker.tick()
    assert bot_posts(world, moved_to) == []
    assert [p["id"] for p in bot_posts(world, world.general)] == [made["id"]]
    with sqlite3.connect(bots.settings().db) as conn:
        rows = conn.execute("SELECT state, channel_id, message_id FROM outbox").fetchall()
    assert rows == [("sent", world.general.id, int(made["id"]))]


async def test_a_prompt_moved_away_from_a_deleted_channel_is_posted_where_it_moved(
    world: World, bots: BotFactory
):
    """The channel it left is gone (why a moderator moves a prompt, often): nothing can be
    found there, and nothing can have stayed there, so the prompt goes where it now goes
    instead of failing with 'pick another channel' (which the moderator just did)."""
    run = await bots.start()
    await _prompt_waiting_for_a_retry(world, run)
    moved_to = world.emu.add_channel(world.guild, "prompts")
    await command(world, "weekly", "set", weekly_options(world, moved_to, timedelta(minutes=-1)))
    world.emu.delete_channel(world.general)
    world.clock.advance(10 * 60)  # past Discord's nonce memory: the old channel is searched

    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, moved_to)) == 1
    with sqlite3.connect(bots.settings().db) as conn:
        rows = conn.execute("SELECT state, channel_id FROM outbox").fetchall()
    assert rows == [("sent", moved_to.id)]


@pytest.mark.parametrize("denied", ["VIEW_CHANNEL", "READ_MESSAGE_HISTORY"])
async def test_a_prompt_moved_away_from_a_channel_hidden_from_the_bot_says_where_to_look(
    world: World, bots: BotFactory, denied: str
):
    """The channel it left is still there but hidden from the bot (often why a moderator
    moves a prompt): the earlier try may be in it, and the bot cannot look. The prompt goes
    where the moderator moved it (holding it would miss the week), and /weekly show says
    where a copy may also be, for a moderator to check: a 403 is not a 404. Without Read
    Message History Discord answers the search with no messages, not a 403."""
    run = await bots.start()
    await _prompt_waiting_for_a_retry(world, run)
    moved_to = world.emu.add_channel(world.guild, "prompts")
    await command(world, "weekly", "set", weekly_options(world, moved_to, timedelta(minutes=-1)))
    world.emu.set_bot_permissions(world.general, deny=denied)
    world.clock.advance(10 * 60)  # past Discord's nonce memory: the old channel is searched

    await cog_of(run).ticker.tick()
    assert len(bot_posts(world, moved_to)) == 1
    shown = await command(world, "weekly", "show")
    assert f"may also be in <#{world.general.id}>" in shown["content"], shown["content"]

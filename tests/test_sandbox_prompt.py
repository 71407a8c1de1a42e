"""Lines typed at the sandbox prompt, through the real emulator and the real bot process: what
the person sees for each, and that no line ends the session."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.emulator import EmulatorError
from bot.sandbox.terminal import Sandbox
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
GONE = "! the bot process has exited (exit code -9: killed by SIGKILL)"


class Prompt:
    def __init__(self, box: Sandbox, screen: io.StringIO) -> None:
        self.box = box
        self.screen = screen

    async def type(self, *lines: str) -> str:
        """What the sandbox printed for these lines; fails if one of them ended the session."""
        start = len(self.screen.getvalue())
        for line in lines:
            assert await self.box.handle(line), f"{line!r} ended the session"
        return self.screen.getvalue()[start:]


@pytest.fixture
async def prompt(tmp_path: Path) -> AsyncIterator[Prompt]:
    settings = Settings(
        db=tmp_path / "vgbot.sqlite3", content_dir=REPO / "content", prompts_dir=REPO / "prompts"
    )
    screen = io.StringIO()
    (tmp_path / "sandbox").mkdir()
    box = Sandbox(settings, tmp_path / "sandbox", out=screen)
    await box.start()
    try:
        yield Prompt(box, screen)
    finally:
        await box.stop()


async def test_complete_lists_static_choices_without_asking_the_bot(prompt: Prompt):
    refused = await prompt.type(":complete /config reset setting:")
    assert refused == "! alice may not use /config: it needs Manage Server, which they lack here\n"
    screen = await prompt.type(":as admin", ":complete /config reset setting:")
    assert "  Announcement channel  →  announce_channel" in screen
    assert "  Time zone  →  timezone" in screen
    narrowed = await prompt.type(":complete /config reset setting:zone")
    assert narrowed.strip() == "Time zone  →  timezone"
    weekdays = await prompt.type(":as moderator", ":complete /weekly set weekday:fri")
    assert weekdays.splitlines()[-1] == "  Friday  →  friday"
    nothing = await prompt.type(":complete /weekly set weekday:someday")
    assert "no choice of 'weekday' matches 'someday'; choices: Monday, Tuesday" in nothing
    # Autocomplete was never sent for these: the bot's log has no error about it.
    assert "Ignoring exception in autocomplete" not in prompt.box._log_tail(200)


async def test_complete_says_when_an_option_offers_nothing(prompt: Prompt):
    # (inside a quote not closed yet, as when typing)
    screen = await prompt.type(":as moderator", ':complete /schedule thread topic:moats when:"fri')
    assert screen.splitlines()[-1] == "  (option 'when' has no suggestions: type its value)"


async def test_complete_asks_the_bot_for_the_option_being_typed(prompt: Prompt):
    # 'topic' is typed first, but the cursor is in 'tz': its suggestions are the zones.
    screen = await prompt.type(
        ":as moderator", ":complete /weekly set weekday:friday time:18:00 tz:Europe/Lon"
    )
    assert "Europe/London" in screen


async def test_a_bot_that_has_exited_is_said_at_once_with_its_log(prompt: Prompt):
    """A newcomer whose bot crashed typed a command and waited out a timeout (5 s for
    :complete, 15 s for a command), then read only "timed out waiting for ..."."""
    box = prompt.box
    assert box.bot is not None
    box.bot.kill()  # the bot process is gone: nothing answers any more
    box.bot.wait()
    log = box.folder / "bot.log"
    for line in (":complete /topic moat", "/episode 11"):
        screen = await prompt.type(line)
        assert screen.startswith(GONE), screen
        assert f"last lines of its log ({log}):" in screen
        assert box._log_tail().splitlines()[-1] in screen
        assert ":quit, fix what the log shows, and start the sandbox again" in screen
        assert "Traceback" not in screen and "timed out" not in screen
    assert "typing in #episodes" in await prompt.type(":in episodes")


async def test_a_bot_that_dies_while_a_command_waits_is_said_at_once(prompt: Prompt):
    box = prompt.box
    assert box.bot is not None
    os.kill(box.bot.pid, signal.SIGSTOP)  # alive, but answers nothing: the command waits
    try:
        typed = asyncio.create_task(prompt.type("/episode 11"))
        await box.emu.wait_for(lambda: bool(box.emu.interactions.by_id), what="the command sent")
        assert not typed.done()
    finally:
        box.bot.kill()
    screen = await typed
    assert screen.startswith(GONE), screen


async def test_a_choice_is_typed_by_the_name_discord_shows(prompt: Prompt):
    await prompt.type(":as admin", "/config channel which:announcements channel:#episodes")
    screen = await prompt.type('/config reset setting:"announcement channel"')
    assert "**Announcement channel** is now not set (was #episodes)" in screen
    wrong = await prompt.type("/config reset setting:announcements")
    assert wrong.startswith(
        """! option 'setting' must be one of: "Discussion channel", "Announcement channel","""
    )


async def test_roles_and_channels_are_written_and_shown_as_in_discord(prompt: Prompt):
    screen = await prompt.type(":as admin", "/config role role:@moderator")
    assert "**Announcement role** is now @Moderator (was none" in screen
    assert "<@&" not in screen
    episodes = prompt.box._channels()["episodes"]
    screen = await prompt.type(f"/config channel which:discussion channel:<#{episodes}>")
    assert "**Discussion channel** is now #episodes (was not set)" in screen
    wrong = await prompt.type("/config role role:@Admins")
    assert wrong.startswith("! /config role: option 'role' takes a role: no role '@Admins' here")
    assert "@Moderator" in wrong and "(write it as @Moderator or <@&id>)" in wrong


async def test_commands_are_typed_where_discord_has_a_message_box(prompt: Prompt):
    """A forum has none: Discord's client types commands in one of its posts. The bot never
    gets an interaction from the forum itself (it hung for 15 s, then failed)."""
    said = await prompt.type(":in #discussions")
    assert "! #discussions is a forum: commands are typed in one of its posts" in said
    assert prompt.box.channel == "general"
    with pytest.raises(EmulatorError, match="is a forum channel: commands are typed in a text"):
        await prompt.box.emu.invoke("episode", {"query": "11"}, user="alice", channel="discussions")
    assert "typing in #general" in await prompt.type(":in general")


async def test_a_post_the_bot_makes_by_itself_shows_while_the_prompt_waits(prompt: Prompt):
    box = prompt.box
    await prompt.type(
        ":as moderator",
        '/schedule thread topic:moats when:"in 1 hour" title:"Moats, on time"',
    )

    def shown() -> bool:  # the post, below what was there, then the prompt and what was typed
        after = prompt.screen.getvalue().split("First post:")[-1]
        return "── bot in #general ──" in after and after.endswith("moderator #general> /epi")

    # Idle at the prompt, "/epi" typed so far: hidden, it would still run with the next Enter.
    waiting = asyncio.create_task(box.show_posts_while(lambda: True, lambda: "/epi"))
    try:
        box.clock.advance(3601)  # no command typed: nothing else would show it
        await box.emu.wait_for(shown, timeout=20, what="the post shown, then the prompt")
    finally:
        waiting.cancel()


async def test_threads_that_share_a_name_are_told_apart_by_id(prompt: Prompt):
    box = prompt.box
    await prompt.type(
        ":as moderator",
        '/schedule thread topic:moats when:"in 1 hour" title:"Same name"',
        '/schedule thread topic:moats when:"in 2 hours" title:"Same name" channel:#discussions',
        "/schedule run-now 1",
        "/schedule run-now 2",
    )
    threads = [c for c in box.emu.world.channels.values() if c.name == "Same name"]
    assert len(threads) == 2
    listed = await prompt.type(":channels")
    assert "#discussions (forum: type in one of its posts)" in listed
    assert listed.count("  #Same name  <#") == 2  # under #general and under #discussions
    said = await prompt.type(":in Same name")
    assert "! 2 threads are named #Same name: type :in <#id> with one of" in said
    post = next(c for c in threads if box.emu.world.channels[c.parent_id].name == "discussions")
    assert "typing in #Same name" in await prompt.type(f":in <#{post.id}>")
    assert "Great Stagnation" in await prompt.type("/episode 11")
    (asked,) = [r for r in box.emu.interactions.by_id.values() if r.data["name"] == "episode"]
    assert asked.channel_id == post.id  # the forum post, not its namesake in #general


async def test_a_mention_of_a_thread_shows_its_name_when_another_shares_it(prompt: Prompt):
    """Threads on one topic often share a name (each week's, or one per channel): a mention of
    any but the newest showed as a bare id (`→ #1576271491987668992` in /schedule list)."""
    await prompt.type(
        ":as moderator",
        '/schedule thread topic:moats when:"in 1 hour" title:"Same name"',
        '/schedule thread topic:moats when:"in 1 hour" title:"Same name" channel:#discussions',
        "/schedule run-now 1",
        "/schedule run-now 2",
    )
    again = await prompt.type("/schedule run-now 1")  # names the first thread
    assert "`#1` was already posted this minute: #Same name (https://" in again


async def test_a_second_session_says_it_continues_the_first(tmp_path: Path):
    """State is kept between sessions: without a word, a newcomer back the next day found old
    schedules, and after `:advance 7d` every time a week off (`/about`: up 7d)."""
    settings = Settings(
        db=tmp_path / "vgbot.sqlite3", content_dir=REPO / "content", prompts_dir=REPO / "prompts"
    )
    folder = tmp_path / "sandbox"
    folder.mkdir()
    first = Sandbox(settings, folder, out=io.StringIO())
    assert "continues" not in first.welcome()
    await first.start()
    before = first.clock()
    try:
        assert await first.handle(":advance 7d")
    finally:
        await first.stop()
    second = Sandbox(settings, folder, out=io.StringIO())
    said = second.welcome()
    assert second.clock() - before >= 7 * 86400  # the moved clock was kept
    assert f"This continues the last session (sandbox time is {second._now()})" in said
    assert f"kept in {folder}/: delete that folder to start afresh" in said


async def test_a_bot_that_exits_at_start_is_said_at_once(tmp_path: Path, monkeypatch):
    """A bad setting ends the bot at once; the sandbox waited 60 s for it to connect."""
    monkeypatch.setenv("VGBOT_COOLDOWN_RATE", "many")
    settings = Settings(
        db=tmp_path / "vgbot.sqlite3", content_dir=REPO / "content", prompts_dir=REPO / "prompts"
    )
    screen = io.StringIO()
    (tmp_path / "sandbox").mkdir()
    box = Sandbox(settings, tmp_path / "sandbox", out=screen)
    try:
        with pytest.raises(EmulatorError):
            await box.start()
    finally:
        await box.stop()
    said = screen.getvalue()
    log = tmp_path / "sandbox" / "bot.log"
    assert said.startswith(f"The bot did not start (it exited: exit code 2). Its log ({log}) says:")
    assert "setting 'cooldown_rate' must be a whole number, got 'many'" in said


async def test_a_bot_alive_but_not_connected_is_said_and_waited_for(prompt: Prompt):
    """A bot reconnecting (its connection cut) answers once back: the command waits for it,
    saying why nothing shows yet, rather than a silent wait that might end in a timeout."""
    box = prompt.box
    box.emu.gateway.hold()  # its reconnection waits in the handshake until release()
    try:
        await box.emu.gateway.drop()
        await box.emu.wait_for(lambda: not box.emu.gateway.connected, what="disconnected")
        typed = asyncio.create_task(prompt.type("/episode 11"))
        await box.emu.wait_for(lambda: bool(box.emu.interactions.by_id), what="the command sent")
        assert not typed.done()
    finally:
        box.emu.gateway.release()
    screen = await typed
    note, answer = screen.split("\n", 1)
    assert note == (
        "  (the bot is not connected to the emulator just now: waiting for it to reconnect; "
        ":log shows its log)"
    )
    assert "Episode 11: Data Science: The Great Stagnation" in answer

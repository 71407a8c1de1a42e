"""Exactly once under kill -9: the bot runs as its own process (`python -m bot run`) against an
in-test emulator and is killed with SIGKILL at random points of the posting path, again and
again, then restarted; restarts come both inside and beyond the emulator's nonce window. At the
end the emulator holds exactly one post (and one thread) per due occurrence.

Kill points are chosen on what the emulator sees: the Nth posting-path request from now
(a message or forum post created, a thread opened, a recovery search; the bot dies before it
reads the answer), optionally after an injected 500 (the request reached Discord, nothing was
created: the row is 'sending' with no post), or a random delay after the bot connected (before
planning, between plan and drain, ...). The bot and the emulator share one clock file, so
advancing it moves both (as the sandbox's `:advance` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import OffsetFileClock
from bot.core.schedule import occurrence_key
from bot.ops.backup import backup, restore
from bot.sandbox.emulator import Emulator, Recorded
from bot.sandbox.emulator.state import Channel, Guild, User
from bot.sandbox.process import bot_env, spawn_bot
from bot.services.publisher import marker_for
from tests.feeds.feedgen import FeedServer, Show, episode, feed_xml

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("VGBOT_CRASH_SEED", "20261128"))
MIN_KILLS = 20
NONCE_WINDOW = 300.0  # the emulator's (Discord's) nonce memory; the bot's own window is 120 s
INSIDE = (5.0, 60.0)  # restart delays inside the bot's nonce window
BEYOND = (NONCE_WINDOW + 1, 900.0)  # ... and beyond the emulator's
START_TIMEOUT = 30.0


@dataclass
class Killer:
    """Kills the bot process on a chosen request, as the emulator receives it."""

    emu: Emulator
    pid: int | None = None
    trigger: Callable[[Recorded], bool] | None = None
    reason: str = ""
    kills: list[str] = field(default_factory=list)
    killed: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self) -> None:
        original = self.emu.after_request

        def after_request(recorded: Recorded, *, mutating: bool) -> None:
            original(recorded, mutating=mutating)
            if self.trigger is not None and self.trigger(recorded):
                self.kill(f"{self.reason}: {recorded.method} {recorded.path} {recorded.status}")

        self.emu.after_request = after_request  # type: ignore[method-assign]

    def arm(self, trigger: Callable[[Recorded], bool], reason: str) -> None:
        self.trigger, self.reason = trigger, reason
        self.killed.clear()

    def disarm(self) -> None:
        self.trigger = None

    def kill(self, why: str) -> None:
        self.trigger = None
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.kills.append(why)
            self.pid = None
        self.killed.set()


@dataclass
class Rig:
    emu: Emulator
    clock: OffsetFileClock
    guild: Guild
    general: Channel
    forum: Channel
    mod: User
    folder: Path
    killer: Killer
    proc: subprocess.Popen[bytes] | None = None
    ready_before: int = 0
    settings: dict[str, Any] = field(default_factory=dict)  # more VGBOT_* for a test

    @property
    def db(self) -> Path:
        return self.folder / "bot.sqlite3"

    def env(self) -> dict[str, str]:
        return bot_env(
            self.emu,
            self.guild.id,
            db=self.db,
            content_dir=REPO / "content",
            prompts_dir=REPO / "prompts",
            clock_offset_file=self.folder / "clock",
            base=os.environ,
            **{"tick_interval": 0.2, "grace_window": 2 * 24 * 3600, **self.settings},
        )

    async def start(self) -> None:
        self.ready_before = self.emu.gateway.ready_sessions
        self.proc = await asyncio.to_thread(spawn_bot, self.env(), self.folder / "bot.log")
        self.killer.pid = self.proc.pid

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self.emu.gateway.ready_sessions <= self.ready_before:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            assert time.monotonic() < deadline, "the bot did not connect\n" + self.log_tail()
            await asyncio.sleep(0.02)

    async def reap(self) -> None:
        if self.proc is not None:
            await asyncio.to_thread(self.proc.wait, 10)
            self.proc = None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        self.killer.pid = None

    def log_tail(self, lines: int = 40) -> str:
        path = self.folder / "bot.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def rows(self) -> list[tuple[str, str, str]]:
        if not self.db.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            try:
                return conn.execute(
                    "SELECT key, state, last_error FROM outbox ORDER BY key"
                ).fetchall()
            except sqlite3.OperationalError:
                return []  # not migrated yet

    def sent(self) -> int:
        """Rows sent so far; fails at once if any row was given up on."""
        rows = self.rows()
        broken = [r for r in rows if r[1] in ("failed", "skipped")]
        assert not broken, f"posts given up on: {broken}\n{self.log_tail()}"
        return sum(state == "sent" for _, state, _ in rows)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = OffsetFileClock(tmp_path / "clock")
    async with Emulator(clock=clock, nonce_window=NONCE_WINDOW, heartbeat_interval=5.0) as emu:
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        forum = emu.add_channel(guild, "discussions", "forum", tags=["topic"])
        mod = emu.add_moderator(guild, "mod")
        killer = Killer(emu)
        killer.install()
        rig = Rig(emu, clock, guild, general, forum, mod, tmp_path, killer)
        try:
            yield rig
        finally:
            killer.disarm()
            await rig.stop()


def posting_path(rig: Rig) -> Callable[[Recorded], bool]:
    """Requests of the posting path (not the login, the gateway or command answers)."""
    general, forum, guild = rig.general.id, rig.forum.id, rig.guild.id
    patterns = [
        rf"/channels/{general}/messages",  # send (POST) and recovery search (GET)
        rf"/channels/{general}/messages/\d+/threads",
        rf"/channels/{forum}/threads",
        rf"/guilds/{guild}/threads/active",
        r"/channels/\d+/messages/\d+",  # a forum post's starter, fetched by the search
        rf"/channels/{forum}/threads/archived/public",
    ]
    compiled = [re.compile(p + r"\Z") for p in patterns]

    def matches(r: Recorded) -> bool:
        return any(p.match(r.path) for p in compiled) and not r.path.startswith("/webhooks")

    return matches


def nth_on_path(on_path: Callable[[Recorded], bool], nth: int) -> Callable[[Recorded], bool]:
    seen = 0

    def trigger(r: Recorded) -> bool:
        nonlocal seen
        seen += on_path(r)
        return seen >= nth

    return trigger


def answered_500(on_path: Callable[[Recorded], bool]) -> Callable[[Recorded], bool]:
    return lambda r: r.status == 500 and on_path(r)


async def command(rig: Rig, name: str, sub: str, options: dict[str, Any]) -> str:
    handle = await rig.emu.invoke(name, options, user=rig.mod, channel=rig.general, subcommand=sub)
    reply = await handle.response(timeout=15)
    return str(reply["content"])


async def test_kill_9_at_random_points_posts_exactly_once_per_occurrence(rig: Rig):
    rng = random.Random(SEED)
    # Set up through the commands, as a moderator would: the weekly prompt in #general and a
    # weekly scheduled thread in the forum, both 2 minutes from now.
    await rig.start()
    await rig.wait_ready()
    first = (rig.now() + timedelta(minutes=2)).replace(second=0, microsecond=0)
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    reply = await command(
        rig,
        "weekly",
        "set",
        {
            "channel": rig.general.id,
            "weekday": days[first.weekday()],
            "time": f"{first:%H:%M}",
            "tz": "UTC",
        },
    )
    assert "Weekly prompt set" in reply, reply
    reply = await command(
        rig,
        "schedule",
        "thread",
        {
            "topic": "open-source-usability",
            "when": f"{first:%Y-%m-%d %H:%M}",
            "channel": rig.forum.id,
            "repeat": "weekly",
        },
    )
    assert "Scheduled `#1`" in reply, reply
    await rig.stop()

    on_path = posting_path(rig)
    occurrences = 0  # weeks whose two posts (a prompt and a forum thread) are due
    advances: list[str] = []
    while len(rig.killer.kills) < MIN_KILLS:
        if rig.sent() == 2 * occurrences:
            # Everything due is posted: move both clocks to 30 s past the next occurrence.
            target = first + timedelta(weeks=occurrences, seconds=30)
            rig.clock.advance((target - rig.now()).total_seconds())
            occurrences += 1
        rig.emu.faults.pending.clear()
        if rng.random() < 0.2:
            # A random moment after connecting: before planning, between plan and drain, ...
            delay = rng.uniform(0.0, 0.4)
            await rig.start()
            await rig.wait_ready()
            await asyncio.sleep(delay)
            rig.killer.kill(f"{delay:.2f}s after connecting")
        else:
            trigger = nth_on_path(on_path, rng.randint(1, 3))

            reason = "the chosen posting request"
            if rng.random() < 0.25:
                # The next post reaches Discord and fails (nothing is created); the bot dies
                # before it reads the answer: the row is 'sending' and no post exists.
                path = rf"/channels/({rig.general.id}/messages|{rig.forum.id}/threads)\Z"
                rig.emu.inject_fault("POST", path, 500, count=1)
                reason = "a post answered with a 500"
                trigger = answered_500(on_path)

            rig.killer.arm(trigger, reason)
            await rig.start()
            deadline = time.monotonic() + START_TIMEOUT
            # Until the kill, or until everything due is posted before the chosen request.
            while not rig.killer.killed.is_set() and rig.sent() < 2 * occurrences:
                assert rig.proc is not None and rig.proc.poll() is None, rig.log_tail()
                assert time.monotonic() < deadline, "stuck\n" + rig.log_tail()
                await asyncio.sleep(0.02)
            rig.killer.disarm()
        if rig.killer.killed.is_set():
            await rig.reap()
        else:
            await rig.stop()
        inside = rng.random() < 0.5
        low, high = INSIDE if inside else BEYOND
        rig.clock.advance(rng.uniform(low, high))
        advances.append("inside" if inside else "beyond")

    # A last, undisturbed run finishes whatever is left.
    rig.emu.faults.pending.clear()
    await rig.start()
    deadline = time.monotonic() + START_TIMEOUT
    while rig.sent() < 2 * occurrences:
        assert time.monotonic() < deadline, "the last run did not finish\n" + rig.log_tail()
        await asyncio.sleep(0.05)
    await rig.stop()

    print(f"seed {SEED}: {occurrences} weeks, kills:", *rig.killer.kills, sep="\n  ")
    print("restarts:", " ".join(advances))
    rows = rig.rows()
    expected_keys = sorted(
        [
            occurrence_key("weekly", rig.guild.id, first + timedelta(weeks=k))
            for k in range(occurrences)
        ]
        + [occurrence_key("thread", 1, first + timedelta(weeks=k)) for k in range(occurrences)]
    )
    assert [k for k, _, _ in rows] == expected_keys
    assert all(state == "sent" for _, state, _ in rows), rows

    bot_id = str(rig.emu.bot_user.id)
    posts = [
        m
        for m in rig.emu.messages(rig.general)
        if m["author"]["id"] == bot_id and "interaction_metadata" not in m
    ]
    threads = rig.emu.threads(rig.general)
    forum_posts = rig.emu.threads(rig.forum)
    assert len(posts) == len(threads) == occurrences
    assert len(forum_posts) == occurrences
    for key, _, _ in rows:
        marker = marker_for(key)
        if key.startswith("weekly:"):
            (post,) = [m for m in posts if marker in m["content"]]
            assert [t["id"] for t in threads].count(post["id"]) == 1
        else:
            starters = [rig.emu.messages(int(t["id"]))[0] for t in forum_posts]
            assert sum(marker in s["content"] for s in starters) == 1

    assert len(rig.killer.kills) >= MIN_KILLS
    assert any("500" in k for k in rig.killer.kills)
    assert {"inside", "beyond"} <= set(advances)


# ---- today's paths that post or move posts, each killed at its worst moments ----

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


async def until(rig: Rig, done: Callable[[], bool], what: str) -> None:
    """Wait (polling, not sleeping a set time) until `done`, while the bot runs."""
    deadline = time.monotonic() + START_TIMEOUT
    while not done():
        assert rig.proc is not None and rig.proc.poll() is None, f"{what}\n{rig.log_tail()}"
        assert time.monotonic() < deadline, f"{what}\n{rig.log_tail()}"
        await asyncio.sleep(0.02)


async def killed_at(
    rig: Rig,
    trigger: Callable[[Recorded], bool],
    reason: str,
    *,
    unless: Callable[[], bool] = lambda: False,
) -> None:
    """Start the bot armed to die on `trigger` (after Discord did the request, before the bot
    reads the answer), and wait for that, or, with `unless`, for everything to be done."""
    rig.killer.arm(trigger, reason)
    await rig.start()
    await until(rig, lambda: rig.killer.killed.is_set() or unless(), f"never made {reason}")
    if rig.killer.killed.is_set():
        await rig.reap()
    else:
        rig.killer.disarm()
        await rig.stop()


async def finished(rig: Rig, done: Callable[[], bool]) -> None:
    """An undisturbed run until `done`."""
    rig.killer.disarm()
    await rig.start()
    await until(rig, done, "the last run did not finish")
    await rig.stop()


def made(method: str, path: str) -> Callable[[Recorded], bool]:
    """A request Discord carried out."""
    return lambda r: r.method == method and r.path == path and 200 <= r.status < 300


def outbox(rig: Rig) -> list[dict[str, Any]]:
    if not rig.db.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{rig.db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY key")]
        except sqlite3.OperationalError:
            return []  # not migrated yet


def bot_posts(rig: Rig, channel: Channel) -> list[dict[str, Any]]:
    bot_id = str(rig.emu.bot_user.id)
    return [
        m
        for m in rig.emu.messages(channel)
        if m["author"]["id"] == bot_id and "interaction_metadata" not in m
    ]


async def set_weekly(rig: Rig, channel: Channel, at: datetime) -> str:
    options = {"channel": channel.id, "weekday": DAYS[at.weekday()], "time": f"{at:%H:%M}"}
    return await command(rig, "weekly", "set", {**options, "tz": "UTC"})


@pytest.mark.parametrize("reached", [True, False], ids=["made-in-the-old-channel", "never-made"])
async def test_kill_9_around_a_moved_prompt_posts_it_once_in_one_channel(rig: Rig, reached: bool):
    """/weekly set moves a prompt waiting for a retry (Cloudflare refused its sends) to
    #prompts. Whether the try in #general had made it or not, and the bot killed while it
    looks there, while it posts where the prompt moved, or while it opens the thread, the
    prompt ends up once, in one channel."""
    prompts = rig.emu.add_channel(rig.guild, "prompts")
    general = f"/channels/{rig.general.id}/messages"
    await rig.start()
    await rig.wait_ready()
    due = (rig.now() + timedelta(minutes=2)).replace(second=0, microsecond=0)
    assert "Weekly prompt set" in await set_weekly(rig, rig.general, due)
    await rig.stop()
    rig.clock.advance((due - rig.now()).total_seconds() + 30)
    if reached:
        await killed_at(rig, made("POST", general), "the prompt's send")
        rig.clock.advance(5)
    # Its sends in #general are refused from now on (nothing is made; tried again later).
    rig.emu.inject_fault(
        "POST", rf"^{general}$", 429, count=10**6, retry_after=600, cloudflare=True
    )
    await rig.start()
    await until(rig, lambda: bool(outbox(rig) and outbox(rig)[0]["last_error"]), "no try failed")
    assert outbox(rig)[0]["state"] == "sending"

    rig.killer.arm(made("GET", general), "the search in the channel left")
    reply = await set_weekly(rig, prompts, due)
    assert f"will go to <#{prompts.id}>" in reply, reply
    await until(rig, rig.killer.killed.is_set, "no search in the channel left")
    await rig.reap()
    rig.emu.faults.pending.clear()  # a second post in #general would show now
    rig.clock.advance(NONCE_WINDOW + 1)  # only the marker tells what was made
    if reached:
        thread = made("POST", rf"{general}/{bot_posts(rig, rig.general)[0]['id']}/threads")
        await killed_at(rig, thread, "the prompt's thread")
    else:
        await killed_at(rig, made("POST", f"/channels/{prompts.id}/messages"), "the moved send")
    rig.clock.advance(NONCE_WINDOW + 1)
    await finished(rig, lambda: outbox(rig)[0]["state"] == "sent")

    (row,) = outbox(rig)
    where, nowhere = (rig.general, prompts) if reached else (prompts, rig.general)
    (post,) = bot_posts(rig, where)
    assert bot_posts(rig, nowhere) == []
    assert marker_for(row["key"]) in post["content"]
    assert (row["channel_id"], row["message_id"]) == (where.id, int(post["id"]))
    assert [t["id"] for t in rig.emu.threads(where)] == [post["id"]]
    print("kills:", *rig.killer.kills, sep="\n  ")


def feed_read(rig: Rig) -> bool:
    """The feed's back catalogue is stored (its first read, which announces nothing)."""
    with contextlib.closing(sqlite3.connect(f"file:{rig.db}?mode=ro", uri=True)) as conn:
        try:
            return bool(conn.execute("SELECT 1 FROM feeds WHERE seeded = 1").fetchall())
        except sqlite3.OperationalError:
            return False


def all_sent(rig: Rig, count: int) -> Callable[[], bool]:
    return lambda: [r["state"] for r in outbox(rig)] == ["sent"] * count


async def test_kill_9_after_a_restore_announces_each_release_once(rig: Rig, tmp_path: Path):
    """Episode 4 is announced after last night's backup; a day later the backup is restored,
    and episode 5 came out meanwhile. The restarted bot looks for episode 4's announcement
    before it lists what it missed; killed just after that search (before anything is
    written), and then just after the summary's send, it still ends with episode 4's
    announcement once and one 'While we were away' post listing episode 5 only."""
    role = rig.emu.add_role(rig.guild, "Admin", "MANAGE_GUILD")
    admin = rig.emu.add_member(rig.guild, "admin", roles=[role])
    back = tuple(episode(n) for n in range(1, 4))
    async with FeedServer() as server:
        server.feed = feed_xml(Show(items=back))
        # Six hours' grace: a day after the backup, the releases since look missed.
        rig.settings.update(
            feed_url=server.url("feed.xml"), feed_interval=60.0, grace_window=6 * 3600
        )
        await rig.start()
        await rig.wait_ready()
        options = {"which": "announcements", "channel": rig.general.id}
        handle = await rig.emu.invoke(
            "config", options, user=admin, channel=rig.general, subcommand="channel"
        )
        assert "**Announcement channel** is now" in (await handle.response(timeout=15))["content"]
        await until(rig, lambda: feed_read(rig), "the back catalogue was not read")
        backup(rig.db, tmp_path / "nightly.sqlite3", now=rig.now())  # online, as cron does

        fourth = episode(4, published=rig.now())
        server.feed = feed_xml(Show(items=(fourth, *back)))
        rig.clock.advance(61)
        await until(rig, all_sent(rig, 1), "episode 4 was not announced")
        await rig.stop()
        (announced,) = bot_posts(rig, rig.general)

        fifth = episode(5, published=rig.now())
        server.feed = feed_xml(Show(items=(fifth, fourth, *back)))
        rig.clock.advance(30 * 3600)
        restore(tmp_path / "nightly.sqlite3", rig.db, now=rig.now())
        rig.clock.advance(300)
        # The search for episode 4's announcement answered, nothing written yet; then the
        # summary made on Discord, its message id not recorded yet.
        await killed_at(rig, nth_on_path(posting_path(rig), 1), "the restore search")
        assert outbox(rig) == []
        rig.clock.advance(NONCE_WINDOW + 1)
        await killed_at(rig, made("POST", f"/channels/{rig.general.id}/messages"), "a post")
        rig.clock.advance(NONCE_WINDOW + 1)
        await finished(rig, all_sent(rig, 2))

    print("kills:", *rig.killer.kills, sep="\n  ")
    first, summary = bot_posts(rig, rig.general)
    assert first["id"] == announced["id"]
    assert "While we were away" in summary["content"], summary["content"]
    assert "thing 5" in summary["content"] and "thing 4" not in summary["content"]
    rows = {r["key"].split(":")[0]: r for r in outbox(rig)}
    assert rows["announce"]["message_id"] == int(announced["id"])
    assert len(rig.emu.threads(rig.general)) == 1  # episode 4's; a summary opens none


async def test_kill_9_just_after_a_skip_for_a_server_that_removed_the_bot(rig: Rig):
    """The server removed the bot; its prompt's week is written 'skipped' and the bot is
    killed right then. Invited back while it was down, the restarted bot posts nothing for
    that week, and next week's prompt once."""
    await rig.start()
    await rig.wait_ready()
    due = (rig.now() + timedelta(minutes=2)).replace(second=0, microsecond=0)
    assert "Weekly prompt set" in await set_weekly(rig, rig.general, due)
    # discord.py's READY (its guild list known) comes a while after the gateway's.
    await until(rig, lambda: "connected as" in rig.log_tail(), "discord.py was never ready")
    rig.emu.remove_bot(rig.guild)
    rig.clock.advance((due - rig.now()).total_seconds() + 30)
    await until(rig, lambda: [r["state"] for r in outbox(rig)] == ["skipped"], "no skip")
    rig.killer.kill("just after the skip")
    await rig.reap()

    rig.emu.add_bot(rig.guild)
    rig.clock.advance(5)
    rig.killer.arm(made("POST", f"/channels/{rig.general.id}/messages"), "a post")
    await rig.start()
    await rig.wait_ready()
    rig.clock.advance(timedelta(weeks=1).total_seconds())
    await until(rig, rig.killer.killed.is_set, "next week's prompt was not posted")
    await rig.reap()
    rig.clock.advance(NONCE_WINDOW + 1)
    await finished(rig, lambda: [r["state"] for r in outbox(rig)] == ["skipped", "sent"])

    skipped, sent = outbox(rig)
    assert "not in the server" in skipped["last_error"] and skipped["message_id"] is None
    (post,) = bot_posts(rig, rig.general)
    assert marker_for(sent["key"]) in post["content"] and int(post["id"]) == sent["message_id"]

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
from bot.sandbox.emulator import Emulator, Recorded
from bot.sandbox.emulator.state import Channel, Guild, User
from bot.sandbox.process import bot_env, spawn_bot
from bot.services.publisher import marker_for

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
            tick_interval=0.2,
            grace_window=2 * 24 * 3600,
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

"""SIGTERM while a post is in flight: the bot runs as its own process (`python -m bot run`)
against an in-test emulator whose answer to the post is held back, so the signal lands exactly
mid-post. The first signal finishes the post and exits cleanly; a second signal exits at once
and leaves the post in the outbox. Either way, after a restart there is exactly one post.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.chat.client import RESTARTING
from bot.chat.runner import Liveness
from bot.clock import OffsetFileClock
from bot.sandbox.emulator import Emulator
from bot.sandbox.emulator.state import Channel, Guild, User
from bot.sandbox.process import bot_env, spawn_bot

from .conftest import BotRun

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Hold:
    """Holds the emulator's answer to the next message posted in one channel."""

    channel_id: int = 0
    armed: bool = False
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self, emu: Emulator) -> None:
        # Before the emulator starts: its routes are bound to the handlers when it starts.
        original = emu._rest.create_message

        async def create_message(request: web.Request) -> web.Response:
            if self.armed and request.match_info.get("channel_id") == str(self.channel_id):
                self.armed = False
                self.held.set()
                await self.release.wait()
            return await original(request)

        emu._rest.create_message = create_message  # type: ignore[method-assign]


@dataclass
class Rig:
    emu: Emulator
    clock: OffsetFileClock
    guild: Guild
    general: Channel
    alice: User
    mod: User
    folder: Path
    hold: Hold
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.folder / "bot.sqlite3"

    @property
    def log(self) -> Path:
        return self.folder / "bot.log"

    def env(self) -> dict[str, str]:
        return bot_env(
            self.emu,
            self.guild.id,
            db=self.db,
            content_dir=REPO / "content",
            prompts_dir=REPO / "prompts",
            clock_offset_file=self.folder / "clock",
            base={k: v for k, v in os.environ.items() if not k.startswith(("VGBOT_", "DISCORD_"))},
            health_file=self.folder / "health.json",
            tick_interval=0.2,
        )

    def spawn(self) -> None:
        self.proc = spawn_bot(self.env(), self.log)

    async def start(self) -> None:
        before = self.emu.gateway.ready_sessions
        self.spawn()
        await self.until(lambda: self.emu.gateway.ready_sessions > before, "the bot to connect")

    async def until(self, condition: Any, what: str, limit: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.tail()}"
            if self.proc is not None and self.proc.poll() is not None and "exit" not in what:
                pytest.fail(f"the bot exited ({self.proc.returncode}) before {what}\n{self.tail()}")
            await asyncio.sleep(0.02)

    def signal(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def exited(self, limit: float = START_TIMEOUT) -> int:
        proc = self.proc
        assert proc is not None
        await self.until(lambda: proc.poll() is not None, "the bot to exit", limit)
        self.proc = None
        return proc.returncode

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def logged(self, words: str) -> bool:
        return self.log.exists() and words in self.log.read_text(errors="replace")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            return conn.execute(sql).fetchall()

    def posts(self) -> list[dict[str, Any]]:
        bot_id = str(self.emu.bot_user.id)
        return [
            m
            for m in self.emu.messages(self.general)
            if m["author"]["id"] == bot_id and "interaction_metadata" not in m
        ]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = OffsetFileClock(tmp_path / "clock")
    emu = Emulator(clock=clock, nonce_window=300.0, heartbeat_interval=5.0)
    hold = Hold()
    hold.install(emu)
    async with emu:
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        hold.channel_id = general.id
        rig = Rig(
            emu,
            clock,
            guild,
            general,
            emu.add_member(guild, "alice"),
            emu.add_moderator(guild, "mod"),
            tmp_path,
            hold,
        )
        try:
            yield rig
        finally:
            hold.release.set()
            if rig.proc is not None and rig.proc.poll() is None:
                rig.proc.kill()
                rig.proc.wait(10)


async def post_in_flight(rig: Rig) -> None:
    """Start the bot, set a weekly prompt through /weekly as a moderator would, move the clock
    past it, and wait until the bot's post is held mid-request."""
    await rig.start()
    first = (rig.now() + timedelta(minutes=2)).replace(second=0, microsecond=0)
    options = {
        "channel": rig.general.id,
        "weekday": DAYS[first.weekday()],
        "time": f"{first:%H:%M}",
        "tz": "UTC",
    }
    handle = await rig.emu.invoke(
        "weekly", options, user=rig.mod, channel=rig.general, subcommand="set"
    )
    assert "Weekly prompt set" in str((await handle.response(timeout=15))["content"])
    rig.hold.armed = True
    rig.clock.advance((first + timedelta(seconds=30) - rig.now()).total_seconds())
    await asyncio.wait_for(rig.hold.held.wait(), START_TIMEOUT)
    assert rig.query("SELECT state FROM outbox") == [("sending",)]


def health(rig: Rig) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "health"],
        env=rig.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_sigterm_mid_post_finishes_the_post_then_exits_and_a_restart_adds_nothing(rig):
    await post_in_flight(rig)
    await rig.until(lambda: (rig.folder / "health.json").exists(), "the first heartbeat")
    beat = await asyncio.to_thread(health, rig)
    assert beat.returncode == 0 and beat.stdout.startswith("ok: last beat"), beat

    rig.signal(signal.SIGTERM)
    await rig.until(lambda: rig.logged("shutting down"), "the bot to start shutting down")
    # No new work is taken meanwhile: a member asking is told to come back.
    handle = await rig.emu.invoke("episode", {"query": "11"}, user=rig.alice, channel=rig.general)
    assert (await handle.response(timeout=15))["content"] == RESTARTING

    rig.hold.release.set()  # Discord answers at last: the post in flight completes
    assert await rig.exited() == 0, rig.tail()
    assert rig.logged("stopped") and not rig.logged("stopping now"), rig.tail()
    assert rig.query("SELECT state FROM outbox") == [("sent",)]
    assert len(rig.posts()) == 1 and len(rig.emu.threads(rig.general)) == 1

    # The next start plans and drains again, and finds nothing left to do.
    (ran,) = rig.query("SELECT last_run FROM weekly_prompts")[0]
    await rig.start()
    await rig.until(lambda: rig.query("SELECT last_run FROM weekly_prompts")[0][0] != ran, "a tick")
    rig.signal(signal.SIGINT)
    assert await rig.exited() == 0, rig.tail()
    assert len(rig.posts()) == 1 and len(rig.emu.threads(rig.general)) == 1
    assert rig.query("SELECT state FROM outbox") == [("sent",)]


async def test_a_second_signal_exits_at_once_leaving_the_post_safely_in_the_outbox(rig):
    await post_in_flight(rig)
    rig.signal(signal.SIGTERM)
    await rig.until(lambda: rig.logged("shutting down"), "the bot to start shutting down")
    rig.signal(signal.SIGTERM)
    assert await rig.exited(limit=15) == 0, rig.tail()
    assert rig.logged("stopping now (second signal)"), rig.tail()
    assert not rig.logged("Unclosed"), rig.tail()  # the release watcher's HTTP session too
    # Not sent, not failed: still 'sending', for the next start to finish exactly once.
    assert rig.query("SELECT state FROM outbox") == [("sending",)]

    # The held request reaches Discord after all: the message exists, unknown to the bot.
    rig.hold.release.set()
    await rig.until(lambda: len(rig.posts()) == 1, "the held message to be created")
    rig.clock.advance(5)
    await rig.start()
    await rig.until(lambda: rig.query("SELECT state FROM outbox") == [("sent",)], "the resend")
    rig.signal(signal.SIGTERM)
    assert await rig.exited() == 0, rig.tail()
    assert len(rig.posts()) == 1 and len(rig.emu.threads(rig.general)) == 1
    (message_id,) = rig.query("SELECT message_id FROM outbox")[0]
    assert str(message_id) == rig.posts()[0]["id"]


async def test_the_heartbeat_pauses_while_the_gateway_is_down_and_while_shutting_down(
    running: BotRun,
):
    """In-process: the liveness the heartbeat writes follows the gateway connection."""

    async def eventually(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 10
        while not condition():  # the bot's own event handlers flip it: poll, briefly
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)

    liveness = Liveness(running.bot)  # attached late: it learns of the next (re)connection
    assert liveness.detail() is None
    async with running.emu.gateway_outage(code=4000):
        pass
    await eventually(lambda: liveness.detail() is not None, "a resume")
    detail = liveness.detail()
    assert detail is not None and detail["guilds"] == 1
    async with running.emu.gateway_outage(code=4000):  # the gateway stays down meanwhile
        await eventually(lambda: liveness.detail() is None, "the disconnect")
    await eventually(lambda: liveness.detail() is not None, "the reconnect")
    running.bot.accepting = False
    assert liveness.detail() is None

"""End-to-end harness: the real bot (real database, content and templates) against the local
Discord emulator over loopback, in-process. Shared by the chat, scheduling and release tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket

from bot.app import App, open_app
from bot.chat.client import VGBot
from bot.chat.runner import build_bot, point_at
from bot.sandbox.emulator import Channel, Emulator, Guild, ManualClock, User
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass
class World:
    emu: Emulator
    clock: ManualClock
    guild: Guild
    general: Channel
    forum: Channel
    alice: User
    mod: User


@dataclass
class BotRun:
    """A running bot; `restart()` stops it and starts a fresh process-equivalent on the same
    database, as after a crash or deploy."""

    world: World
    settings: Settings
    bot: VGBot
    app: App
    _stack: contextlib.AsyncExitStack = field(repr=False)
    _task: asyncio.Task[None] = field(repr=False)

    @property
    def emu(self) -> Emulator:
        return self.world.emu


async def _identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
    pass


class BotFactory:
    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        self.tmp_path = tmp_path
        self.runs: list[BotRun] = []

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(
            db=self.tmp_path / "bot.sqlite3",
            content_dir=REPO / "content",
            prompts_dir=REPO / "prompts",
            token=self.world.emu.token,
            api_base=self.world.emu.api_base,
        )
        return dataclasses.replace(base, **overrides)

    def copy_content(self) -> Path:
        """A writable copy of the real content/, for tests that change a file."""
        target = self.tmp_path / "content"
        if not target.exists():
            shutil.copytree(REPO / "content", target)
        return target

    async def start(self, *, clock: Callable[[], float] | None = None, **overrides: Any) -> BotRun:
        settings = self.settings(**overrides)
        point_at(settings.api_base)
        stack = contextlib.AsyncExitStack()
        app = await stack.enter_async_context(open_app(settings))
        bot = build_bot(app, clock=clock or self.world.clock, guild_ready_timeout=0.05)
        # discord.py waits 5 s before re-identifying (Discord's identify rate limit, which the
        # emulator does not have): a session Discord will not resume cost each such test 5 s.
        bot.before_identify_hook = _identify_at_once  # type: ignore[method-assign]
        task = asyncio.create_task(bot.start(settings.token))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            await stack.aclose()
            task.result()  # the bot died while starting: show why
        assert ready in done, "the bot did not become ready within 15 s"
        await self.world.emu.wait_ready()
        run = BotRun(self.world, settings, bot, app, stack, task)
        self.runs.append(run)
        return run

    async def stop(self, run: BotRun) -> None:
        if run in self.runs:
            self.runs.remove(run)
            await run.bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(run._task, 10)
            await run._stack.aclose()

    async def restart(self, run: BotRun, **overrides: Any) -> BotRun:
        await self.stop(run)
        return await self.start(**overrides)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock(time.time())
    async with Emulator(heartbeat_interval=0.5, clock=clock, nonce_window=120) as emu:
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        forum = emu.add_channel(guild, "discussions", "forum", tags=["episode", "topic"])
        alice = emu.add_member(guild, "alice")
        mod = emu.add_moderator(guild, "mod")
        yield World(emu, clock, guild, general, forum, alice, mod)


@pytest.fixture
async def bots(world: World, tmp_path: Path) -> AsyncIterator[BotFactory]:
    original_base = discord.http.Route.BASE
    original_gateway = DiscordWebSocket.DEFAULT_GATEWAY
    factory = BotFactory(world, tmp_path)
    try:
        yield factory
    finally:
        for run in list(factory.runs):
            await factory.stop(run)
        discord.http.Route.BASE = original_base
        DiscordWebSocket.DEFAULT_GATEWAY = original_gateway


@pytest.fixture
async def running(bots: BotFactory) -> BotRun:
    return await bots.start()

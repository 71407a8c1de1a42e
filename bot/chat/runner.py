"""Run the bot against Discord (or anything speaking its API, such as the local emulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Any

import discord

from bot.clock import Clock, OffsetFileClock, system_clock
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App
    from bot.chat.client import VGBot

log = logging.getLogger(__name__)


def point_at(api_base: str) -> None:
    """Send REST calls to `api_base` (Discord by default; the emulator or a proxy otherwise)."""
    discord.http.Route.BASE = api_base.rstrip("/")


def build_bot(app: App, *, clock: Clock | None = None, **client_options: Any) -> VGBot:
    """The bot with every capability wired in; the runner and the end-to-end tests share it."""
    from bot.chat.client import VGBot
    from bot.chat.moderation_cog import scheduling_cog_from_settings

    s = app.settings
    if clock is None:
        clock = OffsetFileClock(s.clock_offset_file) if s.clock_offset_file else system_clock
    client_options.setdefault("extra_cogs", (scheduling_cog_from_settings(s, app.store, clock),))
    return VGBot(
        catalogue=app.catalogue,
        meta=app.meta,
        dev_guild_id=s.dev_guild_id,
        cooldown_rate=s.cooldown_rate,
        cooldown_per=s.cooldown_per,
        gateway_url=s.gateway_url,
        clock=clock,
        **client_options,
    )


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> int:
    from bot.app import open_app

    point_at(settings.api_base)
    async with open_app(settings) as app:
        bot = build_bot(app)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        async with bot:
            runner = asyncio.create_task(bot.start(settings.token))
            stopper = asyncio.create_task(stop.wait())
            if ready is not None:
                ready.set()
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if runner in done:
                exc = runner.exception()
                if isinstance(exc, discord.LoginFailure):
                    log.error("Discord refused the token: check DISCORD_TOKEN (%s)", exc)
                    return 2
                if exc is not None:
                    log.error("the bot stopped: %s", exc, exc_info=exc)
                    return 1
            log.info("shutting down")
            await bot.close()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
    return 0


def run_bot(settings: Settings) -> int:
    if not settings.has_token:
        log.error("no token: set DISCORD_TOKEN (or VGBOT_TOKEN_FILE), or use `vgbot sandbox`")
        return 2
    return asyncio.run(serve(settings))

"""Run the bot against Discord (or anything speaking its API, such as the local emulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.clock import Clock, OffsetFileClock, system_clock
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App
    from bot.chat.client import VGBot

log = logging.getLogger(__name__)

# Below systemd's TimeoutStopSec (30 s) and Compose's stop_grace_period (30 s): a graceful stop
# always ends before the service manager's SIGKILL. (`docker stop` waits 10 s unless given -t.)
SHUTDOWN_TIMEOUT = 25.0
AUTHENTICATION_FAILED = 4004  # Discord's gateway close code for a token it does not accept


def point_at(api_base: str) -> None:
    """Send REST calls to `api_base` (Discord by default; the emulator or a proxy otherwise)."""
    discord.http.Route.BASE = api_base.rstrip("/")


def build_bot(app: App, *, clock: Clock | None = None, **client_options: Any) -> VGBot:
    """The bot with every capability wired in; the runner and the end-to-end tests share it."""
    from bot.chat.admin_cog import admin_cog_from_settings, follow_reloads
    from bot.chat.client import VGBot
    from bot.chat.feed_cog import feed_cog_from_settings
    from bot.chat.moderation_cog import scheduling_cog_from_settings

    s = app.settings
    if clock is None:
        clock = OffsetFileClock(s.clock_offset_file) if s.clock_offset_file else system_clock
    if "extra_cogs" not in client_options:
        # /about, /config, /reload and the content watcher; cogs rendering templates start
        # from the reloader's (compiling prompts/ is ~0.1 s) and get each applied reload's.
        admin, reloader = admin_cog_from_settings(s, app, clock)
        prompts = reloader.prompts
        client_options["extra_cogs"] = (
            follow_reloads(scheduling_cog_from_settings(s, app.store, clock, prompts), reloader),
            follow_reloads(feed_cog_from_settings(s, app.store, clock, prompts), reloader),
            admin,
        )
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
    """Run until SIGTERM/SIGINT, then shut down gracefully (see `_run_until_stopped`)."""
    from bot.app import open_app

    point_at(settings.api_base)
    loop = asyncio.get_running_loop()
    ours = asyncio.all_tasks()  # tasks that are not the bot's: never cancelled by a hard stop
    stop, force = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (force if stop.is_set() else stop).set()

    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            handled.append(sig)
    try:
        async with open_app(settings) as app:
            bot = build_bot(app)
            beating = _heartbeat(settings, bot)
            try:
                return await _run_until_stopped(bot, settings.token, stop, force, ready, ours)
            finally:
                if beating is not None:
                    beating.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await beating
        # Leaving open_app closed the database, after every cog stopped using it.
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


class Liveness:
    """What the heartbeat writes: the bot's state while it is connected and taking work, else
    None (then no beat is written and the health check goes stale). is_ready() stays true
    through a gateway outage; the connection events used here do not."""

    def __init__(self, bot: VGBot) -> None:
        self.bot = bot
        self.connected = False
        for event in ("on_connect", "on_resumed", "on_ready"):
            bot.add_listener(self._up, event)
        bot.add_listener(self._down, "on_disconnect")

    async def _up(self) -> None:
        self.connected = True

    async def _down(self) -> None:
        self.connected = False

    def detail(self) -> dict[str, Any] | None:
        bot = self.bot
        if not (self.connected and bot.accepting and bot.is_ready()) or bot.is_closed():
            return None
        latency = bot.latency
        return {
            "guilds": len(bot.guilds),
            "latency_ms": round(latency * 1000) if math.isfinite(latency) else None,
        }


def _heartbeat(settings: Settings, bot: VGBot) -> asyncio.Task[None] | None:
    """The health file's writer (bot/health.py), when VGBOT_HEALTH_FILE is set."""
    if settings.health_file is None:
        return None
    from bot.ops.heartbeat import beat

    liveness = Liveness(bot)
    return asyncio.create_task(
        beat(settings.health_file, clock=system_clock, detail=liveness.detail), name="heartbeat"
    )


async def _run_until_stopped(
    bot: VGBot,
    token: str,
    stop: asyncio.Event,
    force: asyncio.Event,
    ready: asyncio.Event | None,
    ours: set[asyncio.Task[Any]],
) -> int:
    """Graceful shutdown: the first signal stops new interactions (they are told the bot is
    restarting) and closes the bot, which unloads the cogs: the scheduler finishes the post in
    flight, the watchers stop. A second signal, or SHUTDOWN_TIMEOUT, stops at once: a post
    still in flight then stays in the outbox ('sending') and the next start finishes it
    exactly once (bot/services/publisher.py)."""
    runner = asyncio.create_task(bot.start(token), name="discord")
    stopper = asyncio.create_task(stop.wait())
    if ready is not None:
        ready.set()
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if runner in done:
        await bot.close()
        exc = runner.exception()
        if isinstance(exc, discord.LoginFailure):
            from bot.ops.doctor import refused_token_hint

            log.error("Discord refused the token: %s (%s)", refused_token_hint(token), exc)
            return 2
        if isinstance(exc, discord.ConnectionClosed) and exc.code == AUTHENTICATION_FAILED:
            # The token was good at start: it was reset (or revoked) while the bot ran.
            log.error(
                "Discord refused the token when the bot reconnected (gateway close 4004, "
                "authentication failed; was it reset in the Developer Portal?): set the new "
                "DISCORD_TOKEN and start the bot again"
            )
            return 2
        if isinstance(exc, aiohttp.ClientConnectionError | OSError):
            # Not a bug: say what to check, without a traceback.
            log.error(
                "cannot reach Discord at %s (%s): check the network, or DISCORD_API_BASE",
                discord.http.Route.BASE,
                exc,
            )
            return 1
        if exc is not None:
            log.error("the bot stopped: %s", exc, exc_info=exc)
            return 1
        return 0
    log.info(
        "shutting down: no new commands; finishing posts in progress (up to %g s; "
        "signal again to stop at once)",
        SHUTDOWN_TIMEOUT,
    )
    bot.accepting = False
    closing = asyncio.create_task(bot.close(), name="closing")
    forced = asyncio.create_task(force.wait())
    done, _ = await asyncio.wait(
        {closing, forced}, timeout=SHUTDOWN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    forced.cancel()
    if closing not in done:
        why = "second signal" if force.is_set() else f"still busy after {SHUTDOWN_TIMEOUT:g} s"
        log.warning(
            "stopping now (%s): a post still in flight stays in the outbox and is finished "
            "after the restart",
            why,
        )
        await _stop_now(bot, closing, ours)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
    log.info("stopped")
    return 0


async def _stop_now(bot: VGBot, closing: asyncio.Task[None], ours: set[asyncio.Task[Any]]) -> None:
    """Cancel the bot's tasks (a cancelled post stays 'sending' in the outbox, which is safe;
    a post failing against a closed database would not be), then close its connections."""
    closing.cancel()
    current = asyncio.current_task()
    bots = [t for t in asyncio.all_tasks() if t is not current and t not in ours]
    for task in bots:
        task.cancel()
    if bots:
        await asyncio.wait(bots, timeout=5)
    with contextlib.suppress(Exception):
        await discord.Client.close(bot)  # the gateway and the HTTP session, skipping the cogs
    for cog in list(bot.cogs.values()):
        # What the skipped unloading would have closed that cannot wait (an HTTP session).
        close_now = getattr(cog, "close_now", None)
        if close_now is not None:
            with contextlib.suppress(Exception):
                await close_now()


def run_bot(settings: Settings) -> int:
    if not settings.has_token:
        log.error("no token: set DISCORD_TOKEN (or VGBOT_TOKEN_FILE), or use `vgbot sandbox`")
        return 2
    return asyncio.run(serve(settings))

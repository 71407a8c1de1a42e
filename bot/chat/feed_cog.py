"""/feed: moderators see the feed's health and ask why an episode was (not) announced. Where
announcements go is a server setting (`/config channel which:announcements`, bot/chat/admin_cog.py).
The cog also runs the release watcher in the background, and adapts discord.py to the watcher's
AnnouncementEditor port (a changed episode edits its announcement). The posts themselves go
through the outbox and the scheduling cog's publisher, whole in their first send.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.checks import MODERATORS, require_moderator
from bot.chat.poster import (
    DiscordPoster,
    artwork,
    compose,
    link_button,
    mentions,
    named_tags,
    own_role,
    translated,
)
from bot.chat.replies import tell, tell_all
from bot.clock import Clock
from bot.core.render import Prompts
from bot.core.text import pages
from bot.feeds.fetch import Backoff, fetch
from bot.services.feeds import LISTEN, FeedConfig, FeedService, Watcher
from bot.services.publisher import Found, PostError
from bot.store.db import Store
from bot.store.feeds import Look
from bot.store.guild_config import Defaults, GuildSettings
from bot.store.sync import sync_content

if TYPE_CHECKING:
    from bot.chat.client import VGBot
    from bot.settings import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0  # seconds a shutdown waits for the step in progress


class DiscordEditor:
    """The watcher's AnnouncementEditor on discord.py: the message gets the look's text (with
    its outbox marker kept), the artwork as an embed image and a link button; its thread (or
    forum post) gets the title and, in a forum, the tags named like the episode's topics. Only
    the look's role may be pinged."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel | discord.Thread:
        channel = self.client.get_channel(channel_id)
        if channel is None:
            with translated("find the channel", channel_id):
                channel = await self.client.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            raise PostError(f"<#{channel_id}> is not a server channel")
        return channel

    async def _thread(
        self, thread_id: int | None, forum: discord.ForumChannel | None
    ) -> discord.Thread | None:
        """The announcement's thread, or None: none was opened, or a moderator deleted it (in
        a text channel the message is still there to edit; a forum post is the thread)."""
        if thread_id is None:
            return None
        try:
            thread = await self._channel(thread_id)
        except PostError:
            if forum is not None:
                raise
            return None
        return thread if isinstance(thread, discord.Thread) else None

    async def edit_announcement(
        self, channel_id: int, message_id: int, thread_id: int | None, look: Look, marker: str
    ) -> None:
        parent = await self._channel(channel_id)
        forum = parent if isinstance(parent, discord.ForumChannel) else None
        thread = await self._thread(thread_id, forum)
        name, tags = look.title[:100], []
        if forum is not None and thread is not None and look.tags:
            tags = named_tags(forum, look.tags, moderator=_manages_threads(forum))
        renamed = thread is not None and (
            thread.name != name
            or bool(tags)
            and {t.id for t in tags} != {t.id for t in thread.applied_tags}
        )
        # A week without messages archives a thread, and Discord refuses edits of an archived
        # thread's messages (a forum post's first message is in it) and of its name.
        if thread is not None and thread.archived and (forum is not None or renamed):
            if not thread.locked:
                with translated("reopen the archived discussion thread", thread.id):
                    thread = await thread.edit(archived=False)  # Send Messages is enough
            elif forum is not None:
                raise PostError(_locked(thread, "the announcement was not updated"))
        home = thread.id if forum is not None and thread is not None else channel_id
        message = self.client.get_partial_messageable(home).get_partial_message(message_id)
        body, role = look.body, look.role
        if isinstance(parent, discord.abc.GuildChannel) and not parent.guild.unavailable:
            body, role = own_role(parent.guild, body, role)
        with translated("edit the announcement", home):
            await message.edit(
                content=compose(body, marker),
                embed=artwork(look.title, look.image, look.listen_url),
                view=link_button(LISTEN, look.listen_url),
                allowed_mentions=mentions(role),
            )
        if thread is None or not renamed:
            return
        if thread.archived:  # still archived: it is locked
            raise PostError(_locked(thread, "the post was updated, the thread's name was not"))
        with translated("rename the discussion thread", thread.id):
            if tags:
                await thread.edit(name=name, applied_tags=tags)
            else:
                await thread.edit(name=name)


def _manages_threads(channel: discord.abc.GuildChannel) -> bool:
    me = channel.guild.me
    return me is not None and channel.permissions_for(me).manage_threads


def _locked(thread: discord.Thread, outcome: str) -> str:
    return (
        f"the discussion thread <#{thread.id}> is locked: {outcome}. A moderator can unlock it "
        "(the next edit of the episode then goes through)."
    )


def _wake_publisher(bot: commands.Bot) -> None:
    """Announcements were planned: let the scheduling cog's publisher post them now."""
    cog = bot.get_cog("Moderation")
    ticker = getattr(cog, "ticker", None)
    if ticker is not None:
        ticker.wake()


class FeedCog(commands.Cog, name="Feeds"):
    feed = app_commands.Group(
        name="feed",
        description="The podcast feed and release announcements",
        default_permissions=MODERATORS,
        guild_only=True,
    )

    def __init__(
        self,
        bot: VGBot,
        service: FeedService,
        watcher: Watcher,
        *,
        clock: Clock,
        interval: float,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.bot = bot
        self.service = service
        self.watcher = watcher
        self.clock = clock
        self.interval = interval
        self.session = session  # the watcher's HTTP session, closed with the cog
        self._loop: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        # Reading the feed needs no Discord; edits fetch what the cache lacks.
        self._loop = asyncio.create_task(
            self.watcher.run(self.clock, self.interval), name="release-watcher"
        )

    async def cog_unload(self) -> None:
        if self._loop is not None:
            self.watcher.stop()
            done, _ = await asyncio.wait({self._loop}, timeout=STOP_TIMEOUT)
            if not done:  # a read stuck on the network: cutting it short loses nothing
                self._loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop
        await self.close_now()

    async def close_now(self) -> None:
        """Close the watcher's HTTP session (also on a forced stop, which skips unloading)."""
        if self.session is not None:
            await self.session.close()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_moderator(interaction)

    @feed.command(name="status")
    async def status(self, interaction: discord.Interaction) -> None:
        """The feed's health: last fetch, HTTP status, ETag/304, last error, next poll."""
        texts = await self.service.status(
            self.now(), interaction.guild_id, watched=self.watcher.url
        )
        if not texts:
            await tell(
                interaction,
                "No feed yet: set `feed_url` (VGBOT_FEED_URL) or run `vgbot import-feed`.",
            )
            return
        # Every feed the bot has read keeps its row: over several messages when they are many.
        lines = [line for text in texts for line in ("", text)][1:]
        await tell_all(interaction, pages(lines))

    @feed.command(name="why")
    @app_commands.describe(episode="Episode number or words from its title")
    async def why(
        self, interaction: discord.Interaction, episode: app_commands.Range[str, 1, 200]
    ) -> None:
        """Why an episode was, or was not, announced: every step the bot took."""
        # The bot's cached name index: loading one per question costs the whole catalogue.
        directory = await self.bot.catalogue.directory()
        await tell(interaction, await self.service.why(episode, interaction.guild_id, directory))

    @why.autocomplete("episode")
    async def _episode_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        pairs = await self.bot.catalogue.episode_choices(current[:100])
        return [
            app_commands.Choice(name=name[:100], value=value[:100])
            for name, value in pairs[:25]
            if name and value
        ]


class ReadyFinder:
    """The watcher's PostFinder: the publisher's marker search, once the bot's servers are
    loaded (the watcher starts before the gateway connects, and a restore's first read is
    the one that needs it)."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot
        self.poster = DiscordPoster(bot)

    async def find_marked(self, channel_id: int, marker: str, since: datetime) -> Found | None:
        await self.bot.wait_until_ready()
        return await self.poster.find_marked(channel_id, marker, since)


def feed_cog(
    store: Store,
    prompts: Prompts,
    *,
    url: str,
    clock: Clock,
    config: FeedConfig,
    step_interval: float,
    content_dir: Path | None = None,
    guilds: GuildSettings | None = None,
) -> Callable[[VGBot], commands.Cog]:
    """For VGBot(extra_cogs=...): the watcher on its own HTTP session, and the cog. `guilds`:
    each server's /config settings (announcement channel, role, grace window)."""

    def make(bot: VGBot) -> commands.Cog:
        session = aiohttp.ClientSession()
        service = FeedService(
            store,
            functools.partial(fetch, session),
            config=config,
            prompts=prompts,
            backoff=Backoff(base=min(60.0, config.interval), cap=max(6 * 3600.0, config.interval)),
            guilds=guilds,
            finder=ReadyFinder(bot),
        )
        watcher = Watcher(
            service,
            url,
            sync=functools.partial(sync_content, store, content_dir) if content_dir else None,
            editor=DiscordEditor(bot),
            on_planned=lambda: _wake_publisher(bot),
        )
        return FeedCog(bot, service, watcher, clock=clock, interval=step_interval, session=session)

    return make


def feed_cog_from_settings(
    settings: Settings, store: Store, clock: Clock, prompts: Prompts | None = None
) -> Callable[[VGBot], commands.Cog]:
    """The one line the runner needs: `extra_cogs=(..., feed_cog_from_settings(...))`.
    `prompts`: templates already loaded from `settings.prompts_dir` (else loaded here)."""
    if prompts is None:
        prompts = Prompts.load(settings.prompts_dir)
    return feed_cog(
        store,
        prompts,
        url=settings.feed_url,
        clock=clock,
        config=FeedConfig.from_settings(settings),
        step_interval=settings.tick_interval,
        # content/ changes are picked up by the admin cog's reloader (validated first), so
        # the release watcher does not sync content itself here.
        content_dir=None,
        guilds=GuildSettings(store, Defaults.from_settings(settings)),
    )

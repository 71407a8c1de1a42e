"""/about for everyone; /config and /reload for admins (Manage Server); the content watcher.

/config and /reload carry default_member_permissions (Manage Server) and are checked again at
every use, since server settings can widen who sees a command. Every reply is private and
mentions nobody. The cog also runs the content/prompts watcher (bot/ops/reload.py) in the
background while it is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.poster import missing_permissions
from bot.chat.replies import tell
from bot.core.text import MESSAGE_CONTENT, counted, truncate
from bot.ops.about import About, about_text, catalogue_counts, last_feed_poll, version
from bot.ops.guild_settings import (
    LABELS,
    ConfigError,
    Defaults,
    describe,
    parse_duration,
    parse_timezone,
    shown,
)
from bot.ops.reload import DEFAULT_INTERVAL, Reloader, ReloadResult
from bot.services.scheduling import zone_choices
from bot.store.guild_config import GuildConfig, GuildConfigStore
from bot.store.scheduling import SchedulingStore

if TYPE_CHECKING:
    from bot.app import App
    from bot.chat.client import VGBot
    from bot.settings import Settings
    from bot.store.sync import SyncReport

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ADMINS = discord.Permissions(manage_guild=True)
PUBLIC = ("about",)  # commands of this cog anyone may use
PostChannel = discord.TextChannel | discord.ForumChannel
CHANNEL_SETTINGS = {"discussion": "discussion_channel", "announcements": "announce_channel"}
PROBLEMS_SHOWN = 15


def reload_text(result: ReloadResult) -> str:
    if result.applied:
        text = f"✅ Reloaded content and templates: {result.summary().removeprefix('loaded ')}."
        if result.problems:
            text += (
                f"\n{counted(len(result.problems), 'file')} changed again meanwhile and kept their "
                "previous version; /reload again in a moment."
            )
        return text
    shown_problems = list(result.problems[:PROBLEMS_SHOWN])
    more = len(result.problems) - len(shown_problems)
    block = "\n".join(p.replace("```", "'''") for p in shown_problems)
    text = (
        f"❌ Reload refused: {counted(len(result.problems), 'problem')}. Nothing changed: the "
        "previous content and templates keep serving until these are fixed.\n"
    )
    tail = (
        f"\n… and {more} more: run `vgbot content check` to see them all." if more else ""
    ) + "\nFix them and push; the change is picked up by itself, or use /reload."
    room = MESSAGE_CONTENT - len(text) - len(tail) - 8
    return f"{text}```\n{truncate(block, room)}\n```{tail}"


@dataclass(frozen=True)
class AdminContext:
    """What the cog needs besides the bot: built by `admin_cog_from_settings`."""

    reloader: Reloader
    configs: GuildConfigStore
    defaults: Defaults
    started: float
    startup_sync: SyncReport | None = None
    feed_url: str = ""
    watch_interval: float = DEFAULT_INTERVAL


class AdminCog(commands.Cog, name="Admin"):
    config = app_commands.Group(
        name="config",
        description="This server's settings for the bot",
        default_permissions=ADMINS,
        guild_only=True,
    )

    def __init__(self, bot: VGBot, context: AdminContext, *, clock: Clock) -> None:
        self.bot = bot
        self.context = context
        self.reloader = context.reloader
        self.configs = context.configs
        self.clock = clock
        self._watcher: asyncio.Task[None] | None = None

    # ---- the content watcher ----

    async def cog_load(self) -> None:
        if self.context.startup_sync is not None and self.reloader.last is None:
            episodes, topics = await catalogue_counts(self.reloader.store)
            self.reloader.started(self.context.startup_sync, episodes, topics)
        self._watcher = asyncio.create_task(
            self.reloader.watch(self.context.watch_interval), name="content-watcher"
        )

    async def cog_unload(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    # ---- checks ----

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        command = interaction.command.qualified_name if interaction.command else ""
        if command in PUBLIC or interaction.type is discord.InteractionType.autocomplete:
            return True
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage("This command works in a server only.")
        if not interaction.permissions.manage_guild:
            log.info("refused /%s to user %s without Manage Server", command, interaction.user.id)
            raise app_commands.CheckFailure(
                "Only admins (Manage Server permission) can use this command. Nothing was changed."
            )
        return True

    # ---- /about ----

    @app_commands.command(name="about")
    async def about(self, interaction: discord.Interaction) -> None:
        """What this bot is running: version, uptime, what is loaded."""
        store = self.reloader.store
        episodes, topics = await catalogue_counts(store)
        info = About(
            version=version(),
            started=self.context.started,
            episodes=episodes,
            topics=topics,
            last_reload=self.reloader.last,
            feed=await last_feed_poll(store, self.context.feed_url),
        )
        name = self.bot.user.name if self.bot.user else "VG Bot"
        await tell(interaction, about_text(info, self.clock(), name=name))

    # ---- /reload ----

    @app_commands.command(name="reload")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def reload(self, interaction: discord.Interaction) -> None:
        """Load changed show notes, topics and templates now (checked first)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        # By name, as /about shows it to everyone; the log keeps the id as well.
        name = interaction.user.display_name
        log.info("/reload asked by %s (user %s)", name, interaction.user.id)
        result = await self.reloader.reload(f"/reload by {name}")
        text = reload_text(result)
        if interaction.guild_id is not None:
            # A removed topic fails its schedules only when they come due: say so now, also
            # when the watcher applied the change before this /reload.
            store = SchedulingStore(self.reloader.store)
            for s in await store.orphans(interaction.guild_id):
                text += (
                    f"\nNote: schedule `#{s.id}` is about `{s.topic_slug}`, which is no longer "
                    f"a topic: it will fail. Cancel it (/schedule cancel id:{s.id}) or put the "
                    "topic back."
                )
        await tell(interaction, truncate(text, MESSAGE_CONTENT))

    # ---- /config ----

    async def _current(self, guild_id: int) -> GuildConfig:
        return await self.configs.get(guild_id)

    async def _listing(self, guild: discord.Guild, config: GuildConfig) -> str:
        roles = {role.id for role in guild.roles}
        lines = [
            f"**Bot settings for {guild.name}**",
            *describe(config, self.context.defaults, roles),
        ]
        weekly = await SchedulingStore(self.reloader.store).weekly(guild.id)
        if config.timezone is None and weekly is not None:
            # What /schedule reads plain times in (SchedulingService.guild_zone): say so here.
            lines.append(
                f"Until a time zone is set, plain times in `/schedule` are read in "
                f"{weekly.rule.tz}, the weekly prompt's zone."
            )
        lines.append(
            "Change one with `/config channel`, `/config role`, `/config timezone` or "
            "`/config grace`; `/config reset` puts one back to its default."
        )
        return "\n".join(lines)

    async def _set(
        self,
        interaction: discord.Interaction,
        name: str,
        value: int | float | str | None,
        note: str = "",
    ) -> None:
        guild = interaction.guild
        assert guild is not None
        before = await self._current(guild.id)
        after = await self.configs.set(
            guild.id, name, value, by=interaction.user.id, now=self.clock(), guild_name=guild.name
        )
        defaults = self.context.defaults
        roles = {role.id for role in guild.roles}
        was, now = shown(name, before, defaults, roles), shown(name, after, defaults, roles)
        head = (
            f"**{LABELS[name]}** is now {now} (was {was})."
            if was != now
            else f"**{LABELS[name]}** was already {now}; nothing changed."
        )
        listing = await self._listing(guild, after)
        text = "\n".join(part for part in (head, note, "", listing) if part)
        await tell(interaction, truncate(text, MESSAGE_CONTENT))

    @config.command(name="show")
    async def config_show(self, interaction: discord.Interaction) -> None:
        """Show this server's settings, with the defaults it uses."""
        assert interaction.guild is not None
        config = await self._current(interaction.guild.id)
        await tell(interaction, await self._listing(interaction.guild, config))

    @config.command(name="channel")
    @app_commands.describe(
        which="Which channel to set", channel="A text or forum channel the bot can post in"
    )
    @app_commands.choices(which=[app_commands.Choice(name=k, value=k) for k in CHANNEL_SETTINGS])
    async def config_channel(
        self,
        interaction: discord.Interaction,
        which: app_commands.Choice[str],
        channel: PostChannel,
    ) -> None:
        """Set where discussion threads or release announcements go."""
        guild = interaction.guild
        assert guild is not None
        resolved = guild.get_channel(channel.id)
        me = guild.me
        if not isinstance(resolved, discord.TextChannel | discord.ForumChannel) or me is None:
            await tell(interaction, "Pick a text or forum channel. Nothing was changed.")
            return
        lacking = missing_permissions(resolved, me, open_thread=True)
        if not resolved.permissions_for(me).embed_links:
            lacking.append("Embed Links")
        if lacking:
            await tell(
                interaction,
                f"I can't post in {resolved.mention}: I lack {', '.join(lacking)} there. Give my "
                "role those permissions in that channel, then try again. Nothing was changed.",
            )
            return
        await self._set(interaction, CHANNEL_SETTINGS[which.value], resolved.id)

    @config.command(name="role")
    @app_commands.describe(role="The one role release announcements may mention")
    async def config_role(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Set the role announcements mention (use /config reset to mention nobody)."""
        guild = interaction.guild
        assert guild is not None
        if role.is_default():
            await tell(
                interaction,
                "@everyone can't be the announcement role: make a role for people who want "
                "release pings (e.g. @new-episodes) and pick it. Nothing was changed.",
            )
            return
        if role.managed:
            await tell(
                interaction,
                f"{role.mention} belongs to a bot or an integration, so nobody can opt into it; "
                "pick a role members can have. Nothing was changed.",
            )
            return
        note = ""
        me = guild.me
        if not role.mentionable and not (me and me.guild_permissions.mention_everyone):
            note = (
                f"Note: {role.mention} is not mentionable, so its members won't be pinged: in "
                "Server Settings → Roles, turn on 'Allow anyone to @mention this role'."
            )
        await self._set(interaction, "announce_role", role.id, note)

    @config.command(name="timezone")
    @app_commands.describe(zone="IANA time zone, e.g. Europe/London or America/New_York")
    async def config_timezone(
        self, interaction: discord.Interaction, zone: app_commands.Range[str, 1, 64]
    ) -> None:
        """Set the time zone plain times are read in for this server."""
        try:
            canonical = parse_timezone(zone)
        except ConfigError as exc:
            await tell(interaction, f"That didn't work: {exc}. Nothing was changed.")
            return
        await self._set(interaction, "timezone", canonical)

    @config_timezone.autocomplete("zone")
    async def _zone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in zone_choices(current[:64])]

    @config.command(name="grace")
    @app_commands.describe(window="How late a missed post may still go out: e.g. 6h, 90m, 1d, 0")
    async def config_grace(
        self, interaction: discord.Interaction, window: app_commands.Range[str, 1, 40]
    ) -> None:
        """Set how late a post missed while the bot was down may still be posted."""
        try:
            seconds = parse_duration(window)
        except ConfigError as exc:
            await tell(interaction, f"That didn't work: {exc}. Nothing was changed.")
            return
        await self._set(interaction, "grace_window", seconds)

    @config.command(name="reset")
    @app_commands.describe(setting="The setting to put back to its default")
    @app_commands.choices(
        setting=[app_commands.Choice(name=label, value=name) for name, label in LABELS.items()]
    )
    async def config_reset(
        self, interaction: discord.Interaction, setting: app_commands.Choice[str]
    ) -> None:
        """Put one setting back to the bot's default."""
        await self._set(interaction, setting.value, None)


def admin_cog(context: AdminContext, *, clock: Clock) -> Callable[[VGBot], commands.Cog]:
    """For VGBot(extra_cogs=...)."""

    def make(bot: VGBot) -> commands.Cog:
        return AdminCog(bot, context, clock=clock)

    return make


def admin_cog_from_settings(
    settings: Settings, app: App, clock: Clock
) -> tuple[Callable[[VGBot], commands.Cog], Reloader]:
    """The admin cog and the reloader it runs (other cogs follow it with `follow_reloads`)."""
    reloader = Reloader(
        app.store, settings.content_dir, settings.prompts_dir, clock=clock, seen=app.fingerprint
    )
    context = AdminContext(
        reloader=reloader,
        configs=GuildConfigStore(app.store),
        defaults=Defaults.from_settings(settings),
        started=clock(),
        startup_sync=app.sync_report,
        feed_url=settings.feed_url,
    )
    return admin_cog(context, clock=clock), reloader


def follow_reloads(
    make: Callable[[VGBot], commands.Cog], reloader: Reloader
) -> Callable[[VGBot], commands.Cog]:
    """Wrap a cog factory: a cog whose `service` has `prompts` (the scheduler, the feed
    announcer) gets the templates of every applied reload."""

    def wrapped(bot: VGBot) -> commands.Cog:
        cog = make(bot)
        service = getattr(cog, "service", None)
        if service is not None and hasattr(service, "prompts"):
            reloader.listen(functools.partial(setattr, service, "prompts"))
        return cog

    return wrapped

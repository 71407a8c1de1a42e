"""/weekly and /schedule: moderators set the weekly prompt and schedule discussion threads.

Both groups carry default_member_permissions (Manage Threads), and every invocation is checked
again here (server settings can widen who sees a command), as are the bot's own permissions in
the target channel. Replies are private to the moderator and mention nobody. The cog also runs
the tick loop (plan, then drain the outbox) in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.checks import MODERATORS, require_moderator
from bot.chat.poster import DiscordPoster, DiscordPresence, missing_permissions
from bot.chat.replies import NO_MENTIONS, tell, tell_all
from bot.clock import Clock
from bot.core.render import Prompts
from bot.core.schedule import OneOff, describe, format_discord_timestamp, zone
from bot.core.text import escape_markdown, escape_mentions, pages
from bot.services.publisher import DEFAULT_NONCE_WINDOW, Publisher, Ticker
from bot.services.scheduling import (
    CatalogueTopics,
    Listing,
    SchedulingError,
    SchedulingService,
    TopicSource,
    WeeklyView,
    topic_choices,
    zone_choices,
)
from bot.store.db import Store
from bot.store.guild_config import Defaults, GuildSettings
from bot.store.outbox import FAILED, SENT, SKIPPED, OutboxEntry
from bot.store.scheduling import Schedule

if TYPE_CHECKING:
    from bot.chat.client import VGBot
    from bot.settings import Settings

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
STATE_ICONS = {SENT: "✅", SKIPPED: "⏭️", FAILED: "❌"}
PostChannel = discord.TextChannel | discord.ForumChannel
STOP_TIMEOUT = 10.0  # seconds a shutdown waits for the tick in progress


def stamp(dt: datetime) -> str:
    """A time every reader sees in their own zone: '<t:…:F> (<t:…:R>)'."""
    return f"{format_discord_timestamp(dt, 'F')} ({format_discord_timestamp(dt, 'R')})"


def outcome(entry: OutboxEntry) -> str:
    icon = STATE_ICONS.get(entry.state, "⏳")
    at = format_discord_timestamp(entry.due_at, "f")
    what = shown_title(entry.post.title) or entry.key
    if entry.state == SENT:
        where = f"<#{entry.thread_id}>" if entry.thread_id else f"message {entry.message_id}"
        unchecked = (
            f" (an earlier try may also be in <#{entry.unchecked_in}>, which the bot cannot "
            "see: delete it there if so)"
            if entry.unchecked_in
            else ""
        )
        return f"{icon} {at} posted **{what}** → {where}{unchecked}"
    if entry.state in (FAILED, SKIPPED):
        # Which post, as several may go wrong at the same time for the same reason.
        source = {"weekly": "the weekly prompt", "announce": "an announcement"}.get(entry.kind)
        if entry.schedule_id is not None:
            source = f"`#{entry.schedule_id}`"
        title = f" **{shown_title(entry.post.title)}**" if entry.post.title else ""
        return (
            f"{icon} {at} {source or entry.kind}{title} {entry.state}: {entry.last_error}"
            f"{posted_at(entry)}"
        )
    # Still to be posted: where, and why not yet (a moderator may have moved it since).
    error = f" (last try: {entry.last_error})" if entry.last_error else ""
    return f"{icon} {at} {entry.state}: **{what}** → <#{entry.channel_id}>{error}"


def posted_at(entry: OutboxEntry) -> str:
    """Where a post that went wrong after its message was sent can be seen, else nothing."""
    if entry.message_id is None:
        return ""
    return f" ({message_link(entry.guild_id, entry.channel_id, entry.message_id)})"


def weekly_text(view: WeeklyView, *, heading: str = "Weekly prompt") -> list[str]:
    """The weekly prompt's settings and recent posts, over as many messages as they take
    (five recent problems with Discord's longest errors pass 2,000 characters)."""
    config = view.config
    rule = f"{describe(config.rule)} in <#{config.channel_id}>"
    if not config.enabled:
        lines = [f"**{heading}**: off (was {rule}). Turn it on again with `/weekly set`."]
    else:
        lines = [f"**{heading}**: {rule}."]
        if view.next_run is not None:
            nxt = f"Next: {stamp(view.next_run)}"
            if view.next_topic is not None:
                nxt += f", on **{view.next_topic.title}**"
            if view.next_style:
                nxt += f" (style `{view.next_style}`)"
            lines.append(nxt + ".")
    lines += [f"Note: {note}." for note in view.notes]
    if view.recent:
        lines += ["", "**Recent**"] + [outcome(e) for e in view.recent]
    return pages(lines)


def listing_text(listing: Listing) -> list[str]:
    """The listing as messages within Discord's limit: every schedule and problem is shown,
    over several messages when there are many."""
    lines = [f"**Scheduled threads** (plain times are read in {listing.zone})"]
    if not listing.schedules:
        lines.append("None. Add one with `/schedule thread`.")
    for view in listing.schedules:
        s = view.schedule
        topic = view.topic.title if view.topic else f"{s.topic_slug} (no longer a topic)"
        line = f"`#{s.id}` **{topic}**{_titled(s)} · {_when(s)} · <#{s.channel_id}>"
        if view.next_run is not None:
            line += f" · next {stamp(view.next_run)}"
        elif view.last is not None:
            line += f" · {outcome(view.last)}"
        lines.append(line)
    if listing.attention:
        lines += ["", "**Needs attention**"] + [outcome(e) for e in listing.attention]
    return pages(lines)


def _when(schedule: Schedule) -> str:
    """The rule as text; a one-off also in the zone its time was read in, which is what the
    moderator typed ('once at 2026-12-11 23:00 UTC (18:00 in America/New_York)')."""
    text = describe(schedule.rule)
    if isinstance(schedule.rule, OneOff) and schedule.tz != "UTC":
        local = schedule.rule.at_utc.astimezone(zone(schedule.tz))
        day = "" if local.date() == schedule.rule.at_utc.date() else f" on {local:%Y-%m-%d}"
        text += f" ({local:%H:%M}{day} in {schedule.tz})"
    return text


def _titled(schedule: Schedule) -> str:
    """The moderator's own thread title, when there is one."""
    return f" (titled “{shown_title(schedule.title)}”)" if schedule.title else ""


def shown_title(title: str) -> str:
    """A thread's name (a moderator's words, plain text in Discord) as it reads in a message."""
    return escape_mentions(escape_markdown(title))


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


class ModerationCog(commands.Cog, name="Moderation"):
    weekly = app_commands.Group(
        name="weekly",
        description="The weekly discussion prompt",
        default_permissions=MODERATORS,
        guild_only=True,
    )
    schedule = app_commands.Group(
        name="schedule",
        description="Discussion threads posted at a chosen time",
        default_permissions=MODERATORS,
        guild_only=True,
    )

    def __init__(
        self,
        bot: VGBot,
        service: SchedulingService,
        ticker: Ticker,
        *,
        clock: Clock,
        tick_interval: float,
    ) -> None:
        self.bot = bot
        self.service = service
        self.ticker = ticker
        self.clock = clock
        self.tick_interval = tick_interval
        self._loop: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    # ---- the tick loop ----

    async def cog_load(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="scheduler")

    async def cog_unload(self) -> None:
        if self._loop is None:
            return
        self.ticker.stop()
        self._connected.set()  # a loop still waiting for the gateway ends too
        done, _ = await asyncio.wait({self._loop}, timeout=STOP_TIMEOUT)
        if not done:  # a post stuck on the network: the outbox makes cutting it short safe
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop

    async def _run(self) -> None:
        # From the gateway connection on, not from READY (which discord.py delays by a couple of
        # seconds): posts for servers not loaded yet are retried (see DiscordPoster._channel).
        await self._connected.wait()
        if self.ticker.stopping:
            return
        log.info("scheduler started: a tick every %g s", self.tick_interval)
        await self.ticker.run(self.tick_interval)

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        self._connected.set()
        self.ticker.wake()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self._connected.set()
        self.ticker.wake()  # everything is loaded: catch up now, not at the next interval

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ---- checks ----

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_moderator(interaction)

    def _not_moderator_of(
        self, interaction: discord.Interaction, channel: discord.abc.GuildChannel
    ) -> str | None:
        """Why the member may not manage posts in `channel`, or None. Discord (and
        `require_moderator`) look at Manage Threads where the command is used, which a
        channel overwrite can give in that channel alone."""
        member = interaction.user
        if not isinstance(member, discord.Member) or channel.permissions_for(member).manage_threads:
            return None
        log.info(
            "refused /%s to user %s without Manage Threads in channel %s",
            interaction.command.qualified_name if interaction.command else "?",
            member.id,
            channel.id,
        )
        return (
            f"You need the Manage Threads permission in {channel.mention} to manage its posts "
            "(you have it only where you used the command). Pick a channel you moderate, or "
            "ask an admin. Nothing was changed."
        )

    async def _not_moderator_of_schedule(
        self, interaction: discord.Interaction, guild: discord.Guild, schedule_id: int
    ) -> str | None:
        schedule = await self.service.rows.schedule(schedule_id)
        if schedule is None or schedule.guild_id != guild.id:
            return None  # the service says there is no such schedule
        channel = guild.get_channel(schedule.channel_id)
        return None if channel is None else self._not_moderator_of(interaction, channel)

    async def _not_moderator_of_weekly(
        self, interaction: discord.Interaction, guild: discord.Guild
    ) -> str | None:
        config = await self.service.rows.weekly(guild.id)
        channel = None if config is None else guild.get_channel(config.channel_id)
        return None if channel is None else self._not_moderator_of(interaction, channel)

    def _bot_cannot_post(self, channel: discord.abc.GuildChannel) -> str | None:
        me = channel.guild.me
        missing = (
            ["View Channel"] if me is None else missing_permissions(channel, me, open_thread=True)
        )
        if not missing:
            return None
        return (
            f"I can't post in {channel.mention}: I lack {', '.join(missing)} there. Give my role "
            "those permissions in that channel, then try again. Nothing was changed."
        )

    async def _find_target(
        self,
        interaction: discord.Interaction,
        channel: PostChannel | None,
        *,
        here: bool = True,
    ) -> tuple[discord.TextChannel | discord.ForumChannel | None, str]:
        """The channel to post in: the option, else the server's discussion channel (/config
        channel discussion), else (with `here`) where the command was used; or why there is
        none."""
        target: object = channel
        guild = interaction.guild
        if target is None and guild is not None:
            settings = await self.service.guilds.get(guild.id)
            if settings.discussion_channel is not None:
                target = guild.get_channel(settings.discussion_channel)
                if target is None:
                    return None, (
                        f"The discussion channel (<#{settings.discussion_channel}>) no longer "
                        "exists: name a channel with the `channel` option, or set another with "
                        "`/config channel`. Nothing was changed."
                    )
        if target is None and here:
            target = interaction.channel
        if isinstance(target, discord.Thread):
            target = target.parent
        if not isinstance(target, discord.TextChannel | discord.ForumChannel):
            return None, (
                "Pick a text or forum channel with the `channel` option (or have an admin set "
                "a discussion channel with `/config channel`). Nothing was changed."
            )
        problem = self._not_moderator_of(interaction, target) or self._bot_cannot_post(target)
        if problem:
            return None, problem
        return target, ""

    # ---- /weekly ----

    @weekly.command(name="set")
    @app_commands.describe(
        weekday="The day of the week",
        time="Local time, e.g. 18:00 or 6pm",
        channel="Where to post (default: the discussion channel from /config); a forum gets a post",
        tz="IANA time zone, e.g. Europe/London (default: the server's, see /config)",
    )
    @app_commands.choices(weekday=[app_commands.Choice(name=d.title(), value=d) for d in WEEKDAYS])
    async def weekly_set(
        self,
        interaction: discord.Interaction,
        weekday: app_commands.Choice[str],
        time: app_commands.Range[str, 1, 100],
        channel: PostChannel | None = None,
        tz: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        """Post the weekly discussion prompt at this day, time and zone."""
        if interaction.guild is None:
            return
        target, problem = await self._find_target(interaction, channel, here=False)
        if target is not None:
            # Setting it again moves it: the channel it leaves is changed too.
            problem = await self._not_moderator_of_weekly(interaction, interaction.guild) or ""
        if target is None or problem:
            # Say what else is wrong too, so one more try is enough.
            errors = await self.service.weekly_input_errors(
                interaction.guild.id, weekday.value, time, tz
            )
            also = "\nAlso fix: " + "; ".join(errors) if errors else ""
            await tell(interaction, problem + also)
            return
        try:
            view = await self.service.set_weekly(
                interaction.guild.id,
                target.id,
                weekday.value,
                time,
                tz,
                by=interaction.user.id,
                now=self.now(),
                guild_name=interaction.guild.name,
            )
        except SchedulingError as exc:
            await tell(interaction, f"Nothing was saved: {exc}")
            return
        await tell_all(interaction, weekly_text(view, heading="Weekly prompt set"))

    @weekly_set.autocomplete("tz")
    async def _tz_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in zone_choices(current)]

    @weekly.command(name="show")
    async def weekly_show(self, interaction: discord.Interaction) -> None:
        """Show the weekly prompt: when, where, what comes next, and recent problems."""
        assert interaction.guild is not None
        view = await self.service.show_weekly(interaction.guild.id, self.now())
        if view is None:
            await tell(interaction, "No weekly prompt is set. Set one with `/weekly set`.")
            return
        await tell_all(interaction, weekly_text(view))

    @weekly.command(name="off")
    async def weekly_off(self, interaction: discord.Interaction) -> None:
        """Stop posting the weekly prompt (the settings are kept)."""
        assert interaction.guild is not None
        problem = await self._not_moderator_of_weekly(interaction, interaction.guild)
        if problem:
            await tell(interaction, problem)
            return
        changed = await self.service.weekly_off(
            interaction.guild.id, by=interaction.user.id, now=self.now()
        )
        await tell(
            interaction,
            "The weekly prompt is off. `/weekly set` turns it on again."
            if changed
            else "The weekly prompt was not on; nothing changed.",
        )

    @weekly.command(name="preview")
    async def weekly_preview(self, interaction: discord.Interaction) -> None:
        """See the next weekly prompt as it will be posted (nothing is posted)."""
        assert interaction.guild is not None
        try:
            preview = await self.service.preview_weekly(
                interaction.guild.id, self.now(), guild_name=interaction.guild.name
            )
        except SchedulingError as exc:
            await tell(interaction, f"No preview: {exc}")
            return
        embed = discord.Embed(title=preview.rendered.title, description=preview.rendered.body)
        embed.set_footer(text=f"topic: {preview.topic.slug} · style: {preview.style}")
        heading = {
            "on": f"Preview of the prompt for {stamp(preview.when)}:",
            "off": "The weekly prompt is **off**: nothing will be posted. Turned on again with "
            f"`/weekly set`, the next one ({stamp(preview.when)}) would read:",
            "unset": "No weekly prompt is set, so nothing will be posted. Set one with "
            "`/weekly set`; it would read:",
        }[preview.status]
        await interaction.response.send_message(
            heading,
            embed=embed,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # ---- /schedule ----

    @schedule.command(name="thread")
    @app_commands.describe(
        topic="The topic to discuss",
        when="e.g. 'friday 18:00', 'tomorrow 9am', 'in 2 hours' or '2026-12-04 18:00'",
        channel="Where to open it (default: the server's discussion channel, else this one)",
        repeat="Once (default) or every week at that time",
        title="The thread's name (default: from the template)",
    )
    @app_commands.choices(
        repeat=[
            app_commands.Choice(name="once", value="once"),
            app_commands.Choice(name="weekly", value="weekly"),
        ]
    )
    async def schedule_thread(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 100],
        when: app_commands.Range[str, 1, 100],
        channel: PostChannel | None = None,
        repeat: app_commands.Choice[str] | None = None,
        title: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        """Open a discussion thread on a topic at a chosen time."""
        target, problem = await self._find_target(interaction, channel)
        if target is None or interaction.guild is None:
            if problem:
                await tell(interaction, problem)
            return
        try:
            view = await self.service.schedule_thread(
                interaction.guild.id,
                target.id,
                topic,
                when,
                repeat=repeat.value if repeat else None,
                title=title or "",
                by=interaction.user.id,
                now=self.now(),
                guild_name=interaction.guild.name,
            )
        except SchedulingError as exc:
            await tell(interaction, f"Nothing was saved: {exc}")
            return
        s = view.schedule
        name = view.topic.title if view.topic else s.topic_slug
        text = f"Scheduled `#{s.id}`: **{name}**{_titled(s)} in {target.mention}, {_when(s)}."
        if view.next_run is not None:
            text += f"\nFirst post: {stamp(view.next_run)}."
        text += "".join(f"\nNote: {note}." for note in view.notes)
        await tell(interaction, text)

    @schedule_thread.autocomplete("topic")
    async def _topic_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        topics = await self.service.topics.topics()
        return [
            app_commands.Choice(name=name[:100], value=slug[:100])
            for name, slug in topic_choices(topics, current)
        ]

    @schedule.command(name="list")
    async def schedule_list(self, interaction: discord.Interaction) -> None:
        """Scheduled threads with their next run, and posts that need attention."""
        assert interaction.guild is not None
        listing = await self.service.list_schedules(interaction.guild.id, self.now())
        await tell_all(interaction, listing_text(listing))

    @schedule.command(name="cancel")
    @app_commands.describe(id="The schedule's number, as in /schedule list")
    async def schedule_cancel(
        self, interaction: discord.Interaction, id: app_commands.Range[int, 1]
    ) -> None:
        """Cancel a scheduled thread (posts already made stay)."""
        assert interaction.guild is not None
        problem = await self._not_moderator_of_schedule(interaction, interaction.guild, id)
        if problem:
            await tell(interaction, problem)
            return
        try:
            cancelled = await self.service.cancel(
                interaction.guild.id, id, by=interaction.user.id, now=self.now()
            )
        except SchedulingError as exc:
            await tell(interaction, f"That didn't work: {exc}")
            return
        await tell(interaction, f"Cancelled `#{cancelled.id}` ({describe(cancelled.rule)}).")

    @schedule.command(name="run-now")
    @app_commands.describe(id="The schedule's number, as in /schedule list")
    async def schedule_run_now(
        self, interaction: discord.Interaction, id: app_commands.Range[int, 1]
    ) -> None:
        """Post a scheduled thread now, once; the schedule stays as it is."""
        guild = interaction.guild
        assert guild is not None
        schedule = await self.service.rows.schedule(id)
        if schedule is not None and schedule.guild_id == guild.id:
            channel = guild.get_channel(schedule.channel_id)
            if channel is not None:
                problem = self._not_moderator_of(interaction, channel) or self._bot_cannot_post(
                    channel
                )
                if problem:
                    await tell(interaction, problem)
                    return
        try:
            entry = await self.service.run_now(guild.id, id, by=interaction.user.id, now=self.now())
        except SchedulingError as exc:
            await tell(interaction, f"That didn't work: {exc}")
            return
        already = entry.state == SENT  # asked again within the same minute: one post only
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.ticker.tick()
        done = await self.service.outbox.get(entry.key)
        if done is not None and done.state == SENT and done.message_id is not None:
            where = f"<#{done.thread_id}>" if done.thread_id else "the channel"
            link = message_link(guild.id, done.channel_id, done.message_id)
            said = f"`#{id}` was already posted this minute" if already else f"Posted `#{id}` now"
            await tell(interaction, f"{said}: {where} ({link}).")
        elif done is not None and done.state in (FAILED, SKIPPED):
            await tell(interaction, f"Could not post `#{id}`: {done.last_error}{posted_at(done)}")
        else:
            await tell(interaction, f"`#{id}` is queued and will go out on the next tick.")


def scheduling_cog(
    store: Store,
    prompts: Prompts,
    *,
    clock: Clock,
    grace: timedelta,
    tick_interval: float,
    nonce_window: timedelta = DEFAULT_NONCE_WINDOW,
    guilds: GuildSettings | None = None,
    topics: TopicSource | None = None,
) -> Callable[[VGBot], commands.Cog]:
    """For VGBot(extra_cogs=...): the cog, its service, and the publisher on this bot.
    `guilds`: each server's /config settings (grace window, time zone, discussion channel)
    over the bot-wide defaults; without it every server gets `grace` and UTC."""

    def make(bot: VGBot) -> commands.Cog:
        settings = guilds or GuildSettings(store, Defaults(grace_window=grace.total_seconds()))
        presence = DiscordPresence(bot)
        service = SchedulingService(
            store,
            topics or CatalogueTopics(store),
            prompts,
            grace=grace,
            guilds=settings,
            presence=presence,
        )
        poster = DiscordPoster(bot)
        publisher = Publisher(
            service.outbox,
            poster,
            clock,
            grace=grace,
            graces=settings,
            nonce_window=nonce_window,
            presence=presence,
        )
        ticker = Ticker(service, publisher, clock)
        return ModerationCog(bot, service, ticker, clock=clock, tick_interval=tick_interval)

    return make


def scheduling_cog_from_settings(
    settings: Settings, store: Store, clock: Clock, prompts: Prompts | None = None
) -> Callable[[VGBot], commands.Cog]:
    """The one line the runner needs: `extra_cogs=(scheduling_cog_from_settings(...),)`.
    `prompts`: templates already loaded from `settings.prompts_dir` (else loaded here)."""
    if prompts is None:
        prompts = Prompts.load(settings.prompts_dir)
    for problem in prompts.problems:
        log.warning("prompts: %s", problem)
    return scheduling_cog(
        store,
        prompts,
        clock=clock,
        grace=timedelta(seconds=settings.grace_window),
        tick_interval=settings.tick_interval,
        nonce_window=timedelta(seconds=settings.nonce_window),
        guilds=GuildSettings(store, Defaults.from_settings(settings)),
    )

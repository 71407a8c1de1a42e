"""Use cases of the weekly prompt and the moderators' scheduled threads, and the planner.

Every use case takes `now` (aware) from its caller; nothing here reads the clock or knows
Discord. Bad input raises SchedulingError with a message meant for the moderator, and then
nothing has been saved. `plan(now)` decides, in one transaction, which occurrences are due,
renders them and writes them to the outbox; bot/services/publisher.py sends them.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiosqlite

from bot.core.models import Episode, Topic
from bot.core.render import Context, Prompts, Rendered, RenderError
from bot.core.schedule import (
    OneOff,
    Recurrence,
    ScheduleError,
    WeeklyRule,
    describe,
    due,
    format_discord_timestamp,
    local_to_utc,
    next_occurrence,
    next_topic,
    occurrence_key,
    pick_style,
    wall_time_exists,
    zone,
)
from bot.core.text import THREAD_NAME, counted, quote
from bot.core.when import (
    WhenError,
    abbreviation_zones,
    offered_zones,
    parse_time_of_day,
    parse_weekday,
    parse_when_with_zone,
    validate_timezone,
)
from bot.services.publisher import NOT_IN_SERVER, Presence
from bot.store.catalog import episodes_of_topic, list_topics
from bot.store.db import Store
from bot.store.guild_config import Defaults, Effective, GuildSettings
from bot.store.outbox import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    Outbox,
    OutboxEntry,
    Post,
    exists,
    insert,
)
from bot.store.scheduling import Schedule, SchedulingStore, WeeklyConfig, format_wall_time

log = logging.getLogger(__name__)

DEFAULT_ZONE = "UTC"
REPEATS = ("once", "weekly")
ATTENTION_DAYS = 14  # failed/skipped posts shown to moderators for this long
DONE_SHOWN_DAYS = 7  # a finished one-off schedule stays in /schedule list this long
MAX_TOPIC_INPUT = 100


class SchedulingError(ValueError):
    """Input or a request that cannot be done; the message tells the moderator what to fix."""


class TopicSource(Protocol):
    """What the planner needs from the catalogue (our port; bot.store.catalog implements it)."""

    async def topics(self) -> list[Topic]: ...

    async def episode_for(self, slug: str) -> Episode | None:
        """The newest episode about the topic, if any."""
        ...

    async def favoured(self) -> list[str]:
        """Topic slugs to take first in a rotation cycle (the newest episode's)."""
        ...


class CatalogueTopics:
    """TopicSource on the catalogue tables in the bot's database."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._scheduling = SchedulingStore(store)

    async def topics(self) -> list[Topic]:
        return await list_topics(self._store)

    async def episode_for(self, slug: str) -> Episode | None:
        episodes = await episodes_of_topic(self._store, slug)
        return episodes[0] if episodes else None

    async def favoured(self) -> list[str]:
        return await self._scheduling.newest_episode_topics()


# ---- results handed to the chat layer ----


@dataclass(frozen=True)
class WeeklyView:
    config: WeeklyConfig
    next_run: datetime | None  # None when the prompt is off
    next_topic: Topic | None = None
    next_style: str | None = None
    recent: tuple[OutboxEntry, ...] = ()  # latest posts and problems, newest first
    notes: tuple[str, ...] = ()  # things the moderator should know (DST gap, no topics ...)

    @property
    def problems(self) -> tuple[OutboxEntry, ...]:
        return tuple(e for e in self.recent if e.state in (FAILED, SKIPPED))


@dataclass(frozen=True)
class ScheduleView:
    schedule: Schedule
    topic: Topic | None  # None when the topic has left the catalogue since
    next_run: datetime | None
    last: OutboxEntry | None = None  # its latest post (any state)
    notes: tuple[str, ...] = ()  # things the moderator should know (a DST gap)


@dataclass(frozen=True)
class Preview:
    rendered: Rendered
    topic: Topic
    style: str
    when: datetime
    episode: Episode | None = None
    status: str = "on"  # "on", "off" (/weekly off) or "unset" (never set): then nothing posts


@dataclass(frozen=True)
class Listing:
    schedules: tuple[ScheduleView, ...]
    attention: tuple[OutboxEntry, ...] = ()  # failed or skipped posts, newest first
    zone: str = DEFAULT_ZONE


@dataclass
class _PlanState:
    topics: list[Topic]
    favoured: list[str]
    episodes: dict[str, Episode | None] = field(default_factory=dict)


def find_topic(topics: Sequence[Topic], text: str) -> Topic:
    """The topic whose slug, title or an alias is `text` (case and spacing ignored)."""
    wanted = " ".join(text.split()).casefold()
    if not wanted:
        raise SchedulingError("no topic given: name one, e.g. its title or slug")
    if len(wanted) > MAX_TOPIC_INPUT:
        raise SchedulingError(
            f"that topic name is too long ({len(wanted)} characters, at most {MAX_TOPIC_INPUT})"
        )
    if not topics:
        raise SchedulingError(
            "there are no topics in the catalogue yet: add them to content/topics.yaml"
        )
    names: dict[str, Topic] = {}
    for topic in topics:
        for name in (topic.slug, topic.title, *topic.aliases):
            names.setdefault(" ".join(name.split()).casefold(), topic)
    if wanted in names:
        return names[wanted]
    slugged = wanted.replace(" ", "-")
    if slugged in names:
        return names[slugged]
    close = difflib.get_close_matches(wanted, list(names), n=3, cutoff=0.6)
    close += [n for n in names if wanted in n and n not in close]
    suggestions = list(dict.fromkeys(names[n].slug for n in close))[:3]
    hint = f" (did you mean {', '.join(repr(s) for s in suggestions)}?)" if suggestions else ""
    raise SchedulingError(
        f"no topic called {quote(text)}{hint}: pick one from the list Discord suggests, "
        "or look it up with /topic"
    )


def zone_choices(current: str, limit: int = 25) -> list[str]:
    """IANA zone names for autocomplete: the places an abbreviation means ('pst'), then names
    starting with what was typed (or whose city does), then names containing it. Only names
    /weekly set and /config accept are offered."""
    typed = current.strip().lower().replace(" ", "_")[:MAX_TOPIC_INPUT]
    names = offered_zones()
    if not typed:
        common = ["UTC", "Europe/London", "America/New_York", "America/Los_Angeles"]
        return [n for n in common if n in names][:limit]
    meant = [n for n in abbreviation_zones(typed) if n in names]
    starts = [n for n in names if n.lower().startswith(typed)]
    cities = [n for n in names if n.lower().rsplit("/", 1)[-1].startswith(typed)]
    contains = [n for n in names if typed in n.lower()]
    return list(dict.fromkeys(meant + starts + cities + contains))[:limit]


def topic_choices(topics: Sequence[Topic], current: str, limit: int = 25) -> list[tuple[str, str]]:
    """(title, slug) pairs for autocomplete: titles, slugs or aliases starting with what was
    typed first, then containing it."""
    typed = " ".join(current.split()).casefold()[:MAX_TOPIC_INPUT]
    first: list[Topic] = []
    then: list[Topic] = []
    for topic in topics:
        names = [n.casefold() for n in (topic.title, topic.slug, *topic.aliases)]
        if any(n.startswith(typed) for n in names):
            first.append(topic)
        elif any(typed in n for n in names):
            then.append(topic)
    return [(t.title, t.slug) for t in (first + then)[:limit]]


def _slot(rule: Recurrence) -> Recurrence:
    """The rule without its start: two weekly schedules in one slot post together in the end."""
    return replace(rule, starts=None) if isinstance(rule, WeeklyRule) else rule


def _local_week(at: datetime, tz: str) -> tuple[int, int]:
    """(ISO year, week) of `at` on the clocks of `tz`: the weekly prompt's one-a-week unit."""
    year, week, _ = at.astimezone(zone(tz)).isocalendar()
    return year, week


def _next_weekly(config: WeeklyConfig, now: datetime) -> datetime | None:
    """The weekly prompt's next run: occurrences up to `active_since` never fire."""
    since = config.active_since
    return next_occurrence(config.rule, now if since is None else max(now, since))


def _dst_note(rule: WeeklyRule, now: datetime) -> str | None:
    """Warn when the wall time is skipped by a clock change in the year from its first run."""
    tz = zone(rule.tz)
    day = (now if rule.starts is None else max(now, rule.starts)).astimezone(tz).date()
    for offset in range(0, 371):
        d = day + timedelta(days=offset)
        if d.weekday() == rule.weekday and not wall_time_exists(d, rule.at, tz):
            shown = local_to_utc(d, rule.at, tz).astimezone(tz)
            return (
                f"{format_wall_time(rule.at)} does not exist on {d:%a %Y-%m-%d} in {rule.tz} "
                f"(the clocks go forward): that week it posts at {shown:%H:%M}"
            )
    return None


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


class SchedulingService:
    def __init__(
        self,
        store: Store,
        topics: TopicSource,
        prompts: Prompts,
        *,
        grace: timedelta,
        guilds: GuildSettings | None = None,
        presence: Presence | None = None,
    ) -> None:
        """`grace` is the bot-wide grace window; `guilds` gives each guild's own (and its time
        zone), falling back to `grace` when not given. `presence`: the servers the bot is in
        (without it, it is taken to be in every one)."""
        if grace < timedelta(0):
            raise ValueError(f"grace must not be negative, got {grace}")
        self.store = store
        self.rows = SchedulingStore(store)
        self.outbox = Outbox(store)
        self.topics = topics
        self.prompts = prompts
        self.grace = grace
        self.guilds = guilds or GuildSettings(
            store, Defaults(timezone=DEFAULT_ZONE, grace_window=grace.total_seconds())
        )
        self.presence = presence
        self._paused: set[int] = set()  # servers whose pause was logged (once, not every tick)

    # ---- the weekly prompt ----

    async def set_weekly(
        self,
        guild_id: int,
        channel_id: int,
        weekday: str,
        at: str,
        tz: str | None,
        *,
        by: int,
        now: datetime,
        guild_name: str = "",
    ) -> WeeklyView:
        """`tz` None: the guild's zone (see `guild_zone`)."""
        rule, errors = await self._weekly_rule(guild_id, weekday, at, tz)
        if rule is None:
            raise SchedulingError("; ".join(errors))
        config = WeeklyConfig(
            guild_id=guild_id,
            channel_id=channel_id,
            rule=rule,
            guild_name=guild_name,
            updated_by=by,
        )
        previous = await self.rows.weekly(guild_id)
        moving = [
            e
            for e in await self.outbox.recent(
                guild_id,
                since=now - timedelta(days=ATTENTION_DAYS),
                states=(PENDING, SENDING),
                kinds=("weekly",),
            )
            if e.message_id is None and e.channel_id != channel_id
        ]
        # One prompt a week: a new zone, day or time after this week's prompt went out must
        # not post a second one this (local) week, so the new rule starts after its first run.
        first = next_occurrence(rule, now)
        since = now
        if first is not None and await self._posted_in_week_of(guild_id, first, rule.tz, now):
            since = first
        stored = await self.rows.put_weekly(config, now, active_since=since)
        log.info(
            "guild %s: weekly prompt set to %s in channel %s", guild_id, describe(rule), channel_id
        )
        view = await self._weekly_view(stored, now)
        for entry in moving:
            old = f"<#{entry.channel_id}>"
            note = (
                f"the prompt due {format_discord_timestamp(entry.due_at, 'f')}, still waiting to "
                f"be posted in {old}, will go to <#{channel_id}> instead (unless its last try "
                f"reached {old} after all: the bot looks there first)"
            )
            view = replace(view, notes=(*view.notes, note))
        # The other way round, a new time already past this week while the old one was still
        # to come leaves the week without a prompt: say so, or moderators wait for it.
        was_due = _next_weekly(previous, now) if previous and previous.enabled else None
        if was_due is not None and view.next_run is not None:
            this_week = _local_week(now, rule.tz)
            if (
                _local_week(was_due, rule.tz) == this_week
                and _local_week(view.next_run, rule.tz) != this_week
                and not await self._posted_in_week_of(guild_id, now, rule.tz, now)
            ):
                note = (
                    f"this week's prompt, due {format_discord_timestamp(was_due, 'f')}, will not "
                    f"be posted: the new time has passed this week, so the first is "
                    f"{format_discord_timestamp(view.next_run, 'f')}"
                )
                view = replace(view, notes=(*view.notes, note))
        return view

    async def weekly_input_errors(
        self, guild_id: int, weekday: str, at: str, tz: str | None
    ) -> list[str]:
        """What is wrong with /weekly set's day, time and zone, all at once (nothing saved)."""
        return (await self._weekly_rule(guild_id, weekday, at, tz))[1]

    async def _weekly_rule(
        self, guild_id: int, weekday: str, at: str, tz: str | None
    ) -> tuple[WeeklyRule | None, list[str]]:
        errors: list[str] = []
        day = wall = zone_name = None
        try:
            day = parse_weekday(weekday)
        except WhenError as exc:
            errors.append(f"weekday: {exc}")
        try:
            wall = parse_time_of_day(at)
        except WhenError as exc:
            errors.append(f"time: {exc}")
        try:
            zone_name = validate_timezone(tz) if tz is not None else await self.guild_zone(guild_id)
        except WhenError as exc:
            errors.append(f"tz: {exc}")
        if errors or day is None or wall is None or zone_name is None:
            return None, errors
        return WeeklyRule(day, wall, zone_name), []

    async def _posted_in_week_of(
        self, guild_id: int, when: datetime, tz: str, now: datetime
    ) -> bool:
        """Whether a weekly prompt was posted (or is on its way) in `when`'s week in `tz`."""
        week = _local_week(when, tz)
        recent = await self.outbox.recent(
            guild_id,
            since=now - timedelta(days=ATTENTION_DAYS),
            states=(PENDING, SENDING, SENT),
            kinds=("weekly",),
            limit=1,
        )
        return any(_local_week(e.due_at, tz) == week for e in recent)

    async def show_weekly(self, guild_id: int, now: datetime) -> WeeklyView | None:
        config = await self.rows.weekly(guild_id)
        return None if config is None else await self._weekly_view(config, now)

    async def weekly_off(self, guild_id: int, *, by: int, now: datetime) -> bool:
        """False when there was nothing to turn off."""
        changed = await self.rows.disable_weekly(guild_id, by, now)
        if changed:
            log.info("guild %s: weekly prompt turned off by %s", guild_id, by)
        return changed

    async def preview_weekly(
        self, guild_id: int, now: datetime, *, guild_name: str = ""
    ) -> Preview:
        """The next weekly prompt as it would be posted; nothing is saved or sent."""
        config = await self.rows.weekly(guild_id)
        topics = await self.topics.topics()
        history = await self.rows.history(guild_id)
        favoured = await self.topics.favoured()
        if config is not None:
            when = _next_weekly(config, now) or now
            tz = config.rule.tz
            counter = config.style_counter
            guild_name = guild_name or config.guild_name
        else:
            when, tz, counter = now, DEFAULT_ZONE, 0
        try:
            slug = next_topic([t.slug for t in topics], history, favoured)
            style = pick_style(self.prompts.styles("weekly"), counter, len(topics))
        except ScheduleError as exc:
            raise SchedulingError(str(exc)) from None
        topic = next(t for t in topics if t.slug == slug)
        episode = await self.topics.episode_for(slug)
        context = Context(
            when=when.astimezone(zone(tz)), guild_name=guild_name, topic=topic, episode=episode
        )
        try:
            rendered = self.prompts.render("weekly", style, context)
        except RenderError as exc:
            raise SchedulingError(f"the template does not render: {exc.problem}") from None
        status = "unset" if config is None else "on" if config.enabled else "off"
        return Preview(rendered, topic, style, when, episode, status)

    async def guild_zone(self, guild_id: int) -> str:
        """The zone plain times are read in: the guild's (/config timezone), else the weekly
        prompt's, else the bot-wide default (UTC)."""
        settings = await self.guilds.get(guild_id)
        if settings.zone_set:
            return settings.timezone
        config = await self.rows.weekly(guild_id)
        return config.rule.tz if config is not None else settings.timezone

    async def _weekly_view(self, config: WeeklyConfig, now: datetime) -> WeeklyView:
        notes: list[str] = []
        topic: Topic | None = None
        style: str | None = None
        topics = await self.topics.topics()
        if not topics:
            notes.append("there are no topics in the catalogue: add some to content/topics.yaml")
        else:
            history = await self.rows.history(config.guild_id)
            slug = next_topic([t.slug for t in topics], history, await self.topics.favoured())
            topic = next(t for t in topics if t.slug == slug)
        styles = self.prompts.styles("weekly")
        if styles:
            style = pick_style(styles, config.style_counter, len(topics))
        else:
            notes.append("there is no usable weekly template: run `vgbot content check`")
        dst = _dst_note(config.rule, now)
        if dst:
            notes.append(dst)
        if config.enabled and config.active_since is not None and config.active_since > now:
            notes.append("the prompt already posted this week, so the new time starts next week")
        recent = await self.outbox.recent(
            config.guild_id,
            since=now - timedelta(days=ATTENTION_DAYS),
            kinds=("weekly",),
            limit=5,
        )
        next_run = _next_weekly(config, now) if config.enabled else None
        return WeeklyView(
            config=config,
            next_run=next_run,
            next_topic=topic,
            next_style=style,
            recent=tuple(recent),
            notes=tuple(notes),
        )

    # ---- scheduled threads ----

    async def schedule_thread(
        self,
        guild_id: int,
        channel_id: int,
        topic: str,
        when: str,
        *,
        by: int,
        now: datetime,
        repeat: str | None = None,
        title: str = "",
        guild_name: str = "",
    ) -> ScheduleView:
        repeat_name = (repeat or "once").strip().lower()
        if repeat_name not in REPEATS:
            raise SchedulingError(
                f"repeat must be 'weekly' or left empty (once), not {quote(repeat or '')}"
            )
        title = " ".join(title.split())
        if len(title) > THREAD_NAME:
            raise SchedulingError(
                f"the title is {len(title)} characters; Discord allows "
                f"{THREAD_NAME} for a thread name"
            )
        found = find_topic(await self.topics.topics(), topic)
        try:
            at, tz = parse_when_with_zone(when, now, await self.guild_zone(guild_id))
        except WhenError as exc:
            raise SchedulingError(str(exc)) from None
        rule: Recurrence
        if repeat_name == "weekly":
            local = at.astimezone(zone(tz))
            rule = WeeklyRule(local.weekday(), local.time().replace(microsecond=0), tz)
            if local_to_utc(local.date(), rule.at, zone(tz)) != at:
                # The second showing of a time the clocks repeat: weekly rules fire at the
                # first, already past, so the asked-for first post would come a week late.
                shown = format_wall_time(rule.at)
                raise SchedulingError(
                    f"{shown} happens twice on {local:%a %Y-%m-%d} in {tz} "
                    f"(the clocks go back), and a weekly schedule posts at the first {shown}, "
                    f"already past. Schedule this one without repeat, and a weekly one from "
                    f"next week ('{local + timedelta(weeks=1):%Y-%m-%d} {shown}')."
                )
            if next_occurrence(rule, now) != at:
                # A date weeks ahead ("2027-12-04 18:00"): the first post is that one.
                rule = replace(rule, starts=at)
        else:
            rule = OneOff(at)
        for existing in await self.rows.schedules(guild_id):
            same = (existing.channel_id, existing.topic_slug, _slot(existing.rule))
            upcoming = next_occurrence(rule, now) is not None
            if same == (channel_id, found.slug, _slot(rule)) and upcoming:
                # Two of them would open two identical threads at once: surely a slip.
                raise SchedulingError(
                    f"schedule #{existing.id} already opens a thread on "
                    f"{found.title} in <#{channel_id}> {describe(rule)}. Pick another time, "
                    f"or to replace it, cancel it first (/schedule cancel id:{existing.id})."
                )
        # Created a moment before `at`: due() fires occurrences after creation only.
        stored = await self.rows.add_schedule(
            guild_id=guild_id,
            guild_name=guild_name,
            channel_id=channel_id,
            topic_slug=found.slug,
            title=title,
            rule=rule,
            tz=tz,
            created_by=by,
            now=now,
        )
        log.info(
            "guild %s: schedule #%s on %r, %s, channel %s, by %s",
            guild_id,
            stored.id,
            found.slug,
            describe(rule),
            channel_id,
            by,
        )
        dst = _dst_note(rule, now) if isinstance(rule, WeeklyRule) else None
        notes = (dst,) if dst else ()
        return ScheduleView(stored, found, next_occurrence(rule, now), notes=notes)

    async def list_schedules(self, guild_id: int, now: datetime) -> Listing:
        topics = {t.slug: t for t in await self.topics.topics()}
        views: list[ScheduleView] = []
        for schedule in await self.rows.schedules(guild_id):
            next_run = next_occurrence(schedule.rule, now)
            last = await self._last_post(schedule.id)
            if next_run is None and isinstance(schedule.rule, OneOff):
                finished = last.updated_at if last and last.updated_at else schedule.rule.at_utc
                if now - finished > timedelta(days=DONE_SHOWN_DAYS):
                    continue
            views.append(ScheduleView(schedule, topics.get(schedule.topic_slug), next_run, last))
        views.sort(key=lambda v: (v.next_run is None, v.next_run or now, v.schedule.id))
        attention = await self.outbox.recent(
            guild_id,
            since=now - timedelta(days=ATTENTION_DAYS),
            states=(FAILED, SKIPPED),
            limit=5,
        )
        return Listing(tuple(views), tuple(attention), await self.guild_zone(guild_id))

    async def _last_post(self, schedule_id: int) -> OutboxEntry | None:
        row = await self.store.fetchone(
            "SELECT key FROM outbox WHERE schedule_id = ? ORDER BY due_at DESC, updated_at DESC"
            " LIMIT 1",
            (schedule_id,),
        )
        return None if row is None else await self.outbox.get(str(row["key"]))

    async def _own_schedule(self, guild_id: int, schedule_id: int) -> Schedule:
        schedule = await self.rows.schedule(schedule_id)
        if schedule is None or schedule.guild_id != guild_id:
            raise SchedulingError(
                f"there is no schedule #{schedule_id} in this server: see /schedule list"
            )
        return schedule

    async def cancel(self, guild_id: int, schedule_id: int, *, by: int, now: datetime) -> Schedule:
        schedule = await self._own_schedule(guild_id, schedule_id)
        last = await self._last_post(schedule_id)
        # A one-off whose post still waits (Discord was unavailable) can yet be stopped.
        waiting = last is not None and last.state in (PENDING, SENDING) and not last.message_id
        if (
            schedule.active
            and isinstance(schedule.rule, OneOff)  # for the type of .rule below
            and schedule.finished
            and not waiting
        ):
            # Cancelling would only hide how it went from /schedule list.
            ran = format_discord_timestamp(schedule.rule.at_utc, "f")
            raise SchedulingError(
                f"schedule #{schedule_id} ran once already, at {ran}: there is nothing left to "
                "cancel. /schedule list shows how it went."
            )
        if not await self.rows.cancel_schedule(schedule_id, by, now):
            raise SchedulingError(f"schedule #{schedule_id} was already cancelled")
        log.info("guild %s: schedule #%s cancelled by %s", guild_id, schedule_id, by)
        cancelled = await self.rows.schedule(schedule_id)
        assert cancelled is not None
        return cancelled

    async def run_now(
        self, guild_id: int, schedule_id: int, *, by: int, now: datetime
    ) -> OutboxEntry:
        """Queue one post of the schedule for now; the schedule itself is left as it was.
        Asking twice in the same minute queues one post."""
        schedule = await self._own_schedule(guild_id, schedule_id)
        cancelled = SchedulingError(
            f"schedule #{schedule_id} is cancelled: schedule the topic again instead"
        )
        if not schedule.active:
            raise cancelled
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        key = occurrence_key("runnow", schedule_id, minute)
        state = _PlanState(await self.topics.topics(), [])
        async with self.store.transaction() as db:
            # Asked again where the post is written: a cancel may have landed since.
            if await self.rows.cancelled(db, schedule_id):
                raise cancelled
            if not await exists(db, key):
                entry = await self._thread_entry(db, schedule, minute, key, state)
                entry = _due_now(entry, now)
                await insert(db, entry, now)
        stored = await self.outbox.get(key)
        assert stored is not None
        log.info("guild %s: schedule #%s run now by %s (%s)", guild_id, schedule_id, by, key)
        return stored

    async def problems(self, guild_id: int, now: datetime) -> list[OutboxEntry]:
        """Failed and skipped posts of the last two weeks, newest first."""
        return await self.outbox.recent(
            guild_id, since=now - timedelta(days=ATTENTION_DAYS), states=(FAILED, SKIPPED)
        )

    # ---- the planner ----

    async def plan(self, now: datetime) -> list[OutboxEntry]:
        """Write every due occurrence to the outbox, once; return the rows written (pending,
        and the skipped or failed ones with their reason). Planning again is harmless.
        Nothing is planned before the bot knows its servers (READY, which wakes the ticker):
        a server that removed it while it was stopped would get 'pending' rows."""
        present = self.presence.guilds() if self.presence is not None else None
        if self.presence is not None and present is None:
            return []
        state = _PlanState(await self.topics.topics(), await self.topics.favoured())
        guilds = await self.guilds.all()

        def grace(guild_id: int) -> timedelta:
            found = guilds.get(guild_id)
            return found.grace if found is not None else self.guilds.default_for(guild_id).grace

        # Servers that removed the bot: how many schedules each has, and its name.
        paused: dict[int, tuple[int, str]] = {}

        def gone(guild_id: int, name: str) -> bool:
            if present is None or guild_id in present:
                return False
            count, _ = paused.get(guild_id, (0, ""))
            paused[guild_id] = (count + 1, name)
            return True

        written: list[OutboxEntry] = []
        async with self.store.transaction() as db:
            for config in await self.rows.enabled_weeklies(db):
                written += await self._plan_weekly(
                    db,
                    config,
                    now,
                    state,
                    grace(config.guild_id),
                    absent=gone(config.guild_id, config.guild_name),
                )
            for schedule in await self.rows.active_schedules(db):
                written += await self._plan_schedule(
                    db,
                    schedule,
                    now,
                    state,
                    grace(schedule.guild_id),
                    absent=gone(schedule.guild_id, schedule.guild_name),
                )
        if present is not None:
            for guild_id, settings in guilds.items():
                # A server with release announcements (or only settings) and no schedule.
                if guild_id not in present and guild_id not in paused:
                    paused[guild_id] = (0, settings.guild_name)
            self._log_pauses(paused, present, guilds)
        for entry in written:
            if entry.last_error == NOT_IN_SERVER:
                continue  # said once per server, above
            if entry.state == SKIPPED:
                log.warning("skipped %s: %s", entry.key, entry.last_error)
            elif entry.state == FAILED:
                log.error("cannot post %s: %s", entry.key, entry.last_error)
            else:
                log.info("planned %s in channel %s", entry.key, entry.channel_id)
        return written

    def _log_pauses(
        self,
        paused: dict[int, tuple[int, str]],
        present: frozenset[int],
        guilds: dict[int, Effective],
    ) -> None:
        """Once per server that removed the bot, whatever it has: its schedules are paused; and
        once when it is back. Release announcements wait in the publisher meanwhile."""
        for guild_id, (count, name) in paused.items():
            if guild_id in self._paused:
                continue
            found = guilds.get(guild_id)
            held = [counted(count, "schedule")] if count else []
            if found is not None and found.announce_channel is not None:
                held.append("its release announcements")
            server = f"{name!r} ({guild_id})" if name else str(guild_id)
            paused_what = (
                f"{' and '.join(held)} paused until it is invited back"
                if held
                else "it has nothing to post; its settings are kept"
            )
            log.warning("the bot is not in server %s (removed): %s", server, paused_what)
        for guild_id in self._paused - paused.keys():
            if guild_id in present:
                log.info("back in server %s: its schedules resume at their next time", guild_id)
        self._paused = set(paused)

    async def _plan_weekly(
        self,
        db: aiosqlite.Connection,
        config: WeeklyConfig,
        now: datetime,
        state: _PlanState,
        grace: timedelta,
        *,
        absent: bool = False,
    ) -> list[OutboxEntry]:
        since = config.active_since or now
        decision = due(config.rule, config.last_run, since, now, grace)
        written: list[OutboxEntry] = []
        if absent:
            for when in (*decision.skipped, *decision.post):
                key = occurrence_key("weekly", config.guild_id, when)
                entry = _not_in_server(key, "weekly", config.guild_id, config.channel_id, when)
                if await insert(db, entry, now):
                    written.append(entry)
            await self.rows.weekly_ran(db, config.guild_id, now, 0)
            return written
        for when in decision.skipped:
            key = occurrence_key("weekly", config.guild_id, when)
            entry = _skipped(key, "weekly", config.guild_id, config.channel_id, when, now, grace)
            if await insert(db, entry, now):
                written.append(entry)
        styles_used = 0
        for when in decision.post:
            key = occurrence_key("weekly", config.guild_id, when)
            if await exists(db, key):
                continue
            entry = await self._weekly_entry(db, config, when, key, state)
            if await insert(db, entry, now):
                written.append(entry)
                if entry.state == PENDING:
                    await self.rows.add_history(db, config.guild_id, entry.post.topic, key, now)
                    styles_used += 1
        await self.rows.weekly_ran(db, config.guild_id, now, styles_used)
        return written

    async def _plan_schedule(
        self,
        db: aiosqlite.Connection,
        schedule: Schedule,
        now: datetime,
        state: _PlanState,
        grace: timedelta,
        *,
        absent: bool = False,
    ) -> list[OutboxEntry]:
        decision = due(schedule.rule, schedule.last_run, schedule.created_at, now, grace)
        written: list[OutboxEntry] = []
        if absent:
            for when in (*decision.skipped, *decision.post):
                key = occurrence_key("thread", schedule.id, when)
                entry = _not_in_server(
                    key, "thread", schedule.guild_id, schedule.channel_id, when, schedule.id
                )
                if await insert(db, entry, now):
                    written.append(entry)
            await self.rows.schedule_ran(db, schedule.id, now)
            return written
        for when in decision.skipped:
            key = occurrence_key("thread", schedule.id, when)
            entry = _skipped(
                key,
                "thread",
                schedule.guild_id,
                schedule.channel_id,
                when,
                now,
                grace,
                schedule.id,
            )
            if await insert(db, entry, now):
                written.append(entry)
        for when in decision.post:
            key = occurrence_key("thread", schedule.id, when)
            if await exists(db, key):
                continue
            entry = await self._thread_entry(db, schedule, when, key, state)
            if await insert(db, entry, now):
                written.append(entry)
        await self.rows.schedule_ran(db, schedule.id, now)
        return written

    async def _episode(self, state: _PlanState, slug: str) -> Episode | None:
        if slug not in state.episodes:
            state.episodes[slug] = await self.topics.episode_for(slug)
        return state.episodes[slug]

    async def _weekly_entry(
        self,
        db: aiosqlite.Connection,
        config: WeeklyConfig,
        when: datetime,
        key: str,
        state: _PlanState,
    ) -> OutboxEntry:
        base = OutboxEntry(
            key=key,
            kind="weekly",
            guild_id=config.guild_id,
            channel_id=config.channel_id,
            post=Post(title="", body=""),
            due_at=when,
        )
        history = await self.rows.history(config.guild_id, db)
        try:
            slug = next_topic([t.slug for t in state.topics], history, state.favoured)
            style = pick_style(
                self.prompts.styles("weekly"), config.style_counter, len(state.topics)
            )
        except ScheduleError as exc:
            return _failed(base, str(exc))
        topic = next(t for t in state.topics if t.slug == slug)
        context = Context(
            when=when.astimezone(zone(config.rule.tz)),
            guild_name=config.guild_name,
            topic=topic,
            episode=await self._episode(state, slug),
        )
        return await self._rendered(base, "weekly", style, context)

    async def _thread_entry(
        self,
        db: aiosqlite.Connection,
        schedule: Schedule,
        when: datetime,
        key: str,
        state: _PlanState,
    ) -> OutboxEntry:
        base = OutboxEntry(
            key=key,
            kind="thread",
            guild_id=schedule.guild_id,
            channel_id=schedule.channel_id,
            post=Post(title="", body="", topic=schedule.topic_slug),
            due_at=when,
            schedule_id=schedule.id,
        )
        topic = next((t for t in state.topics if t.slug == schedule.topic_slug), None)
        if topic is None:
            return _failed(
                base,
                f"topic {schedule.topic_slug!r} is no longer in the catalogue: cancel schedule "
                f"#{schedule.id} and schedule another topic",
            )
        styles = self.prompts.styles("thread")
        if not styles:
            return _failed(base, "there is no usable thread template: run `vgbot content check`")
        rows = list(
            await db.execute_fetchall(
                "SELECT count(*) FROM outbox WHERE schedule_id = ? AND state IN (?, ?, ?)",
                (schedule.id, PENDING, SENDING, SENT),
            )
        )
        style = pick_style(styles, schedule.id + int(rows[0][0]))
        context = Context(
            when=when.astimezone(zone(schedule.tz)),
            guild_name=schedule.guild_name,
            topic=topic,
            episode=await self._episode(state, topic.slug),
            thread_title=schedule.title,
        )
        return await self._rendered(base, "thread", style, context)

    async def _rendered(
        self, base: OutboxEntry, kind: str, style: str, context: Context
    ) -> OutboxEntry:
        try:
            rendered = self.prompts.render(kind, style, context)
        except RenderError as exc:
            return _failed(base, f"the template does not render: {exc.problem}")
        topic = context.topic.slug if context.topic else ""
        post = Post(title=rendered.title, body=rendered.body, topic=topic, style=style)
        return replace(base, post=post)


def _skipped(
    key: str,
    kind: str,
    guild_id: int,
    channel_id: int,
    when: datetime,
    now: datetime,
    grace: timedelta,
    schedule_id: int | None = None,
) -> OutboxEntry:
    late = now - when
    if late > grace:
        reason = (
            f"missed: {_age(late)} late when the bot next looked (was it down?), more than "
            f"the grace window of {_age(grace)}, so it was not posted late"
        )
    else:
        reason = "superseded by a later occurrence that was also missed: only the newest posts"
    return _not_posted(key, kind, guild_id, channel_id, when, reason, schedule_id)


def _not_in_server(
    key: str,
    kind: str,
    guild_id: int,
    channel_id: int,
    when: datetime,
    schedule_id: int | None = None,
) -> OutboxEntry:
    """An occurrence in a server that removed the bot: not tried (it would fail each time)."""
    return _not_posted(key, kind, guild_id, channel_id, when, NOT_IN_SERVER, schedule_id)


def _not_posted(
    key: str,
    kind: str,
    guild_id: int,
    channel_id: int,
    when: datetime,
    reason: str,
    schedule_id: int | None,
) -> OutboxEntry:
    return OutboxEntry(
        key=key,
        kind=kind,
        guild_id=guild_id,
        channel_id=channel_id,
        post=Post(title="", body=""),
        due_at=when,
        state=SKIPPED,
        schedule_id=schedule_id,
        last_error=reason,
    )


def _failed(entry: OutboxEntry, error: str) -> OutboxEntry:
    return replace(entry, state=FAILED, last_error=error)


def _due_now(entry: OutboxEntry, now: datetime) -> OutboxEntry:
    return replace(entry, due_at=now)


__all__ = [
    "CatalogueTopics",
    "Listing",
    "Preview",
    "ScheduleView",
    "SchedulingError",
    "SchedulingService",
    "TopicSource",
    "WeeklyView",
    "find_topic",
]

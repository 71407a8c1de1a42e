"""Feed use cases: import a podcast feed, watch it for releases, announce them, explain.

One read of a feed (`FeedService.read`) is: a conditional GET, a parse (bot.feeds.parse), the
transcripts and chapters of new or changed items (fetched a few at a time), the episodes
stored in the catalogue (answerable at once), then ONE transaction recording the items, why
each was or was not announced, and the outbox rows of the announcements (bot.store.feeds).
The outbox's publisher posts them exactly once, each whole in its first send (artwork, listen
button, forum tags, the guild's role); `apply_edits` edits a posted message whenever the episode
changes. Each guild's announcement channel, role and grace window are its /config settings
(bot.store.guild_config), over the bot-wide ones.

Identity and dedupe (docs/feeds.md): an item is its guid, else its audio URL, else its
normalised title and number (bot.feeds.parse.identity_key). An item that leaves the feed is
kept. The first read of a feed stores its back catalogue silently; after downtime, items
released inside the grace window are announced one by one and older ones in one summary.

Pure policy (`release_decision`, the texts) is separate from the I/O; `now` is always passed
in. This module loads neither aiohttp nor discord: fetching comes in as a `Fetcher`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, Protocol

from bot.clock import Clock
from bot.core import query
from bot.core.models import Episode, Passage, Problem, Topic
from bot.core.render import Context, Prompts, RenderError, episode_name, episode_url
from bot.core.schedule import format_discord_timestamp
from bot.core.text import MESSAGE_CONTENT, THREAD_NAME, escape_markdown, quote, truncate
from bot.core.transcripts import parse_transcript
from bot.core.urls import BUTTON_URL_MAX, web_url, without_secrets
from bot.feeds.addresses import is_public
from bot.feeds.parse import (
    FEED_FORMAT,
    MAX_FEED_BYTES,
    FeedItem,
    FeedResult,
    parse_chapters,
    parse_feed,
    ranked_transcripts,
)
from bot.services.publisher import (
    ANNOUNCE,
    DEFAULT_SEARCH_MARGIN,
    RESTORE_WATCH,
    Found,
    GuildRetry,
    PostError,
    PostRetry,
    marker_for,
)
from bot.settings import Settings
from bot.store import catalog
from bot.store.db import Store
from bot.store.directory import Directory, load_directory
from bot.store.feeds import (
    AnnounceChannel,
    Announcement,
    Decision,
    FeedRead,
    FeedRow,
    FeedStore,
    KnownItem,
    Look,
    announcement_key,
)
from bot.store.guild_config import Defaults, Effective, GuildSettings
from bot.store.outbox import SENT, Outbox, OutboxEntry, Post

if TYPE_CHECKING:
    from bot.feeds.fetch import FetchResult

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # stage, done, total

MAX_EXTRAS_BYTES = 20 * 1024 * 1024  # transcripts and chapters files
DEFAULT_STYLE = "new-episode"
LISTEN = "Listen"  # the label of the link button under an announcement
SUMMARY_TITLE = "While we were away"

# Steps recorded for /feed why (docs/feeds.md lists them).
SEED, IMPORTED, STORED, CHANGED, KEPT, CONTENT = (
    "seed",
    "import",
    "stored",
    "changed",
    "kept",
    "content",
)
ANNOUNCED, AWAY, BACKDATED, NOBODY, RENDER = "announce", "away", "backdated", "nobody", "render"
REMOVED, RETURNED, EXTRAS = "removed", "returned", "extras"


class Fetcher(Protocol):
    """bot.feeds.fetch.fetch with its session bound (functools.partial(fetch, session))."""

    def __call__(
        self,
        url: str,
        *,
        etag: str | None = ...,
        last_modified: str | None = ...,
        max_bytes: int = ...,
        timeout: float = ...,
        public_only: bool = ...,
    ) -> Awaitable[FetchResult]: ...


class Delay(Protocol):
    """bot.feeds.fetch.Backoff."""

    def delay(
        self, failures: int, rng: random.Random, *, retry_after: float | None = None
    ) -> float: ...


class AnnouncementEditor(Protocol):
    """Our port to Discord for announcement edits (bot/chat/feed_cog.py adapts discord.py).
    Raises PostError (give up on this look) or PostRetry (try again later)."""

    async def edit_announcement(
        self, channel_id: int, message_id: int, thread_id: int | None, look: Look, marker: str
    ) -> None: ...


class PostFinder(Protocol):
    """Our port to the bot's own posts on Discord (the publisher's Poster has it): the message
    (or forum post) carrying `marker` in the channel since `since`, or None. Raises PostError
    (cannot look there) or PostRetry (try again later)."""

    async def find_marked(self, channel_id: int, marker: str, since: datetime) -> Found | None: ...


@dataclass(frozen=True)
class FeedConfig:
    interval: float = 900.0  # seconds between polls of a healthy feed
    grace: timedelta = timedelta(hours=6)  # the default; a guild's /config grace wins
    max_bytes: int = MAX_FEED_BYTES
    timeout: float = 30.0
    extras_max_bytes: int = MAX_EXTRAS_BYTES
    extras_timeout: float = 30.0
    concurrency: int = 8  # transcript and chapter downloads at a time
    extras_retry_cap: timedelta = timedelta(days=1)  # longest wait between tries of a missing file
    backdated_slack: timedelta = timedelta(days=1)  # dates are days: a day's leeway
    announce_role_id: int | None = None  # the default; a guild's /config role wins
    style: str = DEFAULT_STYLE
    # Transcripts and chapters only from public addresses? None: when the feed itself is on
    # one (a feed on the bot's own network may link to files there too).
    extras_public_only: bool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedConfig:
        return cls(
            interval=settings.feed_interval,
            grace=timedelta(seconds=settings.grace_window),
            announce_role_id=settings.announce_role_id,
        )


@dataclass
class ReadReport:
    """What one read of a feed did. `error` set: nothing stored changed."""

    url: str
    title: str = ""
    error: str | None = None
    warning: str = ""
    not_modified: bool = False
    same_body: bool = False  # the body read in full before, and nothing due: not parsed again
    status: int | None = None
    items: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    from_content: int = 0  # items content/ already describes (its notes are kept)
    removed: int = 0
    transcripts: int = 0
    extras_failed: int = 0
    announced: int = 0  # outbox rows planned (one per guild and item)
    summarised: int = 0  # items in "while we were away" posts
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    next_poll_at: datetime | None = None
    episodes: list[Episode] = field(default_factory=list)  # with keep_episodes=True

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class EditReport:
    edited: int = 0
    failed: int = 0
    retry: int = 0


# ---------------------------------------------------------------- pure policy


def release_decision(
    released: date | None,
    last_read: datetime,
    now: datetime,
    grace: timedelta,
    slack: timedelta = timedelta(days=1),
) -> tuple[str, str]:
    """Announce a new item now (ANNOUNCED), in the "while we were away" summary (AWAY), or
    not at all (BACKDATED)? `last_read` is the last time the feed was read without it.

    The item appeared after `last_read`. Feeds give days, not times: a dated item is taken to
    be released at the end of its day, but not before `last_read` (a feed may date an item
    earlier than it appears) nor after `now`. An item without a date is taken to be as old as
    it can be (`last_read`): after a long outage it goes in the summary rather than being lost
    or flooding the channel. Older than `grace` by that estimate: the summary.
    """
    if released is not None:
        end_of_day = datetime.combine(released + timedelta(days=1), clock_time(0), UTC)
        if end_of_day + slack < last_read:
            return BACKDATED, (
                f"dated {released.isoformat()}, more than a day before the feed was last read "
                f"({last_read:%Y-%m-%d %H:%M} UTC): an old episode added late, not announced"
            )
        estimate = min(max(end_of_day, last_read), now)
    else:
        estimate = last_read
    age = now - estimate
    if age <= grace:
        # The estimate is deliberately late (a day's end): say what is known instead.
        dated = f"dated {released.isoformat()}" if released is not None else "undated"
        return (
            ANNOUNCED,
            f"new: {dated}, not in the feed {_span(now - last_read)} ago; inside the grace "
            f"window ({_span(grace)})",
        )
    return AWAY, (
        f"released up to {_span(age)} ago, outside the grace window ({_span(grace)}): "
        'listed in the "while we were away" post'
    )


def _span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def extras_retry_delay(failures: int, interval: float, cap: timedelta) -> timedelta:
    """How long after its `failures`-th failed try in a row a missing transcript or chapters
    file is tried again: the next poll first, then twice as long each time, up to `cap`, so a
    late upload is picked up soon and a dead link is not asked for every poll."""
    steps = max(0, failures - 1)
    if steps >= 40:  # 2**40 polls is past any cap; avoids a huge float
        return cap
    return min(cap, timedelta(seconds=interval * 2**steps))


def body_key(body: bytes) -> str:
    """What a body read in full is noted as. The same bytes read by the same FEED_FORMAT give
    the same items, so a host that ignores conditional requests costs a hash, not a parse."""
    return f"{FEED_FORMAT}:{hashlib.sha256(body).hexdigest()}"


def summary_key(feed_id: int, identities: Sequence[str], guild_id: int) -> str:
    digest = hashlib.sha256("\n".join(sorted(identities)).encode()).hexdigest()[:20]
    return f"away:{feed_id}:{digest}:{guild_id}"


def listen_url(episode: Episode) -> str | None:
    """The Listen button's link: the audio, else the episode's page (the first that a button
    can hold)."""
    for url in (episode.link("audio"), episode_url(episode)):
        fitting = web_url(url, limit=BUTTON_URL_MAX)
        if fitting is not None:
            return fitting
    return None


def summary_look(
    episodes: Sequence[Episode], show: str, image: str | None, role_id: int | None
) -> Look:
    """One post listing what was released while the bot was not watching."""
    count = len(episodes)
    noun = "episode" if count == 1 else "episodes"
    title = truncate(f"{SUMMARY_TITLE}: {count} new {noun}", THREAD_NAME)
    head = (f"<@&{role_id}>\n" if role_id else "") + (
        f"📻 **{SUMMARY_TITLE}**, {escape_markdown(show) or 'the show'} published {count} {noun}:"
    )
    tail = "\nAsk about any of them with `/episode`."
    budget = MESSAGE_CONTENT - 40  # room for the outbox marker line
    lines: list[str] = []
    ordered = sorted(episodes, key=lambda e: (e.released or date.min, e.number or 0))
    used = len(head) + len(tail) + len(f"\n…and {count} more.")
    for i, ep in enumerate(ordered):
        when = f" ({ep.released:%d %B %Y})" if ep.released else ""
        url = listen_url(ep)
        line = f"- **{escape_markdown(episode_name(ep))}**{when}" + (f" <{url}>" if url else "")
        if used + len(line) + 1 > budget:
            lines.append(f"…and {count - i} more.")
            break
        used += len(line) + 1
        lines.append(line)
    return Look(title=title, body="\n".join([head, *lines]) + "\n" + tail, image=image)


def _pick_style(prompts: Prompts, wanted: str, fallback: str) -> str | None:
    styles = prompts.styles(ANNOUNCE)
    for style in (wanted, fallback):
        if style in styles:
            return style
    return styles[0] if styles else None


# ---------------------------------------------------------------- texts for moderators


def _plain(text: str) -> str:
    """Text from the feed or its server (titles, errors, headers) shown as written: a hostile
    feed could otherwise put a masked link in the bot's own answer."""
    return escape_markdown(without_secrets(text))


def _link(url: str) -> str:
    """A feed's URL as a link, or as text with its key hidden (see without_secrets)."""
    shown = without_secrets(url)
    return f"<{url}>" if shown == url else f"`{shown}` (its key hidden)"


def status_text(
    feed: FeedRow,
    known: int,
    now: datetime,
    channel: AnnounceChannel | None,
    watched: str | None = None,
) -> str:
    """/feed status: one feed's health in a few lines. `watched`: the URL the bot polls, when
    it is not this feed's (an import, or the feed before `feed_url` changed); '' for none."""

    def at(dt: datetime | None) -> str:
        return "never" if dt is None else format_discord_timestamp(dt, "R")

    state = "✅ healthy" if feed.healthy else "⚠️ unhealthy"
    lines = [f"**{_plain(feed.title or feed.url)}** ({state})", f"Feed: {_link(feed.url)}"]
    if feed.last_fetch_at is None:
        lines.append("Not read yet.")
    else:
        if feed.last_not_modified:
            how = "304 Not Modified (unchanged since the last read)"
        elif feed.same_body:
            answer = "read from a file" if feed.last_status is None else f"HTTP {feed.last_status}"
            how = (
                f"{answer}, the same bytes as read in full {at(feed.body_read_at)} "
                "(not parsed again)"
            )
        elif feed.last_status is not None:
            how = f"HTTP {feed.last_status}"
        else:
            how = "no HTTP answer" if feed.last_error else "read from a file"
        lines.append(f"Last fetch: {at(feed.last_fetch_at)}: {how}.")
        lines.append(f"Last good read: {at(feed.last_ok_at)}.")
    validators = [f"ETag {feed.etag}" if feed.etag else "", feed.last_modified or ""]
    shown = _plain(", ".join(v for v in validators if v))
    lines.append(
        f"Conditional GET: {shown}." if shown else "Conditional GET: the server sends no ETag."
    )
    if feed.last_error:
        failed = f" ({feed.failures} failed reads in a row)" if feed.failures else ""
        lines.append(f"Last error{failed}: {_plain(feed.last_error)}")
    if feed.problems:
        lines.append(f"Problems in the last read: {len(feed.problems)} (see `/feed why`).")
    if watched is not None and watched != feed.url:
        # Its stored next poll time would pass with nothing happening.
        instead = f"the bot watches {_link(watched)}" if watched else "no feed is watched"
        lines.append(f"Not polled: {instead} (`feed_url`).")
    else:
        # No time set yet means due: the watcher reads it at its next step (one runs at start).
        upcoming = (
            "at the watcher's next step" if feed.next_poll_at is None else at(feed.next_poll_at)
        )
        lines.append(f"Next poll: {upcoming}.")
    lines.append(f"Episodes known: {known} ({feed.items_in_feed} in the feed now).")
    if not feed.seeded:
        lines.append("The back catalogue is stored silently on the first good read.")
    if channel is None:
        lines.append(
            "Announcements: off here (an admin turns them on with "
            "`/config channel which:announcements`)."
        )
    else:
        lines.append(f"Announcements: <#{channel.channel_id}>.")
    return "\n".join(lines)


def _decision_line(d: Decision) -> str:
    when = format_discord_timestamp(d.at, "f") if d.at else ""
    return f"- {when} **{d.step}**: {d.detail}"


def why_text(
    feed: FeedRow, item: KnownItem, decisions: Sequence[Decision], posts: Sequence[Announcement]
) -> str:
    """/feed why: what happened to one item, step by step."""
    number = f"Episode {item.number}: " if item.number is not None else ""
    lines = [
        f"**{number}{_plain(item.title)}** in {_plain(feed.title or feed.url)}",
        f"Identity: `{item.identity}`",
    ]
    if not item.in_feed:
        lines.append("No longer in the feed (kept in the catalogue).")
    lines += [_decision_line(d) for d in decisions] or ["- no decision recorded"]
    for post in posts:
        where = f"<#{post.channel_id}>"
        if post.state == SENT:
            edit = ""
            if post.wanted_hash != post.applied_hash:
                edit = " (an edit is pending" + (
                    f": {_plain(post.last_error)})" if post.last_error else ")"
                )
            elif post.last_error:
                edit = f" (last edit failed: {_plain(post.last_error)})"
            lines.append(f"- posted in {where}, message {post.message_id}{edit}")
        else:
            error = f": {_plain(post.outbox_error)}" if post.outbox_error else ""
            lines.append(f"- announcement in {where} is **{post.state}**{error}")
    if not feed.healthy:
        lines.append(f"The feed is unhealthy now: {_plain(feed.last_error)}")
    return truncate("\n".join(lines), MESSAGE_CONTENT)


def not_found_text(text: str, feeds: Sequence[FeedRow]) -> str:
    if not feeds:
        return (
            "No feed is configured (setting `feed_url`, or `vgbot import-feed`), so no item "
            f"matching {quote(text)} was seen."
        )
    lines = [f"No item matching {quote(text)} was seen in the feed."]
    for feed in feeds:
        if feed.last_error:
            lines.append(
                f"{_plain(feed.title or feed.url)}: the last read failed: {_plain(feed.last_error)}"
            )
        for problem in feed.problems[:5]:
            lines.append(f"- {_plain(problem)}")
        if feed.last_fetch_at is None:
            lines.append(f"{_plain(feed.url)} has not been read yet.")
    return truncate("\n".join(lines), MESSAGE_CONTENT)


# ---------------------------------------------------------------- the service


@dataclass
class _Work:
    """One item to store: what the feed says, and the episode built from it."""

    item: FeedItem
    known: KnownItem | None
    episode: Episode
    complete: bool = True
    by_content: bool = False
    failure: str = ""  # why the transcript or chapters could not be fetched


class FeedService:
    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        *,
        config: FeedConfig | None = None,
        prompts: Prompts | None = None,
        backoff: Delay | None = None,
        rng: random.Random | None = None,
        guilds: GuildSettings | None = None,
        finder: PostFinder | None = None,
    ) -> None:
        """`guilds`: each server's /config settings; without it, `config`'s grace and role
        are every server's. `finder`: after a restore, releases that look missed are looked
        for on Discord before they are listed as such."""
        self.store = store
        self.feeds = FeedStore(store)
        self.fetcher = fetcher
        self.config = config or FeedConfig()
        self.prompts = prompts
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.finder = finder
        self.guilds = guilds or GuildSettings(
            store,
            Defaults(
                grace_window=self.config.grace.total_seconds(),
                announce_role=self.config.announce_role_id,
            ),
        )

    async def subscribers(self) -> list[AnnounceChannel]:
        """The guilds that asked for release announcements, with their settings."""
        return [_subscriber(e) for e in await self.guilds.announce_channels()]

    # ---- reading a feed ----

    async def read(
        self,
        url: str,
        now: datetime,
        *,
        announce: bool = True,
        conditional: bool = True,
        progress: Progress | None = None,
        keep_episodes: bool = False,
    ) -> ReadReport:
        """Read the feed at `url` (http(s), file:// or a path) and store what is new.

        announce=False (the importer): new items are stored, never announced. Never raises for
        anything the feed or the network does: the report's `error` says what went wrong, and
        then nothing stored has changed.
        """
        started = time.perf_counter()
        report = ReadReport(url)
        feed = await self.feeds.ensure_feed(url, now)
        tick = progress or (lambda stage, done, total: None)
        tick("download", 0, 1)
        result = await self.fetcher(
            url,
            etag=feed.etag if conditional else None,
            last_modified=feed.last_modified if conditional else None,
            max_bytes=self.config.max_bytes,
            timeout=self.config.timeout,
        )
        tick("download", 1, 1)
        report.status = result.status
        try:
            if (
                result.ok
                and result.not_modified
                and not feed.warning  # not last read leniently
                and await self.feeds.extras_due(feed.id, now)
            ):
                # Unchanged, but a transcript or chapters file that failed is due another try:
                # the feed has the links, so read it whole this once. (A feed read leniently
                # keeps its items as they were: reading it again would retry nothing, every
                # poll. Fixing it changes its body, and that read tries them.)
                log.info("feed %s: not modified; read in full to retry missing extras", url)
                result = await self.fetcher(
                    url, max_bytes=self.config.max_bytes, timeout=self.config.timeout
                )
                report.status = result.status
            if not result.ok:
                await self._failed(feed, now, report, result.error or "failed", result)
            elif result.not_modified:
                await self._unchanged(feed, now, result, report, same_body=False)
            else:
                key = await asyncio.to_thread(body_key, result.body or b"")
                if (
                    conditional  # an import someone asked for reads it all
                    and not keep_episodes
                    and key == feed.body_hash  # '' after a lenient or failed read
                    and not await self.feeds.extras_due(feed.id, now)
                ):
                    # The host ignores conditional requests: as good as a 304.
                    await self._unchanged(feed, now, result, report, same_body=True)
                else:
                    await self._read_body(
                        feed,
                        now,
                        result,
                        report,
                        announce,
                        tick,
                        keep_episodes,
                        not conditional,
                        key,
                    )
        except PostRetry as exc:
            # Discord could not say whether a release was announced before a restore: nothing
            # is recorded, and the next read plans it again.
            await self._failed(
                feed,
                now,
                report,
                f"could not look on Discord for announcements made before the restore ({exc}); "
                "read again later",
                result,
            )
        except Exception as exc:
            # A bug on odd input must cost one read, never the watcher; nothing half-written
            # stays (each write is one transaction).
            log.exception("feed %s: unexpected error while reading it", url)
            await self._failed(
                feed,
                now,
                report,
                f"internal error ({type(exc).__name__}): see the bot's log",
                result,
            )
        report.seconds = time.perf_counter() - started
        self._log(report)
        return report

    async def _unchanged(
        self,
        feed: FeedRow,
        now: datetime,
        result: FetchResult,
        report: ReadReport,
        *,
        same_body: bool,
    ) -> None:
        """A 304, or (same_body) the body read in full before: nothing to parse, the feed's
        warning stays (a body with one is never skipped: its body_hash is '')."""
        report.not_modified, report.same_body = not same_body, same_body
        report.title = feed.title
        report.next_poll_at = now + timedelta(seconds=self.config.interval)
        await self.feeds.record(
            FeedRead(
                feed.id,
                now,
                result.status,
                not_modified=not same_body,
                etag=result.etag,
                last_modified=result.last_modified,
                next_poll_at=report.next_poll_at,
                warning=feed.warning,
                same_body=same_body,
            )
        )

    async def _failed(
        self, feed: FeedRow, now: datetime, report: ReadReport, error: str, result: FetchResult
    ) -> None:
        report.error = error
        failures = feed.failures + 1
        wait = (
            self.backoff.delay(failures, self.rng, retry_after=result.retry_after)
            if self.backoff is not None
            else self.config.interval
        )
        report.next_poll_at = now + timedelta(seconds=wait)
        await self.feeds.record_failure(
            feed.id, now, status=result.status, error=error, next_poll_at=report.next_poll_at
        )
        log.error("feed %s: %s (attempt %d; next in %.0f s)", feed.url, error, failures, wait)

    async def _read_body(
        self,
        feed: FeedRow,
        now: datetime,
        result: FetchResult,
        report: ReadReport,
        announce: bool,
        tick: Progress,
        keep_episodes: bool,
        retry_now: bool,
        body_hash: str,
    ) -> None:
        """retry_now: try every missing transcript and chapters file now (an import someone
        asked for), not only those whose backoff is over. body_hash: the body's body_key, noted
        with the read unless it was read leniently (its items are kept as they were)."""
        tick("parse", 0, 1)
        parsed: FeedResult = await asyncio.to_thread(
            parse_feed, result.body or b"", url=feed.url, max_bytes=self.config.max_bytes
        )
        tick("parse", 1, 1)
        report.title = parsed.title
        report.problems = list(parsed.problems)
        if not parsed.items and parsed.problems:
            error = "; ".join(str(p) for p in parsed.problems[:3])
            await self._failed(feed, now, report, f"no episode could be read: {error}", result)
            return
        warning = "; ".join(str(p) for p in parsed.problems if _is_document_problem(p))
        report.warning = warning
        known = await self.feeds.items(feed.id)
        content = await self.feeds.content_claims()
        read = FeedRead(
            feed.id,
            now,
            result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            title=parsed.title,
            image=parsed.image,
            link=parsed.link,
            warning=warning,
            next_poll_at=now + timedelta(seconds=self.config.interval),
            seeded=True,
            items_in_feed=len(parsed.items),
            problems=[str(p) for p in parsed.problems if not _is_document_problem(p)],
            body_hash="" if warning else body_hash,
        )
        report.next_poll_at = read.next_poll_at
        report.items = len(parsed.items)

        work: list[_Work] = []
        present: set[str] = set()
        twins = _renamed_items(parsed.items, known)
        for item in parsed.items:
            twin = twins.get(item.identity)
            if twin is not None:
                note = f"the same episode under a new guid ({item.identity}): kept as it was"
                read.decisions.append(Decision(twin.identity, CHANGED, note))
                item = _as_known(item, twin)
            present.add(item.identity)
            old = known.get(item.identity)
            ep = item.episode
            by_content = content.claims(ep)
            waiting = (
                old is not None
                and not retry_now
                and old.extras_retry_at is not None
                and now < old.extras_retry_at
            )
            if (
                old is not None
                and old.content_hash == item.content_hash
                and (old.complete or waiting)
            ):
                report.unchanged += 1
                read.seen.append(item.identity)
                if not old.in_feed:
                    read.decisions.append(Decision(item.identity, RETURNED, "back in the feed"))
                continue
            if old is not None and warning and old.content_hash != item.content_hash:
                # A leniently read document may have lost details: keep the stored version.
                # (Unchanged but for its missing extras, it goes on: they are tried again.)
                report.unchanged += 1
                read.seen.append(item.identity)
                read.decisions.append(
                    Decision(item.identity, KEPT, f"changed in a feed with problems ({warning})")
                )
                continue
            work.append(_Work(item, old, _with_identity(item), by_content=by_content))
        for identity, old in known.items():
            if old.in_feed and identity not in present:
                report.removed += 1
                read.removed.append(identity)
                read.decisions.append(
                    Decision(identity, REMOVED, "no longer in the feed; the episode is kept")
                )

        await self._complete(work, report, tick, feed.url)
        stored = [w for w in work if not w.by_content]
        tick("store", 0, 1)
        if stored:
            await catalog.upsert_episodes(self.store, [w.episode for w in stored], feed.url)
        tick("store", 1, 1)

        subscribers = await self.subscribers() if announce and feed.seeded else []
        fresh: list[_Work] = []
        for w in work:
            item = w.item
            key = catalog.feed_key(w.episode, feed.url)
            tries = 0 if w.complete else (w.known.extras_failures if w.known else 0) + 1
            wait = extras_retry_delay(tries, self.config.interval, self.config.extras_retry_cap)
            read.items.append(
                KnownItem(
                    identity=item.identity,
                    episode_key=key,
                    number=w.episode.number,
                    title=w.episode.title,
                    released=w.episode.released.isoformat() if w.episode.released else None,
                    content_hash=item.content_hash,
                    complete=w.complete,
                    in_feed=True,
                    first_seen_at=w.known.first_seen_at if w.known else now,
                    last_seen_at=now,
                    extras_failures=tries,
                    extras_retry_at=None if w.complete else now + wait,
                )
            )
            if w.by_content:
                report.from_content += 1
                read.decisions.append(
                    Decision(
                        item.identity,
                        CONTENT,
                        "content/ describes this episode: its notes "
                        "are kept, the feed's version is not stored",
                    )
                )
            if not w.complete:
                read.decisions.append(
                    Decision(
                        item.identity,
                        EXTRAS,
                        f"{_plain(w.failure)}; tried again in {_span(wait)} ({tries} failed "
                        "in a row)",
                    )
                )
            if w.known is not None:
                if w.known.content_hash == item.content_hash:
                    report.unchanged += 1  # only its transcript or chapters were tried again
                    continue
                report.changed += 1
                if not w.by_content:
                    read.decisions.append(
                        Decision(item.identity, CHANGED, "updated in the catalogue")
                    )
                continue
            report.added += 1
            if not w.by_content:
                read.decisions.append(Decision(item.identity, STORED, f"stored as `{key}`"))
            if not announce:
                read.decisions.append(
                    Decision(
                        item.identity,
                        IMPORTED,
                        "stored by `vgbot import-feed`: imports never announce",
                    )
                )
            elif not feed.seeded:
                read.decisions.append(
                    Decision(
                        item.identity,
                        SEED,
                        "the back catalogue, stored silently on the feed's first read",
                    )
                )
            else:
                fresh.append(w)
        if fresh or any(w.known is not None for w in work):
            await self._plan(feed, now, read, report, fresh, work, subscribers)
        await self.feeds.record(read)
        if keep_episodes:
            report.episodes = await self._episodes(feed.url, parsed, work)

    async def _complete(
        self, work: list[_Work], report: ReadReport, tick: Progress, feed_url: str
    ) -> None:
        """Fetch transcripts and chapters, a few at a time; a failure keeps what was stored."""
        todo = [w for w in work if not w.by_content and _needs_extras(w.item)]
        public_only = self.config.extras_public_only
        if public_only is None:  # a DNS lookup only when there is something to fetch
            public_only = bool(todo) and await is_public(feed_url)
        done = 0
        gate = asyncio.Semaphore(max(1, self.config.concurrency))
        tick("transcripts", 0, len(todo))

        async def one(w: _Work) -> None:
            nonlocal done
            async with gate:
                await self._extras(w, report, public_only)
            done += 1
            tick("transcripts", done, len(todo))

        await asyncio.gather(*(one(w) for w in todo))

    async def _extras(self, w: _Work, report: ReadReport, public_only: bool) -> None:
        item, ep = w.item, w.episode
        transcript: tuple[Passage, ...] | None = None
        chapters = ep.chapters
        failures: list[str] = []
        # Best format first; when one fails (gone, or nothing readable in it), the next.
        tried: list[str] = []
        for url, kind in ranked_transcripts(item.transcript_urls):
            got = await self._get(url, public_only)
            if not got.ok or got.body is None:
                tried.append(f"transcript {url}: {got.error}")
                continue
            passages, problems = await asyncio.to_thread(
                parse_transcript,
                url,
                got.body,
                got.content_type or kind or None,
                declared=kind or None,
            )
            report.problems += problems
            if not passages:
                why = problems[0].message if problems else "no transcript text in it"
                tried.append(f"transcript {url}: {why}")
                continue
            transcript = passages
            report.transcripts += 1
            if tried:
                report.problems.append(
                    Problem(
                        item.episode.source or "feed",
                        f"{'; '.join(tried)}; used {url} instead",
                        line=item.line,
                    )
                )
            break
        else:
            failures += tried
        if not chapters and item.chapters_url:
            got = await self._get(item.chapters_url, public_only)
            if got.ok and got.body is not None:
                found, problems = parse_chapters(
                    got.body, got.content_type or item.chapters_type, url=item.chapters_url
                )
                report.problems += problems
                chapters = found
            else:
                failures.append(f"chapters {item.chapters_url}: {got.error}")
        if failures:
            w.complete = False
            w.failure = "; ".join(failures)
            report.extras_failed += 1
            report.problems.append(
                Problem(item.episode.source or "feed", "; ".join(failures), line=item.line)
            )
            if w.known is not None:  # keep what the catalogue has rather than lose it
                stored = await self._stored(w.known.episode_key)
                if stored is not None:
                    transcript = transcript if transcript is not None else stored.transcript
                    chapters = chapters or stored.chapters
        w.episode = replace(ep, transcript=transcript or (), chapters=chapters)

    async def _get(self, url: str, public_only: bool) -> FetchResult:
        return await self.fetcher(
            url,
            max_bytes=self.config.extras_max_bytes,
            timeout=self.config.extras_timeout,
            public_only=public_only,
        )

    async def _stored(self, key: str) -> Episode | None:
        row = await self.store.fetchone("SELECT id FROM episodes WHERE key = ?", (key,))
        if row is None:
            return None
        return await catalog.get_episode(self.store, episode_id=int(row[0]), with_transcript=True)

    async def _episodes(self, url: str, parsed: FeedResult, work: list[_Work]) -> list[Episode]:
        """Every item's episode with its transcript (for --write-content), in feed order."""
        built = {w.item.identity: w.episode for w in work}
        out: list[Episode] = []
        for item in parsed.items:
            ep = built.get(item.identity)
            if ep is None:
                ep = await self._stored(catalog.feed_key(_with_identity(item), url))
            out.append(ep or _with_identity(item))
        return out

    # ---- announcements ----

    async def _plan(
        self,
        feed: FeedRow,
        now: datetime,
        read: FeedRead,
        report: ReadReport,
        fresh: list[_Work],
        work: list[_Work],
        subscribers: list[AnnounceChannel],
    ) -> None:
        topics = {t.slug: t for t in await catalog.list_topics(self.store)}
        last_read = feed.last_ok_at or feed.added_at
        away: dict[int, list[_Work]] = {}  # guild id → items for its "while we were away"
        image = read.image or feed.image
        slack = self.config.backdated_slack
        for w in fresh:
            identity = w.item.identity
            released = w.episode.released
            # Backdated or not is about the item; announced or summarised, about each guild's
            # grace window.
            step, detail = release_decision(released, last_read, now, self.config.grace, slack)
            if step == BACKDATED:
                read.decisions.append(Decision(identity, step, detail))
                continue
            if not subscribers:
                read.decisions.append(
                    Decision(
                        identity,
                        NOBODY,
                        "no server asked for announcements (`/config channel which:announcements`)",
                    )
                )
                continue
            shown = await self._shown(w)
            for channel in subscribers:
                grace = self.config.grace if channel.grace is None else channel.grace
                step, detail = release_decision(released, last_read, now, grace, slack)
                where = f"<#{channel.channel_id}>"
                if step != ANNOUNCED:
                    read.decisions.append(
                        Decision(identity, step, f"{detail} in {where}", guild_id=channel.guild_id)
                    )
                    away.setdefault(channel.guild_id, []).append(w)
                    continue
                look = self._look(shown, w.item.image or image, channel, now, topics)
                if isinstance(look, str):
                    read.decisions.append(
                        Decision(identity, RENDER, look, guild_id=channel.guild_id)
                    )
                    continue
                key = announcement_key(feed.id, identity, channel.guild_id)
                read.posts.append((self._entry(key, channel, look, now), identity, look))
                read.decisions.append(
                    Decision(
                        identity,
                        ANNOUNCED,
                        f"{detail}; posting in {where}",
                        guild_id=channel.guild_id,
                    )
                )
        summarised: set[str] = set()
        for channel in subscribers:
            missed = away.get(channel.guild_id)
            if not missed:
                continue
            announced = await self._announced_before_restore(feed, channel, missed, now)
            for w in missed:
                if w.item.identity not in announced:
                    continue
                # Its own announcement row: the publisher finds that post and records it.
                look = self._look(await self._shown(w), w.item.image or image, channel, now, topics)
                if isinstance(look, str):
                    read.decisions.append(
                        Decision(w.item.identity, RENDER, look, guild_id=channel.guild_id)
                    )
                    continue
                key = announcement_key(feed.id, w.item.identity, channel.guild_id)
                read.posts.append((self._entry(key, channel, look, now), w.item.identity, look))
                read.decisions.append(
                    Decision(
                        w.item.identity,
                        ANNOUNCED,
                        f"announced in <#{channel.channel_id}> before the database was restored "
                        "from a backup (its post is there): not listed as missed",
                        guild_id=channel.guild_id,
                    )
                )
            missed = [w for w in missed if w.item.identity not in announced]
            if not missed:
                continue
            episodes = [await self._shown(w) for w in missed]
            identities = [w.item.identity for w in missed]
            summarised.update(identities)
            look = summary_look(episodes, read.title or feed.title, image, channel.role_id)
            key = summary_key(feed.id, identities, channel.guild_id)
            entry = self._entry(key, channel, look, now, open_thread=False)
            # Due a moment earlier: the older releases are posted before the newer ones' own.
            entry = replace(entry, due_at=now - timedelta(milliseconds=1))
            read.posts.append((entry, "", look))
        report.summarised = len(summarised)
        # Edits: items announced before whose look changed.
        by_guild = {c.guild_id: c for c in await self.subscribers()}
        for w in work:
            if w.known is None:
                continue
            posted = await self.feeds.announcements(feed.id, w.item.identity)
            if not posted:
                continue
            shown = await self._shown(w)
            for post in posted:
                channel = by_guild.get(post.guild_id) or AnnounceChannel(
                    post.guild_id, post.channel_id
                )
                look = self._look(shown, w.item.image or image, channel, now, topics)
                if isinstance(look, str):
                    read.decisions.append(
                        Decision(w.item.identity, RENDER, look, guild_id=post.guild_id)
                    )
                elif look.digest != post.wanted_hash:
                    read.restyled.append((post.outbox_key, look))
                    read.decisions.append(
                        Decision(
                            w.item.identity,
                            CHANGED,
                            f"the announcement in <#{post.channel_id}> will be edited",
                            guild_id=post.guild_id,
                        )
                    )
        report.announced = sum(1 for _, identity, _ in read.posts if identity)

    async def _announced_before_restore(
        self, feed: FeedRow, channel: AnnounceChannel, missed: list[_Work], now: datetime
    ) -> set[str]:
        """Identities of the releases `missed` in the guild that it announced after the backup
        the database was lately restored from (the restored database's last read is older
        than the release, so it looks missed): their announcements are on Discord, looked for
        by marker. Empty without a restore in the last week."""
        if self.finder is None:
            return set()
        marks = await Outbox(self.store).restore_marks()
        if marks is None or now - marks[0] > RESTORE_WATCH:
            return set()
        restored_at, taken_at = marks
        since = (taken_at or restored_at - RESTORE_WATCH) - DEFAULT_SEARCH_MARGIN
        posted: set[str] = set()
        for w in missed:
            marker = marker_for(announcement_key(feed.id, w.item.identity, channel.guild_id))
            try:
                found = await self.finder.find_marked(channel.channel_id, marker, since)
            except (PostError, GuildRetry) as exc:
                # Nothing can be read there (the summary's own post would fail the same way),
                # or not while Discord lists the server as down (the summary waits for it in
                # the outbox): listed as missed, as before; the other servers' reads go on.
                log.warning("cannot look for %s in channel %s: %s", marker, channel.channel_id, exc)
                continue
            if found is not None:
                posted.add(w.item.identity)
        return posted

    async def _shown(self, w: _Work) -> Episode:
        """The episode as the catalogue answers it: content/'s curated version if it has one."""
        ep = w.episode
        if w.by_content:
            curated = None
            if ep.number is not None:
                curated = await catalog.get_episode(self.store, number=ep.number)
            if curated is None:
                curated = await catalog.get_episode(self.store, slug=ep.slug)
            if curated is not None:
                return curated
        return ep

    def _look(
        self,
        ep: Episode,
        image: str | None,
        channel: AnnounceChannel,
        now: datetime,
        topics: dict[str, Topic],
    ) -> Look | str:
        """The announcement for one guild, or why it cannot be made."""
        if self.prompts is None:
            return "no templates loaded (prompts folder)"
        style = _pick_style(self.prompts, channel.style, self.config.style)
        if style is None:
            return "no usable announce template in the prompts folder"
        known = [topics[s] for s in ep.topics if s in topics]
        context = Context(
            when=now, guild_name=channel.guild_name, episode=ep, topic=known[0] if known else None
        )
        try:
            rendered = self.prompts.render(ANNOUNCE, style, context)
        except RenderError as exc:
            return f"the announce template failed: {exc}"
        role = channel.role_id
        body = (f"<@&{role}>\n" if role else "") + rendered.body
        return Look(
            title=rendered.title,
            body=body,
            image=image,
            listen_url=listen_url(ep),
            tags=tuple(t.title for t in known),
            role=role,
        )

    def _entry(
        self,
        key: str,
        channel: AnnounceChannel,
        look: Look,
        now: datetime,
        *,
        open_thread: bool = True,
    ) -> OutboxEntry:
        return OutboxEntry(
            key=key,
            kind=ANNOUNCE,
            guild_id=channel.guild_id,
            channel_id=channel.channel_id,
            post=Post(
                title=look.title,
                body=look.body,
                open_thread=open_thread,
                topic=look.tags[0] if look.tags else "",
                style=channel.style or self.config.style,
                image=look.image,
                link_url=look.listen_url,
                link_label=LISTEN if look.listen_url else "",
                tags=look.tags,
                mention_role=look.role,
            ),
            due_at=now,
        )

    # ---- edits ----

    async def apply_edits(self, editor: AnnouncementEditor, now: datetime) -> EditReport:
        """Make every posted announcement look as it should (artwork, button, tags, edits).
        Editing is idempotent, so a crash here at worst repeats an edit."""
        edited = failed = retry = 0
        for post in await self.feeds.edits_due():
            assert post.message_id is not None  # edits_due only lists posted ones
            try:
                await editor.edit_announcement(
                    post.channel_id,
                    post.message_id,
                    post.thread_id,
                    post.wanted,
                    marker_for(post.outbox_key),
                )
            except PostError as exc:
                await self.feeds.mark_applied(post.outbox_key, post.wanted_hash, now, str(exc))
                log.error("announcement %s: edit refused: %s", post.outbox_key, exc)
                failed += 1
                continue
            except (PostRetry, OSError, TimeoutError) as exc:
                await self.feeds.note_edit_error(
                    post.outbox_key, str(exc) or type(exc).__name__, now
                )
                log.warning("announcement %s: edit will be retried: %s", post.outbox_key, exc)
                retry += 1
                break  # Discord or the network is down: the rest waits too
            await self.feeds.mark_applied(post.outbox_key, post.wanted_hash, now)
            edited += 1
        return EditReport(edited, failed, retry)

    # ---- moderators ----

    async def status(self, now: datetime, guild_id: int | None, *, watched: str) -> list[str]:
        """Every known feed, the one at `watched` (the watcher's URL; '' for none) first."""
        channel = None
        if guild_id is not None:
            settings = await self.guilds.get(guild_id)
            channel = _subscriber(settings) if settings.announce_channel is not None else None
        feeds = sorted(await self.feeds.feeds(), key=lambda f: f.url != watched)
        return [
            status_text(feed, await self.feeds.count_items(feed.id), now, channel, watched)
            for feed in feeds
        ]

    async def why(
        self, text: str, guild_id: int | None = None, directory: Directory | None = None
    ) -> str:
        """With `guild_id`: that server's announcements and decisions only (and those about
        the item itself); other servers' channels, messages and errors are theirs.
        `directory`: the name index the bot keeps (loaded here when not given)."""
        text = " ".join(text.split())[:200]
        # What /episode would open first: autocomplete's values are a number, a slug or an
        # `id:N`, and a title never contains the latter two.
        d = directory if directory is not None else await load_directory(self.store)
        named = d.episode_named(text)
        found = await self.feeds.items_of_episode(named.id) if named is not None else []
        if not found:
            number = query.episode_number(text)
            found = await self.feeds.find_items(number=number, words=text)
        feeds = await self.feeds.feeds()
        if not found:
            return not_found_text(text, feeds)
        feed_id, item = found[0]
        feed = next(f for f in feeds if f.id == feed_id)
        decisions = await self.feeds.decisions(feed_id, item.identity, guild_id)
        posts = await self.feeds.announcements(feed_id, item.identity)
        if guild_id is not None:
            posts = [p for p in posts if p.guild_id == guild_id]
        return why_text(feed, item, decisions, posts)

    def _log(self, report: ReadReport) -> None:
        if report.error is not None:
            return  # logged where it happened
        if report.not_modified:
            log.info("feed %s: not modified", report.url)
            return
        if report.same_body:
            log.info("feed %s: the same bytes as read in full before; not parsed again", report.url)
            return
        for problem in report.problems:
            log.warning("feed: %s", problem)
        log.info(
            "feed %s: %d items; %d added, %d changed, %d unchanged, %d from content/, %d removed;"
            " %d transcripts, %d extras failed; %d announcements, %d summarised; %.2f s",
            report.url,
            report.items,
            report.added,
            report.changed,
            report.unchanged,
            report.from_content,
            report.removed,
            report.transcripts,
            report.extras_failed,
            report.announced,
            report.summarised,
            report.seconds,
        )


def _subscriber(settings: Effective) -> AnnounceChannel:
    assert settings.announce_channel is not None
    return AnnounceChannel(
        settings.guild_id,
        settings.announce_channel,
        settings.guild_name,
        role_id=settings.announce_role,
        grace=settings.grace,
    )


def _renamed_items(items: Sequence[FeedItem], known: dict[str, KnownItem]) -> dict[str, KnownItem]:
    """Items under an identity we do not know that are a known episode re-keyed by the host
    (a new guid after a move to https, say): the same number and title, its old identity
    gone from the feed. New identity -> the known item."""
    identities = {i.identity for i in items}
    gone = {
        (k.number, query.fold(k.title)): k
        for k in known.values()
        if k.number is not None and k.identity not in identities
    }
    twins: dict[str, KnownItem] = {}
    for item in items:
        ep = item.episode
        if item.identity in known or ep.number is None:
            continue
        twin = gone.pop((ep.number, query.fold(ep.title)), None)
        if twin is not None:
            twins[item.identity] = twin
    return twins


def _as_known(item: FeedItem, known: KnownItem) -> FeedItem:
    """The item under its known identity and catalogue key, so it stays the same episode."""
    guid = known.episode_key.removeprefix("feed:")
    return replace(item, identity=known.identity, episode=replace(item.episode, guid=guid))


def _with_identity(item: FeedItem) -> Episode:
    """The episode with its feed identity as guid when the feed gives none, so the catalogue
    keys it the way we identify it (an audio URL or title survives a renumbering)."""
    if item.episode.guid:
        return item.episode
    return replace(item.episode, guid=item.identity)


def _needs_extras(item: FeedItem) -> bool:
    return bool(item.transcript_urls) or (not item.episode.chapters and bool(item.chapters_url))


def _is_document_problem(problem: Problem) -> bool:
    """Problems of the whole document (read leniently), as opposed to one item's."""
    return problem.message.startswith(("feed is not well-formed", "character encoding"))


# ---------------------------------------------------------------- the release watcher


@dataclass
class StepReport:
    synced: object | None = None  # the content sync's report, when it ran
    read: ReadReport | None = None  # when the feed was due
    edits: EditReport | None = None


class Watcher:
    """One step: sync content/ (new or changed files), read the feed if it is due (its next
    poll time is stored, so a restart keeps the rhythm and the backoff), plan announcements,
    then bring posted announcements up to date. `run` steps every `interval` seconds."""

    def __init__(
        self,
        service: FeedService,
        url: str,
        *,
        sync: Callable[[], Awaitable[object]] | None = None,
        editor: AnnouncementEditor | None = None,
        on_planned: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.url = url
        self.sync = sync
        self.editor = editor
        self.on_planned = on_planned
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()  # one step at a time: the loop, tests and moderators

    async def step(self, now: datetime) -> StepReport:
        async with self._lock:
            return await self._step(now)

    async def _step(self, now: datetime) -> StepReport:
        report = StepReport()
        if self.sync is not None:
            report.synced = await self.sync()
        if self.url:
            feed = await self.service.feeds.feed(self.url)
            due = feed is None or feed.next_poll_at is None or now >= feed.next_poll_at
            if due:
                report.read = await self.service.read(self.url, now)
                if report.read.announced or report.read.summarised:
                    if self.on_planned is not None:
                        self.on_planned()
        if self.editor is not None:
            report.edits = await self.service.apply_edits(self.editor, now)
        return report

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Let `run` return after the step in progress (cancelling is not relied on: a
        cancellation can be lost in asyncio's waits on Python 3.11)."""
        self._stop.set()
        self._wake.set()

    async def run(self, clock: Clock, interval: float) -> None:
        """Step until stopped; a failing step is logged and the loop goes on."""
        log.info("release watcher: %s, a step every %g s", self.url or "(no feed)", interval)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.step(datetime.fromtimestamp(clock(), UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("release watcher step failed; trying again in %g s", interval)
            if self._stop.is_set():
                break
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass

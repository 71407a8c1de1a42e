"""Sends the outbox's posts to Discord exactly once, through the `Poster` port.

The algorithm (also in the README, "Exactly-once posting policy"), for each open row:

1. The channel's kind and the bot's permissions there are checked first; a missing
   permission makes the row 'failed' with the names of the permissions (moderators see it
   in /weekly show and /schedule list; it is logged too). Nothing is sent.
2. A row never tried ('pending') is marked 'sending' with `first_attempt_at` and committed
   BEFORE the HTTP call. It is then sent with a Discord nonce derived from its key
   (`enforce_nonce`), and a marker derived from the key (the adapter writes it in the
   message), and its message id is committed as soon as Discord returns it. The one send
   carries the whole post: artwork, link button, forum tags and the role it may mention.
3. A text channel message then gets its thread (a thread started from a message has the
   message's id, so "already exists" means it is there: success). The row becomes 'sent'.
   In a forum, one call creates the post (thread and first message) and the row is 'sent'.
4. A row found 'sending' without a message id (the process died, or the network failed,
   after step 2's commit) may or may not have reached Discord:
   - text channel, first attempt less than `nonce_window` ago: send again with the same
     nonce; Discord answers with the original message if there was one.
   - otherwise (Discord's nonce memory lasts only minutes, and forum posts take no nonce):
     look for the marker among the bot's messages (or forum posts) since the first attempt,
     minus `search_margin`; if found, record it, else send.
   A row a moderator moved to another channel (/weekly set) while it waited is looked for
   this way in the channel it left first: found, it stays there; else it starts afresh.
   The same search (from when the backup was taken) comes first for a row due before the
   database was restored from a backup (`vgbot restore`), or posted in the week after: the
   bot may have made it after the backup was taken.
5. A row that would be sent afresh more than its guild's grace window after its time is
   'skipped' instead (posts missed by more than the grace window are not posted late).
6. Network trouble (PostRetry, OSError, timeouts) leaves the row as it is for the next drain
   (discord.py itself retries 429 and 5xx); a refusal (PostError) makes it 'failed'. One
   server down (GuildRetry) holds up that server's posts only.
7. A server that removed the bot (`Presence`) has its posts held, not tried: invited back,
   they go out within their grace window; a pending one past it meanwhile is 'skipped',
   saying why. A 'sending' one is held until the bot is back, however long: it may be on
   Discord already (its message id may even be known), and only step 4 can tell, which needs
   the server. There are few such rows (one per send cut short), as the planner writes the
   server's later occurrences 'skipped'.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.store.outbox import PENDING, SENDING, Outbox, OutboxEntry, Post, StaleRow

log = logging.getLogger(__name__)


NONCE_LENGTH = 25  # Discord accepts nonces of at most 25 characters
DEFAULT_NONCE_WINDOW = timedelta(minutes=2)  # safely below Discord's few minutes of dedupe
DEFAULT_SEARCH_MARGIN = timedelta(minutes=10)  # clock skew between us and Discord
# After a restore, posts are looked for before they are made for this long: the longest grace
# window, and so the longest a release or a late post can be planned again after it.
RESTORE_WATCH = timedelta(days=7)
TEXT, FORUM = "text", "forum"
ANNOUNCE = "announce"  # the outbox kind of release announcements (bot.services.feeds)
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class PostError(Exception):
    """Discord refused the post for a reason retrying will not fix (permissions, a deleted
    channel, a rejected body); the message says what a moderator should do."""


class PostForbidden(PostError):
    """Discord refused the bot (403): the channel is there, the bot may not see or use it."""


class PostRetry(Exception):
    """A transient failure (network, Discord unavailable): try again on the next drain."""


class GuildRetry(PostRetry):
    """A transient failure of one server only (Discord lost it for a while): its posts wait
    for the next drain, other servers' go on."""


@dataclass(frozen=True)
class Found:
    message_id: int
    thread_id: int | None = None


class Poster(Protocol):
    """Our port to Discord; bot/chat/poster.py adapts discord.py to it, tests fake it."""

    async def channel_kind(self, channel_id: int) -> str:
        """'text' (text or announcement channel), 'forum' (forum or media), or another word
        for channels the bot cannot post in; PostError if the channel does not exist."""
        ...

    async def check_permissions(self, channel_id: int, *, open_thread: bool) -> list[str]:
        """Names of the permissions the bot lacks to make this post there (empty: none)."""
        ...

    async def send_message(self, channel_id: int, post: Post, nonce: str, marker: str) -> int:
        """Post the message (its body with `marker` visible in it, its artwork, link button
        and role mention, all in this one send) using `nonce`; the message id."""
        ...

    async def create_thread(self, channel_id: int, message_id: int, name: str) -> int:
        """Start a thread on the message; its id. A thread already there is returned too."""
        ...

    async def create_forum_post(self, channel_id: int, post: Post, marker: str) -> tuple[int, int]:
        """A forum post named `post.title`, tagged, its first message as in `send_message`:
        (thread id, first message id)."""
        ...

    async def find_marked(self, channel_id: int, marker: str, since: datetime) -> Found | None:
        """The bot's own message (or forum post) carrying `marker`, created after `since`."""
        ...


class Presence(Protocol):
    """Which servers the bot is in; bot/chat/poster.py reads discord.py's guild list."""

    def guilds(self) -> frozenset[int] | None:
        """Ids of the servers the bot is in, those Discord has lost for a while (an outage)
        included; None while that is not known yet (before the gateway's first READY)."""
        ...


NOT_IN_SERVER = (
    "not posted: the bot was not in the server at the time (it had been removed); "
    "posts resume at their next time once it is invited back"
)


class Graces(Protocol):
    """The grace window of each guild (its /config setting, else the bot-wide one);
    bot.store.guild_config.GuildSettings implements it."""

    async def grace(self, guild_id: int) -> timedelta: ...


def _base36(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_BASE36[r])
    return "".join(reversed(out)) or "0"


def nonce_for(key: str) -> str:
    """The Discord nonce of an outbox key: the same key always gives the same nonce."""
    return _base36(hashlib.sha256(key.encode()).digest())[:NONCE_LENGTH]


def marker_for(key: str) -> str:
    """The reference the bot writes in a post to recognise it later, e.g. 'ref 3kf9a0x2mq'."""
    digest = hashlib.sha256(b"marker:" + key.encode()).digest()
    return "ref " + _base36(digest)[:10]


@dataclass
class DrainReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        poster: Poster,
        clock: Clock,
        *,
        grace: timedelta,
        graces: Graces | None = None,
        nonce_window: timedelta = DEFAULT_NONCE_WINDOW,
        search_margin: timedelta = DEFAULT_SEARCH_MARGIN,
        presence: Presence | None = None,
    ) -> None:
        self.outbox = outbox
        self.presence = presence
        self.poster = poster
        self.clock = clock
        self.grace = grace  # for guilds `graces` does not know (or without `graces`)
        self.graces = graces
        self.nonce_window = nonce_window
        self.search_margin = search_margin
        self._lock = asyncio.Lock()
        self._restore: tuple[datetime, datetime | None] | None = None
        self._restore_read = False

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def drain(self) -> DrainReport:
        """Publish every open row that is due; one drain at a time."""
        report = DrainReport()
        async with self._lock:
            waiting: set[int] = set()  # servers down for now: their posts keep their order
            present = self.presence.guilds() if self.presence is not None else None
            for entry in await self.outbox.ready(self.now()):
                if entry.guild_id in waiting:
                    continue
                if present is not None and entry.guild_id not in present:
                    # Trying would fail every time until the bot is invited back (the planner
                    # logs the pause once): held, or past its grace window, skipped quietly.
                    # A 'sending' row is held in any case: it may be on Discord (step 4).
                    if entry.state == PENDING and await self._too_late(entry):
                        await self.outbox.mark_skipped(entry.key, NOT_IN_SERVER, self.now())
                        report.skipped.append(entry.key)
                    continue
                try:
                    outcome = await self._publish(entry)
                except GuildRetry as exc:
                    await self.outbox.note_error(entry.key, str(exc), self.now())
                    log.warning("post %s will be retried: %s", entry.key, exc)
                    report.retry.append(entry.key)
                    waiting.add(entry.guild_id)
                    continue
                except PostError as exc:
                    await self.outbox.mark_failed(entry.key, str(exc), self.now())
                    log.error("post %s to channel %s failed: %s", entry.key, entry.channel_id, exc)
                    report.failed.append(entry.key)
                    continue
                except (PostRetry, OSError, TimeoutError) as exc:
                    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    await self.outbox.note_error(entry.key, error, self.now())
                    log.warning("post %s will be retried: %s", entry.key, error)
                    report.retry.append(entry.key)
                    break  # the network or Discord is down: the rest waits for the next drain
                except StaleRow:
                    continue  # finished meanwhile (another drain, or a moderator)
                except Exception as exc:
                    # A bug, not Discord: say so where moderators look, and do not loop on it.
                    log.exception("post %s: unexpected error", entry.key)
                    await self.outbox.mark_failed(
                        entry.key,
                        f"internal error ({type(exc).__name__}): see the bot's log",
                        self.now(),
                    )
                    report.failed.append(entry.key)
                    continue
                getattr(report, outcome).append(entry.key)
        return report

    async def _publish(self, entry: OutboxEntry) -> str:
        if entry.moved_from is not None:
            entry = await self._moved(entry)
        kind = await self.poster.channel_kind(entry.channel_id)
        # A release announcement has no schedule to change or run again: its channel is a
        # server setting, and a failed one is not posted again.
        announce = entry.kind == ANNOUNCE
        if kind not in (TEXT, FORUM):
            where = (
                "`/config channel which:announcements`"
                if announce
                else "/weekly set or a new /schedule thread"
            )
            raise PostError(
                f"<#{entry.channel_id}> is a {kind} channel: the bot posts in text and forum "
                f"channels; pick another channel with {where}"
            )
        open_thread = entry.post.open_thread or kind == FORUM
        missing = await self.poster.check_permissions(entry.channel_id, open_thread=open_thread)
        if missing:
            then = (
                "; the next release is then announced (`/config channel which:announcements` "
                "checks them), this one is not posted again"
                if announce
                else ", then use /schedule run-now (or wait for the next time)"
            )
            raise PostError(
                f"the bot lacks {', '.join(missing)} in <#{entry.channel_id}>: grant "
                f"{'it' if len(missing) == 1 else 'them'} to the bot's role{then}"
            )
        if kind == FORUM:
            return await self._forum(entry)
        return await self._text(entry)

    async def _restored(self) -> tuple[datetime, datetime | None] | None:
        if not self._restore_read:  # a restore happens only while the bot is stopped
            self._restore = await self.outbox.restore_marks()
            self._restore_read = True
        return self._restore

    async def _may_exist(self, entry: OutboxEntry) -> bool:
        """Whether the post may already be on Discord though the row says otherwise: an
        attempt was cut short, or the database was restored from a backup lately. The bot may
        have made the post after that backup was taken: one due before the restore, or one
        planned again after it (a release the restored database had not seen yet)."""
        if entry.state == SENDING and entry.first_attempt_at is not None:
            return True
        restore = await self._restored()
        if restore is None:
            return False
        restored_at, _ = restore
        return entry.due_at <= restored_at or self.now() - restored_at <= RESTORE_WATCH

    async def _search(self, entry: OutboxEntry) -> Found | None:
        start = entry.first_attempt_at if entry.state == SENDING else None
        since = start or entry.due_at
        restore = await self._restored()
        if start is None and restore is not None and entry.due_at > restore[0]:
            # Planned again after the restore (a release the restored database had not seen):
            # the earlier post was made between the backup and the restore. A row due before
            # the restore was posted after its time, like any other: searched from then, as
            # the search reads a bounded number of messages.
            restored_at, taken_at = restore
            since = taken_at or restored_at - RESTORE_WATCH
        since -= self.search_margin
        found = await self.poster.find_marked(entry.channel_id, marker_for(entry.key), since)
        if found is not None:
            log.info("post %s was already made (message %s)", entry.key, found.message_id)
        return found

    async def _moved(self, entry: OutboxEntry) -> OutboxEntry:
        """A moderator moved the post (/weekly set) while it waited for a retry. An attempt in
        the channel it left may have made it there after all: found there, it is the post and
        stays; else it starts afresh where it now goes, so it is made once, in one place."""
        assert entry.moved_from is not None
        left = replace(entry, channel_id=entry.moved_from)
        found = None
        unchecked_in = None
        if await self._may_exist(entry):
            try:
                found = await self._search(left)
            except PostError as exc:
                if isinstance(exc, PostForbidden):
                    # Still there, hidden from the bot: the earlier try may be in it. Holding
                    # the post would miss the week; a moderator is told where to look instead.
                    unchecked_in = left.channel_id
                # The channel left is gone or hidden from the bot (often why it was left):
                # failing would lose the post the moderator just moved; it goes where it now goes.
                log.warning(
                    "post %s: cannot look in channel %s: %s", entry.key, left.channel_id, exc
                )
        if found is not None:
            await self.outbox.record_message(
                entry.key, found.message_id, self.now(), channel_id=left.channel_id
            )
            log.info("post %s stays in channel %s, where it was made", entry.key, left.channel_id)
            return replace(
                left, moved_from=None, message_id=found.message_id, thread_id=found.thread_id
            )
        await self.outbox.start_afresh(entry.key, self.now(), unchecked_in=unchecked_in)
        return replace(entry, moved_from=None, state=PENDING, first_attempt_at=None)

    async def _grace(self, guild_id: int) -> timedelta:
        return self.grace if self.graces is None else await self.graces.grace(guild_id)

    async def _too_late(self, entry: OutboxEntry) -> bool:
        return self.now() - entry.due_at > await self._grace(entry.guild_id)

    async def _skip_late(self, entry: OutboxEntry) -> str:
        late = self.now() - entry.due_at
        reason = (
            f"could not be posted within the grace window ({late} after its time, grace "
            f"{await self._grace(entry.guild_id)}); last error: {entry.last_error or 'none'}"
        )
        await self.outbox.mark_skipped(entry.key, reason, self.now())
        log.warning("skipped %s: %s", entry.key, reason)
        return "skipped"

    async def _text(self, entry: OutboxEntry) -> str:
        message_id, thread_id = entry.message_id, entry.thread_id
        if message_id is None:
            found: Found | None = None
            tried = entry.state == SENDING and entry.first_attempt_at is not None
            if await self._may_exist(entry):
                start = entry.first_attempt_at
                within_nonce = (
                    tried and start is not None and self.now() - start < self.nonce_window
                )
                if not within_nonce:
                    found = await self._search(entry)
                    if found is None and await self._too_late(entry):
                        return await self._skip_late(entry)
            elif await self._too_late(entry):
                return await self._skip_late(entry)
            if found is not None:
                message_id, thread_id = found.message_id, found.thread_id
            else:
                await self.outbox.start_attempt(entry.key, self.now())
                message_id = await self.poster.send_message(
                    entry.channel_id, entry.post, nonce_for(entry.key), marker_for(entry.key)
                )
            await self.outbox.record_message(
                entry.key, message_id, self.now(), channel_id=entry.channel_id
            )
        if entry.post.open_thread and thread_id is None:
            try:
                thread_id = await self.poster.create_thread(
                    entry.channel_id, message_id, entry.post.title
                )
            except PostError as exc:
                # Said first, so that nobody posts it again to get the thread.
                raise PostError(f"the message was posted, but not its thread: {exc}") from None
        await self.outbox.mark_sent(
            entry.key, self.now(), message_id=message_id, thread_id=thread_id
        )
        log.info("posted %s: message %s, thread %s", entry.key, message_id, thread_id)
        return "sent"

    async def _forum(self, entry: OutboxEntry) -> str:
        if entry.message_id is not None:  # recorded: the post exists
            await self.outbox.mark_sent(
                entry.key,
                self.now(),
                message_id=entry.message_id,
                thread_id=entry.thread_id or entry.message_id,
            )
            return "sent"
        # Forum posts take no nonce: any earlier attempt is looked for first.
        if await self._may_exist(entry):
            found = await self._search(entry)
            if found is not None:
                await self.outbox.mark_sent(
                    entry.key,
                    self.now(),
                    message_id=found.message_id,
                    thread_id=found.thread_id or found.message_id,
                    channel_id=entry.channel_id,
                )
                return "sent"
        if await self._too_late(entry):
            return await self._skip_late(entry)
        await self.outbox.start_attempt(entry.key, self.now())
        thread_id, message_id = await self.poster.create_forum_post(
            entry.channel_id, entry.post, marker_for(entry.key)
        )
        await self.outbox.mark_sent(
            entry.key,
            self.now(),
            message_id=message_id,
            thread_id=thread_id,
            channel_id=entry.channel_id,
        )
        log.info("posted %s: forum post %s", entry.key, thread_id)
        return "sent"


class Planner(Protocol):
    async def plan(self, now: datetime) -> object: ...


@dataclass(frozen=True)
class TickReport:
    planned: int
    drained: DrainReport


class Ticker:
    """One tick = plan what is due, then drain the outbox. `run` ticks at start (catching up
    after downtime) and then every `interval` seconds, or sooner when `wake()` is called, until
    `stop()`."""

    def __init__(self, planner: Planner, publisher: Publisher, clock: Clock) -> None:
        self.planner = planner
        self.publisher = publisher
        self.clock = clock
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self.ticks = 0

    async def tick(self) -> TickReport:
        async with self._lock:
            now = datetime.fromtimestamp(self.clock(), UTC)
            planned = await self.planner.plan(now)
            drained = await self.publisher.drain()
            self.ticks += 1
            return TickReport(len(planned) if isinstance(planned, list) else 0, drained)

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Let `run` return after the tick in progress, if any (a post is never cut short)."""
        self._stop.set()
        self._wake.set()

    async def run(
        self, interval: float, *, on_tick: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Tick until stopped (or cancelled); a failing tick is logged and the loop goes on."""
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.tick()
                if on_tick is not None:
                    await on_tick()
            except Exception:
                log.exception("scheduler tick failed; trying again in %g s", interval)
            if self._stop.is_set():
                break
            # asyncio.wait, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=interval)
            finally:
                waiter.cancel()

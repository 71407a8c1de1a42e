"""Feeds, their items, the decisions taken about each item, and what each announcement message
should look like. Which guilds want announcements, and where, is their /config setting
(bot.store.guild_config: `announce_channel`).

The episodes themselves live in the catalogue (bot.store.catalog.upsert_episodes); the posts in
the outbox (bot.store.outbox). `FeedStore.record` writes one read of a feed in ONE transaction:
health, items, decisions, new outbox rows and announcement rows together, so an item is never
known without its announcement being planned, nor planned twice.

Every method takes `now` from its caller: the store never reads the clock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.store import outbox
from bot.store.catalog import CONTENT_CLAIMS_SQL, ContentClaims
from bot.store.db import Store
from bot.store.outbox import OutboxEntry, epoch, from_epoch

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
MAX_PROBLEMS = 20  # kept per feed for /feed why; the log has them all
DECISIONS_SHOWN = 20


def announcement_key(feed_id: int, identity: str, guild_id: int) -> str:
    """One announcement per item and guild, whatever happens: the outbox key."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    return f"announce:{feed_id}:{digest}:{guild_id}"


async def discussion_thread(store: Store, guild_id: int, episode_id: int) -> int | None:
    """The thread of the episode's release announcement in that server (the newest, when
    several feeds announced it), or None. An episode from content/ is matched to the feed's
    item by number, as the feed's copy is not stored."""

    def read(conn: sqlite3.Connection) -> int | None:
        episode = conn.execute(
            "SELECT key, number, origin FROM episodes WHERE id = ?", (episode_id,)
        ).fetchone()
        if episode is None:
            return None
        key, number, origin = episode
        items = conn.execute(
            "SELECT feed_id, identity FROM feed_items WHERE episode_key = ? OR (? AND number = ?)",
            (key, origin == "content" and number is not None, number),
        ).fetchall()
        keys = [announcement_key(feed_id, identity, guild_id) for feed_id, identity in items]
        if not keys:
            return None
        row = conn.execute(
            "SELECT thread_id FROM outbox WHERE key IN (SELECT value FROM json_each(?))"
            " AND state = 'sent' AND thread_id IS NOT NULL ORDER BY sent_at DESC LIMIT 1",
            (json.dumps(keys),),
        ).fetchone()
        return None if row is None else int(row[0])

    return await store.read_quick(read)


@dataclass(frozen=True)
class FeedRow:
    id: int
    url: str
    title: str
    image: str | None
    link: str | None
    added_at: datetime
    seeded: bool
    etag: str | None
    last_modified: str | None
    last_fetch_at: datetime | None
    last_status: int | None
    last_not_modified: bool
    last_ok_at: datetime | None
    last_error: str
    failures: int
    next_poll_at: datetime | None
    items_in_feed: int
    problems: tuple[str, ...]
    body_hash: str = ""  # the body last read in full without trouble (FEED_FORMAT:SHA-256)
    body_read_at: datetime | None = None  # when it was read

    @property
    def healthy(self) -> bool:
        return not self.last_error

    @property
    def same_body(self) -> bool:
        """The last fetch got the body read in full before, and it was not parsed again."""
        return (
            self.healthy
            and not self.last_not_modified
            and self.body_read_at is not None
            and self.last_fetch_at is not None
            and self.last_fetch_at > self.body_read_at
        )

    @property
    def warning(self) -> str:
        """The last read's document problem (read leniently): an error with no failure."""
        return self.last_error if self.failures == 0 else ""


@dataclass(frozen=True)
class KnownItem:
    identity: str
    episode_key: str
    number: int | None
    title: str
    released: str | None  # ISO date
    content_hash: str
    complete: bool
    in_feed: bool
    first_seen_at: datetime
    last_seen_at: datetime
    extras_failures: int = 0  # transcript/chapters tries that failed in a row
    extras_retry_at: datetime | None = None  # when the next try is due (None: next read)


@dataclass(frozen=True)
class Decision:
    identity: str
    step: str
    detail: str = ""
    at: datetime | None = None  # filled when read back
    guild_id: int | None = None  # the one server it is about; None: every server's


@dataclass(frozen=True)
class AnnounceChannel:
    """A guild that asked for release announcements: where, and its settings for them
    (None: the bot-wide default)."""

    guild_id: int
    channel_id: int
    guild_name: str = ""
    style: str = ""  # announce template style; '' = the default
    role_id: int | None = None  # the one role announcements mention
    grace: timedelta | None = None


@dataclass(frozen=True)
class Look:
    """What an announcement message should look like: the outbox's first send carries all of
    it (text, artwork, listen button, forum tags, the role it mentions); a changed episode
    edits the message to its new look."""

    title: str
    body: str
    image: str | None = None
    listen_url: str | None = None
    tags: tuple[str, ...] = ()
    role: int | None = None  # the role the body mentions (and the only one pinged)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "title": self.title,
            "body": self.body,
            "image": self.image,
            "listen_url": self.listen_url,
            "tags": list(self.tags),
        }
        if self.role is not None:  # absent otherwise: older looks keep their digest
            data["role"] = self.role
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:32]

    @classmethod
    def from_json(cls, text: str) -> Look:
        data = json.loads(text)
        return cls(
            title=str(data.get("title", "")),
            body=str(data.get("body", "")),
            image=data.get("image"),
            listen_url=data.get("listen_url"),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            role=None if data.get("role") is None else int(data["role"]),
        )


@dataclass(frozen=True)
class Announcement:
    """An announcement row joined with its outbox row."""

    outbox_key: str
    feed_id: int
    identity: str
    guild_id: int
    wanted: Look
    wanted_hash: str
    applied_hash: str
    last_error: str
    channel_id: int
    state: str
    message_id: int | None
    thread_id: int | None
    outbox_error: str


@dataclass
class FeedRead:
    """Everything one successful read of a feed changes, written by `FeedStore.record`."""

    feed_id: int
    now: datetime
    status: int | None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None  # None: keep what is stored (a 304 says nothing new)
    image: str | None = None
    link: str | None = None
    warning: str = ""  # read, but with a document-level problem (shown as the feed's error)
    next_poll_at: datetime | None = None
    seeded: bool | None = None
    items_in_feed: int | None = None
    problems: list[str] | None = None
    # A body read in full: its FEED_FORMAT:SHA-256 when it may be skipped next time, '' when
    # not (read leniently); None: no body was read (a 304, or the same body skipped).
    body_hash: str | None = None
    same_body: bool = False  # the body read before, skipped: its items were all seen again
    items: list[KnownItem] = field(default_factory=list)  # inserted or replaced
    seen: list[str] = field(default_factory=list)  # unchanged identities: last_seen_at = now
    removed: list[str] = field(default_factory=list)  # identities no longer in the feed
    decisions: list[Decision] = field(default_factory=list)
    posts: list[tuple[OutboxEntry, str, Look]] = field(default_factory=list)  # entry, identity
    restyled: list[tuple[str, Look]] = field(default_factory=list)  # outbox key, new look


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else epoch(dt)


def _when(value: float | None) -> datetime | None:
    return from_epoch(value)


def _feed(row: sqlite3.Row) -> FeedRow:
    added = _when(row["added_at"])
    assert added is not None  # NOT NULL
    return FeedRow(
        id=int(row["id"]),
        url=row["url"],
        title=row["title"],
        image=row["image"],
        link=row["link"],
        added_at=added,
        seeded=bool(row["seeded"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_fetch_at=_when(row["last_fetch_at"]),
        last_status=row["last_status"],
        last_not_modified=bool(row["last_not_modified"]),
        last_ok_at=_when(row["last_ok_at"]),
        last_error=row["last_error"],
        failures=int(row["failures"]),
        next_poll_at=_when(row["next_poll_at"]),
        items_in_feed=int(row["items_in_feed"]),
        problems=tuple(json.loads(row["problems"])),
        body_hash=row["body_hash"],
        body_read_at=_when(row["body_read_at"]),
    )


def _item(row: sqlite3.Row) -> KnownItem:
    first, last = _when(row["first_seen_at"]), _when(row["last_seen_at"])
    assert first is not None and last is not None  # NOT NULL
    return KnownItem(
        identity=row["identity"],
        episode_key=row["episode_key"],
        number=row["number"],
        title=row["title"],
        released=row["released"],
        content_hash=row["content_hash"],
        complete=bool(row["complete"]),
        in_feed=bool(row["in_feed"]),
        first_seen_at=first,
        last_seen_at=last,
        extras_failures=int(row["extras_failures"]),
        extras_retry_at=_when(row["extras_retry_at"]),
    )


def _announcement(row: sqlite3.Row) -> Announcement:
    return Announcement(
        outbox_key=row["outbox_key"],
        feed_id=int(row["feed_id"]),
        identity=row["identity"],
        guild_id=int(row["guild_id"]),
        wanted=Look.from_json(row["wanted"]),
        wanted_hash=row["wanted_hash"],
        applied_hash=row["applied_hash"],
        last_error=row["last_error"],
        channel_id=int(row["channel_id"]),
        state=row["state"],
        message_id=row["message_id"],
        thread_id=row["thread_id"],
        outbox_error=row["outbox_error"],
    )


_ITEM_UPSERT = (
    "INSERT INTO feed_items (feed_id, identity, episode_key, number, title, released,"
    " content_hash, complete, in_feed, first_seen_at, last_seen_at, extras_failures,"
    " extras_retry_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (feed_id, identity) DO UPDATE SET episode_key = excluded.episode_key,"
    " number = excluded.number, title = excluded.title, released = excluded.released,"
    " content_hash = excluded.content_hash, complete = excluded.complete,"
    " in_feed = excluded.in_feed, last_seen_at = excluded.last_seen_at,"
    " extras_failures = excluded.extras_failures, extras_retry_at = excluded.extras_retry_at"
)

_ANNOUNCEMENTS = (
    "SELECT a.*, o.channel_id, o.state, o.message_id, o.thread_id,"
    " o.last_error AS outbox_error"
    " FROM feed_announcements a JOIN outbox o ON o.key = a.outbox_key"
)


class FeedStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ---- feeds ----

    async def feed(self, url: str) -> FeedRow | None:
        row = await self._store.fetchone("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else _feed(row)

    async def feed_by_id(self, feed_id: int) -> FeedRow | None:
        row = await self._store.fetchone("SELECT * FROM feeds WHERE id = ?", (feed_id,))
        return None if row is None else _feed(row)

    async def feeds(self) -> list[FeedRow]:
        return [_feed(r) for r in await self._store.fetchall("SELECT * FROM feeds ORDER BY id")]

    async def ensure_feed(self, url: str, now: datetime) -> FeedRow:
        """The feed's row, created (not seeded, never fetched) when it is new."""
        async with self._store.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO feeds (url, added_at) VALUES (?, ?)", (url, epoch(now))
            )
        found = await self.feed(url)
        assert found is not None
        return found

    async def record_failure(
        self,
        feed_id: int,
        now: datetime,
        *,
        status: int | None,
        error: str,
        next_poll_at: datetime | None,
    ) -> None:
        """A read that failed: the error and the next attempt; nothing else changes, but the
        next body is read in full (a failure may have left the catalogue half-updated)."""
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE feeds SET last_fetch_at = ?, last_status = ?, last_not_modified = 0,"
                " last_error = ?, failures = failures + 1, next_poll_at = ?, body_hash = ''"
                " WHERE id = ?",
                (epoch(now), status, _clip(error) or "failed", _ts(next_poll_at), feed_id),
            )

    async def postpone(self, feed_id: int, next_poll_at: datetime) -> None:
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE feeds SET next_poll_at = ? WHERE id = ?", (epoch(next_poll_at), feed_id)
            )

    async def record(self, read: FeedRead) -> int:
        """Write one successful read in one transaction; the number of outbox rows added."""
        now = epoch(read.now)
        added = 0
        async with self._store.transaction() as db:
            sets = [
                "last_fetch_at = ?",
                "last_status = ?",
                "last_not_modified = ?",
                "last_ok_at = ?",
                "last_error = ?",
                "failures = 0",
                "etag = ?",
                "last_modified = ?",
                "next_poll_at = ?",
            ]
            args: list[Any] = [
                now,
                read.status,
                int(read.not_modified),
                now,
                _clip(read.warning),
                read.etag,
                read.last_modified,
                _ts(read.next_poll_at),
            ]
            for column, value in (
                ("title", read.title),
                ("image", read.image),
                ("link", read.link),
                ("seeded", None if read.seeded is None else int(read.seeded)),
                ("items_in_feed", read.items_in_feed),
                (
                    "problems",
                    None if read.problems is None else json.dumps(read.problems[:MAX_PROBLEMS]),
                ),
            ):
                if value is not None or column in ("image", "link") and read.title is not None:
                    sets.append(f"{column} = ?")
                    args.append(value)
            if read.body_hash is not None:
                sets += ["body_hash = ?", "body_read_at = ?"]
                args += [read.body_hash, now]
            await db.execute(
                f"UPDATE feeds SET {', '.join(sets)} WHERE id = ?", (*args, read.feed_id)
            )
            await db.executemany(
                _ITEM_UPSERT,
                [
                    (
                        read.feed_id,
                        i.identity,
                        i.episode_key,
                        i.number,
                        i.title,
                        i.released,
                        i.content_hash,
                        int(i.complete),
                        int(i.in_feed),
                        epoch(i.first_seen_at),
                        epoch(i.last_seen_at),
                        i.extras_failures,
                        _ts(i.extras_retry_at),
                    )
                    for i in read.items
                ],
            )
            await db.executemany(
                "UPDATE feed_items SET last_seen_at = ?, in_feed = 1"
                " WHERE feed_id = ? AND identity = ?",
                [(now, read.feed_id, identity) for identity in read.seen],
            )
            if read.same_body:
                await db.execute(
                    "UPDATE feed_items SET last_seen_at = ? WHERE feed_id = ? AND in_feed = 1",
                    (now, read.feed_id),
                )
            await db.executemany(
                "UPDATE feed_items SET in_feed = 0 WHERE feed_id = ? AND identity = ?",
                [(read.feed_id, identity) for identity in read.removed],
            )
            await db.executemany(
                "INSERT INTO feed_decisions (feed_id, identity, at, step, detail, guild_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (read.feed_id, d.identity, now, d.step, d.detail, d.guild_id)
                    for d in read.decisions
                ],
            )
            for entry, identity, look in read.posts:
                if not await outbox.insert(db, entry, read.now):
                    continue  # planned before (same key): once per guild, whatever happens
                added += 1
                # The post carries the whole look: applied from the start, edited on change.
                await db.execute(
                    "INSERT INTO feed_announcements (outbox_key, feed_id, identity, guild_id,"
                    " wanted, wanted_hash, applied_hash, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.key,
                        read.feed_id,
                        identity,
                        entry.guild_id,
                        look.to_json(),
                        look.digest,
                        look.digest,
                        now,
                    ),
                )
            await db.executemany(
                "UPDATE feed_announcements SET wanted = ?, wanted_hash = ?, last_error = '',"
                " updated_at = ? WHERE outbox_key = ? AND wanted_hash <> ?",
                [
                    (look.to_json(), look.digest, now, key, look.digest)
                    for key, look in read.restyled
                ],
            )
        return added

    # ---- items and decisions ----

    async def items(self, feed_id: int) -> dict[str, KnownItem]:
        rows = await self._store.fetchall("SELECT * FROM feed_items WHERE feed_id = ?", (feed_id,))
        return {r["identity"]: _item(r) for r in rows}

    async def extras_due(self, feed_id: int, now: datetime) -> int:
        """Items in the feed whose transcript or chapters failed and may be tried again now."""
        row = await self._store.fetchone(
            "SELECT count(*) FROM feed_items WHERE feed_id = ? AND in_feed = 1 AND complete = 0"
            " AND (extras_retry_at IS NULL OR extras_retry_at <= ?)",
            (feed_id, epoch(now)),
        )
        return int(row[0]) if row else 0

    async def count_items(self, feed_id: int) -> int:
        row = await self._store.fetchone(
            "SELECT count(*) FROM feed_items WHERE feed_id = ?", (feed_id,)
        )
        return int(row[0]) if row else 0

    async def find_items(
        self, *, number: int | None, words: str, limit: int = 5
    ) -> list[tuple[int, KnownItem]]:
        """Items by episode number, exact identity, or words of the title (newest first)."""
        text = " ".join(words.split())
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._store.fetchall(
            "SELECT * FROM feed_items WHERE number = ? OR identity = ? OR identity = ?"
            " OR title LIKE ? ESCAPE '\\' COLLATE NOCASE"
            " ORDER BY (number = ?) DESC, first_seen_at DESC LIMIT ?",
            (number, text, f"guid:{text}", like if text else "", number, limit),
        )
        return [(int(r["feed_id"]), _item(r)) for r in rows]

    async def items_of_episode(self, episode_id: int) -> list[tuple[int, KnownItem]]:
        """The items stored as that catalogue episode (newest first)."""
        rows = await self._store.fetchall(
            "SELECT f.* FROM feed_items f JOIN episodes e ON e.key = f.episode_key"
            " WHERE e.id = ? ORDER BY f.first_seen_at DESC",
            (episode_id,),
        )
        return [(int(r["feed_id"]), _item(r)) for r in rows]

    async def decisions(
        self, feed_id: int, identity: str, guild_id: int | None = None
    ) -> list[Decision]:
        """The item's decisions, oldest first (the latest DECISIONS_SHOWN); with `guild_id`,
        those about that server or every server only."""
        mine = "" if guild_id is None else " AND (guild_id IS NULL OR guild_id = ?)"
        rows = await self._store.fetchall(
            "SELECT * FROM (SELECT * FROM feed_decisions WHERE feed_id = ? AND identity = ?"
            f"{mine} ORDER BY id DESC LIMIT ?) ORDER BY id",
            (feed_id, identity, *(() if guild_id is None else (guild_id,)), DECISIONS_SHOWN),
        )
        return [
            Decision(r["identity"], r["step"], r["detail"], _when(r["at"]), r["guild_id"])
            for r in rows
        ]

    async def content_claims(self) -> ContentClaims:
        """The episodes from content/: the feed never replaces them
        (bot.store.catalog.upsert_episodes skips such items)."""
        return ContentClaims.from_rows(await self._store.fetchall(CONTENT_CLAIMS_SQL))

    # ---- announcements ----

    async def announcements(self, feed_id: int, identity: str) -> list[Announcement]:
        rows = await self._store.fetchall(
            f"{_ANNOUNCEMENTS} WHERE a.feed_id = ? AND a.identity = ? ORDER BY a.guild_id",
            (feed_id, identity),
        )
        return [_announcement(r) for r in rows]

    async def edits_due(self) -> list[Announcement]:
        """Posted announcements whose message does not yet look as it should."""
        rows = await self._store.fetchall(
            f"{_ANNOUNCEMENTS} WHERE o.state = ? AND o.message_id IS NOT NULL"
            " AND a.wanted_hash <> a.applied_hash ORDER BY a.updated_at, a.outbox_key",
            (outbox.SENT,),
        )
        return [_announcement(r) for r in rows]

    async def mark_applied(self, key: str, digest: str, now: datetime, error: str = "") -> None:
        """The message now looks like the look with `digest` (or gave up on it: `error`)."""
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE feed_announcements SET applied_hash = ?, last_error = ?, updated_at = ?"
                " WHERE outbox_key = ?",
                (digest, _clip(error), epoch(now), key),
            )

    async def note_edit_error(self, key: str, error: str, now: datetime) -> None:
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE feed_announcements SET last_error = ?, updated_at = ? WHERE outbox_key = ?",
                (_clip(error), epoch(now), key),
            )

    async def latest_announcements(
        self, feed_id: int, since: datetime, limit: int = 5
    ) -> list[Announcement]:
        rows = await self._store.fetchall(
            f"{_ANNOUNCEMENTS} WHERE a.feed_id = ? AND o.created_at >= ?"
            " ORDER BY o.created_at DESC, a.outbox_key LIMIT ?",
            (feed_id, epoch(since), limit),
        )
        return [_announcement(r) for r in rows]

    async def outbox_entries(self, keys: Sequence[str]) -> list[OutboxEntry]:
        box = outbox.Outbox(self._store)
        found = [await box.get(k) for k in keys]
        return [e for e in found if e is not None]

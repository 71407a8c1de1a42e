"""The outbox: one row per post the bot makes on its own, keyed by its occurrence.

A row is written (state 'pending') before anything is sent, marked 'sending' (committed)
before each HTTP call, given its message id as soon as Discord returns it, and marked 'sent'
when the post (and its thread) exist. 'skipped' and 'failed' rows keep the reason, for
moderators. The publishing algorithm that drives these states is bot/services/publisher.py.

Every method takes `now` from its caller: the store never reads the clock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from bot.store.db import Store

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, SKIPPED, FAILED = "pending", "sending", "sent", "skipped", "failed"
STATES = (PENDING, SENDING, SENT, SKIPPED, FAILED)
OPEN = (PENDING, SENDING)  # rows the publisher still has to finish
MAX_ERROR_CHARS = 500
RESTORED_AT = "restored_at"  # meta key: when `vgbot restore` last replaced the database
BACKUP_TAKEN_AT = "backup_taken_at"  # meta key, in a backup: when `vgbot backup` took it


class StaleRow(Exception):
    """The row is missing, or finished already (by another drain or a moderator)."""


@dataclass(frozen=True)
class Post:
    """What to post: a message (or a forum post's first message) and the thread's name, with
    everything the first send carries (artwork, a link button, forum tags, the one role it may
    mention), so a post never needs an edit to be complete."""

    title: str
    body: str
    open_thread: bool = True  # open a thread on the message (a forum post always is one)
    topic: str = ""  # topic slug, for moderators' listings
    style: str = ""  # template style it was rendered with
    image: str | None = None  # shown as the embed's image (the show's or episode's artwork)
    link_url: str | None = None  # a link button under the message...
    link_label: str = ""  # ...with this label (e.g. "Listen")
    tags: tuple[str, ...] = ()  # forum tags to apply, by name (unknown names are ignored)
    mention_role: int | None = None  # the one role the post may ping (its body mentions it)


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    kind: str  # template kind: weekly, thread, announce
    guild_id: int
    channel_id: int
    post: Post
    due_at: datetime
    state: str = PENDING
    schedule_id: int | None = None
    attempts: int = 0
    first_attempt_at: datetime | None = None
    message_id: int | None = None
    thread_id: int | None = None
    last_error: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None
    moved_from: int | None = None  # the channel a moderator moved it from, not looked in yet
    # Where an earlier attempt may also be: the channel left, which refused the bot a look.
    unchecked_in: int | None = None


def epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt.isoformat()} given to the store; pass aware UTC")
    return dt.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _payload(post: Post) -> str:
    data: dict[str, Any] = {
        "title": post.title,
        "body": post.body,
        "open_thread": post.open_thread,
        "topic": post.topic,
        "style": post.style,
    }
    # Only what is set: rows written before these existed read back the same.
    extras = {
        "image": post.image,
        "link_url": post.link_url,
        "link_label": post.link_label,
        "tags": list(post.tags),
        "mention_role": post.mention_role,
    }
    data.update({k: v for k, v in extras.items() if v})
    return json.dumps(data, ensure_ascii=False)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _entry(row: sqlite3.Row) -> OutboxEntry:
    data = json.loads(row["payload"])
    post = Post(
        title=str(data.get("title", "")),
        body=str(data.get("body", "")),
        open_thread=bool(data.get("open_thread", True)),
        topic=str(data.get("topic", "")),
        style=str(data.get("style", "")),
        image=data.get("image") or None,
        link_url=data.get("link_url") or None,
        link_label=str(data.get("link_label", "")),
        tags=tuple(str(t) for t in data.get("tags") or ()),
        mention_role=_optional_int(data.get("mention_role")),
    )
    due_at = from_epoch(row["due_at"])
    assert due_at is not None  # NOT NULL column
    return OutboxEntry(
        key=row["key"],
        kind=row["kind"],
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        post=post,
        due_at=due_at,
        state=row["state"],
        schedule_id=row["schedule_id"],
        attempts=int(row["attempts"]),
        first_attempt_at=from_epoch(row["first_attempt_at"]),
        message_id=row["message_id"],
        thread_id=row["thread_id"],
        last_error=row["last_error"],
        created_at=from_epoch(row["created_at"]),
        updated_at=from_epoch(row["updated_at"]),
        sent_at=from_epoch(row["sent_at"]),
        moved_from=row["moved_from"],
        unchecked_in=row["unchecked_in"],
    )


def _clip(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


async def insert(db: aiosqlite.Connection, entry: OutboxEntry, now: datetime) -> bool:
    """Add `entry` inside the caller's transaction; False (and nothing changes) if its key
    is already there, whatever its state: planning the same occurrence twice is harmless."""
    if entry.state not in STATES:
        raise ValueError(f"unknown outbox state {entry.state!r}; states are {', '.join(STATES)}")
    cursor = await db.execute(
        "INSERT OR IGNORE INTO outbox (key, kind, guild_id, channel_id, schedule_id, payload,"
        " due_at, state, last_error, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.key,
            entry.kind,
            entry.guild_id,
            entry.channel_id,
            entry.schedule_id,
            _payload(entry.post),
            epoch(entry.due_at),
            entry.state,
            _clip(entry.last_error),
            epoch(now),
            epoch(now),
        ),
    )
    return cursor.rowcount == 1


async def skip_unsent(
    db: aiosqlite.Connection, where: str, params: Sequence[Any], reason: str, now: datetime
) -> int:
    """Inside the caller's transaction: the open rows matching `where` that have no message
    yet become 'skipped' with `reason` (a moderator stopped them), so no later drain posts
    them; how many. A send already under way is not stopped: its message id, once recorded,
    finishes the row as sent."""
    cursor = await db.execute(
        "UPDATE outbox SET state = ?, last_error = ?, updated_at = ?"
        f" WHERE state IN (?, ?) AND message_id IS NULL AND ({where})",
        (SKIPPED, _clip(reason), epoch(now), *OPEN, *params),
    )
    return cursor.rowcount


async def move_unsent(
    db: aiosqlite.Connection, where: str, params: Sequence[Any], channel_id: int, now: datetime
) -> int:
    """Inside the caller's transaction: the open rows matching `where` that have no message
    yet go to `channel_id` (a moderator moved the post); how many. The channel first left is
    kept in `moved_from`: an attempt there may have reached Discord, so the publisher looks
    there before posting anywhere."""
    cursor = await db.execute(
        "UPDATE outbox SET moved_from = COALESCE(moved_from, channel_id), channel_id = ?,"
        " updated_at = ? WHERE state IN (?, ?) AND message_id IS NULL AND channel_id <> ?"
        f" AND ({where})",
        (channel_id, epoch(now), *OPEN, channel_id, *params),
    )
    return cursor.rowcount


async def exists(db: aiosqlite.Connection, key: str) -> bool:
    rows = await db.execute_fetchall("SELECT 1 FROM outbox WHERE key = ?", (key,))
    return bool(list(rows))


class Outbox:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def restore_marks(self) -> tuple[datetime, datetime | None] | None:
        """(when the database was last restored from a backup, when that backup was taken if
        it says), or None if it never was (bot.ops.backup)."""
        rows = await self._store.fetchall(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (RESTORED_AT, BACKUP_TAKEN_AT)
        )
        marks = {r["key"]: datetime.fromtimestamp(float(r["value"]), UTC) for r in rows}
        if RESTORED_AT not in marks:
            return None
        return marks[RESTORED_AT], marks.get(BACKUP_TAKEN_AT)

    async def add(self, entry: OutboxEntry, now: datetime) -> bool:
        """Add one row in its own transaction (see `insert`); e.g. a release announcement."""
        async with self._store.transaction() as db:
            return await insert(db, entry, now)

    async def get(self, key: str) -> OutboxEntry | None:
        row = await self._store.fetchone("SELECT * FROM outbox WHERE key = ?", (key,))
        return None if row is None else _entry(row)

    async def ready(self, now: datetime) -> list[OutboxEntry]:
        """Open rows due by `now`, oldest first."""
        rows = await self._store.fetchall(
            "SELECT * FROM outbox WHERE state IN (?, ?) AND due_at <= ? ORDER BY due_at, key",
            (*OPEN, epoch(now)),
        )
        return [_entry(r) for r in rows]

    async def start_attempt(self, key: str, now: datetime) -> OutboxEntry:
        """Mark the row 'sending' (first attempt time kept from the first try) and commit,
        before the caller makes any HTTP call for it."""
        async with self._store.transaction() as db:
            cursor = await db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1,"
                " first_attempt_at = COALESCE(first_attempt_at, ?), updated_at = ?"
                " WHERE key = ? AND state IN (?, ?)",
                (SENDING, epoch(now), epoch(now), key, *OPEN),
            )
            if cursor.rowcount != 1:
                raise StaleRow(f"outbox row {key!r} is missing or already finished")
            rows = list(await db.execute_fetchall("SELECT * FROM outbox WHERE key = ?", (key,)))
        return _entry(rows[0])

    async def record_message(
        self, key: str, message_id: int, now: datetime, *, channel_id: int | None = None
    ) -> None:
        """The message exists: remember its id before doing anything else with it, and with
        `channel_id` the channel it is in (a moderator may have moved the row meanwhile)."""
        if channel_id is None:
            await self._update(key, now, "message_id = ?", (message_id,))
        else:
            await self._update(
                key,
                now,
                "message_id = ?, channel_id = ?, moved_from = NULL",
                (message_id, channel_id),
            )

    async def start_afresh(
        self, key: str, now: datetime, *, unchecked_in: int | None = None
    ) -> None:
        """A moved row whose old channel was looked in, without the post: nothing was made, so
        it is posted where it now goes as if never tried. `unchecked_in`: the channel left,
        when the bot could not look there (kept for /weekly show)."""
        async with self._store.transaction() as db:
            cursor = await db.execute(
                "UPDATE outbox SET moved_from = NULL, state = ?, first_attempt_at = NULL,"
                " unchecked_in = ?, updated_at = ?"
                " WHERE key = ? AND state IN (?, ?) AND message_id IS NULL",
                (PENDING, unchecked_in, epoch(now), key, *OPEN),
            )
            if cursor.rowcount != 1:
                raise StaleRow(f"outbox row {key!r} is missing or already finished")

    async def mark_sent(
        self,
        key: str,
        now: datetime,
        *,
        message_id: int,
        thread_id: int | None,
        channel_id: int | None = None,
    ) -> None:
        """Posted; with `channel_id`, in that channel (see `record_message`)."""
        assignments = "state = ?, message_id = ?, thread_id = ?, sent_at = ?, last_error = ''"
        params: list[Any] = [SENT, message_id, thread_id, epoch(now)]
        if channel_id is not None:
            assignments += ", channel_id = ?, moved_from = NULL"
            params.append(channel_id)
        await self._update(key, now, assignments, params)

    async def mark_failed(self, key: str, error: str, now: datetime) -> None:
        await self._update(key, now, "state = ?, last_error = ?", (FAILED, _clip(error)))

    async def mark_skipped(self, key: str, reason: str, now: datetime) -> None:
        await self._update(key, now, "state = ?, last_error = ?", (SKIPPED, _clip(reason)))

    async def note_error(self, key: str, error: str, now: datetime) -> None:
        """A transient failure: the row stays as it is and is tried again on the next drain."""
        await self._update(key, now, "last_error = ?", (_clip(error),))

    async def _update(
        self, key: str, now: datetime, assignments: str, params: Sequence[Any]
    ) -> None:
        async with self._store.transaction() as db:
            cursor = await db.execute(
                f"UPDATE outbox SET {assignments}, updated_at = ? WHERE key = ?",
                (*params, epoch(now), key),
            )
            if cursor.rowcount != 1:
                raise StaleRow(f"no outbox row {key!r}")

    async def recent(
        self,
        guild_id: int,
        *,
        since: datetime,
        states: Sequence[str] = STATES,
        kinds: Sequence[str] | None = None,
        limit: int = 10,
    ) -> list[OutboxEntry]:
        """The guild's rows in `states` last changed at or after `since`, the latest due first
        (as moderators read them: by when each post was for, not when it last changed)."""
        if not states:
            return []
        sql = (
            f"SELECT * FROM outbox WHERE guild_id = ? AND updated_at >= ?"
            f" AND state IN ({', '.join('?' * len(states))})"
        )
        params: list[Any] = [guild_id, epoch(since), *states]
        if kinds is not None:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params += list(kinds)
        sql += " ORDER BY due_at DESC, key LIMIT ?"
        rows = await self._store.fetchall(sql, (*params, limit))
        return [_entry(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        """Rows per state, for logs and health."""
        rows = await self._store.fetchall("SELECT state, count(*) AS n FROM outbox GROUP BY state")
        return {str(r["state"]): int(r["n"]) for r in rows}

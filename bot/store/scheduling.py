"""Rows of the weekly prompt, the moderators' schedules and the topic rotation history.

Reads outside a transaction go through the store's reader; the planner's reads and writes take
the writer connection of its one transaction (`db`), so a plan sees and changes one state.
Every method takes `now` from its caller: the store never reads the clock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import aiosqlite

from bot.core.schedule import OneOff, Recurrence, WeeklyRule
from bot.store.db import Store
from bot.store.outbox import FAILED, SKIPPED, epoch, from_epoch, move_unsent, skip_unsent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeeklyConfig:
    guild_id: int
    channel_id: int
    rule: WeeklyRule
    guild_name: str = ""
    enabled: bool = True
    style_counter: int = 0  # prompts planned so far: picks the next style
    active_since: datetime | None = None  # occurrences before it never fire
    last_run: datetime | None = None
    updated_at: datetime | None = None
    updated_by: int | None = None


@dataclass(frozen=True)
class Schedule:
    id: int
    guild_id: int
    channel_id: int
    topic_slug: str
    rule: Recurrence
    tz: str  # the zone the moderator's time was read in (a weekly rule's own zone)
    created_at: datetime
    created_by: int
    guild_name: str = ""
    title: str = ""  # a moderator's own thread title; empty: the template's
    cancelled_at: datetime | None = None
    cancelled_by: int | None = None
    last_run: datetime | None = None

    @property
    def repeat(self) -> str:
        return "weekly" if isinstance(self.rule, WeeklyRule) else "once"

    @property
    def active(self) -> bool:
        return self.cancelled_at is None

    @property
    def finished(self) -> bool:
        """A one-off whose time the planner has reached. `last_run` is the `now` of the last
        tick that looked at the schedule, whether or not anything was due, so being set is
        not enough."""
        return (
            isinstance(self.rule, OneOff)
            and self.last_run is not None
            and self.last_run >= self.rule.at_utc
        )


def format_wall_time(at: time) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def _wall_time(text: str) -> time:
    return time.fromisoformat(text)


def _weekly(row: sqlite3.Row) -> WeeklyConfig:
    return WeeklyConfig(
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        rule=WeeklyRule(int(row["weekday"]), _wall_time(row["at_local"]), row["tz"]),
        guild_name=row["guild_name"],
        enabled=bool(row["enabled"]),
        style_counter=int(row["style_counter"]),
        active_since=from_epoch(row["active_since"]),
        last_run=from_epoch(row["last_run"]),
        updated_at=from_epoch(row["updated_at"]),
        updated_by=row["updated_by"],
    )


def _schedule(row: sqlite3.Row) -> Schedule:
    rule: Recurrence
    if row["repeat"] == "weekly":
        rule = WeeklyRule(
            int(row["weekday"]),
            _wall_time(row["at_local"]),
            row["tz"],
            starts=from_epoch(row["starts_at"]),
        )
    else:
        at = from_epoch(row["at_utc"])
        assert at is not None  # CHECK constraint
        rule = OneOff(at)
    created = from_epoch(row["created_at"])
    assert created is not None  # NOT NULL column
    return Schedule(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        topic_slug=row["topic_slug"],
        rule=rule,
        tz=row["tz"],
        created_at=created,
        created_by=int(row["created_by"]),
        guild_name=row["guild_name"],
        title=row["title"],
        cancelled_at=from_epoch(row["cancelled_at"]),
        cancelled_by=row["cancelled_by"],
        last_run=from_epoch(row["last_run"]),
    )


class SchedulingStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- weekly prompt ----

    async def weekly(self, guild_id: int) -> WeeklyConfig | None:
        row = await self.store.fetchone(
            "SELECT * FROM weekly_prompts WHERE guild_id = ?", (guild_id,)
        )
        return None if row is None else _weekly(row)

    async def put_weekly(
        self, config: WeeklyConfig, now: datetime, *, active_since: datetime | None = None
    ) -> WeeklyConfig:
        """Create or replace the guild's weekly prompt, enabled and active from `active_since`
        (default `now`). The style counter is kept: changing the time does not restart the
        style rotation. A prompt not posted yet moves to the new channel."""
        rule = config.rule
        async with self.store.transaction() as db:
            await db.execute(
                "INSERT INTO weekly_prompts (guild_id, guild_name, channel_id, weekday, at_local,"
                " tz, enabled, active_since, last_run, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET guild_name = excluded.guild_name,"
                " channel_id = excluded.channel_id, weekday = excluded.weekday,"
                " at_local = excluded.at_local, tz = excluded.tz, enabled = 1,"
                " active_since = excluded.active_since, last_run = excluded.last_run,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (
                    config.guild_id,
                    config.guild_name,
                    config.channel_id,
                    rule.weekday,
                    format_wall_time(rule.at),
                    rule.tz,
                    epoch(active_since or now),
                    epoch(now),
                    epoch(now),
                    config.updated_by,
                ),
            )
            # A prompt still waiting for a retry goes where the moderator now says, like the
            # ones to come (the publisher looks for it in the channel it leaves first).
            await move_unsent(
                db, "kind = 'weekly' AND guild_id = ?", (config.guild_id,), config.channel_id, now
            )
        stored = await self.weekly(config.guild_id)
        assert stored is not None
        return stored

    async def disable_weekly(self, guild_id: int, by: int, now: datetime) -> bool:
        """False when there is nothing to turn off (none set, or already off)."""
        async with self.store.transaction() as db:
            cursor = await db.execute(
                "UPDATE weekly_prompts SET enabled = 0, updated_at = ?, updated_by = ?"
                " WHERE guild_id = ? AND enabled = 1",
                (epoch(now), by, guild_id),
            )
            if cursor.rowcount != 1:
                return False
            await skip_unsent(
                db,
                "kind = 'weekly' AND guild_id = ?",
                (guild_id,),
                "not posted: the weekly prompt was turned off before it went out",
                now,
            )
            return True

    async def enabled_weeklies(self, db: aiosqlite.Connection) -> list[WeeklyConfig]:
        rows = await db.execute_fetchall(
            "SELECT * FROM weekly_prompts WHERE enabled = 1 ORDER BY guild_id"
        )
        return [_weekly(r) for r in rows]

    async def weekly_ran(
        self, db: aiosqlite.Connection, guild_id: int, now: datetime, styles_used: int
    ) -> None:
        await db.execute(
            "UPDATE weekly_prompts SET last_run = ?, style_counter = style_counter + ?"
            " WHERE guild_id = ?",
            (epoch(now), styles_used, guild_id),
        )

    # ---- topic rotation ----

    async def history(self, guild_id: int, db: aiosqlite.Connection | None = None) -> list[str]:
        """Topic slugs the guild's weekly prompt used, oldest first. A prompt that failed or was
        skipped before its message reached Discord leaves its topic unused: nobody saw it."""
        sql = (
            "SELECT h.topic_slug FROM topic_history h LEFT JOIN outbox o ON o.key = h.outbox_key"
            " WHERE h.guild_id = ?"
            " AND (o.key IS NULL OR o.message_id IS NOT NULL OR o.state NOT IN (?, ?))"
            " ORDER BY h.id"
        )
        args = (guild_id, FAILED, SKIPPED)
        if db is None:
            rows = await self.store.fetchall(sql, args)
        else:
            rows = list(await db.execute_fetchall(sql, args))
        return [str(r[0]) for r in rows]

    async def add_history(
        self, db: aiosqlite.Connection, guild_id: int, slug: str, outbox_key: str, now: datetime
    ) -> None:
        await db.execute(
            "INSERT OR IGNORE INTO topic_history (guild_id, topic_slug, used_at, outbox_key)"
            " VALUES (?, ?, ?, ?)",
            (guild_id, slug, epoch(now), outbox_key),
        )

    # ---- schedules ----

    async def add_schedule(
        self,
        *,
        guild_id: int,
        guild_name: str,
        channel_id: int,
        topic_slug: str,
        title: str,
        rule: Recurrence,
        tz: str,
        created_by: int,
        now: datetime,
    ) -> Schedule:
        values: dict[str, Any] = {
            "guild_id": guild_id,
            "guild_name": guild_name,
            "channel_id": channel_id,
            "topic_slug": topic_slug,
            "title": title,
            "tz": tz,
            "created_at": epoch(now),
            "created_by": created_by,
        }
        if isinstance(rule, WeeklyRule):
            values |= {
                "repeat": "weekly",
                "weekday": rule.weekday,
                "at_local": format_wall_time(rule.at),
                "starts_at": None if rule.starts is None else epoch(rule.starts),
            }
        else:
            values |= {"repeat": "once", "at_utc": epoch(rule.at_utc)}
        columns = ", ".join(values)
        async with self.store.transaction() as db:
            cursor = await db.execute(
                f"INSERT INTO schedules ({columns}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
            new_id = cursor.lastrowid
        assert new_id is not None
        stored = await self.schedule(new_id)
        assert stored is not None
        return stored

    async def schedule(self, schedule_id: int) -> Schedule | None:
        if not 0 < schedule_id < 2**63:  # no such row: SQLite could not even take the number
            return None
        row = await self.store.fetchone("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        return None if row is None else _schedule(row)

    async def schedules(self, guild_id: int, *, include_cancelled: bool = False) -> list[Schedule]:
        sql = "SELECT * FROM schedules WHERE guild_id = ?"
        if not include_cancelled:
            sql += " AND cancelled_at IS NULL"
        rows = await self.store.fetchall(sql + " ORDER BY id", (guild_id,))
        return [_schedule(r) for r in rows]

    async def orphans(self, guild_id: int) -> list[Schedule]:
        """Active schedules still to post whose topic is no longer in the catalogue."""
        rows = await self.store.fetchall(
            "SELECT * FROM schedules WHERE guild_id = ? AND cancelled_at IS NULL"
            " AND NOT (repeat = 'once' AND last_run IS NOT NULL AND last_run >= at_utc)"
            " AND topic_slug NOT IN (SELECT slug FROM topics) ORDER BY id",
            (guild_id,),
        )
        return [_schedule(r) for r in rows]

    async def cancel_schedule(self, schedule_id: int, by: int, now: datetime) -> bool:
        """False if it is missing or already cancelled."""
        async with self.store.transaction() as db:
            cursor = await db.execute(
                "UPDATE schedules SET cancelled_at = ?, cancelled_by = ?"
                " WHERE id = ? AND cancelled_at IS NULL",
                (epoch(now), by, schedule_id),
            )
            if cursor.rowcount != 1:
                return False
            # Its posts still waiting (for their first try, or a retry) go with it.
            await skip_unsent(
                db,
                "schedule_id = ?",
                (schedule_id,),
                f"not posted: schedule #{schedule_id} was cancelled before it went out",
                now,
            )
            return True

    async def cancelled(self, db: aiosqlite.Connection, schedule_id: int) -> bool:
        """Inside the caller's transaction: is the schedule cancelled (or gone)?"""
        rows = await db.execute_fetchall(
            "SELECT 1 FROM schedules WHERE id = ? AND cancelled_at IS NULL", (schedule_id,)
        )
        return not list(rows)

    async def active_schedules(self, db: aiosqlite.Connection) -> list[Schedule]:
        rows = await db.execute_fetchall(
            "SELECT * FROM schedules WHERE cancelled_at IS NULL ORDER BY id"
        )
        return [_schedule(r) for r in rows]

    async def schedule_ran(self, db: aiosqlite.Connection, schedule_id: int, now: datetime) -> None:
        await db.execute(
            "UPDATE schedules SET last_run = ? WHERE id = ?", (epoch(now), schedule_id)
        )

    # ---- what the catalogue says about recency ----

    async def newest_episode_topics(self) -> list[str]:
        """Topic slugs of the most recent episode (by release date, then number), as written."""
        row = await self.store.fetchone(
            "SELECT topics FROM episodes"
            " ORDER BY released IS NULL, released DESC, number IS NULL, number DESC, id DESC"
            " LIMIT 1"
        )
        if row is None:
            return []
        try:
            slugs = json.loads(row["topics"])
        except (TypeError, ValueError):
            return []
        return [str(s) for s in slugs] if isinstance(slugs, list) else []

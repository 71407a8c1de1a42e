"""Per-guild settings (the `guild_config` table): one row per guild, NULL = the bot-wide default.

Values arrive here already validated (bot.ops.guild_settings); the store only keeps them. Every
write takes `now` (epoch seconds) from its caller.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from bot.store.db import Store

log = logging.getLogger(__name__)

# Setting name → column. Names come from this table only, never from user input.
COLUMNS = {
    "discussion_channel": "discussion_channel_id",
    "announce_channel": "announce_channel_id",
    "announce_role": "announce_role_id",
    "timezone": "timezone",
    "grace_window": "grace_window",
}


@dataclass(frozen=True)
class GuildConfig:
    guild_id: int
    discussion_channel: int | None = None
    announce_channel: int | None = None
    announce_role: int | None = None
    timezone: str | None = None
    grace_window: float | None = None  # seconds
    updated_at: float | None = None
    updated_by: int | None = None


def _config(row: sqlite3.Row) -> GuildConfig:
    grace = row["grace_window"]
    return GuildConfig(
        guild_id=int(row["guild_id"]),
        discussion_channel=row["discussion_channel_id"],
        announce_channel=row["announce_channel_id"],
        announce_role=row["announce_role_id"],
        timezone=row["timezone"],
        grace_window=None if grace is None else float(grace),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


class GuildConfigStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, guild_id: int) -> GuildConfig:
        """The guild's settings; a guild never configured gets all defaults (None)."""
        row = await self.store.fetchone(
            "SELECT * FROM guild_config WHERE guild_id = ?", (guild_id,)
        )
        return GuildConfig(guild_id) if row is None else _config(row)

    async def all(self) -> list[GuildConfig]:
        rows = await self.store.fetchall("SELECT * FROM guild_config ORDER BY guild_id")
        return [_config(r) for r in rows]

    async def set(
        self, guild_id: int, name: str, value: int | float | str | None, *, by: int, now: float
    ) -> GuildConfig:
        """Set one setting (None: back to the default) and return the guild's settings."""
        column = COLUMNS.get(name)
        if column is None:
            raise KeyError(f"unknown guild setting {name!r}; known: {', '.join(COLUMNS)}")
        async with self.store.transaction() as db:
            # One statement: concurrent /config commands cannot lose each other's changes.
            await db.execute(
                f"INSERT INTO guild_config (guild_id, {column}, updated_at, updated_by)"
                f" VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
                f" {column} = excluded.{column}, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (guild_id, value, now, by),
            )
        log.info("guild %s: %s set to %r by %s", guild_id, name, value, by)
        return await self.get(guild_id)

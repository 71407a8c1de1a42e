"""Per-guild settings (the `guild_config` table): one row per guild, NULL = the bot-wide default.

Values arrive here already validated (bot.ops.guild_settings); the store only keeps them. Every
write takes `now` (epoch seconds) from its caller. `GuildSettings` is what the features read:
each guild's settings with the bot-wide defaults filled in (`effective`).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.store.db import Store

if TYPE_CHECKING:
    from bot.settings import Settings

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
    guild_name: str = ""  # as of the last change (templates show it)


@dataclass(frozen=True)
class Defaults:
    """The bot-wide values a guild gets for what it has not set (the VGBOT_* settings)."""

    timezone: str = "UTC"
    grace_window: float = 6 * 3600.0
    announce_role: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Defaults:
        return cls(grace_window=settings.grace_window, announce_role=settings.announce_role_id)


@dataclass(frozen=True)
class Effective:
    """One guild's settings as the features use them: its own, else the bot-wide default."""

    guild_id: int
    timezone: str
    grace: timedelta
    announce_role: int | None
    announce_channel: int | None
    discussion_channel: int | None
    guild_name: str = ""
    zone_set: bool = False  # the time zone is the guild's own (not the default)


def effective(config: GuildConfig, defaults: Defaults) -> Effective:
    grace = defaults.grace_window if config.grace_window is None else config.grace_window
    return Effective(
        guild_id=config.guild_id,
        timezone=config.timezone or defaults.timezone,
        grace=timedelta(seconds=grace),
        announce_role=config.announce_role or defaults.announce_role,
        announce_channel=config.announce_channel,
        discussion_channel=config.discussion_channel,
        guild_name=config.guild_name,
        zone_set=config.timezone is not None,
    )


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
        guild_name=row["guild_name"],
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
        self,
        guild_id: int,
        name: str,
        value: int | float | str | None,
        *,
        by: int,
        now: float,
        guild_name: str = "",
    ) -> GuildConfig:
        """Set one setting (None: back to the default) and return the guild's settings.
        `guild_name`, when given, is remembered too (announcement templates show it)."""
        column = COLUMNS.get(name)
        if column is None:
            raise KeyError(f"unknown guild setting {name!r}; known: {', '.join(COLUMNS)}")
        async with self.store.transaction() as db:
            # One statement: concurrent /config commands cannot lose each other's changes.
            await db.execute(
                f"INSERT INTO guild_config (guild_id, {column}, guild_name, updated_at,"
                f" updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
                f" {column} = excluded.{column}, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by, guild_name = CASE excluded.guild_name"
                " WHEN '' THEN guild_config.guild_name ELSE excluded.guild_name END",
                (guild_id, value, guild_name, now, by),
            )
        log.info("guild %s: %s set to %r by %s", guild_id, name, value, by)
        return await self.get(guild_id)


class GuildSettings:
    """Each guild's effective settings (its own, else `defaults`): what the scheduler, the
    publisher and the release announcer read. Read fresh every time: a /config change takes
    effect at the next post, without a restart."""

    def __init__(self, store: Store, defaults: Defaults) -> None:
        self.configs = GuildConfigStore(store)
        self.defaults = defaults

    async def get(self, guild_id: int) -> Effective:
        return effective(await self.configs.get(guild_id), self.defaults)

    async def all(self) -> dict[int, Effective]:
        """Every guild that has a row (others have all defaults: see `default_for`)."""
        return {c.guild_id: effective(c, self.defaults) for c in await self.configs.all()}

    def default_for(self, guild_id: int) -> Effective:
        return effective(GuildConfig(guild_id), self.defaults)

    async def grace(self, guild_id: int) -> timedelta:
        return (await self.get(guild_id)).grace

    async def announce_channels(self) -> list[Effective]:
        """The guilds that asked for release announcements, by guild id."""
        return [e for e in (await self.all()).values() if e.announce_channel is not None]

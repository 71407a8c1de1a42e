"""Key/value facts about the bot itself, kept in the `meta` table."""

from __future__ import annotations

import time

from bot.store.db import Store


class Meta:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, key: str) -> str | None:
        row = await self._store.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set(self, key: str, value: str) -> None:
        async with self._store.transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, value, time.time()),
            )

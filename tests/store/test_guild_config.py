"""Per-guild settings on a real SQLite file: the announcement channel moved from the old
`announce_channels` table, and each guild's effective settings over the bot-wide defaults."""

from __future__ import annotations

from datetime import timedelta

from bot.store.db import discover_migrations, open_store
from bot.store.guild_config import Defaults, GuildConfigStore, GuildSettings

DEFAULTS = Defaults(timezone="UTC", grace_window=6 * 3600.0, announce_role=42)


async def test_the_old_announce_channels_move_into_guild_config(tmp_path):
    path = tmp_path / "bot.sqlite3"
    before = [m for m in discover_migrations() if m.version < 50]
    async with await open_store(path, migrations=before) as store:
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO announce_channels (guild_id, guild_name, channel_id, set_at, set_by)"
                " VALUES (1, 'VG', 10, 5.0, 7), (2, 'Club', 20, 6.0, 8)"
            )
            # Guild 2 had also set a channel with /config: /feed announce's was in effect.
            await db.execute(
                "INSERT INTO guild_config (guild_id, announce_channel_id, timezone, updated_at)"
                " VALUES (2, 99, 'Europe/Paris', 1.0)"
            )
    async with await open_store(path) as store:
        configs = {c.guild_id: c for c in await GuildConfigStore(store).all()}
        tables = {r[0] for r in await store.fetchall("SELECT name FROM sqlite_master")}
    assert "announce_channels" not in tables
    assert (configs[1].announce_channel, configs[1].guild_name, configs[1].updated_by) == (
        10,
        "VG",
        7,
    )
    assert (configs[2].announce_channel, configs[2].timezone) == (20, "Europe/Paris")


async def test_effective_settings_fall_back_to_the_defaults_one_by_one(tmp_path):
    async with await open_store(tmp_path / "bot.sqlite3") as store:
        configs = GuildConfigStore(store)
        await configs.set(1, "grace_window", 0.0, by=9, now=1.0, guild_name="VG")
        await configs.set(1, "timezone", "Europe/London", by=9, now=2.0)  # name kept
        await configs.set(2, "announce_role", 77, by=9, now=3.0)
        await configs.set(2, "announce_channel", 20, by=9, now=4.0, guild_name="Club")
        guilds = GuildSettings(store, DEFAULTS)
        one, two, three = [await guilds.get(g) for g in (1, 2, 3)]
        subscribed = await guilds.announce_channels()
        assert await guilds.grace(2) == timedelta(hours=6)
    assert one.grace == timedelta(0) and one.timezone == "Europe/London" and one.zone_set
    assert one.announce_role == 42 and one.guild_name == "VG"
    assert two.announce_role == 77 and two.timezone == "UTC" and not two.zone_set
    assert three == guilds.default_for(3) and three.announce_channel is None
    assert [(s.guild_id, s.announce_channel, s.guild_name) for s in subscribed] == [(2, 20, "Club")]

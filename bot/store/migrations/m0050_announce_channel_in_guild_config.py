"""One home for where a guild's release announcements go: `guild_config.announce_channel_id`
(/config channel announcements). The rows of the older `announce_channels` table (/feed
announce) move there; they were the ones in effect, so they win over a /config value. The
guild's name (for templates) is kept beside its settings."""

SQL = """
ALTER TABLE guild_config ADD COLUMN guild_name TEXT NOT NULL DEFAULT '';

INSERT INTO guild_config (guild_id, announce_channel_id, guild_name, updated_at, updated_by)
SELECT guild_id, channel_id, guild_name, set_at, set_by FROM announce_channels WHERE true
ON CONFLICT (guild_id) DO UPDATE SET
    announce_channel_id = excluded.announce_channel_id,
    guild_name = excluded.guild_name;

DROP TABLE announce_channels;
"""

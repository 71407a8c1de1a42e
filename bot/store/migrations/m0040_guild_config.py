"""Per-guild settings that admins set with /config. NULL means "use the bot-wide setting"."""

SQL = """
CREATE TABLE guild_config (
    guild_id INTEGER PRIMARY KEY,
    discussion_channel_id INTEGER,       -- where discussion threads go unless one is named
    announce_channel_id INTEGER,         -- where release announcements go
    announce_role_id INTEGER,            -- the one role an announcement may mention
    timezone TEXT,                       -- IANA zone name plain times are read in
    grace_window REAL CHECK (grace_window IS NULL OR grace_window >= 0), -- seconds
    updated_at REAL NOT NULL,
    updated_by INTEGER
);
"""

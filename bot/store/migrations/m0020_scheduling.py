"""Weekly prompts, moderator schedules, topic rotation history, and the outbox of every post.

Instants are REAL epoch seconds (UTC); Discord ids are INTEGER (snowflakes fit in 63 bits).
The outbox key is `bot.core.schedule.occurrence_key(...)`: one row per post that should
exist, written before anything is sent, so a post is decided once and sent at most once.
"""

SQL = """
-- One weekly prompt per guild. `active_since`: occurrences before it never fire (set again
-- on every /weekly set, so a change never fires a time already past). `style_counter`: how
-- many prompts were planned, for the style rotation.
CREATE TABLE weekly_prompts (
    guild_id INTEGER PRIMARY KEY,
    guild_name TEXT NOT NULL DEFAULT '',
    channel_id INTEGER NOT NULL,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    at_local TEXT NOT NULL,              -- wall-clock 'HH:MM' or 'HH:MM:SS'
    tz TEXT NOT NULL,                    -- IANA zone name
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    style_counter INTEGER NOT NULL DEFAULT 0,
    active_since REAL NOT NULL,
    last_run REAL,                       -- the `now` of the last plan that handled it
    updated_at REAL NOT NULL,
    updated_by INTEGER
);

-- Moderator-scheduled discussion threads: once at `at_utc`, or weekly by (weekday, at_local, tz).
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    guild_name TEXT NOT NULL DEFAULT '',
    channel_id INTEGER NOT NULL,
    topic_slug TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    repeat TEXT NOT NULL CHECK (repeat IN ('once', 'weekly')),
    at_utc REAL,
    weekday INTEGER CHECK (weekday BETWEEN 0 AND 6),
    at_local TEXT,
    tz TEXT NOT NULL,
    created_at REAL NOT NULL,
    created_by INTEGER NOT NULL,
    cancelled_at REAL,
    cancelled_by INTEGER,
    last_run REAL,
    CHECK ((repeat = 'once' AND at_utc IS NOT NULL)
        OR (repeat = 'weekly' AND weekday IS NOT NULL AND at_local IS NOT NULL))
);
CREATE INDEX schedules_guild ON schedules (guild_id, cancelled_at);

-- Topics the weekly prompt used, per guild, oldest first (rowid order): the rotation replays it.
CREATE TABLE topic_history (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    topic_slug TEXT NOT NULL,
    used_at REAL NOT NULL,
    outbox_key TEXT NOT NULL UNIQUE
);
CREATE INDEX topic_history_guild ON topic_history (guild_id, id);

-- Every post the bot makes on its own (weekly prompts, scheduled threads, announcements).
-- pending -> sending (committed before the HTTP call) -> sent; or skipped / failed, with why.
CREATE TABLE outbox (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                  -- template kind: weekly, thread, announce
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    schedule_id INTEGER,                 -- schedules.id for scheduled threads
    payload TEXT NOT NULL,               -- JSON: title, body, open_thread, topic, style
    due_at REAL NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'sending', 'sent', 'skipped', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_at REAL,
    message_id INTEGER,
    thread_id INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX outbox_state ON outbox (state, due_at);
CREATE INDEX outbox_guild ON outbox (guild_id, updated_at);
"""

"""Podcast feeds: their health, the items seen in them, why each item was (not) announced,
the guilds that asked for announcements, and the announcements made.

Instants are REAL epoch seconds (UTC); Discord ids are INTEGER. The announcement posts
themselves are outbox rows (m0020): `feed_announcements` only remembers which outbox row
announced which item, and what the message should look like now (edits, artwork, button).
"""

SQL = """
-- One row per feed URL (or file) ever imported or watched.
CREATE TABLE feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    image TEXT,                          -- the show's artwork
    link TEXT,                           -- the show's web page
    added_at REAL NOT NULL,
    seeded INTEGER NOT NULL DEFAULT 0 CHECK (seeded IN (0, 1)), -- back catalogue imported
    etag TEXT,
    last_modified TEXT,
    last_fetch_at REAL,                  -- last attempt, whatever came of it
    last_status INTEGER,                 -- HTTP status of that attempt (NULL: none, or a file)
    last_not_modified INTEGER NOT NULL DEFAULT 0 CHECK (last_not_modified IN (0, 1)),
    last_ok_at REAL,                     -- last attempt that read the feed (200 or 304)
    last_error TEXT NOT NULL DEFAULT '', -- '' while healthy
    failures INTEGER NOT NULL DEFAULT 0, -- consecutive failed attempts
    next_poll_at REAL,
    items_in_feed INTEGER NOT NULL DEFAULT 0,  -- items in the last document read
    problems TEXT NOT NULL DEFAULT '[]'  -- JSON [text, ...]: the last read's item problems
);

-- Every item ever seen in a feed, by identity (bot.feeds.parse.identity_key).
CREATE TABLE feed_items (
    feed_id INTEGER NOT NULL REFERENCES feeds (id),
    identity TEXT NOT NULL,
    episode_key TEXT NOT NULL,           -- episodes.key of the stored episode
    number INTEGER,
    title TEXT NOT NULL,
    released TEXT,                       -- ISO date, when the feed gives one
    content_hash TEXT NOT NULL,          -- FeedItem.content_hash of the version stored
    complete INTEGER NOT NULL DEFAULT 1 CHECK (complete IN (0, 1)), -- transcript/chapters fetched
    in_feed INTEGER NOT NULL DEFAULT 1 CHECK (in_feed IN (0, 1)),   -- 0: removed from the feed
    first_seen_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    PRIMARY KEY (feed_id, identity)
);
CREATE INDEX feed_items_number ON feed_items (number);

-- What the importer and the watcher decided about each item, oldest first, for /feed why.
CREATE TABLE feed_decisions (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds (id),
    identity TEXT NOT NULL,
    at REAL NOT NULL,
    step TEXT NOT NULL,                  -- e.g. stored, announce, away, backdated, seed, removed
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX feed_decisions_item ON feed_decisions (feed_id, identity, id);

-- Guilds that asked for release announcements, and where.
CREATE TABLE announce_channels (
    guild_id INTEGER PRIMARY KEY,
    guild_name TEXT NOT NULL DEFAULT '',
    channel_id INTEGER NOT NULL,
    style TEXT NOT NULL DEFAULT '',      -- announce template style; '' = the default
    set_at REAL NOT NULL,
    set_by INTEGER
);

-- One row per announcement outbox row. The message is edited whenever `wanted_hash` differs
-- from `applied_hash` (artwork and button after the first post, then every edit of the item).
CREATE TABLE feed_announcements (
    outbox_key TEXT PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds (id),
    identity TEXT NOT NULL,              -- '' for a "while we were away" summary
    guild_id INTEGER NOT NULL,
    wanted TEXT NOT NULL,                -- JSON: title, body, image, listen, tags
    wanted_hash TEXT NOT NULL,
    applied_hash TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE INDEX feed_announcements_item ON feed_announcements (feed_id, identity);
"""

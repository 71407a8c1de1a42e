"""The catalogue: episodes, topics, and the content files they came from."""

SQL = """
CREATE TABLE episodes (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL CHECK (origin IN ('content', 'feed')),
    key TEXT NOT NULL UNIQUE,          -- content: file path; feed: 'feed:' + guid (or number)
    number INTEGER,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    released TEXT,                     -- ISO date
    people TEXT NOT NULL DEFAULT '[]', -- JSON [[name, role, affiliation], ...]
    topics TEXT NOT NULL DEFAULT '[]', -- JSON [slug, ...] as written (unknown ones included)
    links TEXT NOT NULL DEFAULT '[]',  -- JSON [[label, url], ...]
    chapters TEXT NOT NULL DEFAULT '[]', -- JSON [[start, title], ...]
    summary TEXT NOT NULL DEFAULT '',
    guid TEXT,
    source TEXT NOT NULL,              -- content path relative to content/, or the feed URL
    transcript_path TEXT,              -- content only: the transcript file named in the notes
    content_hash TEXT                  -- hash of the file version this row was built from
);
CREATE INDEX episodes_number ON episodes (number);
CREATE INDEX episodes_slug ON episodes (slug);
CREATE INDEX episodes_guid ON episodes (guid);

CREATE TABLE topics (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    aliases TEXT NOT NULL DEFAULT '[]',   -- JSON [alias, ...]
    related TEXT NOT NULL DEFAULT '[]',   -- JSON [slug, ...]
    questions TEXT NOT NULL DEFAULT '[]'  -- JSON [question, ...]
);

-- One row per content file whose current version is in the catalogue, so the next sync can
-- skip it. `size`/`mtime_ns` let an unchanged file be recognised without reading it;
-- `checked_ns` is when it was hashed (a file modified in that same tick is re-read, as git
-- does). Files that are broken or left out are not recorded: every sync looks at them again.
CREATE TABLE content_files (
    path TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    checked_ns INTEGER NOT NULL
);

-- Bumped by every change to the catalogue; readers compare it to notice another process's sync.
CREATE TABLE catalog_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_state (id, version) VALUES (1, 0);
"""

"""Small key/value facts the bot keeps about itself (e.g. the hash of the synced commands)."""

SQL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

"""A missing transcript or chapters file is tried again with backoff: how many tries in a row
failed, and when the next one is due (NULL: at the next read)."""

SQL = """
ALTER TABLE feed_items ADD COLUMN extras_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_items ADD COLUMN extras_retry_at REAL;
"""

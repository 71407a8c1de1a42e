"""A feed whose host ignores conditional requests sends its whole body every poll: the body
last read in full and stored without trouble is noted (FEED_FORMAT and its SHA-256; '' for
none), with when, so the same bytes are not parsed again (bot.services.feeds)."""

SQL = """
ALTER TABLE feeds ADD COLUMN body_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE feeds ADD COLUMN body_read_at REAL;
"""

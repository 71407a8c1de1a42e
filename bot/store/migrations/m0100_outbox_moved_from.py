"""A post a moderator moved to another channel (/weekly set) while it waited for a retry: the
channel it left, until the publisher has looked there for it (the failed attempt may have
reached Discord after all). NULL: never moved, or looked for already."""

SQL = """
ALTER TABLE outbox ADD COLUMN moved_from INTEGER;
"""

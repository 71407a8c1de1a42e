"""A post a moderator moved (/weekly set) that went where it was moved without a look in the
channel it left, which Discord refused the bot (403): the earlier attempt may be there, and
/weekly show says so. NULL: nothing left unchecked."""

SQL = """
ALTER TABLE outbox ADD COLUMN unchecked_in INTEGER;
"""

"""The server a feed decision is about ("posting in <#…>", "not announced in <#…>"), so that
/feed why shows each server its own. NULL: about the item itself, for every server (and every
decision recorded before this step)."""

SQL = """
ALTER TABLE feed_decisions ADD COLUMN guild_id INTEGER;
"""

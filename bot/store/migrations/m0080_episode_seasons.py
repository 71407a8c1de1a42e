"""A feed episode's season (<itunes:season>), so that a show whose seasons count from 1 again
can be asked for "S2E3". NULL: no season given (content/ episodes, most feeds). Episodes stored
before this step get theirs when their feed item next changes."""

SQL = """
ALTER TABLE episodes ADD COLUMN season INTEGER;
"""

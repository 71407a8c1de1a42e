"""The bot's SQLite database.

db.py (connections, migrations, transactions), migrations/ (one module per schema step),
catalog.py (episode and topic rows), sync.py (content/ → catalogue), search.py (FTS5),
directory.py (in-memory names for lookups and autocomplete); other stores (outbox,
scheduling, meta, ...) sit beside them and share `Store`.
"""

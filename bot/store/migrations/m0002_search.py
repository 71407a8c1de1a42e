"""Search documents and their FTS5 index.

`docs` holds every searchable text once: an episode's title/people/summary, each show-notes
section, each transcript passage, each topic. `docs_fts` indexes it as an external-content FTS5
table. Only bot/store/catalog.py writes docs, and it writes docs_fts in the same breath
(`insert_docs`, `delete_docs`): explicit index writes are twice as fast as triggers, and the
foreign keys have no cascade, so no delete can bypass the index. The rowid encodes tier and
owner (see bot/store/search.py) so ranking can prefer notes over transcripts and group hits by
episode without reading rows. Columns are weighted in bm25: title > people > notes > transcript.
"""

SQL = """
CREATE TABLE docs (
    id INTEGER PRIMARY KEY,
    episode_id INTEGER REFERENCES episodes (id),
    topic_id INTEGER REFERENCES topics (id),
    kind TEXT NOT NULL CHECK (kind IN ('episode', 'section', 'passage', 'topic')),
    heading TEXT,
    anchor TEXT,
    start_at REAL,                  -- passage: seconds into the audio
    end_at REAL,
    markdown TEXT,                  -- section body as written (the plain copy below is indexed)
    title TEXT NOT NULL DEFAULT '',
    people TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    transcript TEXT NOT NULL DEFAULT ''
);
CREATE INDEX docs_episode ON docs (episode_id);
CREATE INDEX docs_topic ON docs (topic_id);

CREATE VIRTUAL TABLE docs_fts USING fts5 (
    title, people, notes, transcript,
    content = 'docs', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO docs_fts (docs_fts, rank) VALUES ('rank', 'bm25(10.0, 5.0, 2.0, 1.0)');
"""

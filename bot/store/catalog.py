"""Catalogue rows ↔ models: reading episodes and topics, and writing them with their search
documents. Content files are synced by bot.store.sync; feed items arrive via `upsert_episodes`.

An episode's `topics` column keeps the slugs as written; readers keep only those that name a
topic that exists, so editing topics.yaml never requires rewriting episodes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import aiosqlite

from bot.core.models import Chapter, Episode, Link, Passage, Person, Section, Topic
from bot.store import search
from bot.store.db import Store

log = logging.getLogger(__name__)

ORIGIN_CONTENT = "content"
ORIGIN_FEED = "feed"

_EPISODE_COLUMNS = (
    "id, origin, key, number, slug, title, released, people, topics, links, chapters, "
    "summary, guid, source, transcript_path, content_hash, season"
)


# ------------------------------------------------------------------ rows ↔ models


def episode_values(
    episode_id: int,
    origin: str,
    key: str,
    ep: Episode,
    transcript_path: str | None,
    content_hash: str,
) -> tuple[Any, ...]:
    """A full `episodes` row, in _EPISODE_COLUMNS order."""
    return (
        episode_id,
        origin,
        key,
        ep.number,
        ep.slug,
        ep.title,
        ep.released.isoformat() if ep.released else None,
        json.dumps([[p.name, p.role, p.affiliation] for p in ep.people]),
        json.dumps(list(ep.topics)),
        json.dumps([[lk.label, lk.url] for lk in ep.links]),
        json.dumps([[c.start, c.title] for c in ep.chapters]),
        ep.summary,
        ep.guid,
        ep.source,
        transcript_path,
        content_hash,
        ep.season,
    )


def episode_from_row(
    row: Any,
    sections: Sequence[Section] = (),
    transcript: Sequence[Passage] = (),
    known_topics: set[str] | None = None,
) -> Episode:
    topics = tuple(json.loads(row["topics"]))
    if known_topics is not None:
        topics = tuple(s for s in topics if s in known_topics)
    return Episode(
        number=row["number"],
        title=row["title"],
        slug=row["slug"],
        released=date.fromisoformat(row["released"]) if row["released"] else None,
        people=tuple(Person(n, r, a) for n, r, a in json.loads(row["people"])),
        topics=topics,
        summary=row["summary"],
        sections=tuple(sections),
        chapters=tuple(Chapter(float(s), t) for s, t in json.loads(row["chapters"])),
        links=tuple(Link(label, url) for label, url in json.loads(row["links"])),
        transcript=tuple(transcript),
        guid=row["guid"],
        source=row["source"],
        season=row["season"],
    )


def topic_values(topic_id: int, t: Topic) -> tuple[Any, ...]:
    return (
        topic_id,
        t.slug,
        t.title,
        t.description,
        json.dumps(list(t.aliases)),
        json.dumps(list(t.related)),
        json.dumps(list(t.questions)),
    )


def topic_from_row(row: Any) -> Topic:
    return Topic(
        slug=row["slug"],
        title=row["title"],
        description=row["description"],
        aliases=tuple(json.loads(row["aliases"])),
        related=tuple(json.loads(row["related"])),
        questions=tuple(json.loads(row["questions"])),
    )


# ------------------------------------------------------------------ reads


async def catalog_version(store: Store) -> int:
    """Changes whenever the catalogue does (any process): a cheap freshness check."""
    row = await store.read_quick(
        lambda c: c.execute("SELECT version FROM catalog_state WHERE id = 1").fetchone()
    )
    return int(row[0]) if row else 0


async def list_topics(store: Store) -> list[Topic]:
    rows = await store.fetchall("SELECT * FROM topics ORDER BY title COLLATE NOCASE, slug")
    return [topic_from_row(r) for r in rows]


async def get_episode(
    store: Store,
    *,
    episode_id: int | None = None,
    number: int | None = None,
    slug: str | None = None,
    with_transcript: bool = False,
) -> Episode | None:
    """One episode with its sections (and passages if asked). By number or slug, an episode
    from content/ wins over one from the feed."""
    arg: int | str
    if episode_id is not None:
        where, arg = "id = ?", episode_id
    elif number is not None:
        where, arg = "number = ?", number
    elif slug is not None:
        where, arg = "slug = ?", slug
    else:
        raise ValueError("get_episode needs episode_id, number or slug")
    # One small read on the answer path (/episode): a quick read, done on the event loop.
    sql = f"""SELECT e.*,
               (SELECT json_group_array(json_array(heading, anchor, markdown)) FROM
                   (SELECT heading, anchor, markdown FROM docs
                    WHERE episode_id = e.id AND kind = 'section' ORDER BY id)) AS sections,
               (SELECT json_group_array(slug) FROM topics) AS known
            FROM episodes e WHERE {where}
            ORDER BY origin = 'content' DESC, id LIMIT 1"""
    row = await store.read_quick(lambda c: c.execute(sql, (arg,)).fetchone())
    if row is None:
        return None
    sections = [Section(h, body or "", anchor or "") for h, anchor, body in json.loads(row[-2])]
    passages: list[Passage] = []
    if with_transcript:
        rows = await store.fetchall(
            "SELECT transcript, start_at, end_at FROM docs "
            "WHERE episode_id = ? AND kind = 'passage' ORDER BY id",
            (row["id"],),
        )
        passages = [Passage(r[0], r[1], r[2]) for r in rows]
    return episode_from_row(row, sections, passages, set(json.loads(row[-1])))


async def episodes_of_topic(store: Store, slug: str) -> list[Episode]:
    """Episodes tagged with a topic, newest first (without sections or transcript)."""
    rows = await store.fetchall(
        f"""SELECT {_EPISODE_COLUMNS} FROM episodes
            WHERE EXISTS (SELECT 1 FROM json_each(episodes.topics) WHERE value = ?)
            ORDER BY number DESC, id DESC""",
        (slug,),
    )
    known = {t.slug for t in await list_topics(store)}
    return [episode_from_row(r, known_topics=known) for r in rows]


# ------------------------------------------------------------------ writes (inside a transaction)

_UPSERT_EPISODE = (
    f"INSERT INTO episodes ({_EPISODE_COLUMNS}) VALUES ({', '.join('?' * 17)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _EPISODE_COLUMNS.split(", ")[1:])
)


async def next_id(db: aiosqlite.Connection, table: str) -> int:
    rows = list(await db.execute_fetchall(f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))
    return int(rows[0][0])


async def insert_docs(
    db: aiosqlite.Connection,
    docs: Sequence[search.DocRow],
    unindexed: list[search.DocRow] | None = None,
) -> int:
    """Add search documents and index them (docs_fts is written here, not by triggers).
    Given `unindexed`, the documents are appended to it instead of indexed: the caller indexes
    them with `index_docs` before its transaction ends, and deletes none of them meanwhile
    (the index would be told to forget words it was never given)."""
    if docs:
        await db.executemany(search.INSERT_DOC, docs)
        if unindexed is None:
            await db.executemany(search.INSERT_FTS, [search.fts_values(d) for d in docs])
        else:
            unindexed.extend(docs)
    return len(docs)


async def index_docs(db: aiosqlite.Connection, docs: Sequence[search.DocRow]) -> None:
    """Index documents whose rows `insert_docs` wrote unindexed, in rowid order: FTS5 writes
    its pending entries out as a new segment whenever a rowid is lower than the last one, so
    a bulk load written in one ascending pass (with a buffer big enough) is one segment, which
    `optimize_index` then has nothing to merge."""
    ordered = sorted(docs, key=_doc_id)
    await db.executemany(search.INSERT_FTS, map(search.fts_values, ordered))


def _doc_id(doc: search.DocRow) -> int:
    return int(doc[0])


# After writing this many search documents in one transaction (a first content load, a big
# feed import), the index is merged into one segment: about a second per 100,000 documents,
# and queries on it are faster (a 2,000-episode feed import left 5 segments: p50 of a
# candidate query 1.07 → 0.93 ms after merging, for 0.15 s). Smaller writes leave merging
# to FTS5's automerge.
OPTIMIZE_AFTER_DOCS = 2000


# A bulk load's FTS5 buffer of pending index entries (FTS5 writes it out as a segment when
# full; 1 MiB by default). A ceiling, not an allocation (bot/store/sync.py measures it).
BULK_FTS_HASHSIZE = 256 * 1024 * 1024
FTS_HASHSIZE = 1024 * 1024
BULK_FEED_EPISODES = 200  # a feed import writing this many episodes is written as a bulk load


async def set_fts_hashsize(db: aiosqlite.Connection, size: int) -> None:
    """Inside a transaction: an FTS5 special insert setting the index's config."""
    await db.execute("INSERT INTO docs_fts (docs_fts, rank) VALUES ('hashsize', ?)", (size,))


async def optimize_index(db: aiosqlite.Connection) -> None:
    """Merge the index into one segment: after a bulk load, each query then reads one b-tree
    per term instead of dozens (several times faster snippets and lookups)."""
    await db.execute("INSERT INTO docs_fts (docs_fts) VALUES ('optimize')")


async def delete_docs(db: aiosqlite.Connection, where: str, args: Sequence[Any] = ()) -> None:
    """Remove the documents matching `where` (with `args`) from docs and the index. The index
    needs the exact text it indexed to forget it: docs still has it.

    Nothing is run when nothing matches: a statement that may change several rows opens a
    statement savepoint, and FTS5 writes its pending entries out as a new segment at each one,
    so a load into an empty catalogue that asked to forget each episode's old documents first
    would cut its index into a segment per batch."""
    rows = await db.execute_fetchall(f"SELECT EXISTS (SELECT 1 FROM docs WHERE {where})", args)
    if not next(iter(rows))[0]:
        return
    await db.execute(
        "INSERT INTO docs_fts (docs_fts, rowid, title, people, notes, transcript) "
        f"SELECT 'delete', id, title, people, notes, transcript FROM docs WHERE {where}",
        args,
    )
    await db.execute(f"DELETE FROM docs WHERE {where}", args)


def _ids(ids: Iterable[int]) -> tuple[str]:
    """One parameter for `IN (SELECT value FROM json_each(?))`: a whole batch in one statement."""
    return (json.dumps(list(ids)),)


_IN_IDS = "IN (SELECT value FROM json_each(?))"


async def write_episodes(
    db: aiosqlite.Connection,
    rows: Sequence[tuple[tuple[Any, ...], Episode]],
    unindexed: list[search.DocRow] | None = None,
    notes: Sequence[Sequence[search.DocRow] | None] = (),
) -> int:
    """Insert or update episode rows and rebuild their notes documents (not the passages).
    Returns the number of documents written. `unindexed`: see insert_docs. `notes`, when
    given, holds for each row `search.notes_docs(0, episode)` built beforehand (in a worker
    process: the text clean-up is most of the cost), or None to build them here."""
    if not rows:
        return 0
    await db.executemany(_UPSERT_EPISODE, [values for values, _ in rows])
    await delete_docs(
        db, f"episode_id {_IN_IDS} AND kind <> 'passage'", _ids(values[0] for values, _ in rows)
    )
    docs: list[search.DocRow] = []
    for i, (values, ep) in enumerate(rows):
        built = notes[i] if i < len(notes) else None
        if built is None:
            docs += search.notes_docs(values[0], ep)
        else:
            docs += _owned(built, values[0])
    return await insert_docs(db, docs, unindexed)


def _owned(docs: Sequence[search.DocRow], episode_id: int) -> list[search.DocRow]:
    """Notes documents built for episode id 0, given to `episode_id` (ids: search.doc_id)."""
    base = search.doc_id(search.TIER_NOTES, episode_id, 0)
    return [(base | (d[0] & search.MAX_POSITION), episode_id, *d[2:]) for d in docs]


async def write_passages(
    db: aiosqlite.Connection,
    passages: Sequence[tuple[int, Sequence[Passage]]],
    unindexed: list[search.DocRow] | None = None,
) -> int:
    """Replace the transcript passages of episodes (an empty sequence removes them).
    Returns the number of documents written. `unindexed`: see insert_docs."""
    if not passages:
        return 0
    await delete_docs(
        db, f"episode_id {_IN_IDS} AND kind = 'passage'", _ids(i for i, _ in passages)
    )
    return await insert_docs(
        db,
        [d for episode_id, ps in passages for d in search.passage_docs(episode_id, ps)],
        unindexed,
    )


async def delete_episodes(db: aiosqlite.Connection, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        await delete_docs(db, f"episode_id {_IN_IDS}", _ids(ids))
        await db.executemany("DELETE FROM episodes WHERE id = ?", [(i,) for i in ids])


async def replace_topics(
    db: aiosqlite.Connection,
    topics: Sequence[Topic],
    unindexed: list[search.DocRow] | None = None,
) -> int:
    await delete_docs(db, "topic_id IS NOT NULL")
    await db.execute("DELETE FROM topics")
    await db.executemany(
        "INSERT INTO topics (id, slug, title, description, aliases, related, questions) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [topic_values(i, t) for i, t in enumerate(topics, start=1)],
    )
    return await insert_docs(
        db, [d for i, t in enumerate(topics, start=1) for d in search.topic_docs(i, t)], unindexed
    )


async def bump_version(db: aiosqlite.Connection) -> None:
    await db.execute("UPDATE catalog_state SET version = version + 1 WHERE id = 1")


# ------------------------------------------------------------------ the feed importer


@dataclass(frozen=True)
class UpsertReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0  # already in content/ (the curated notes win over the feed)


# Hashes of stored feed episodes carry this prefix since the transcript is hashed as plain
# tuples: the repr of its Passage dataclasses cost ~0.15 ms per episode, a tenth of a 2,000-
# episode import's storing. A hash without it is checked the old way (same_episode).
_HASH_V2 = "2:"


def episode_hash(ep: Episode) -> str:
    h = hashlib.blake2b(repr(replace(ep, transcript=())).encode(), digest_size=16)
    h.update(repr([(p.text, p.start, p.end) for p in ep.transcript]).encode())
    return _HASH_V2 + h.hexdigest()


def same_episode(stored_hash: str, ep: Episode, digest: str) -> bool:
    """Is `ep` (whose episode_hash is `digest`) what was stored with `stored_hash`?"""
    if stored_hash.startswith(_HASH_V2):
        return stored_hash == digest
    return stored_hash == hashlib.blake2b(repr(ep).encode(), digest_size=16).hexdigest()


def feed_key(ep: Episode, source: str) -> str:
    """Identity of a feed item: its guid, else its number or slug within that feed."""
    if ep.guid:
        return f"feed:{ep.guid}"
    return f"feed:{source}#{ep.number if ep.number is not None else ep.slug}"


@dataclass(frozen=True)
class ContentClaims:
    """The episodes content/ describes: a feed item with one of their numbers, guids or slugs
    is theirs (the curated notes win). Slug -> the number of its content episode."""

    numbers: frozenset[int]
    guids: frozenset[str]
    slugs: dict[str, int | None]

    @classmethod
    def from_rows(cls, rows: Sequence[Any]) -> ContentClaims:
        """Rows of (number, guid, slug) of content/'s episodes."""
        return cls(
            frozenset(int(r[0]) for r in rows if r[0] is not None),
            frozenset(r[1] for r in rows if r[1]),
            {r[2]: r[0] for r in rows},
        )

    def claims(self, ep: Episode) -> bool:
        return self.claims_item(ep.number, ep.guid, ep.slug)

    def claims_item(self, number: int | None, guid: str | None, slug: str) -> bool:
        if number in self.numbers or (guid is not None and guid in self.guids):
            return True
        if slug not in self.slugs:
            return False
        # A slug comes from a title: an episode of another number that shares it (a rerun, a
        # part two) is another episode, not content/'s.
        owner = self.slugs[slug]
        return number is None or owner is None or owner == number


CONTENT_CLAIMS_SQL = "SELECT number, guid, slug FROM episodes WHERE origin = 'content'"


async def upsert_episodes(
    store: Store,
    episodes: Sequence[Episode],
    source: str,
    *,
    optimize_after: int = OPTIMIZE_AFTER_DOCS,
    bulk_min: int = BULK_FEED_EPISODES,
) -> UpsertReport:
    """Add or update episodes from a feed (`source` = the feed URL). Never deletes: a feed
    shows only its latest items. An episode already described in content/ (same number,
    guid or slug) is skipped: the show notes there are the curated version. Writing at least
    `optimize_after` search documents merges the index (see OPTIMIZE_AFTER_DOCS); writing at
    least `bulk_min` episodes is a bulk load (one ascending pass)."""
    added = changed = unchanged = skipped = 0
    async with store.transaction() as db:
        content = ContentClaims.from_rows(list(await db.execute_fetchall(CONTENT_CLAIMS_SQL)))
        existing = {
            r[0]: (r[1], r[2])
            for r in await db.execute_fetchall(
                "SELECT key, id, content_hash FROM episodes WHERE origin = 'feed'"
            )
        }
        new_id = await next_id(db, "episodes")
        rows: list[tuple[tuple[Any, ...], Episode]] = []
        passages: list[tuple[int, Sequence[Passage]]] = []
        for ep in episodes:
            if content.claims(ep):
                skipped += 1
                continue
            key = feed_key(ep, source)
            digest = episode_hash(ep)
            if key in existing:
                episode_id, old = existing[key]
                if same_episode(old, ep, digest):
                    unchanged += 1
                    continue
                changed += 1
            else:
                episode_id, new_id = new_id, new_id + 1
                added += 1
            existing[key] = (episode_id, digest)
            source_ep = ep if ep.source else replace(ep, source=source)
            rows.append((episode_values(episode_id, ORIGIN_FEED, key, source_ep, None, digest), ep))
            passages.append((episode_id, ep.transcript))
        # A big import (a new feed's back catalogue) is indexed in one ascending pass with a
        # big buffer, as a first content load is: one segment, nothing for optimize to merge.
        bulk = len(rows) >= bulk_min
        unindexed: list[search.DocRow] | None = [] if bulk else None
        if bulk:
            await set_fts_hashsize(db, BULK_FTS_HASHSIZE)
        written = await write_episodes(db, rows, unindexed)
        written += await write_passages(db, passages, unindexed)
        if unindexed:
            await index_docs(db, unindexed)
        if bulk:
            await set_fts_hashsize(db, FTS_HASHSIZE)
        if rows:
            await bump_version(db)
        if written >= optimize_after:
            await optimize_index(db)
    log.info(
        "feed %s: %d added, %d changed, %d unchanged, %d skipped (in content/)",
        source,
        added,
        changed,
        unchanged,
        skipped,
    )
    return UpsertReport(added, changed, unchanged, skipped)

"""What gets indexed (search documents) and the FTS5 queries that rank and quote it.

Document ids encode where a document sits, so ranking needs no row reads:

    id = tier << 52 | owner << 20 | position

tier 2 = a topic entry (owner = topic id), 1 = an episode's notes (title/people/summary at
position 0, then one document per section), 0 = its transcript passages (owner = episode id).
A query ranks (bm25) at most CANDIDATES matches, taken in id order from the top: topics, then
notes of the newest episodes, then transcripts. For the rare word or phrase (almost every real
question) that is every match; for a word found in thousands of passages it bounds the work,
at the cost of ignoring the oldest transcript passages for that word. Then one hit per episode
is kept, the asking topic's own episodes first, and only those few get a snippet.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from bot.core.answers import ELLIPSIS, MARK_END, MARK_START, EpisodeRef, Hit
from bot.core.models import Chapter, Episode, Passage, Topic
from bot.store.db import Store

log = logging.getLogger(__name__)

TIER_PASSAGE, TIER_NOTES, TIER_TOPIC = 0, 1, 2
_TIER_SHIFT = 52
_OWNER_SHIFT = 20
MAX_OWNER = (1 << 32) - 1
MAX_POSITION = (1 << _OWNER_SHIFT) - 1
CANDIDATES = 1000
SNIPPET_TOKENS = 30  # words in an excerpt

DOC_COLUMNS = (
    "id, episode_id, topic_id, kind, heading, anchor, start_at, end_at, markdown, "
    "title, people, notes, transcript"
)
INSERT_DOC = f"INSERT INTO docs ({DOC_COLUMNS}) VALUES ({', '.join('?' * 13)})"

INSERT_FTS = "INSERT INTO docs_fts (rowid, title, people, notes, transcript) VALUES (?, ?, ?, ?, ?)"

DocRow = tuple[Any, ...]


def fts_values(doc: DocRow) -> tuple[Any, ...]:
    """The indexed part of a docs row: id and the four text columns."""
    return (doc[0], *doc[9:13])


def doc_id(tier: int, owner: int, position: int) -> int:
    if not 0 <= owner <= MAX_OWNER or not 0 <= position <= MAX_POSITION:
        raise ValueError(f"document id out of range: owner {owner}, position {position}")
    return tier << _TIER_SHIFT | owner << _OWNER_SHIFT | position


def tier_range(tier: int) -> tuple[int, int]:
    """[low, high) ids of a tier."""
    return tier << _TIER_SHIFT, (tier + 1) << _TIER_SHIFT


# ------------------------------------------------------------------ documents

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # images and links: keep the visible text
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_EMPHASIS = re.compile(r"[*_`~]+")
_MARKERS = re.compile(f"[{MARK_START}{MARK_END}]")


def plain_text(markdown: str) -> str:
    """Markdown as the words a reader sees, for indexing and excerpts. Markup characters
    become spaces (the tokenizer splits on them anyway; excerpts collapse spaces)."""
    text = _LINK.sub(r"\1", markdown) if "](" in markdown else markdown
    if "<" in text:
        text = _AUTOLINK.sub(r"\1", text)
    return _clean(_EMPHASIS.sub(" ", text))


def _clean(text: str) -> str:
    # The snippet markers must never come from the text itself.
    if MARK_START in text or MARK_END in text:
        return _MARKERS.sub(" ", text)
    return text


def notes_docs(episode_id: int, episode: Episode) -> list[DocRow]:
    """The episode's title/people/summary document and one per section."""
    people = " ".join(
        f"{p.name} {p.affiliation}".strip() for p in episode.people if p.name or p.affiliation
    )
    rows: list[DocRow] = [
        (
            doc_id(TIER_NOTES, episode_id, 0),
            episode_id,
            None,
            "episode",
            None,
            None,
            None,
            None,
            episode.summary,
            _clean(episode.title),
            _clean(people),
            plain_text(episode.summary),
            "",
        )
    ]
    for i, section in enumerate(episode.sections[:MAX_POSITION], start=1):
        rows.append(
            (
                doc_id(TIER_NOTES, episode_id, i),
                episode_id,
                None,
                "section",
                section.heading,
                section.anchor,
                None,
                None,
                section.body,
                _clean(section.heading),
                "",
                plain_text(section.body),
                "",
            )
        )
    return rows


def passage_docs(episode_id: int, passages: Sequence[Passage]) -> list[DocRow]:
    return [
        (
            doc_id(TIER_PASSAGE, episode_id, i),
            episode_id,
            None,
            "passage",
            None,
            None,
            p.start,
            p.end,
            None,
            "",
            "",
            "",
            _clean(p.text),
        )
        for i, p in enumerate(passages[: MAX_POSITION + 1])
    ]


def topic_docs(topic_id: int, topic: Topic) -> list[DocRow]:
    names = " · ".join((topic.title, *topic.aliases))
    return [
        (
            doc_id(TIER_TOPIC, topic_id, 0),
            None,
            topic_id,
            "topic",
            None,
            None,
            None,
            None,
            topic.description,
            _clean(names),
            "",
            plain_text(topic.description),
            "",
        )
    ]


# ------------------------------------------------------------------ queries

# One statement, one thread hop: bounded candidates → best per episode → own episodes first →
# snippets for the few kept. CROSS JOIN keeps SQLite from scanning docs_fts per `pick` row.
_SEARCH = f"""
WITH cand AS (
    SELECT rowid AS id, bm25(docs_fts, 10.0, 5.0, 2.0, 1.0) AS score
    FROM docs_fts WHERE docs_fts MATCH :q AND rowid < :below
    ORDER BY rowid DESC LIMIT :cap
), grouped AS (
    SELECT id, score,
           CASE WHEN id >= {TIER_TOPIC << _TIER_SHIFT} THEN id >> {_OWNER_SHIFT}
                ELSE (id >> {_OWNER_SHIFT}) & {MAX_OWNER} END AS grp
    FROM cand
), best AS (
    SELECT id, score, grp,
           row_number() OVER (PARTITION BY grp ORDER BY score, id DESC) AS n
    FROM grouped
), pick AS (
    SELECT id, score,
           (id < {TIER_TOPIC << _TIER_SHIFT} AND grp IN (SELECT value FROM json_each(:own)))
               AS own
    FROM best WHERE n = 1
    ORDER BY own DESC, score LIMIT :limit
)
SELECT pick.id, pick.score, pick.own, d.kind, d.heading, d.start_at,
       snippet(docs_fts, -1, :a, :b, :e, {SNIPPET_TOKENS}) AS marked,
       e.number, e.title AS episode_title, e.links, e.chapters,
       t.slug AS topic_slug, t.title AS topic_title
FROM pick
CROSS JOIN docs_fts ON docs_fts.rowid = pick.id
CROSS JOIN docs d ON d.id = pick.id
LEFT JOIN episodes e ON e.id = d.episode_id
LEFT JOIN topics t ON t.id = d.topic_id
WHERE docs_fts MATCH :q
ORDER BY pick.own DESC, pick.score
"""


async def search(
    store: Store,
    expression: str,
    *,
    own: Sequence[int] = (),
    limit: int = 8,
    include_topics: bool = True,
    columns: Sequence[str] = (),
) -> list[Hit]:
    """Best hits for an FTS5 expression (from bot.core.query), one per episode or topic.

    `own`: episode ids ranked before all others (the asked topic's episodes). `columns`
    restricts matching to some of title, people, notes, transcript.
    """
    if not expression:
        return []
    if columns:
        expression = "{" + " ".join(columns) + "} : (" + expression + ")"
    below = tier_range(TIER_TOPIC)[1 if include_topics else 0]
    params = {
        "q": expression,
        "below": below,
        "cap": CANDIDATES,
        "own": json.dumps(list(own)),
        "limit": limit,
        "a": MARK_START,
        "b": MARK_END,
        "e": ELLIPSIS,
    }
    rows = await store.fetchall(_SEARCH, params)
    return [_hit(r) for r in rows]


def _hit(row: Any) -> Hit:
    episode = None
    chapters: tuple[Chapter, ...] = ()
    if row["episode_title"] is not None:
        links = dict(json.loads(row["links"]))
        episode = EpisodeRef(row["number"], row["episode_title"], links.get("episode"))
        chapters = tuple(Chapter(float(s), t) for s, t in json.loads(row["chapters"]))
    return Hit(
        kind=row["kind"],
        marked=row["marked"] or "",
        score=float(row["score"]),
        episode=episode,
        heading=row["heading"],
        start=row["start_at"],
        chapters=chapters,
        topic_slug=row["topic_slug"],
        topic_title=row["topic_title"] or "",
        own=bool(row["own"]),
    )

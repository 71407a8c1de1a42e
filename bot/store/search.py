"""What gets indexed (search documents) and the FTS5 queries that rank and quote it.

Document ids encode where a document sits, so ranking needs no row reads:

    id = tier << 52 | owner << 20 | position

tier 2 = a topic entry (owner = topic id), 1 = an episode's notes (title/people/summary at
position 0, then one document per section), 0 = its transcript passages (owner = episode id).
A query ranks (bm25, ~2 µs a document) at most CANDIDATES matches, taken in id order from
the top: topics, then notes of the newest episodes, then transcripts. For a rare word or a
phrase (most real questions, and every topic name in the shipped content) that is every
match; for a word found in thousands of documents it bounds the work, at the cost of ranking
only the newest notes and passages that contain it. Then one hit per episode is kept, the
asked topic's own episodes first, and only the few shown get a snippet. When the asked
topic's own episodes fill the reply, bm25 is skipped: they are quoted newest first, as they
are listed (`newest_own`).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core.answers import ELLIPSIS, MARK_END, MARK_START, MAX_EXCERPTS, EpisodeRef, Hit
from bot.core.models import Chapter, Episode, Passage, Topic
from bot.store.db import Store

log = logging.getLogger(__name__)

TIER_PASSAGE, TIER_NOTES, TIER_TOPIC = 0, 1, 2
_TIER_SHIFT = 52
_OWNER_SHIFT = 20
MAX_OWNER = (1 << 32) - 1
MAX_POSITION = (1 << _OWNER_SHIFT) - 1
CANDIDATES = 100  # documents ranked per query at most (see the module doc)
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

# Two statements, run together in one read (Store.read_quick). The first ranks the
# candidates (rowid and bm25 only: no row is read). Grouping per episode and the own-first
# order are done in Python, where they cost ~0.1 ms for hundreds of candidates (SQLite window
# functions took over 1 ms). The second reads the few rows kept. Quoted rows need snippet(),
# which needs a full-text cursor on the row: one cursor walking the candidates' rowid range
# (at most CANDIDATES matches, since candidates are the top of the rowid order) costs half as
# much as a MATCH per row. The `+` keeps SQLite from turning the IN list into one lookup per
# id; CROSS JOIN keeps docs_fts the outer loop.
_TOPIC_BASE = TIER_TOPIC << _TIER_SHIFT
_CANDIDATES = """
SELECT rowid, bm25(docs_fts, 10.0, 5.0, 2.0, 1.0) FROM docs_fts
WHERE docs_fts MATCH :q AND rowid < :below ORDER BY rowid DESC LIMIT :cap
"""
# A topic's own episodes fill its reply (a topic with many episodes): they are listed and
# quoted newest first, so bm25 is not needed, and it is what a topic query costs most (its
# phrases are counted across the whole index first: ~0.5 ms of ~0.8 at 10,000 episodes).
_UNRANKED = """
SELECT rowid FROM docs_fts
WHERE docs_fts MATCH :q AND rowid < :below ORDER BY rowid DESC LIMIT :cap
"""
_DOC_COLUMNS = """d.id, d.kind, d.episode_id, d.heading, d.start_at, d.end_at, e.number,
       e.title AS episode_title, e.links, e.chapters, t.slug AS topic_slug,
       t.title AS topic_title"""
_DOC_JOINS = """LEFT JOIN episodes e ON e.id = d.episode_id
LEFT JOIN topics t ON t.id = d.topic_id"""
# Notes are quoted from their text (column 2) when it matches, and with it when the best
# column was only the name (heading or title) that the citation states anyway; see _quote.
_DETAILS = f"""
SELECT {_DOC_COLUMNS}, snippet(docs_fts, -1, :a, :b, :e, {SNIPPET_TOKENS}) AS marked,
       CASE WHEN d.kind = 'passage' THEN d.transcript END AS body,
       CASE WHEN d.kind IN ('episode', 'section')
            THEN snippet(docs_fts, 2, :a, :b, :e, {SNIPPET_TOKENS}) END AS text_marked
FROM docs_fts
CROSS JOIN docs d ON d.id = docs_fts.rowid
{_DOC_JOINS}
WHERE docs_fts MATCH :q AND docs_fts.rowid BETWEEN :lo AND :hi
  AND +docs_fts.rowid IN (SELECT value FROM json_each(:quote))
UNION ALL
SELECT {_DOC_COLUMNS}, NULL AS marked, NULL AS body, NULL AS text_marked
FROM json_each(:plain) AS pick
CROSS JOIN docs d ON d.id = pick.value
{_DOC_JOINS}
"""
_VERSION = "SELECT version FROM catalog_state WHERE id = 1"


@dataclass(frozen=True)
class Ranking:
    """Which candidates to show, in order, and what the whole candidate set held."""

    ids: list[int]  # one document per episode or topic, best first (own episodes first)
    scores: dict[int, float]
    own: set[int]  # ids (among `ids`) from the asked topic's own episodes
    quote: list[int]  # ids to quote: the first `quoted` episode documents
    episodes: int  # distinct episodes among the candidates
    others: int  # of those, not own


def rank(
    candidates: Sequence[tuple[int, float]], own: Sequence[int], limit: int, quoted: int
) -> Ranking:
    """Best document per episode (or topic), own episodes first, then by score (lower is
    better, as bm25 in SQLite; on a tie the higher id). Pure: the candidates come from the
    first query. Runs per answer over up to CANDIDATES rows, so the loop is kept plain."""
    best: dict[int, tuple[float, int]] = {}
    get = best.get
    for doc, score in candidates:
        # The episode id of an episode's document; the topic id (with its tier) of a topic's.
        group = doc >> _OWNER_SHIFT if doc >= _TOPIC_BASE else (doc >> _OWNER_SHIFT) & MAX_OWNER
        current = get(group)
        if current is None or score < current[0] or (score == current[0] and doc > current[1]):
            best[group] = (score, doc)
    owned = set(own)
    episodes = mine = 0
    order: list[tuple[bool, float, int]] = []  # (not own, score, -id): sorts best first
    for group, (score, doc) in best.items():
        is_own = False
        if doc < _TOPIC_BASE:
            episodes += 1
            if group in owned:
                is_own = True
                mine += 1
        order.append((not is_own, score, -doc))
    order.sort()
    top = order[:limit]
    ids = [-negative for _, _, negative in top]
    return Ranking(
        ids=ids,
        scores={-negative: score for _, score, negative in top},
        own={-negative for not_own, _, negative in top if not not_own},
        quote=[doc for doc in ids if doc < _TOPIC_BASE][:quoted],
        episodes=episodes,
        others=episodes - mine,
    )


def newest_own(
    candidates: Sequence[int], own: Sequence[int], limit: int, quoted: int
) -> Ranking | None:
    """The first `limit` of the `own` episodes (in the order given: newest first) that have a
    document among the candidates, each by its notes (summary before sections) or else its
    earliest passage, when `limit` of them have one; None otherwise (then rank instead).
    Pure, no bm25: scores are 0."""
    firsts: dict[int, int] = {}
    get = firsts.get
    for doc in candidates:
        if doc >= _TOPIC_BASE:
            continue
        group = (doc >> _OWNER_SHIFT) & MAX_OWNER
        current = get(group)
        # Notes (tier 1) before passages (tier 0), then the lowest position in the tier.
        if current is None:
            firsts[group] = doc
        else:
            tier, current_tier = doc >> _TIER_SHIFT, current >> _TIER_SHIFT
            if tier > current_tier or (tier == current_tier and doc < current):
                firsts[group] = doc
    ids = [firsts[e] for e in own if e in firsts][:limit]
    if len(ids) < limit:
        return None
    mine = len({e for e in own if e in firsts})
    return Ranking(
        ids=ids,
        scores=dict.fromkeys(ids, 0.0),
        own=set(ids),
        quote=ids[:quoted],
        episodes=len(firsts),
        others=len(firsts) - mine,
    )


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    episodes: int = 0  # distinct episodes among the ranked matches
    others: int = 0  # of those, episodes not in `own`
    capped: bool = False  # more documents matched than were ranked (CANDIDATES)
    version: int | None = None  # the catalogue version searched (see catalog.catalog_version)
    attempt: int = 0  # search_first: which of the expressions these are the results of


async def search(
    store: Store,
    expression: str,
    *,
    own: Sequence[int] = (),
    limit: int = 8,
    quoted: int = MAX_EXCERPTS,
    include_topics: bool = True,
    columns: Sequence[str] = (),
) -> Results:
    """Best hits for an FTS5 expression (from bot.core.query), one per episode or topic.

    `own`: episode ids ranked before all others (the asked topic's episodes), newest first.
    When `limit` of them match, they alone are returned, newest first, unranked (see
    `newest_own`); `episodes` and `others` still count the candidates. Only the first
    `quoted` episode hits get a snippet (`marked`); the others (and topic entries) come with
    an empty one, as a snippet costs a full-text lookup per row. `columns` restricts
    matching to some of title, people, notes, transcript.
    """
    return await search_first(
        store,
        [expression],
        own=own,
        limit=limit,
        quoted=quoted,
        include_topics=include_topics,
        columns=columns,
    )


async def search_first(
    store: Store,
    expressions: Sequence[str],
    *,
    own: Sequence[int] = (),
    limit: int = 8,
    quoted: int = MAX_EXCERPTS,
    include_topics: bool = True,
    columns: Sequence[str] = (),
) -> Results:
    """`search` for each expression in turn, all in one read: the results of the first
    that has hits (empty results if none has)."""
    if columns:
        within = "{" + " ".join(columns) + "} : "
        expressions = [within + "(" + e + ")" for e in expressions if e]
    attempts = [e for e in dict.fromkeys(expressions) if e]
    if not attempts:
        return Results([])
    below = tier_range(TIER_TOPIC)[1 if include_topics else 0]

    def run(conn: sqlite3.Connection) -> Results:  # one read in all; it may run twice
        version = conn.execute(_VERSION).fetchone()[0]
        for i, expression in enumerate(attempts):
            results = _search(conn, expression, below, own, limit, quoted)
            if results.hits:
                return replace(results, version=version, attempt=i)
        return Results([], version=version)

    return await store.read_quick(run)


def _search(
    conn: sqlite3.Connection,
    expression: str,
    below: int,
    own: Sequence[int],
    limit: int,
    quoted: int,
) -> Results:
    args = {"q": expression, "below": below, "cap": CANDIDATES}
    ranking = None
    if len(own) >= limit:
        found = [r[0] for r in conn.execute(_UNRANKED, args)]
        if not found:
            return Results([])
        ranking = newest_own(found, own, limit, quoted)
        matched = len(found)
    if ranking is None:
        candidates = conn.execute(_CANDIDATES, args).fetchall()
        if not candidates:
            return Results([])
        ranking = rank([(r[0], r[1]) for r in candidates], own, limit, quoted)
        matched = len(candidates)
    quote = set(ranking.quote)
    rows = conn.execute(
        _DETAILS,
        {
            "q": expression,
            "quote": json.dumps(ranking.quote),
            "lo": min(ranking.quote, default=0),
            "hi": max(ranking.quote, default=-1),
            "plain": json.dumps([i for i in ranking.ids if i not in quote]),
            "a": MARK_START,
            "b": MARK_END,
            "e": ELLIPSIS,
        },
    ).fetchall()
    by_id = {r["id"]: r for r in rows}
    return Results(
        [_hit(by_id[i], ranking) for i in ranking.ids if i in by_id],
        episodes=ranking.episodes,
        others=ranking.others,
        capped=matched >= CANDIDATES,
    )


def matched_at(marked: str, body: str, start: float, end: float) -> float:
    """When in a passage (`start`..`end` seconds) its first matched word is said, estimated by
    its place in the text: a passage is ~250 words, up to two minutes, and citing its start
    could be that far off. Speech runs at a fairly even pace; the estimate stays within the
    passage and is a whole second."""
    first = marked.find(MARK_START)
    if first < 0 or end <= start or not body:
        return start
    before = _MARKERS.sub("", marked[:first]).lstrip(ELLIPSIS)
    plain = _MARKERS.sub("", marked).strip(ELLIPSIS)
    at = body.find(plain)
    if at < 0:
        return start
    share = (at + len(before)) / len(body)
    return float(int(start + share * (end - start)))


def _quote(row: Any) -> str:
    """The snippet to show: the notes' own text, never a heading or title alone, which the
    citation names already and which says nothing of what was said."""
    marked: str = row["marked"] or ""
    text: str | None = row["text_marked"]
    if not text:  # a passage, or notes without text
        return marked
    if MARK_START in text:
        return text
    name = row["heading"] if row["kind"] == "section" else row["episode_title"]
    if name is not None and _unmarked(marked) == " ".join(name.split()):
        # Only the name matched: it stays, marked, to show why, followed by what it heads.
        return f"{marked} — {text}"
    return marked  # another column (the guests' names) matched: quote that


def _unmarked(marked: str) -> str:
    return " ".join(_MARKERS.sub("", marked).strip(ELLIPSIS).split())


def _hit(row: Any, ranking: Ranking) -> Hit:
    episode = None
    chapters: tuple[Chapter, ...] = ()
    if row["episode_title"] is not None:
        links = dict(json.loads(row["links"]))
        episode = EpisodeRef(row["number"], row["episode_title"], links.get("episode"))
        if row["kind"] == "passage":  # only a passage is cited by its chapter
            chapters = tuple(Chapter(float(s), t) for s, t in json.loads(row["chapters"]))
    doc = row["id"]
    start = row["start_at"]
    if row["body"] and row["marked"] and start is not None and row["end_at"] is not None:
        start = matched_at(row["marked"], row["body"], start, row["end_at"])
    return Hit(
        kind=row["kind"],
        marked=_quote(row),
        score=ranking.scores[doc],
        episode=episode,
        heading=row["heading"],
        start=start,
        chapters=chapters,
        topic_slug=row["topic_slug"],
        topic_title=row["topic_title"] or "",
        own=doc in ranking.own,
        episode_id=row["episode_id"],
    )

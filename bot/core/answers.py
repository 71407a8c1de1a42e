"""Replies for /episode, /topic and search, built from plain data. Pure: no I/O, no Discord.

Every sentence a reply states comes from the catalogue (show notes, topics, transcripts) or is
a fixed phrase of ours; when nothing matches, the reply says so and suggests close names
instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from bot.core.models import (
    Chapter,
    Citation,
    Episode,
    Excerpt,
    Field,
    Link,
    Reply,
    Topic,
    format_timestamp,
)
from bot.core.text import escape_markdown, escape_mentions, truncate
from bot.core.urls import web_url

# Private-use characters around matched words in search snippets: they cannot occur in
# indexed text (stripped at indexing), so they mark matches unambiguously.
MARK_START = "\ue000"
MARK_END = "\ue001"
ELLIPSIS = "…"

MAX_EXCERPTS = 5
MAX_LIST_LINES = 12  # chapters, sections, episodes listed in one field
MAX_SUGGESTIONS = 5

LINK_LABELS = {"episode": "Episode page", "audio": "Listen", "transcript": "Transcript"}


@dataclass(frozen=True)
class EpisodeRef:
    """Enough of an episode to cite or list it."""

    number: int | None
    title: str
    url: str | None = None

    def label(self) -> str:
        return f"Ep. {self.number}: {self.title}" if self.number is not None else self.title


@dataclass(frozen=True)
class Hit:
    """One search match: a piece of an episode (or a topic entry) with the matched words marked
    by MARK_START/MARK_END in `marked`. Lower score is better (SQLite bm25 convention)."""

    kind: str  # "episode" (title/people/summary), "section", "passage" or "topic"
    marked: str
    score: float
    episode: EpisodeRef | None = None
    heading: str | None = None  # section heading
    start: float | None = None  # passage start, seconds
    chapters: tuple[Chapter, ...] = ()  # the episode's chapters, to name a passage's chapter
    topic_slug: str | None = None
    topic_title: str = ""
    own: bool = False  # the episode is tagged with the topic being asked about
    episode_id: int | None = None  # the catalogue's id: numbers repeat when seasons restart


_MARKS = re.compile(f"([{MARK_START}{MARK_END}])")


def segments(marked: str) -> tuple[tuple[str, bool], ...]:
    """'a \ue000b\ue001 c' → (('a ', False), ('b', True), (' c', False)); whitespace collapsed,
    stray or nested markers tolerated."""
    out: list[tuple[str, bool]] = []
    hit = False
    for piece in _MARKS.split(" ".join(marked.split())):
        if piece == MARK_START:
            hit = True
        elif piece == MARK_END:
            hit = False
        elif piece:
            if out and out[-1][1] == hit:
                out[-1] = (out[-1][0] + piece, hit)
            else:
                out.append((piece, hit))
    return tuple(out)


def chapter_at(chapters: Sequence[Chapter], seconds: float) -> Chapter | None:
    """The chapter playing at `seconds` (chapters sorted by start), if any."""
    current = None
    for ch in chapters:
        if ch.start > seconds:
            break
        current = ch
    return current


def citation(hit: Hit) -> Citation:
    ep = hit.episode or EpisodeRef(None, hit.topic_title)
    section: str | None
    if hit.kind == "section":
        section = hit.heading
    elif hit.kind == "passage":
        chapter = chapter_at(hit.chapters, hit.start) if hit.start is not None else None
        section = chapter.title if chapter else "transcript"
    else:
        section = "show notes"
    timestamp = hit.start if hit.kind == "passage" else None
    return Citation(ep.number, ep.title, section=section, timestamp=timestamp, url=ep.url)


def excerpt(hit: Hit) -> Excerpt:
    return Excerpt(segments(hit.marked), citation(hit))


def _excerpts(hits: Iterable[Hit]) -> tuple[Excerpt, ...]:
    out = []
    for hit in hits:
        if hit.episode is None:
            continue  # topic entries are suggested by name, not quoted
        ex = excerpt(hit)
        if ex.plain.strip(ELLIPSIS + " "):
            out.append(ex)
        if len(out) == MAX_EXCERPTS:
            break
    return tuple(out)


def _listing(lines: Sequence[str], total: int | None = None) -> str:
    """The first MAX_LIST_LINES lines, then how many more of `total` (default: all lines)."""
    count = len(lines) if total is None else total
    shown = list(lines[:MAX_LIST_LINES])
    if count > MAX_LIST_LINES:
        shown.append(f"… and {count - MAX_LIST_LINES} more")
    return "\n".join(shown)


def format_date(day: date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def episode_title(number: int | None, title: str, season: int | None = None) -> str:
    """'Episode 11: Title'; 'Season 2, Episode 3: Title' for a show whose seasons count
    from 1 again; the title alone when the episode has no number."""
    if number is None:
        return title
    head = f"Season {season}, Episode {number}" if season is not None else f"Episode {number}"
    return f"{head}: {title}"


def episode_reply(episode: Episode, topic_titles: Mapping[str, str] | None = None) -> Reply:
    """/episode: the episode's notes, people, topics, chapters and sections."""
    titles = topic_titles or {}
    fields: list[Field] = []
    if episode.released is not None:
        fields.append(Field("Released", format_date(episode.released), inline=True))
    hosts = episode.hosts
    if hosts:
        name = "Host" if len(hosts) == 1 else "Hosts"
        fields.append(Field(name, ", ".join(p.name for p in hosts), inline=True))
    guests = episode.guests
    if guests:
        name = "Guest" if len(guests) == 1 else "Guests"
        lines = [f"{p.name} — {p.affiliation}" if p.affiliation else p.name for p in guests]
        fields.append(Field(name, "\n".join(lines)))
    if episode.topics:
        names = [titles.get(slug, slug) for slug in episode.topics]
        fields.append(Field("Topics", ", ".join(names)))
    if episode.chapters:
        lines = [f"{format_timestamp(c.start)} {c.title}" for c in episode.chapters]
        fields.append(Field("Chapters", _listing(lines)))
    if episode.sections:
        fields.append(Field("Sections", _listing([f"• {s.heading}" for s in episode.sections])))
    links = tuple(Link(LINK_LABELS.get(lk.label, lk.label), lk.url) for lk in episode.links)
    title = episode_title(episode.number, episode.title, episode.season)
    return Reply(
        kind="episode",
        title=title,
        text=episode.summary,
        fields=tuple(fields),
        links=links,
        url=web_url(episode.link("episode")),
        episode_number=episode.number,
    )


def topic_reply(
    topic: Topic,
    episodes: Sequence[EpisodeRef],
    hits: Sequence[Hit],
    related: Sequence[Topic] = (),
    mentioned: int | None = None,
) -> Reply:
    """/topic for a known topic: its description, the episodes tagged with it, and excerpts
    (its own episodes first). `mentioned`: how many other episodes match (default: count the
    hits). A topic no episode covers yet is reported as not covered."""
    excerpts = _excerpts(hits)
    if not episodes and not excerpts:
        return Reply(
            kind="not_found",
            title="Not covered yet",
            text=(
                f"“{topic.title}” is on the show's topic list, but no episode covers it yet."
                + (f"\n\n{topic.description}" if topic.description else "")
            ),
            suggestions=tuple(t.title for t in related[:MAX_SUGGESTIONS]),
        )
    fields: list[Field] = []
    if episodes:
        # A topic can have hundreds of episodes: label only the ones shown.
        labels = [e.label() for e in episodes[:MAX_LIST_LINES]]
        fields.append(Field("Episodes", _listing(labels, len(episodes))))
    if related:
        fields.append(Field("Related topics", ", ".join(t.title for t in related)))
    others = (
        mentioned
        if mentioned is not None
        else len({h.episode for h in hits if h.episode is not None and not h.own})
    )
    footer = _count(len(episodes), "episode") + " on this topic"
    if others:
        footer += f" · mentioned in {_count(others, 'more episode')}"
    return Reply(
        kind="topic",
        title=topic.title,
        text=topic.description,
        fields=tuple(fields),
        excerpts=excerpts,
        footer=footer,
    )


def search_reply(
    query_text: str,
    hits: Sequence[Hit],
    topics: Sequence[Topic] = (),
    matched: int | None = None,
    *,
    some_words: bool = False,
) -> Reply:
    """Free-text results: excerpts ranked by relevance, and any topics whose entries match.
    `matched`: how many episodes match (default: count the hits). `some_words`: nothing had
    all the words, these have some; said first, so nobody reads it as the whole query."""
    excerpts = _excerpts(hits)
    text = ""
    if some_words:
        found = dict.fromkeys(
            s.strip().casefold() for e in excerpts for s, hit in e.segments if hit
        )
        found.pop("", None)
        which = ", ".join(f"“{echo(w)}”" for w in list(found)[:6])
        text = f"Nothing the show said has all of “{echo(query_text)}”." + (
            f" These match some of it: {which}." if which else " These match some of it."
        )
    fields = (Field("Topics", ", ".join(t.title for t in topics)),) if topics else ()
    episodes = (
        matched if matched is not None else len({h.episode for h in hits if h.episode is not None})
    )
    return Reply(
        kind="search",
        title=f"Search: {echo(query_text)}",
        text=text,
        fields=fields,
        excerpts=excerpts,
        suggestions=tuple(t.title for t in topics[:MAX_SUGGESTIONS]),
        footer=f"{_count(episodes, 'episode')} with matches, best first",
    )


ECHO_CHARS = 100  # the user's words quoted back: enough to recognise, never a wall of text


def echo(user_text: str) -> str:
    """User text quoted in a reply: shortened, and escaped so it cannot format or mention."""
    return escape_mentions(escape_markdown(truncate(" ".join(user_text.split()), ECHO_CHARS)))


def not_found_reply(
    query_text: str, suggestions: Sequence[str] = (), *, message: str | None = None
) -> Reply:
    """Nothing in the catalogue matches: say so plainly, offer the closest names we have."""
    subject = f"“{echo(query_text)}”" if query_text else "that"
    text = message or (
        f"The show has not covered {subject} yet: nothing in the show notes or transcripts matches."
    )
    # The suggestions are listed under the text by each front end ("Did you mean: …"): asking
    # here too said it twice.
    return Reply(
        kind="not_found",
        title="Not covered yet",
        text=text,
        suggestions=tuple(suggestions[:MAX_SUGGESTIONS]),
    )


def empty_query_reply(example: str) -> Reply:
    """The query had no letters or digits (empty, punctuation, emoji...)."""
    return Reply(
        kind="error",
        title="Nothing to look for",
        text=f"Type a word or two with letters or digits, for example `{example}`.",
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")

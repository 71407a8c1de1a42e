"""Plain, frozen data shared by every layer. No I/O, no Discord."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Person:
    name: str
    role: str  # "host", "guest", or another free-form role from the feed
    affiliation: str = ""  # e.g. "Applied AI Engineer at Meta (PyTorch)"


@dataclass(frozen=True)
class Link:
    label: str  # "episode page", "audio", "transcript", ...
    url: str


@dataclass(frozen=True)
class Chapter:
    start: float  # seconds from the start of the audio
    title: str


@dataclass(frozen=True)
class Section:
    """A `## Heading` block of the show notes, Markdown body."""

    heading: str
    body: str
    anchor: str  # slug of the heading, stable for citations


@dataclass(frozen=True)
class Passage:
    """A slice of a transcript (a few hundred words), timestamped where known."""

    text: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Episode:
    number: int | None
    title: str
    slug: str
    released: date | None
    people: tuple[Person, ...] = ()
    topics: tuple[str, ...] = ()  # topic slugs
    summary: str = ""  # Markdown before the first section heading
    sections: tuple[Section, ...] = ()
    chapters: tuple[Chapter, ...] = ()
    links: tuple[Link, ...] = ()
    transcript: tuple[Passage, ...] = ()
    guid: str | None = None  # feed identity, when the episode came from a feed
    source: str = ""  # where it came from: a content path relative to content/, or a feed URL
    # A feed's <itunes:season>. Left out of the feed item's digest (bot.feeds.parse), which
    # has it already: items stored before it was kept here are not all "changed" at once.
    season: int | None = field(default=None, metadata={"digest": False})

    @property
    def hosts(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.role == "host")

    @property
    def guests(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.role != "host")

    def link(self, label: str) -> str | None:
        return next((lk.url for lk in self.links if lk.label == label), None)


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()  # discussion questions used by prompt templates


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, phrased for the person who has to fix it."""

    path: str
    message: str
    line: int | None = None
    field: str | None = None
    hint: str = ""

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f"field '{self.field}': {self.message}" if self.field else self.message
        return f"{where}: {what}" + (f" (fix: {self.hint})" if self.hint else "")


# ---- answers: what /episode and /topic produce, rendered by the terminal and by Discord ----


@dataclass(frozen=True)
class Citation:
    episode_number: int | None
    episode_title: str
    section: str | None = None  # section heading, chapter title or "transcript"
    timestamp: float | None = None  # seconds, when the excerpt has one
    url: str | None = None

    def label(self) -> str:
        ep = f"Ep. {self.episode_number}" if self.episode_number is not None else "Episode"
        parts = [f"{ep}: {self.episode_title}"]
        if self.section:
            parts.append(self.section)
        if self.timestamp is not None:
            parts.append(format_timestamp(self.timestamp))
        return " · ".join(parts)


@dataclass(frozen=True)
class Excerpt:
    """Text with the matched words marked: segments of (text, is_match)."""

    segments: tuple[tuple[str, bool], ...]
    citation: Citation

    @property
    def plain(self) -> str:
        return "".join(s for s, _ in self.segments)


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Reply:
    kind: str  # "episode", "topic", "search", "not_found", "error"
    title: str
    text: str = ""
    fields: tuple[Field, ...] = ()
    excerpts: tuple[Excerpt, ...] = ()
    links: tuple[Link, ...] = ()
    suggestions: tuple[str, ...] = ()  # "did you mean" choices, as values the user can type
    url: str | None = None
    episode_number: int | None = None  # set on episode replies (discussion-thread lookup)
    footer: str = ""

    @property
    def found(self) -> bool:
        return self.kind not in ("not_found", "error")


def format_timestamp(seconds: float) -> str:
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass(frozen=True)
class Catalog:
    """A whole loaded content tree (files validated); problems are per file."""

    episodes: tuple[Episode, ...] = ()
    topics: tuple[Topic, ...] = ()
    problems: tuple[Problem, ...] = field(default=())

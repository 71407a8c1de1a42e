"""Podcast feeds (RSS 2.0 / Atom with iTunes and Podcasting 2.0 tags) → FeedItems.

Pure: bytes in, models and problems out. feedparser does the lenient general reading
(dates, links, content, Atom, broken XML). A second, strict expat pass over the same bytes
collects what feedparser flattens away (every podcast:transcript, podcast:person names, exact
Podlove chapter times) and refuses documents that declare XML entities, so entity bombs stop
before any parser expands them.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import html
import io
import json
import logging
import math
import re
import xml.parsers.expat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from html.entities import html5
from typing import Any

import feedparser
from feedparser.encodings import convert_to_utf8

from bot.core.markup import html_to_sections, html_to_text, text_to_markdown
from bot.core.models import Chapter, Episode, Link, Person, Problem, Section
from bot.core.text import first_sentence, name_key, slugify, truncate
from bot.core.transcripts import parse_timestamp
from bot.core.urls import web_url

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_CHAPTERS_BYTES = 2 * 1024 * 1024

# Bump it whenever the same bytes would be read differently (items, notes, identities,
# content hashes): a feed whose body has not changed since is then read in full once again
# rather than skipped as already read (bot.services.feeds).
FEED_FORMAT = "1"

_PODCAST_NS = (
    "https://podcastindex.org/namespace/1.0",
    "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",
)
_ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
_PSC_NS = "http://podlove.org/simple-chapters"
_ATOM_NS = "http://www.w3.org/2005/Atom"

# Best first, for picking one transcript when a feed offers several.
_TRANSCRIPT_PREFERENCE = (
    "application/json",
    "text/vtt",
    "application/x-subrip",
    "application/srt",
    "text/srt",
    "text/html",
    "text/plain",
)


@dataclass(frozen=True)
class FeedItem:
    episode: Episode
    identity: str  # stable across fetches: see identity_key
    transcript_urls: tuple[tuple[str, str], ...] = ()  # (url, MIME type), in feed order
    chapters_url: str | None = None
    chapters_type: str | None = None
    season: int | None = None
    image: str | None = None
    duration: float | None = None  # seconds, from itunes:duration
    content_hash: str = ""  # changes when anything we keep about the item changes
    line: int | None = None  # where the item starts in the feed, when known


@dataclass
class FeedResult:
    title: str = ""
    image: str | None = None
    link: str | None = None
    items: list[FeedItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _Refused(Exception):
    """The document declares entities: we never expand them."""


# ---- the strict pass: what feedparser drops ----


@dataclass
class _ItemExtras:
    line: int
    transcripts: list[tuple[str, str]] = field(default_factory=list)
    persons: list[tuple[str, str]] = field(default_factory=list)  # (name, role)
    psc: list[tuple[str, str]] = field(default_factory=list)  # (start, title)
    chapters: tuple[str, str] | None = None  # (url, type)
    image: str | None = None
    # podcast:season and podcast:episode as written: feedparser keeps only the attributes of
    # one that has any (<podcast:season name="Pilot">1</podcast:season>), not its number.
    numbers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Scan:
    channel_image: str | None = None
    # The channel's <itunes:author>: feedparser folds it into one author with managingEditor
    # and itunes:owner, and a Libsyn feed's hosts came out as its owner's name.
    channel_author: str | None = None
    items: list[_ItemExtras] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None


def _split_name(name: str) -> tuple[str, str]:
    ns, _, local = name.rpartition(" ")
    return ns, local


def _is_podcast_ns(ns: str) -> bool:
    return ns in _PODCAST_NS or "podcastindex" in ns.lower()


_ITEM_NAMES = frozenset(("item", "entry"))
_NUMBERS = frozenset(("season", "episode"))


def _forbid(*_: object) -> None:
    raise _Refused


def _scan(data: bytes) -> _Scan:
    """Strict expat pass. Raises _Refused on any entity declaration."""
    scan = _Scan()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    # A foreign DTD makes undefined entities (&nbsp; in sloppy feeds) skipped, not fatal;
    # declaring one is what we refuse.
    parser.UseForeignDTD(True)
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = lambda *_: 1  # never load anything
    text: list[str] = []
    person: dict[str, str] = {}
    # Open elements named item or entry (in any namespace): counted rather than searched
    # for in a stack of names, since every element asks whether it is inside an item.
    depth = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        ns, local = _split_name(name)
        outside = depth == 0
        if local in _ITEM_NAMES:
            depth += 1
        item = scan.items[-1] if scan.items and depth else None
        if local in _ITEM_NAMES and ns in ("", _ATOM_NS) and outside:
            scan.items.append(_ItemExtras(parser.CurrentLineNumber))
        elif ns == _ITUNES_NS and local == "image" and attrs.get("href"):
            if item is not None:
                item.image = attrs["href"].strip()
            elif scan.channel_image is None:
                scan.channel_image = attrs["href"].strip()
        elif ns == _ITUNES_NS and local == "author" and outside:
            text.clear()
        elif item is not None and _is_podcast_ns(ns):
            if local == "transcript" and attrs.get("url"):
                item.transcripts.append((attrs["url"].strip(), attrs.get("type", "").strip()))
            elif local == "chapters" and attrs.get("url"):
                item.chapters = (attrs["url"].strip(), attrs.get("type", "").strip())
            elif local == "person":
                person.clear()
                person.update(attrs)
                text.clear()
            elif local in _NUMBERS:
                text.clear()
        elif item is not None and ns == _PSC_NS and local == "chapter":
            item.psc.append((attrs.get("start", ""), attrs.get("title", "")))

    def end(name: str) -> None:
        nonlocal depth
        ns, local = _split_name(name)
        if local == "person" and depth and scan.items and _is_podcast_ns(ns):
            # The name is the element's text; an early draft of the namespace gave it as an
            # attribute, which some feeds still write.
            who = " ".join("".join(text).split()) or " ".join(person.get("name", "").split())
            if who:
                scan.items[-1].persons.append((who, person.get("role", "host").strip().lower()))
        elif ns == _ITUNES_NS and local == "author" and not depth:
            if scan.channel_author is None:
                scan.channel_author = " ".join("".join(text).split()) or None
        elif local in _NUMBERS and depth and scan.items and _is_podcast_ns(ns):
            scan.items[-1].numbers[f"podcast_{local}"] = "".join(text).strip()
        if local in _ITEM_NAMES:
            depth -= 1

    def skipped(name: str, is_param: int) -> None:
        if not is_param and f"{name};" in html5:
            text.append(html5[f"{name};"])

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.SkippedEntityHandler = skipped
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        scan.error = xml.parsers.expat.errors.messages.get(exc.code, str(exc))
        scan.error_line = exc.lineno
    return scan


def _declares_entities(data: bytes) -> bool:
    """Backstop for documents too broken for expat to reach their DTD. Searches everything:
    a lenient parser may find a DOCTYPE anywhere in a broken document."""
    return b"<!ENTITY" in data.upper()


# ---- feed ----


def parse_feed(raw: bytes, *, url: str = "", max_bytes: int = MAX_FEED_BYTES) -> FeedResult:
    """Parse a podcast feed. Never raises: what cannot be read becomes a Problem."""
    where = url or "feed"
    result = FeedResult()
    if len(raw) > max_bytes:
        result.problems.append(
            Problem(
                where,
                f"feed is {len(raw):,} bytes, over the {max_bytes:,}-byte limit; not parsed",
                hint="check the URL points at the feed, or raise the feed size limit",
            )
        )
        return result
    if not raw.strip():
        result.problems.append(Problem(where, "the feed is empty", hint="check the feed URL"))
        return result
    encoding_info: dict[str, Any] = {}
    prepared = _from_bom(raw)
    data = _declared_as_written(convert_to_utf8({}, prepared, encoding_info), prepared)
    # Both passes read it without live items: the strict one takes the first <itunes:author>
    # and <itunes:image> outside an item for the show's.
    readable = _without_live_items(data)
    try:
        scan = _scan(readable)
        if scan.error is not None and _declares_entities(data):
            raise _Refused
    except _Refused:
        result.problems.append(
            Problem(
                where,
                "the feed declares XML entities (<!ENTITY ...>); refused for safety",
                hint="podcast feeds never need entity declarations: remove the DOCTYPE block",
            )
        )
        return result
    parsed = _feedparser(readable)
    if parsed is None:
        result.problems.append(
            Problem(
                where,
                "the feed could not be read (the feed library failed on it)",
                line=scan.error_line,
                hint="check the feed with a validator, e.g. https://validator.w3.org/feed/",
            )
        )
        return result
    entries = parsed.get("entries") or []
    bozo = parsed.get("bozo_exception") or encoding_info.get("bozo_exception")
    if not entries and (scan.error or not parsed.get("version")):
        result.problems.append(_unreadable(where, scan, parsed, bozo))
        return result
    if scan.error:
        result.problems.append(
            Problem(
                where,
                f"feed is not well-formed XML ({scan.error}); read leniently, items may be "
                "incomplete",
                line=scan.error_line,
                hint="check the feed with a validator, e.g. https://validator.w3.org/feed/",
            )
        )
    if encoding_info.get("bozo_exception") is not None:
        result.problems.append(
            Problem(
                where,
                f"character encoding: {encoding_info['bozo_exception']}",
                hint="serve the feed as UTF-8, or declare its real encoding",
            )
        )
    feed = parsed.get("feed") or {}
    result.title = _title(feed)
    base = url or None
    result.link = web_url(feed.get("link"), base=base)
    result.image = web_url(
        scan.channel_image
        or _str_or_none((feed.get("image") or {}).get("href"))
        or _str_or_none(feed.get("logo")),  # Atom
        base=base,
    )
    extras = scan.items if len(scan.items) == len(entries) and not scan.error else None
    show_authors = _split_names([scan.channel_author or ""]) or _author_names(feed)
    team = frozenset(name.casefold() for name in _split_names(_contributors(feed)))
    counted = _counts_in_titles(entries, extras)
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        extra = extras[index] if extras is not None else None
        try:
            item, problems = _item(
                entry,
                extra,
                where=where,
                url=url,
                show=result.title,
                authors=show_authors,
                team=team,
                counted=counted,
            )
        except Exception as exc:  # a bug on one odd item must not cost the others
            log.exception("%s: item %d could not be read", where, index + 1)
            problems = [
                Problem(
                    where,
                    f"item {index + 1} could not be read ({type(exc).__name__}); it is skipped",
                    hint="the bot's log has the details; please report it with the feed",
                )
            ]
            item = None
        result.problems.extend(problems)
        if item is None:
            continue
        if item.identity in seen:
            result.problems.append(
                Problem(
                    where,
                    f"item {index + 1} ({item.episode.title!r}) repeats the identity of item "
                    f"{seen[item.identity] + 1} ({item.identity}); the later one is ignored",
                    line=item.line,
                    hint="give every item its own <guid>",
                )
            )
            continue
        seen[item.identity] = index
        result.items.append(item)
    log.debug("%s: %d items, %d problems", where, len(result.items), len(result.problems))
    return result


def _feedparser(data: bytes) -> Any:
    """feedparser.parse, which raises on some odd-but-valid input: Podlove chapters without a
    start, or outside psc:chapters. Our strict pass reads those itself, so on failure retry
    with the Podlove namespace hidden from feedparser; None if it still fails."""
    for attempt in (data, _hide_podlove(data)):
        try:
            # No base URL on purpose: feedparser would resolve a relative <guid> against it,
            # and an item's identity must not change when the feed moves or redirects.
            return feedparser.parse(
                io.BytesIO(attempt),
                response_headers={"content-type": "application/xml; charset=utf-8"},
                # Each of these re-parses every piece of HTML with feedparser's pure-Python
                # parser: together they double its time. We sanitise ourselves (see
                # html_to_markdown: only text and http(s)/mailto links come out), and with no
                # base URL only an xml:base attribute gives a relative URI something to resolve
                # against.
                sanitize_html=False,
                resolve_relative_uris=b"base=" in attempt,
            )
        except Exception:  # third-party parser on hostile input: any bug is "unreadable"
            log.warning("feedparser failed; retrying without Podlove chapters", exc_info=True)
    return None


# Podcasting 2.0's <podcast:liveItem> (a live stream) holds an item's tags outside any <item>:
# feedparser reads them as the channel's, and its <title> became the show's title.
_LIVE_ITEM = re.compile(rb"<([A-Za-z_][\w.-]*:)?liveItem\b.*?</\1liveItem\s*>", re.DOTALL)


def _without_live_items(data: bytes) -> bytes:
    """The document with every liveItem blanked out, newlines kept (so are line numbers)."""
    if b"liveItem" not in data:
        return data
    return _LIVE_ITEM.sub(lambda m: re.sub(rb"[^\n]", b" ", m.group(0)), data)


def _hide_podlove(data: bytes) -> bytes:
    # The strict parser knows Podlove by its namespace URI, the lenient one by the "psc:" prefix.
    for old, new in (
        (_PSC_NS.encode(), b"urn:x-vgbot:psc-read-separately"),
        (b"<psc:", b"<x-psc:"),
        (b"</psc:", b"</x-psc:"),
        (b"xmlns:psc=", b"xmlns:x-psc="),
    ):
        data = data.replace(old, new)
    return data


_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def _from_bom(raw: bytes) -> bytes:
    """A byte-order mark decides the encoding (XML 1.0, appendix F); feedparser mis-reads
    UTF-16/32 documents that have a BOM but no XML declaration, so decode those here."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            text = raw[len(bom) :].decode(codec, errors="replace")
            body = _XML_DECLARATION.sub("", text, count=1)
            return ('<?xml version="1.0" encoding="utf-8"?>' + body).encode("utf-8")
    return raw


# What feedparser writes before a document that has no XML declaration, a line break included.
_ADDED_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"
# A document's start when it has a declaration, in the encodings feedparser reads one from.
_DECLARATION_STARTS = tuple(
    "<?xml".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _declared_as_written(data: bytes, before: bytes) -> bytes:
    """feedparser's UTF-8 document without the line break it adds after a declaration it
    adds: with it, every line number we report was one too high."""
    if data.startswith(_ADDED_DECLARATION) and not before.startswith(_DECLARATION_STARTS):
        return data[: len(_ADDED_DECLARATION) - 1] + data[len(_ADDED_DECLARATION) :]
    return data


def _unreadable(where: str, scan: _Scan, parsed: Any, bozo: object) -> Problem:
    if scan.error:
        return Problem(
            where,
            f"not a readable feed: XML error: {scan.error}",
            line=scan.error_line,
            hint="check the URL returns the RSS/Atom feed, not a web page or an error",
        )
    detail = f" ({bozo})" if bozo else ""
    return Problem(
        where,
        f"not an RSS or Atom feed{detail}",
        hint="check the URL returns the podcast's RSS feed",
    )


def _title(entry: Any) -> str:
    """An entry's or the channel's title as plain text: feedparser leaves markup in titles it
    takes for HTML, and Discord would show the tags."""
    title = str(entry.get("title", ""))
    if "html" in str((entry.get("title_detail") or {}).get("type", "")):
        return html_to_text(title)
    return " ".join(title.split())


def _str_or_none(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# ---- one item ----

_TITLE_NUMBER = re.compile(
    r"^\s*(?:episode|ep\.?|#)\s*(\d{1,5})(?![\d.,])\s*(?:[:|.\-–—]\s*)?", re.IGNORECASE
)
# "204: Title" or "204 - Title" (Fireside, Jupiter Broadcasting): a bare leading number.
_BARE_NUMBER = re.compile(r"^\s*(\d{1,4})(?:\s*:|\s+[-–—|])\s+(?=\S)")
# ... unless it reads as a year ("2024: the year in review"): shows past episode 1900 give
# <itunes:episode>, which wins.
_YEARS = range(1900, 2100)
# "Homegrown Hits - Episode 03", "Title | Ep. 12 | Guest", "Title (Episode 7)": a part of its
# own, between separators or in brackets ("Star Wars Episode 4" is a title's words).
_EPISODE_PART = re.compile(
    r"(?:\s[-–—|]\s+|\s[(\[])(?:episode|ep\.?)\s*(\d{1,5})(?:[)\]]?$|\s+[-–—|]\s)",
    re.IGNORECASE,
)
# Anchor's "220 Title": only in a feed that counts so (see _counts_in_titles).
_COUNTED = re.compile(r"^\s*(\d{1,4})\s+(?=\S)")
# Between the names of a list: an author field, or Fireside's "Special Guests: A, B and C."
_NAMES_SPLIT = re.compile(r"\s*(?:,|&|\band\b|;)\s*")
_COMPANY = re.compile(
    r"[\s,](?:P\.?C|LLC|LLP|Inc|Ltd|GmbH|Corp|Media|Studios?|Podcasts?|Network|Productions|FM)"
    r"\.?$",
    re.IGNORECASE,
)


def _item(
    entry: Any,
    extra: _ItemExtras | None,
    *,
    where: str,
    url: str,
    show: str,
    authors: Sequence[str] = (),
    team: frozenset[str] = frozenset(),
    counted: bool = False,
) -> tuple[FeedItem | None, list[Problem]]:
    """`authors`: the show's own (channel itunes:author, Atom feed author), for an item that
    names nobody. `counted`: the feed numbers its titles "220 Title" (_counts_in_titles)."""
    problems: list[Problem] = []
    line = extra.line if extra else None

    def problem(message: str, field: str | None = None, hint: str = "") -> None:
        problems.append(Problem(where, message, line=line, field=field, hint=hint))

    title = _title(entry)
    notes_html, notes_is_html = _notes(entry)
    if not title and not notes_html:
        problem("an item has neither a title nor a description; skipped", hint="add a <title>")
        return None, problems

    def tag(key: str) -> Any:
        return extra.numbers.get(key) if extra and key in extra.numbers else entry.get(key)

    number = None
    for key, field_name in (
        ("itunes_episode", "itunes:episode"),
        ("podcast_episode", "podcast:episode"),
    ):
        if tag(key) not in (None, ""):
            number = _whole_number(tag(key))
            if number is not None:
                break
            problem(
                f"{tag(key)!r} is not an episode number",
                field=field_name,
                hint="use a whole number like 11",
            )
    prefix = _TITLE_NUMBER.match(title)
    if prefix is None and (bare := _BARE_NUMBER.match(title)) is not None:
        value = int(bare.group(1))
        if value == number or (number is None and value not in _YEARS):
            prefix = bare
    if prefix is None and number is None and counted:
        prefix = _counted_number(title)
    if prefix and (number is None or int(prefix.group(1)) == number):
        number = int(prefix.group(1))
        # "Episode 11: Title" → "Title": the number is shown beside the title anyway.
        title = title[prefix.end() :].strip() or title
    elif number is None and (part := _EPISODE_PART.search(title)) is not None:
        # The title stays whole: without its number it is often just the show's name.
        number = int(part.group(1))

    summary, sections = _markdown_notes(notes_html, notes_is_html)
    if not summary and sections:
        # Notes that open with a heading have no summary to announce; the feed's shorter
        # description (Podlove's, WordPress's) is one.
        summary = _markdown_notes(*_notes(entry, shorter_than=notes_html))[0]
    if not title:
        title = _first_words(summary) or "Untitled episode"

    released = _released(entry, problem)
    enclosure = _enclosure(entry)  # as written: a guid-less item's identity (identity_key)
    base = url or None
    page = web_url(entry.get("link"), base=base)
    audio = web_url(enclosure, base=base)
    links = tuple(
        Link(label, href) for label, href in (("episode page", page), ("audio", audio)) if href
    )
    guid = _str_or_none(entry.get("id"))
    transcripts = _transcripts(entry, extra)
    chapters_url, chapters_type = _chapters_ref(entry, extra)
    psc = extra.psc if extra is not None else _feedparser_psc(entry)
    chapters, chapter_problems = _psc_chapters(psc, where, line)
    problems.extend(chapter_problems)
    slug = slugify(title) or (f"episode-{number}" if number is not None else "episode")
    people, companies = _people(entry, extra, show, authors, team)
    season = None
    for key in ("itunes_season", "podcast_season"):
        if tag(key) not in (None, "") and season is None:
            season = _whole_number(tag(key))
    episode = Episode(
        number=number,
        title=title,
        slug=slug,
        released=released,
        people=_with_listed_guests(people, summary, sections) or companies,
        summary=summary,
        sections=sections,
        chapters=chapters,
        links=links,
        guid=guid,
        source=url,
        season=season,
    )
    item = FeedItem(
        episode=episode,
        identity=identity_key(guid, enclosure, title, number),
        transcript_urls=transcripts,
        chapters_url=chapters_url,
        chapters_type=chapters_type,
        season=season,
        image=web_url(
            (extra.image if extra else None) or (entry.get("image") or {}).get("href"),
            base=base,
        ),
        duration=parse_duration(entry.get("itunes_duration")),
        line=line,
    )
    return _with_hash(item), problems


def _counts_in_titles(entries: Sequence[Any], extras: Sequence[_ItemExtras] | None) -> bool:
    """Whether the feed numbers its episodes by a bare leading number and a space ("220
    Title"), which "10 things" also is: only a feed without episode tags whose numbered titles
    (three or more) mostly count by one, up or down, does. Mostly: one odd title (a rerun's
    "100 …") must not take every episode's number away when it arrives."""
    numbers = []
    for index, entry in enumerate(entries):
        written = extras[index].numbers if extras is not None else {}
        tags = (entry.get("itunes_episode"), entry.get("podcast_episode"))
        if any(tags) or written.get("podcast_episode"):
            return False
        if (found := _counted_number(_title(entry))) is not None:
            numbers.append(int(found.group(1)))
    steps = [b - a for a, b in zip(numbers, numbers[1:], strict=False)]
    return len(numbers) >= 3 and 2 * max(steps.count(1), steps.count(-1)) >= len(steps)


def _counted_number(title: str) -> re.Match[str] | None:
    """A title's "220 " as Anchor counts, not a year's ("2024 Wrapped", as _BARE_NUMBER)."""
    found = _COUNTED.match(title)
    return found if found is not None and int(found.group(1)) not in _YEARS else None


def identity_key(
    guid: str | None, enclosure_url: str | None, title: str, number: int | None
) -> str:
    """The item's stable identity: its guid, else its audio URL, else title and number."""
    if guid and guid.strip():
        return f"guid:{guid.strip()}"
    if enclosure_url and enclosure_url.strip():
        return f"audio:{enclosure_url.strip()}"
    normalised = " ".join(re.sub(r"[^\w\s]", " ", title.casefold()).split())
    return f"title:{normalised}#{'' if number is None else number}"


def _with_hash(item: FeedItem) -> FeedItem:
    payload = {name: getattr(item, name) for name in _HASHED_FIELDS}
    text = json.dumps(payload, sort_keys=True, default=_hashable)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return FeedItem(**{**vars(item), "content_hash": digest})


# What the digest covers: not the digest itself, nor where the item sits (moving an item in
# the feed is not an edit).
_HASHED_FIELDS = tuple(f.name for f in fields(FeedItem) if f.name not in ("content_hash", "line"))


def _hashable(value: Any) -> Any:
    """json.dumps's fallback: a dataclass as the dict of its fields, anything else as str.
    The digest is the one stored items got from dataclasses.asdict (same keys, lists for
    tuples), without copying every string first; json's C encoder walks the rest."""
    if is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _field_names(type(value))}
    return str(value)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.metadata.get("digest", True))


def _whole_number(value: object) -> int | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0 or number != int(number) or number > 10**6:
        return None
    return int(number)


def _notes(entry: Any, shorter_than: str | None = None) -> tuple[str, bool]:
    """The richest description: content:encoded, description or itunes:summary (the richest
    shorter than `shorter_than`, when given)."""
    candidates: list[tuple[str, bool]] = []
    for content in entry.get("content") or []:
        if isinstance(content, dict) and isinstance(content.get("value"), str):
            candidates.append((content["value"], "html" in str(content.get("type", "html"))))
    detail = entry.get("summary_detail") or {}
    if isinstance(entry.get("summary"), str):
        candidates.append((entry["summary"], "html" in str(detail.get("type", "text/html"))))
    candidates = [(text.strip(), is_html) for text, is_html in candidates if text.strip()]
    if shorter_than is not None:
        limit = len(shorter_than.strip())
        candidates = [(text, is_html) for text, is_html in candidates if len(text) < limit]
    notes, is_html = max(candidates, key=lambda c: len(c[0]), default=("", True))
    if is_html and not _HTML_TAG.search(notes):
        # feedparser calls every RSS description HTML; one without a single tag is plain text
        # whose line breaks HTML would fold away. Its character references are still HTML's.
        return html.unescape(notes), False
    return notes, is_html


# A start or end tag, or a comment: "<https://…>" or "a < b" in plain text are not tags.
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>|<!--")


def _markdown_notes(notes: str, is_html: bool) -> tuple[str, tuple[Section, ...]]:
    """Show notes → (summary, sections), split on headings when the HTML has any."""
    if not notes:
        return "", ()
    if not is_html:  # plain text has no headings to split on
        return text_to_markdown(notes), ()
    summary, parts = html_to_sections(notes)
    sections: list[Section] = []
    anchors: dict[str, int] = {}
    for heading, body in parts:
        anchor = name_key(heading) or "section"
        anchors[anchor] = anchors.get(anchor, 0) + 1
        if anchors[anchor] > 1:
            anchor = f"{anchor}-{anchors[anchor]}"
        sections.append(Section(heading, body, anchor))
    return summary, tuple(sections)


def _first_words(markdown: str, limit: int = 80) -> str:
    first_line = next((ln for ln in markdown.splitlines() if ln.strip()), "")
    return truncate(first_line.strip(), limit)


def _released(entry: Any, problem: Callable[..., None]) -> date | None:
    for key in ("published", "updated"):
        # dict.get: FeedParserDict.get would alias "updated" to "published", with a warning.
        parsed = dict.get(entry, f"{key}_parsed")
        if parsed:
            try:
                utc = date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            except (ValueError, AttributeError):
                pass
            else:
                return _as_written(dict.get(entry, key), utc)
        if dict.get(entry, key):
            problem(
                f"unrecognised date {dict.get(entry, key)!r}; the episode has no release date",
                field="pubDate" if key == "published" else key,
                hint="use RFC 822 dates like 'Tue, 05 Mar 2024 10:00:00 GMT'",
            )
            return None
    return None


def _as_written(raw: object, utc: date) -> date:
    """The day in the feed's own offset ('Tue, 30 Sep 2025 06:00:00 +1000' is the 30th, not
    the UTC 29th): the show released it that day where it is. feedparser gives UTC only, so
    the offset comes from the stdlib's RFC 822 and ISO 8601 readers; a reading more than a day
    from feedparser's is not the same date, and feedparser's stands."""
    text = raw.strip() if isinstance(raw, str) else ""
    written: date | None = None
    fields = email.utils.parsedate_tz(text) if text else None
    if fields is not None:
        try:
            written = date(*fields[:3])
        except ValueError:
            written = None
    else:
        try:
            written = datetime.fromisoformat(text).date()
        except ValueError:
            written = None
    if written is not None and abs((written - utc).days) <= 1:
        return written
    return utc


def _enclosure(entry: Any) -> str | None:
    for link in entry.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "enclosure" and link.get("href"):
            return str(link["href"]).strip() or None
    for enclosure in entry.get("enclosures") or []:
        if isinstance(enclosure, dict) and enclosure.get("href"):
            return str(enclosure["href"]).strip() or None
    return None


def _transcripts(entry: Any, extra: _ItemExtras | None) -> tuple[tuple[str, str], ...]:
    if extra is not None:
        found = extra.transcripts
    else:  # feedparser keeps only the last podcast:transcript
        only = entry.get("podcast_transcript") or {}
        found = [(only["url"], only.get("type", ""))] if only.get("url") else []
    unique: dict[str, str] = {}
    for href, kind in found:
        if href.startswith(("http://", "https://")):
            unique.setdefault(href, kind)
    return tuple(unique.items())


def ranked_transcripts(urls: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The transcripts in the order to try them: timed formats before plain ones, feed order
    otherwise."""

    def rank(pair: tuple[str, str]) -> int:
        kind = pair[1].split(";")[0].strip().lower()
        return _TRANSCRIPT_PREFERENCE.index(kind) if kind in _TRANSCRIPT_PREFERENCE else 99

    return sorted(urls, key=rank)  # stable: feed order among equals


def preferred_transcript(urls: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The transcript to fetch first (see ranked_transcripts)."""
    ranked = ranked_transcripts(urls)
    return ranked[0] if ranked else None


def _chapters_ref(entry: Any, extra: _ItemExtras | None) -> tuple[str | None, str | None]:
    if extra is not None:
        found = extra.chapters
    else:
        ref = entry.get("podcast_chapters") or {}
        found = (ref["url"], ref.get("type", "")) if ref.get("url") else None
    if not found or not found[0].startswith(("http://", "https://")):
        return None, None
    return found[0], found[1] or None


def _author_names(element: Any) -> list[str]:
    """Every author feedparser found on an entry or the channel (Atom allows several; RSS
    author, dc:creator and itunes:author land here too), split where one field names two."""
    found = [str(a.get("name") or "") for a in element.get("authors") or [] if isinstance(a, dict)]
    if not any(found):
        detail = element.get("author_detail") or {}
        found = [str(detail.get("name") or element.get("author") or "")]
    return _split_names(found)


def _contributors(element: Any) -> list[str]:
    found = element.get("contributors") or []
    return [str(c.get("name") or "") for c in found if isinstance(c, dict)]


def _split_names(found: Sequence[str]) -> list[str]:
    """The names in each field, split on ",", "&", "and" and ";" only when every part is a
    full name (two words or more): "Bergeson & Campbell, PC" is one firm, not three people."""
    names = []
    for field_value in found:
        whole = " ".join(field_value.split())
        parts = [p for p in _NAMES_SPLIT.split(whole) if p and "@" not in p]
        if len(parts) > 1 and "@" not in whole and not all(len(p.split()) > 1 for p in parts):
            parts = [whole]
        names.extend(parts)
    return names


def _is_organisation(name: str) -> bool:
    """A company or network, not a person: one word ("Gimlet"), a company's suffix
    ("Gimlet Media", "Bergeson & Campbell, PC"), or names we could not tell apart."""
    return len(name.split()) < 2 or bool(_COMPANY.search(name) or _NAMES_SPLIT.search(name))


def _people(
    entry: Any,
    extra: _ItemExtras | None,
    show: str,
    show_authors: Sequence[str] = (),
    team: frozenset[str] = frozenset(),
) -> tuple[tuple[Person, ...], tuple[Person, ...]]:
    """(the people an item names, the companies among its authors). `team`: the channel's
    contributors, casefolded. A company stands in as host only for an episode that names
    nobody else: in the notes, by podcast:person or as an author."""
    people: list[Person] = []
    names: set[str] = set()
    if extra is not None:
        pairs = extra.persons
    else:
        pairs = []  # feedparser loses podcast:person names
    for name, role in pairs:
        if name.casefold() not in names:
            names.add(name.casefold())
            people.append(Person(name, role or "host"))
    # Podlove lists the show's team as the channel's <atom:contributor>s and everyone on an
    # episode as the item's: the team are its hosts, anyone else a guest.
    for name in _split_names(_contributors(entry)) if team else ():
        if name.casefold() not in names:
            names.add(name.casefold())
            people.append(Person(name, "host" if name.casefold() in team else "guest"))
    # An item naming nobody is the show's authors' (Atom says so; RSS feeds rely on it).
    own = _author_names(entry)
    authors = [n for n in own if not _is_organisation(n)]
    if not authors and not people:
        authors = [n for n in show_authors if not _is_organisation(n)]
    for name in authors:
        # The show's own name is often given as author: not a person, nor a stand-in.
        if name.casefold() not in names and name.casefold() != show.casefold():
            names.add(name.casefold())
            people.append(Person(name, "host"))
    companies = tuple(
        Person(name, "host")
        for name in dict.fromkeys(own or show_authors)
        if _is_organisation(name) and name.casefold() != show.casefold()
    )
    return tuple(people), companies


# Fireside ends the notes with the guests it was given: "Special Guest: Hugo." or "Special
# Guests: A, B, and C." (its own paragraph in HTML notes, a line's end in the plain ones).
_GUEST_LINE = re.compile(r"(?:^|[.!?] )Special Guests?: (.+?)\.?$", re.MULTILINE)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _with_listed_guests(
    people: tuple[Person, ...], summary: str, sections: Sequence[Section]
) -> tuple[Person, ...]:
    """`people`, and the guests a Fireside feed names only in its notes, when no tag named a
    guest."""
    if any(p.role != "host" for p in people):
        return people
    known = {p.name.casefold() for p in people}
    for text in (summary, *(s.body for s in sections)):
        if (found := _GUEST_LINE.search(text)) is not None:
            # Plain-text notes run the next label on ("Hugo. Sponsored By: …"): the list
            # ends with its sentence (initials and titles do not end one).
            listed = first_sentence(found.group(1)).removesuffix(".")
            plain = re.sub(r"\\(.)", r"\1", _MARKDOWN_LINK.sub(r"\1", listed))
            names = [" ".join(n.split()) for n in _NAMES_SPLIT.split(plain)]
            guests = [Person(n, "guest") for n in dict.fromkeys(names) if n]
            return people + tuple(g for g in guests if g.name.casefold() not in known)
    return people


def parse_duration(value: object) -> float | None:
    """itunes:duration: '3723', '3723.5', '62:03' or '1:02:03' → seconds."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    parts = str(value).strip().split(":")
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    # "62:03" is common: minutes are not capped at 59 when there is no hour part.
    seconds = sum(n * 60**i for i, n in enumerate(reversed(numbers)))
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        return None
    return seconds


# ---- chapters ----


def _feedparser_psc(entry: Any) -> list[tuple[str, str]]:
    block = entry.get("psc_chapters") or {}
    return [
        (str(c.get("start", "")), str(c.get("title", "")))
        for c in block.get("chapters") or []
        if isinstance(c, dict)
    ]


def _npt_seconds(value: str) -> float | None:
    """Podlove normal play time: 'SS', 'SS.mmm', 'MM:SS' or 'HH:MM:SS(.mmm)'."""
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    return parse_timestamp(text)


def _psc_chapters(
    pairs: Sequence[tuple[str, str]], where: str, line: int | None
) -> tuple[tuple[Chapter, ...], list[Problem]]:
    chapters: list[Chapter] = []
    problems: list[Problem] = []
    for start, title in pairs:
        seconds = _npt_seconds(start)
        if seconds is None:
            problems.append(
                Problem(
                    where,
                    f"chapter {title!r} has an unreadable start {start!r}; skipped",
                    line=line,
                    field="psc:chapter",
                    hint="use HH:MM:SS.mmm",
                )
            )
            continue
        chapters.append(Chapter(seconds, " ".join(title.split()) or "Chapter"))
    return tuple(sorted(chapters, key=lambda c: c.start)), problems


def parse_chapters(
    raw: bytes, content_type: str | None = None, *, url: str = ""
) -> tuple[tuple[Chapter, ...], list[Problem]]:
    """A chapters document: Podcasting 2.0 JSON or Podlove Simple Chapters XML."""
    where = url or "chapters"
    if len(raw) > MAX_CHAPTERS_BYTES:
        return (), [Problem(where, f"chapters file is over {MAX_CHAPTERS_BYTES:,} bytes")]
    mime = (content_type or "").split(";")[0].strip().lower()
    stripped = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in mime or (not mime.endswith("xml") and stripped.startswith(b"{")):
        return _json_chapters(raw, where)
    return _psc_document(raw, where)


def _json_chapters(raw: bytes, where: str) -> tuple[tuple[Chapter, ...], list[Problem]]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return (), [Problem(where, "chapters file is not UTF-8 text")]
    except json.JSONDecodeError as exc:
        return (), [Problem(where, f"invalid JSON: {exc.msg}", line=exc.lineno)]
    except RecursionError:
        return (), [Problem(where, "invalid JSON: nested too deeply")]
    entries = doc.get("chapters") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return (), [
            Problem(
                where,
                "no 'chapters' list in the chapters file",
                field="chapters",
                hint='expected {"chapters": [{"startTime": 0, "title": "Intro"}]}',
            )
        ]
    chapters: list[Chapter] = []
    problems: list[Problem] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(Problem(where, "a chapter must be an object", field=f"chapters[{i}]"))
            continue
        if entry.get("toc") is False:  # silent chapters are not meant to be listed
            continue
        start = entry.get("startTime")
        if (
            isinstance(start, bool)
            or not isinstance(start, int | float)
            or not math.isfinite(start)
            or start < 0
        ):
            problems.append(
                Problem(
                    where,
                    "'startTime' must be a number of seconds",
                    field=f"chapters[{i}].startTime",
                )
            )
            continue
        title = entry.get("title")
        chapters.append(
            Chapter(
                float(start),
                " ".join(title.split()) if isinstance(title, str) and title.strip() else "Chapter",
            )
        )
    return tuple(sorted(chapters, key=lambda c: c.start)), problems


def _psc_document(raw: bytes, where: str) -> tuple[tuple[Chapter, ...], list[Problem]]:
    pairs: list[tuple[str, str]] = []
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = lambda *_: 1

    def start(name: str, attrs: dict[str, str]) -> None:
        if _split_name(name)[1] == "chapter":
            pairs.append((attrs.get("start", ""), attrs.get("title", "")))

    parser.StartElementHandler = start
    try:
        parser.Parse(raw, True)
    except _Refused:
        return (), [Problem(where, "the chapters file declares XML entities; refused for safety")]
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.errors.messages.get(exc.code, str(exc))
        return (), [
            Problem(where, f"chapters file is not valid XML or JSON: {message}", line=exc.lineno)
        ]
    if not pairs:
        return (), [
            Problem(
                where, "no chapters found", hint="expected psc:chapter elements or JSON chapters"
            )
        ]
    return _psc_chapters(pairs, where, None)

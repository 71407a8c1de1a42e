"""Text for Discord: HTML show notes → Markdown, escaping of echoed user text, truncation,
slugs.

Pure functions. Lengths are counted in Python characters (code points), as discord.py does
when it checks the same limits.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
import warnings
from html import escape as escape_html
from typing import Any

from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    MarkupResemblesLocatorWarning,
    NavigableString,
    PageElement,
    ProcessingInstruction,
    Tag,
    XMLParsedAsHTMLWarning,
)
from bs4.builder._lxml import LXMLTreeBuilder
from lxml import etree
from markdownify import MarkdownConverter

log = logging.getLogger(__name__)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_AUTHOR = 256
EMBED_TOTAL = 6000
MESSAGE_CONTENT = 2000
CHOICE_NAME = 100
CHOICE_VALUE = 100
THREAD_NAME = 100

# Elements whose content is never show-notes text.
_DROPPED_TAGS = (
    "script",
    "style",
    "iframe",
    "noscript",
    "template",
    "object",
    "embed",
    "form",
    "input",
    "button",
    "select",
    "textarea",
    "head",
    "svg",
    "canvas",
    "audio",
    "video",
    "map",
)
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _DiscordMarkdown(MarkdownConverter):
    """markdownify, adjusted to what Discord renders well."""

    def convert_hN(self, n: int, el: Any, text: str, parent_tags: set[str]) -> str:
        text = " ".join(text.split())
        if "_inline" in parent_tags and text:
            return f" {text} "  # a heading in a table cell: a word apart from the cell's text
        if not text:
            return text
        # Discord renders "#" headings huge; a bold line keeps notes compact and readable.
        if not (text.startswith("**") and text.endswith("**")):
            text = f"**{text}**"
        return f"\n\n{text}\n\n"

    def convert_a(self, el: Any, text: str, parent_tags: set[str]) -> str:
        href = _safe_url(el.get("href"))
        label = " ".join(text.split())
        if not href or "_noformat" in parent_tags:
            return text
        if not label or label.replace("\\_", "_") == href:
            return f"<{href}>"  # angle brackets: a link without a big preview embed
        label = label.replace("[", "\\[").replace("]", "\\]")
        lead = " " if text[:1].isspace() else ""
        tail = " " if text[-1:].isspace() else ""
        return f"{lead}[{label}]({href}){tail}"

    def convert_img(self, el: Any, text: str, parent_tags: set[str]) -> str:
        src = _safe_url(el.get("src"))
        alt = " ".join((el.get("alt") or "").split()).replace("[", "\\[").replace("]", "\\]")
        if not src:
            return alt
        return f"[{alt or 'image'}]({src})"

    def convert_br(self, el: Any, text: str, parent_tags: set[str]) -> str:
        return text if "_inline" in parent_tags else "\n"

    # Discord has no tables: one line per row, cells separated by " | ", header cells bold.
    def convert_td(self, el: Any, text: str, parent_tags: set[str]) -> str:
        cell = " ".join(text.split())
        return f"{cell} | " if cell else ""

    def convert_th(self, el: Any, text: str, parent_tags: set[str]) -> str:
        cell = " ".join(text.split())
        return f"**{cell}** | " if cell else ""

    def convert_tr(self, el: Any, text: str, parent_tags: set[str]) -> str:
        row = text.strip().removesuffix("|").strip()
        return f"{row}\n" if row else ""

    def convert_table(self, el: Any, text: str, parent_tags: set[str]) -> str:
        return f"\n\n{text.strip()}\n\n"


# Where a heading starts a section of the notes: inside nothing but block containers. A
# heading inside a list, table, link, quote or emphasis stays in the text as a bold line.
_SECTION_PARENTS = frozenset(
    ("[document]", "html", "body", "div", "section", "article", "main", "header", "footer")
    + ("aside", "center", "hgroup")
)
_SECTION_MARK = "VGSECTIONBREAK{}X"
_SECTION_MARK_LINE = re.compile(r"^VGSECTIONBREAK(\d+)X$", re.MULTILINE)


class _SectionedMarkdown(_DiscordMarkdown):
    """Marks each section heading with a line of its own, numbered, and keeps its text in
    `headings`: the notes are split on those lines afterwards. One per conversion."""

    def __init__(self) -> None:
        super().__init__(**_CONVERTER_OPTIONS)
        self.headings: list[str] = []

    def convert_hN(self, n: int, el: Any, text: str, parent_tags: set[str]) -> str:
        if parent_tags <= _SECTION_PARENTS:
            heading = " ".join(el.get_text(" ").split())
            if heading:
                self.headings.append(heading)
                return f"\n\n{_SECTION_MARK.format(len(self.headings) - 1)}\n\n"
        return super().convert_hN(n, el, text, parent_tags)


def _safe_url(url: object) -> str:
    """Absolute http(s)/mailto URLs only: relative links go nowhere from Discord, and
    javascript: or data: URLs must never become clickable."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    if not url.lower().startswith(_SAFE_SCHEMES):
        return ""
    # Browsers drop tabs and newlines in URLs; "(", ")", "<", ">" and spaces would end the
    # Markdown link early.
    url = url.translate({9: None, 10: None, 13: None})
    for ch, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(ch, code)
    return url


_WHITESPACE = re.compile(r"[ \t\r\n\f]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_INNER_SPACES = re.compile(r"(?<=\S)[ \t]{2,}")


def parse_html(html: str) -> BeautifulSoup:
    """BeautifulSoup with the stdlib parser, quiet about input that merely looks like a URL
    (a one-line description often is one)."""
    with warnings.catch_warnings():
        _quiet_bs4()
        return BeautifulSoup(html, "html.parser")


def parse_notes(html: str) -> BeautifulSoup:
    """BeautifulSoup with lxml's C parser, for show notes: several times faster than the
    stdlib parser on a big feed. Like a browser, libxml2's HTML parser never expands entities
    declared in the markup."""
    builder = getattr(_builders, "notes", None)
    if builder is None:
        builder = _builders.notes = _ReusedParserBuilder()
    try:
        with warnings.catch_warnings():
            _quiet_bs4()
            return BeautifulSoup(html, builder=builder, element_classes={Tag: _NotesTag})
    except BaseException:
        _builders.notes = None  # a parse that failed half-way leaves nothing to reuse
        raise


class _ReusedParserBuilder(LXMLTreeBuilder):
    """bs4's lxml builder, keeping one lxml parser for every document instead of building a
    new one per document (lxml inspects the target each time): ~0.1 ms less per show notes,
    a few percent of a big feed's import. One per thread (_builders): a parser is fed one
    document at a time."""

    _parser: Any = None
    _encoding: str | None = None

    def parser_for(self, encoding: str | None) -> Any:
        if self._parser is None or self._encoding != encoding:
            self._parser = etree.HTMLParser(target=self, recover=True, encoding=encoding)
            self._encoding = encoding
        return self._parser


_builders = threading.local()


def _quiet_bs4() -> None:
    # bs4 warns when a description looks like a path/URL or like XML: feed text is HTML
    # whatever it looks like, and a warning per item would only flood the log.
    warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
    warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)


class _NotesTag(Tag):
    """A Tag whose find_parent(name) is a plain walk up the tree: markdownify asks it of every
    tag, and bs4's general matcher made that a third of the conversion's time."""

    def find_parent(self, name: Any = None, attrs: Any = None, **kwargs: Any) -> Any:
        if not isinstance(name, str) or attrs or kwargs:
            return super().find_parent(name, attrs, **kwargs)
        parent = self.parent
        while parent is not None and parent.name != name:
            parent = parent.parent
        return parent


# Characters that make text need an HTML parser: markup, character references, and what lxml
# rewrites (NUL becomes U+FFFD, a leading byte-order mark is dropped).
_NEEDS_PARSER = re.compile("[<&\x00\ufeff]")


def html_to_markdown(html: str) -> str:
    """Show-notes HTML → Discord Markdown. Never raises on odd HTML: the parser repairs what
    it can."""
    if not _NEEDS_PARSER.search(html):
        return _finish(_escape_emphasis(_WHITESPACE.sub(" ", html)))
    return soup_to_markdown(parse_notes(html))


def text_to_markdown(text: str) -> str:
    """Plain-text show notes → Discord Markdown: blank lines separate paragraphs, line breaks
    are kept, Markdown characters show literally. The same as html_to_markdown of the text as
    <p> paragraphs with <br> line breaks, without parsing any HTML."""
    if _NEEDS_PARSER.search(text):
        return html_to_markdown(plain_text_html(text))
    paragraphs = (p.strip() for p in text.replace("\r", "").split("\n\n"))
    return _finish(
        "\n\n".join(
            "\n".join(_escape_emphasis(_WHITESPACE.sub(" ", ln)) for ln in p.split("\n"))
            for p in paragraphs
            if p
        )
    )


def plain_text_html(text: str) -> str:
    """Plain text as HTML: <p> per blank-line-separated paragraph, <br> per line break."""
    paragraphs = (p.strip() for p in text.replace("\r", "").split("\n\n"))
    return "".join(f"<p>{escape_html(p).replace(chr(10), '<br>')}</p>" for p in paragraphs if p)


def html_to_text(html: str) -> str:
    """HTML → plain text on one line, for titles marked up as HTML: tags, scripts and comments
    gone, character references decoded, whitespace collapsed."""
    if not _NEEDS_PARSER.search(html):
        return " ".join(html.split())
    soup = parse_notes(html)
    _clean(soup)
    return " ".join(soup.get_text().split())


def soup_to_markdown(soup: BeautifulSoup) -> str:
    """A parsed document → Discord Markdown. Changes `soup`."""
    _clean(soup)
    return _finish(_converter().convert_soup(soup))


def html_to_sections(html: str) -> tuple[str, list[tuple[str, str]]]:
    """Show-notes HTML → (the Markdown before the first heading, [(heading, its Markdown)]),
    split on the headings that structure the document (see _SECTION_PARENTS)."""
    if "VGSECTIONBREAK" in html:  # text that would pass for our marks: no splitting
        return html_to_markdown(html), []
    soup = parse_notes(html)
    _clean(soup)
    converter = _SectionedMarkdown()
    parts = _SECTION_MARK_LINE.split(_finish(converter.convert_soup(soup)))
    numbers = parts[1::2]
    if numbers != [str(i) for i in range(len(converter.headings))]:
        # A mark that ended up inside other text (no sectioning structure in this HTML after
        # all): convert again without marks rather than show one.
        return html_to_markdown(html), []
    sections = [(converter.headings[i], parts[2 * i + 2].strip()) for i in range(len(numbers))]
    return parts[0].strip(), sections


_UNWANTED_STRINGS = (Comment, Doctype, Declaration, ProcessingInstruction)
_PREFORMATTED = frozenset(("pre", "code", "textarea"))


def _clean(soup: BeautifulSoup) -> None:
    """Drop comments, scripts and the like; collapse whitespace as a browser would; in one
    walk over the tree (bs4's find_all, once per kind of node, costs several times more)."""
    unwanted: list[PageElement] = []
    collapsed: list[tuple[NavigableString, str]] = []
    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in _DROPPED_TAGS:
                unwanted.append(node)
            node.attrs.pop("title", None)  # Discord shows no link titles
        elif isinstance(node, _UNWANTED_STRINGS):
            unwanted.append(node)
        elif isinstance(node, NavigableString):
            # HTML collapses whitespace, newlines included, except in preformatted text.
            text = _WHITESPACE.sub(" ", node)
            if text != node and not any(p.name in _PREFORMATTED for p in node.parents):
                collapsed.append((node, text))
    for node, text in collapsed:
        node.replace_with(text)
    # Innermost first (reverse document order): each element is still in the tree when it is
    # removed, so nothing needs asking whether a dropped ancestor took it already; bs4's
    # `decomposed` asks by searching the whole subtree.
    for element in reversed(unwanted):
        if isinstance(element, Tag):
            element.decompose()
        else:
            element.extract()


_CONVERTER_OPTIONS: dict[str, Any] = {"bullets": "-", "heading_style": "atx", "escape_misc": False}


@functools.cache
def _converter() -> _DiscordMarkdown:
    return _DiscordMarkdown(**_CONVERTER_OPTIONS)


def _escape_emphasis(text: str) -> str:
    # What markdownify does to text outside code: the only escaping with escape_misc=False.
    return text.replace("*", r"\*").replace("_", r"\_")


def _finish(markdown: str) -> str:
    lines = [
        _INNER_SPACES.sub(" ", line.replace("\xa0", " ")).rstrip() for line in markdown.split("\n")
    ]
    # Feed text is not ours: @everyone in show notes must not ping anyone, even if a caller
    # forgets allowed_mentions.
    return escape_mentions(_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip())


# ---- escaping text we echo back ----

_MENTION = re.compile(r"@(everyone|here|[!&]?\d{15,21})")
_ANGLE_MENTION = re.compile(r"<(@[!&]?|#)(\d{15,21})>")
_URL = re.compile(r"<?https?://[^\s<>]+>?")
_INLINE_SPECIAL = re.compile(r"([\\*_~`|\[\]()])")
_LINE_START = re.compile(r"^(\s*)(>|#{1,3}\s|-\s|\*\s|\d+\.\s)", re.MULTILINE)


def escape_mentions(text: str) -> str:
    """Make @everyone, @here and <@id>/<@&id>/<#id> inert by breaking them with a zero-width
    space. We also send allowed_mentions=none; this makes the text look inert too."""
    text = _ANGLE_MENTION.sub(lambda m: f"<{m.group(1)}\u200b{m.group(2)}>", text)
    return _MENTION.sub(lambda m: f"@\u200b{m.group(1)}", text)


def escape_markdown(text: str) -> str:
    """Escape Markdown so user text shows literally; URLs are left intact so they still link."""
    out: list[str] = []
    pos = 0
    for url in _URL.finditer(text):
        out.append(_escape_plain(text[pos : url.start()]))
        out.append(url.group(0))
        pos = url.end()
    out.append(_escape_plain(text[pos:]))
    return _LINE_START.sub(_escape_line_start, "".join(out))


def _escape_plain(text: str) -> str:
    return _INLINE_SPECIAL.sub(r"\\\1", text)


def _escape_line_start(m: re.Match[str]) -> str:
    marker = m.group(2)
    if marker[0].isdigit():
        number = marker.rstrip(". \t")
        return f"{m.group(1)}{number}\\{marker[len(number) :]}"
    if marker.startswith("\\"):
        return m.group(0)
    return f"{m.group(1)}\\{marker}"


# ---- truncation ----

_PROTECTED = re.compile(
    r"```.*?```"  # code block
    r"|`[^`\n]+`"  # code span
    r"|\[(?:\\.|[^\]\\\n])*\]\([^)\s]*\)"  # [text](url)
    r"|<https?://[^\s>]+>"  # <url>
    r"|https?://\S+",  # bare URL
    re.DOTALL,
)
_LINK_LABEL = re.compile(r"\[((?:\\.|[^\]\\\n])*)\]\(")


def truncate(text: str, limit: int, *, suffix: str = "…") -> str:
    """Shorten text to at most `limit` characters (suffix included) at the nicest boundary:
    a paragraph, else a line, else a sentence, else a word; never inside a Markdown link, URL
    or code span when there is an earlier place to cut; never inside a grapheme cluster."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if len(text) <= limit:
        return text
    if len(suffix) >= limit:
        return suffix[:limit]
    budget = limit - len(suffix)
    while True:
        cut = _best_cut(text, budget)
        inside = _protected_span_at(text, cut)
        if inside is None:
            break
        span_start, span = inside
        label = _link_label(span)
        if label is None:
            if text[:span_start].strip():
                cut = span_start
            break
        # A link that does not fit whole: keep its words, lose the URL, and look again.
        text = text[:span_start] + label + text[span_start + len(span) :]
        if len(text) <= limit:
            return text
    cut = _grapheme_boundary(text, cut)
    head = text[:cut].rstrip()
    if not head:  # nothing fits but a fragment: a hard cut still beats an empty string
        head = text[: _grapheme_boundary(text, budget)]
    return head + suffix


def _best_cut(text: str, budget: int) -> int:
    """Position to cut before, at most `budget`. A boundary is used only if it keeps at least
    half of the budget: losing more reads worse than a cut mid-sentence at a word."""
    window = text[: budget + 1]  # a boundary right at the budget is fine
    floor = budget // 2
    for sep in ("\n\n", "\n"):
        i = window.rfind(sep, 0, budget + 1)
        if i >= floor:
            return i
    sentence = max((window.rfind(p, 0, budget) for p in (". ", "! ", "? ")), default=-1)
    if sentence + 1 >= floor:
        return sentence + 1
    space = max(window.rfind(" ", 0, budget + 1), window.rfind("\t", 0, budget + 1))
    if space >= floor:
        return space
    return budget


def _protected_span_at(text: str, cut: int) -> tuple[int, str] | None:
    """The link, URL or code span that `cut` falls strictly inside, with its start."""
    for m in _PROTECTED.finditer(text):
        if m.start() >= cut:
            break
        if cut < m.end():
            return m.start(), m.group(0)
    return None


def _link_label(link: str) -> str | None:
    m = _LINK_LABEL.match(link)
    return m.group(1) if m else None


_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """Does `ch` belong to the grapheme before it (combining mark, emoji modifier, ...)?"""
    cp = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == _ZWJ
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tones
        or 0xE0020 <= cp <= 0xE007F  # tag sequences (subdivision flags)
        or 0xDC00 <= cp <= 0xDFFF  # a low surrogate left over from a broken pair
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _grapheme_boundary(text: str, cut: int) -> int:
    """Move `cut` back until text[:cut] ends on a whole grapheme (approximately: combining
    marks, ZWJ emoji sequences, modifiers, flags)."""
    cut = min(cut, len(text))
    while 0 < cut < len(text):
        if _extends(text[cut]) or text[cut - 1] == _ZWJ:
            cut -= 1
            continue
        if _is_regional(text[cut]) and _is_regional(text[cut - 1]):
            run = 0
            while cut - 1 - run >= 0 and _is_regional(text[cut - 1 - run]):
                run += 1
            if run % 2 == 1:  # we would split a flag pair
                cut -= 1
                continue
        break
    return cut


# ---- slugs ----

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 60) -> str:
    """'Episode 11: The Great Stagnation!' → 'episode-11-the-great-stagnation'. ASCII only
    (accents folded), cut at a word boundary; "" when nothing is left."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = _NON_SLUG.sub("-", folded).strip("-")
    if len(slug) > max_length:
        cut = slug.rfind("-", 0, max_length + 1)
        slug = slug[: cut if cut > 0 else max_length].strip("-")
    return slug

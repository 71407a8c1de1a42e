"""Show notes from feeds: HTML → Discord Markdown (split into sections on its headings),
plain-text notes → Markdown, HTML titles → plain text.

lxml repairs and cleans the tree and does what Discord needs differently (safe links only,
headings as bold lines, tables as lines); html-to-markdown (Rust) writes the Markdown. Pure
functions.
"""

from __future__ import annotations

import logging
import re
import threading
from html import escape as escape_html
from typing import Any
from urllib.parse import urlsplit

from html_to_markdown import ConversionOptions
from html_to_markdown import convert as convert_html
from lxml import etree

from bot.core.text import escape_mentions

log = logging.getLogger(__name__)

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


# Where a heading starts a section of the notes: inside nothing but block containers. A
# heading inside a list, table, link, quote or emphasis stays in the text as a bold line.
_SECTION_PARENTS = frozenset(
    ("html", "body", "div", "section", "article", "main", "header", "footer", "aside")
    + ("center", "hgroup")
)
_SECTION_MARK = "VGSECTIONBREAK{}X"
_SECTION_MARK_LINE = re.compile(r"^VGSECTIONBREAK(\d+)X$", re.MULTILINE)


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


# Characters that make a title need an HTML parser: markup, character references, and what
# the parsing rewrites (a leading byte-order mark is dropped; see _RESERVED and _CONTROLS).
_NEEDS_PARSER = re.compile("[<&\ufeff\x00-\x08\x0b\x0e-\x1f\ue000\ue001\ufffe\uffff\ud800-\udfff]")
# Control characters that XML (and so lxml) refuses, and Discord shows as nothing: dropped
# before parsing. Tab, line feed, form feed and carriage return are whitespace. The other
# characters XML refuses (U+FFFE, U+FFFF; lone surrogates) become U+FFFD (_RESERVED, and the
# encoding's "replace").
_CONTROLS = tuple(c for c in range(1, 32) if c not in (9, 10, 12, 13))


def html_to_markdown(html: str) -> str:
    """Show-notes HTML → Discord Markdown. Never raises on odd HTML: the parser repairs what
    it can."""
    return _convert(_prepared(html, None))


def html_to_sections(html: str) -> tuple[str, list[tuple[str, str]]]:
    """Show-notes HTML → (the Markdown before the first heading, [(heading, its Markdown)]),
    split on the headings that structure the document (see _SECTION_PARENTS)."""
    if "VGSECTIONBREAK" in html:  # text that would pass for our marks: no splitting
        return html_to_markdown(html), []
    headings: list[str] = []
    parts = _SECTION_MARK_LINE.split(_convert(_prepared(html, headings)))
    numbers = parts[1::2]
    if numbers != [str(i) for i in range(len(headings))]:
        # A mark that ended up inside other text: convert again without marks rather than
        # show one.
        return html_to_markdown(html), []
    sections = [(headings[i], parts[2 * i + 2].strip()) for i in range(len(numbers))]
    return parts[0].strip(), sections


def text_to_markdown(text: str) -> str:
    """Plain-text show notes → Discord Markdown: blank lines separate paragraphs, line breaks
    are kept, Markdown characters show literally."""
    return html_to_markdown(plain_text_html(text))


def plain_text_html(text: str) -> str:
    """Plain text as HTML: <p> per blank-line-separated paragraph, <br> per line break."""
    paragraphs = (p.strip() for p in text.replace("\r", "").split("\n\n"))
    return "".join(f"<p>{escape_html(p).replace(chr(10), '<br>')}</p>" for p in paragraphs if p)


def html_to_text(html: str) -> str:
    """HTML → plain text on one line, for titles marked up as HTML: tags, scripts and comments
    gone, character references decoded, whitespace collapsed."""
    if not _NEEDS_PARSER.search(html):
        return " ".join(html.split())
    root = _parsed(html)
    if root is None:
        return ""
    _drop_unwanted(root)
    return " ".join(etree.tostring(root, method="text", encoding="unicode").split())


# ---- the tree, made ready for the converter ----
#
# Unsafe links and images become text, headings bold lines (Discord shows "#" headings huge),
# tables one line per row (Discord has no tables).

_CONVERSION = ConversionOptions(
    bullets="-",
    escape_asterisks=True,
    escape_underscores=True,
    escape_misc=False,
    extract_metadata=False,
    newline_style="spaces",  # "  \n", and _finish strips trailing spaces: a plain line break
)
_HEADING_TAGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_PREFORMATTED = frozenset(("pre", "code", "textarea"))
_BOLD_TAGS = frozenset(("b", "strong"))
_INLINE_TAGS = frozenset(
    ("a", "abbr", "b", "cite", "code", "em", "font", "i", "kbd", "mark", "q", "s", "samp")
    + ("small", "span", "strong", "sub", "sup", "td", "th", "u", "var")
)
_UNWRAP = "vg-unwrap"  # an unsafe link's tag until lxml's strip_tags replaces it by its content
_parsers = threading.local()
# The converter escapes a backslash we put before a bracket, and leaves a bare bracket in a
# link's label, where it can end the label early. So brackets in labels travel as two
# private-use characters, made escaped brackets afterwards; the same characters in the input
# become U+FFFD, like NUL.
_LABEL_BRACKETS = {ord("["): "\ue000", ord("]"): "\ue001"}
_RESERVED = {c: "\ufffd" for c in (0, 0xE000, 0xE001, 0xFFFE, 0xFFFF)} | {
    c: None for c in _CONTROLS
}
_ESCAPED_BRACKETS = {0xE000: "\\[", 0xE001: "\\]"}


def _parsed(html: str) -> Any:
    """The document's <html> element (lxml), or None when there is nothing in it."""
    parser = getattr(_parsers, "html", None)
    if parser is None:
        # Comments and processing instructions never reach the tree. Like a browser,
        # libxml2's HTML parser never expands entities declared in the markup.
        parser = _parsers.html = etree.HTMLParser(
            recover=True, remove_comments=True, remove_pis=True, no_network=True, encoding="utf-8"
        )
    data = html.translate(_RESERVED).encode("utf-8", "replace")
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError:  # an empty document, or one lxml cannot start
        return None


def _prepared(html: str, headings: list[str] | None) -> Any:
    """The parsed tree, made ready for the converter. With `headings`, each heading that
    structures the document is replaced by a numbered mark line and its text appended."""
    root = _parsed(html)
    if root is None:
        return None
    _drop_unwanted(root)
    for table in reversed(list(root.iter("table"))):  # innermost first
        _flatten_table(table)
    if headings is not None:
        for paragraph in list(root.iter("p")):
            _promote_bold_label(paragraph)
    for heading in list(root.iter(*_HEADING_TAGS)):
        _replace_heading(heading, headings)
    return root


# A bold-only paragraph this short, not ending a sentence, is a heading.
_LABEL_LENGTH = 80


def _promote_bold_label(paragraph: Any) -> None:
    """<p><strong>Links:</strong></p> → <h3>Links</h3>: WordPress, Podlove and Fireside write
    their headings so, and as a bold line the first one became the summary."""
    children = [c for c in paragraph if c.tag != "br"]
    if (
        len(children) != 1
        or children[0].tag not in _BOLD_TAGS
        or (paragraph.text or "").strip()
        or any((c.tail or "").strip() for c in paragraph)
        or any(True for _ in children[0].iter("a"))  # a bold link is a link, not a heading
        or not _structures(paragraph)
        or not _followed(paragraph)
    ):
        return
    text = " ".join("".join(children[0].itertext()).split())
    if not text or len(text) > _LABEL_LENGTH or text.endswith((".", "!", "?")):
        return
    heading = etree.Element("h3")
    heading.text = text.removesuffix(":").rstrip() or text
    heading.tail = paragraph.tail
    paragraph.getparent().replace(paragraph, heading)


def _followed(el: Any) -> bool:
    """Whether text comes after `el`: a heading over nothing is a bold line (notes that are
    one bold line would otherwise lose their summary)."""
    for node in (el, *el.iterancestors()):
        if (node.tail or "").strip() or any(_has_content(s) for s in node.itersiblings()):
            return True
    return False


def _drop_unwanted(root: Any) -> None:
    """Drop elements whose content is never text, make unsafe links and images text, and
    collapse whitespace as a browser would: in one walk, skipping what is dropped."""
    stack: list[tuple[Any, bool]] = [(root, False)]
    unsafe = False  # unsafe links are unwrapped after the walk, which still cleans inside them
    pictured: dict[Any, str] = {}  # link → the source of an image inside it
    while stack:
        el, pre = stack.pop()
        for child in list(el):
            tag = child.tag
            if not isinstance(tag, str) or tag in _DROPPED_TAGS:
                _remove(child)
                continue
            if child.tail and not pre:
                child.tail = _WHITESPACE.sub(" ", child.tail)
            child_pre = pre or tag in _PREFORMATTED
            if child.text and not child_pre:
                child.text = _WHITESPACE.sub(" ", child.text)
            if tag == "a" and not _fix_link(child):
                child.tag = _UNWRAP
                unsafe = True
            elif tag == "img" and any(a.tag == "a" for a in child.iterancestors()):
                # A link in a link would be two links, one of them empty: the image is
                # the outer link's text (its alt, if any).
                link = next(a for a in child.iterancestors() if a.tag == "a")
                pictured[link] = _safe_url(child.get("src"))
                alt = " ".join((child.get("alt") or "").split())
                _replace_with_text(child, alt.translate(_LABEL_BRACKETS))
                continue
            elif tag == "img":
                _replace_image(child)
                continue
            child.attrib.pop("title", None)  # Discord shows no link titles
            stack.append((child, child_pre))
    if unsafe:
        etree.strip_tags(root, _UNWRAP)  # their text and children take their place
    for a in list(root.iter("a")):
        if "".join(a.itertext()).strip():
            continue
        # Never "[](url)": an empty link, or one to a picture (a captioned image) says
        # nothing in Discord and goes; a pictured link elsewhere (a sponsor's logo) is named
        # by its site.
        href = a.get("href", "")
        if a not in pictured or href == pictured[a] or _IMAGE_PATH.search(urlsplit(href).path):
            _remove(a)
        else:
            a.text = _site(href)


_IMAGE_PATH = re.compile(r"\.(?:png|jpe?g|gif|webp|avif|svg|bmp|tiff?)$", re.IGNORECASE)


def _site(href: str) -> str:
    """A link's text when it has none: its host (or e-mail address)."""
    parts = urlsplit(href)
    if parts.scheme.lower() == "mailto":
        return parts.path or href
    host = parts.hostname or href
    return host.removeprefix("www.")


def _fix_link(a: Any) -> bool:
    """Make a safe link ready for the converter; False when it must become its text."""
    href = _safe_url(a.get("href"))
    if not href:
        return False
    a.attrib.clear()
    a.set("href", href)
    for node in a.iter():  # brackets in a label would end it early
        if node.text:
            node.text = node.text.translate(_LABEL_BRACKETS)
        if node.tail and node is not a:
            node.tail = node.tail.translate(_LABEL_BRACKETS)
    return True


def _replace_image(img: Any) -> None:
    src = _safe_url(img.get("src"))
    alt = " ".join((img.get("alt") or "").split())
    if not src:
        _replace_with_text(img, alt)
        return
    link = etree.Element("a", href=src)
    link.text = (alt or "image").translate(_LABEL_BRACKETS)
    link.tail = img.tail
    img.getparent().replace(img, link)


def _flatten_table(table: Any) -> None:
    """A table as lines: one per row, cells joined by " | ", header cells bold."""
    lines = etree.Element("p")
    for row in table.iter("tr"):
        cells = [c for c in row if c.tag in ("td", "th") and _has_content(c)]
        if not cells:
            continue
        if len(lines):
            etree.SubElement(lines, "br")
        for i, cell in enumerate(cells):
            holder = etree.SubElement(lines, "strong" if cell.tag == "th" else "span")
            holder.text = (cell.text or "").strip()
            holder.extend(list(cell))
            if len(holder):
                holder[-1].tail = (holder[-1].tail or "").rstrip()
            else:
                holder.text = holder.text.rstrip()
            if i < len(cells) - 1:
                holder.tail = " | "
    lines.tail = table.tail
    table.getparent().replace(table, lines)


def _has_content(el: Any) -> bool:
    return bool("".join(el.itertext()).strip()) or any(True for _ in el.iter("a"))


def _replace_heading(heading: Any, headings: list[str] | None) -> None:
    for br in list(heading.iter("br")):  # a heading is one line
        _replace_with_text(br, " ")
    text = " ".join("".join(heading.itertext()).split())
    parent = heading.getparent()
    if headings is not None and text and _structures(heading):
        mark = etree.Element("p")
        mark.text = _SECTION_MARK.format(len(headings))
        headings.append(text)
        mark.tail = heading.tail
        parent.replace(heading, mark)
        return
    if not text:
        heading.tag = "span"
        return
    # A bold line; a heading that is bold already is not made bold twice.
    children = list(heading)
    already = (
        len(children) == 1
        and children[0].tag in _BOLD_TAGS
        and not (heading.text or "").strip()
        and not (children[0].tail or "").strip()
    )
    inline = any(a.tag in _INLINE_TAGS for a in heading.iterancestors())
    if already:
        heading.tag = "span" if inline else "p"
        return
    heading.tag = "strong"
    if inline:  # a word apart from the text around it, as a block was
        heading.tail = " " + (heading.tail or "")
    else:
        block = etree.Element("p")
        block.tail, heading.tail = heading.tail, None
        parent.replace(heading, block)
        block.append(heading)


def _structures(heading: Any) -> bool:
    return all(a.tag in _SECTION_PARENTS for a in heading.iterancestors())


def _remove(el: Any) -> None:
    """Remove `el` and what is inside it, keeping the text that follows it."""
    _replace_with_text(el, "")


def _replace_with_text(el: Any, text: str) -> None:
    parent = el.getparent()
    text += el.tail or ""
    previous = el.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
    parent.remove(el)


def _convert(root: Any) -> str:
    if root is None:
        return ""
    html = etree.tostring(root, method="html", encoding="unicode")
    try:
        markdown = convert_html(html, _CONVERSION).content or ""
    except Exception:  # a converter bug on odd input: the notes' text beats nothing
        log.warning("show notes could not be converted; keeping their text", exc_info=True)
        markdown = _escape_emphasis(
            " ".join(etree.tostring(root, method="text", encoding="unicode").split())
        )
    return _finish(markdown.translate(_ESCAPED_BRACKETS))


def _escape_emphasis(text: str) -> str:
    # The converter's only escaping with escape_misc=False, for text that skips it.
    return text.replace("*", r"\*").replace("_", r"\_")


def _finish(markdown: str) -> str:
    lines = [
        _INNER_SPACES.sub(" ", line.replace("\xa0", " ")).rstrip() for line in markdown.split("\n")
    ]
    # Feed text is not ours: @everyone in show notes must not ping anyone, even if a caller
    # forgets allowed_mentions.
    return escape_mentions(_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip())

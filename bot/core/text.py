"""Text for Discord: its limits, escaping of echoed user text, truncation, slugs.

Pure functions. Lengths are counted in Python characters (code points), as discord.py does
when it checks the same limits.
"""

from __future__ import annotations

import re
import unicodedata

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

# ---- escaping text we echo back ----

_MENTION = re.compile(r"@(everyone|here|[!&]?\d{15,21})")
# Discord reads any number here, and </name:id> is a command mention (a click fills it in).
_ANGLE_MENTION = re.compile(r"<(@[!&]?|#|/[^<>:\n]{1,100}:)(\d+)>")
_URL = re.compile(r"<?https?://[^\s<>]+>?")
_INLINE_SPECIAL = re.compile(r"([\\*_~`|\[\]()])")
_INLINE_OR_URL = re.compile(r"[\\*_~`|\[\]()]|https?://")
_LINE_START = re.compile(r"^(\s*)(>|#{1,3}\s|-\s|\*\s|\d+\.\s)", re.MULTILINE)


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """`text` with each lone UTF-16 surrogate (JSON's "\\ud800", half of an emoji cut in two)
    made U+FFFD: such text has no UTF-8, so SQLite and Discord would refuse it."""
    return _SURROGATE.sub("\ufffd", text)


def counted(n: int, noun: str) -> str:
    """'1 episode', '12 topics', '0 problems': the nouns counted here all take an s."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def escape_mentions(text: str) -> str:
    """Make @everyone, @here and <@id>/<@&id>/<#id> inert by breaking them with a zero-width
    space. We also send allowed_mentions=none; this makes the text look inert too."""
    text = _ANGLE_MENTION.sub(lambda m: f"<{m.group(1)}\u200b{m.group(2)}>", text)
    return _MENTION.sub(lambda m: f"@\u200b{m.group(1)}", text)


def quote(text: str, limit: int = 60) -> str:
    """User text quoted in a message, e.g. an error about it: cut to `limit` characters, in
    quotes (repr shows control characters), and inert (no Markdown, mention or masked link)."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return escape_mentions(escape_markdown(repr(cut)))


def escape_markdown(text: str) -> str:
    """Escape Markdown so user text shows literally; URLs are left intact so they still link."""
    if _INLINE_OR_URL.search(text) is None:
        # Most excerpt words: nothing inline to escape (each reply escapes ~20 pieces).
        return _LINE_START.sub(_escape_line_start, text)
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
    # [text](url), the label's loop unrolled and possessive: a failed try costs one pass
    r"|\[[^\]\\\n]*+(?:\\.[^\]\\\n]*+)*+\]\([^)\s]*+\)"
    r"|<https?://[^\s>]+>"  # <url>
    r"|https?://\S+",  # bare URL
    re.DOTALL,
)
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_SPAN_REACH = 2048  # how far past the cut a span is looked for: a whole embed URL (URL_MAX)
_LINK_LABEL = re.compile(r"\[((?:\\.|[^\]\\\n])*)\]\(")


def truncate(text: str, limit: int, *, suffix: str = "…") -> str:
    """Shorten text to at most `limit` characters (suffix included) at the nicest boundary:
    a paragraph, else a line, else a sentence, else a word; never inside a Markdown link, URL
    or code span when there is an earlier place to cut; never inside a grapheme cluster. Bold,
    italic, underline, strikethrough, spoiler or code the cut splits is closed before the
    suffix, so no stray `**` or backtick shows."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if len(text) <= limit:
        return text
    if len(suffix) >= limit:
        return suffix[:limit]
    room = budget = limit - len(suffix)
    while True:
        text, head = _head(text, limit, budget)
        if head is None:
            return text
        end, closers = _balance(text, len(head))
        head = text[:end].rstrip() + closers
        if len(head) <= room:
            return head + suffix
        budget = max(0, budget - (len(head) - room))  # make room for the closing markers


def _head(text: str, limit: int, budget: int) -> tuple[str, str | None]:
    """(text, the part of it to keep), or (text, None) when dropping the URLs of links that
    do not fit made the whole text fit `limit`."""
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
            return text, None
    cut = _grapheme_boundary(text, cut)
    head = text[:cut].rstrip()
    if not head:  # nothing fits but a fragment: a hard cut still beats an empty string
        head = text[: _grapheme_boundary(text, budget)]
    return text, head


def pages(lines: list[str], limit: int = MESSAGE_CONTENT) -> list[str]:
    """`lines` packed, in order and each whole, into as few messages of at most `limit`
    characters as they fit in (a line too long alone is truncated); always one at least."""
    out: list[str] = []
    page = ""
    for line in lines:
        line = truncate(line, limit)
        joined = f"{page}\n{line}" if page else line
        if len(joined) <= limit:
            page = joined
            continue
        out.append(page)
        page = line
    return [*out, page]


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
    block = _code_block_at(text, cut)
    if block is not None:
        return block.start(), block.group(0)
    # The rest is searched only up to a little past the cut: in a long text full of "[" (a
    # feed's notes), each failed try at a link would otherwise read on to the end, for every
    # bracket.
    for m in _PROTECTED.finditer(text, 0, cut + _SPAN_REACH):
        if m.start() >= cut:
            break
        if cut < m.end():
            return m.start(), m.group(0)
    return None


def _code_block_at(text: str, cut: int) -> re.Match[str] | None:
    """The code block `cut` falls strictly inside. It may end far past the cut: its fences pair
    up, so the whole text is one pass."""
    for m in _CODE_BLOCK.finditer(text):
        if m.start() >= cut:
            break
        if cut < m.end():
            return m
    return None


def _link_label(link: str) -> str | None:
    m = _LINK_LABEL.match(link)
    return m.group(1) if m else None


# What Discord pairs inline: code and URLs (read as they are: a `_` in a URL is no marker),
# escapes, and markers. A link's label is text like the rest; only its URL is skipped, which
# also keeps this linear on a text full of "[" (the link pattern of _PROTECTED is not).
_INLINE = re.compile(
    r"(?P<span>```.*?```|`[^`\n]+`|\]\([^)\s]*+\)|<https?://[^\s>]+>|https?://\S+)"
    r"|(?P<escape>\\.)|\*+|_+|~~|\|\|",
    re.DOTALL,
)


def _balance(text: str, end: int) -> tuple[int, str]:
    """Where to end text[:end], and the markers that close what a cut there splits: emphasis
    or a code span that `text` closes later. A marker the whole text never closes (a stray
    `*`, a snake_case name) is literal on Discord and stays as it was."""
    stack: list[tuple[str, int, int]] = []  # open markers: (marker, its start, text's start)
    at_cut: list[tuple[str, int, int]] | None = None
    closed: set[tuple[str, int, int]] = set()
    block = _code_block_at(text, end)  # it may end far past the usual reach
    reach = max(end + _SPAN_REACH, block.end() if block is not None else 0)
    for m in _INLINE.finditer(text, 0, reach):
        start, stop, token = m.start(), m.end(), m.group(0)
        if at_cut is None and stop > end:
            if start < end and m.lastgroup is None:  # a cut inside `**`: keep none of it
                end = start
            at_cut = list(stack)
            if start < end and token[0] == "`":  # a code span that could not move
                tick = token[: len(token) - len(token.lstrip("`"))]
                at_cut.append((tick, start, start + len(tick)))
                closed.add(at_cut[-1])
        if m.lastgroup is not None:
            continue
        before = text[start - 1] if start else " "
        after = text[stop] if stop < len(text) else " "
        can_open, can_close = not after.isspace(), not before.isspace()
        if token[0] == "_":  # snake_case: an underscore inside a word is no marker
            can_open &= not (before.isalnum() or before == "_")
            can_close &= not (after.isalnum() or after == "_")
        # '***' is bold and italic at once; a longer run Discord shows as it is.
        pieces = [token] if len(token) < 3 else [token[:2], token[2]] if len(token) == 3 else []
        for piece in pieces:
            opener = next((o for o in reversed(stack) if o[0] == piece), None)
            if can_close and opener is not None:
                stack.remove(opener)
                closed.add(opener)
            elif can_open:
                stack.append((piece, start, stop))
    split = [o for o in at_cut or () if o in closed]  # each closed again after the cut
    while split and not text[split[-1][2] : end].strip():  # nothing inside it kept: drop it
        end = split.pop()[1]
    return end, "".join(marker for marker, _, _ in reversed(split))


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
_NON_WORD = re.compile(r"[\W_]+")


def slugify(text: str, max_length: int = 60) -> str:
    """'Episode 11: The Great Stagnation!' → 'episode-11-the-great-stagnation'. ASCII only
    (accents folded), cut at a word boundary; "" when nothing is left. For identifiers (file
    names, slugs); to compare names in any script, `name_key`."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _cut(_NON_SLUG.sub("-", folded).strip("-"), max_length)


def name_key(text: str, max_length: int = 60) -> str:
    """`slugify` for comparing names: the same for ASCII text, but letters of every script are
    kept ('機械学習' stays itself where slugify leaves ""); "" when the text has no letter or
    digit at all (emoji, punctuation), which must never match anything."""
    if text.isascii():
        return slugify(text, max_length)
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    folded = unicodedata.normalize("NFKC", folded)
    return _cut(_NON_WORD.sub("-", folded).strip("-"), max_length)


def _cut(slug: str, max_length: int) -> str:
    if len(slug) > max_length:
        cut = slug.rfind("-", 0, max_length + 1)
        slug = slug[: cut if cut > 0 else max_length].strip("-")
    return slug


def first_sentence(text: str) -> str:
    """The first sentence, whitespace collapsed to one line (a sentence ends before a capital,
    and with its paragraph: feeds' notes often have none of their own)."""
    paragraph = re.split(r"\n\s*\n", str(text).strip(), maxsplit=1)[0]
    flat = " ".join(paragraph.split())
    for match in _SENTENCE_END.finditer(flat):
        word = flat[: match.start()].rsplit(None, 1)[-1]
        # "Dr. Richard Engler", "Hugo J. Bowne", "the U.S. Environmental…": not an end.
        last = word[:-1].rsplit(".", 1)[-1].lstrip("(\"'“")
        if word.endswith(".") and (len(last) == 1 or last.casefold() in _TITLES):
            continue
        return flat[: match.start()]
    return flat


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“*_(\[])")
# Abbreviations a name follows. Not "No.": a number follows it (never a sentence end), and
# "…was no. Then…" is one.
_TITLES = frozenset(("dr", "drs", "mr", "mrs", "ms", "mx", "prof", "st", "jr", "sr", "vs"))

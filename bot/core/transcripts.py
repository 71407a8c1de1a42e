"""Transcript files (SRT, WebVTT, Podcasting 2.0 JSON, HTML, plain text) → Passages.

Pure: bytes in, passages and problems out. Cues are merged into passages of about
PASSAGE_WORDS words so that search hits and excerpts have a useful, bounded size.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import warnings
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning

from bot.core.models import Passage, Problem

log = logging.getLogger(__name__)

PASSAGE_WORDS = 250
# A whole file of garbage should give a readable report, not ten thousand lines of it.
MAX_PROBLEMS = 20

_CONTENT_TYPES = {
    "application/x-subrip": "srt",
    "application/srt": "srt",
    "text/srt": "srt",
    "text/x-srt": "srt",
    "text/vtt": "vtt",
    "application/json": "json",
    "application/x-json": "json",
    "text/json": "json",
    "text/html": "html",
    "application/xhtml+xml": "html",
}
_EXTENSIONS = {
    ".srt": "srt",
    ".vtt": "vtt",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
}
FORMATS = ("srt", "vtt", "json", "html", "text")


class _Cue(NamedTuple):  # a tuple: a 10,000-word transcript makes ~170 of them, twice
    text: str
    start: float | None = None
    end: float | None = None
    speaker: str = ""
    words: int = -1  # the text's word count when known (its spaces are then normalised)


class _Report:
    """Collects problems for one file, capped at MAX_PROBLEMS plus a summary line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.dropped = 0

    def add(self, message: str, line: int | None = None, hint: str = "", field: str | None = None):
        if len(self.problems) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        self.problems.append(Problem(self.path, message, line=line, field=field, hint=hint))

    def finish(self) -> list[Problem]:
        if self.dropped:
            self.problems.append(
                Problem(self.path, f"... and {self.dropped} more problems of the same kind")
            )
        return self.problems


def parse_transcript(
    path: str, raw: bytes, content_type: str | None = None, *, declared: str | None = None
) -> tuple[tuple[Passage, ...], list[Problem]]:
    """Parse a transcript; the format comes from content_type (as served), else extension,
    else sniffing. `declared`: the type the feed gives; a web page where it promised another
    format (an error page, a bot challenge) is refused, never read as what the show said."""
    report = _Report(path)
    text = _decode(raw, report)
    if not text.strip():
        report.add("the transcript is empty", hint="add the transcript text or remove the link")
        return (), report.finish()
    promised = _format_of(declared, plain="text")
    if promised not in (None, "html") and _is_web_page(text, content_type):
        report.add(
            f"the link returned a web page{_page_title(text)}, not the {declared} transcript "
            "the feed declares; nothing kept",
            hint="check the transcript URL: the server answers it with an error or "
            "challenge page (often a missing file)",
        )
        return (), report.finish()
    fmt = detect_format(path, text, content_type)
    if fmt == "html" and promised not in (None, "html"):
        fmt = promised  # served as HTML, but not a page: believe the feed
    parser = {
        "srt": _parse_srt,
        "vtt": _parse_vtt,
        "json": _parse_json,
        "html": _parse_html,
        "text": _parse_text,
    }[fmt]
    cues = [c for c in parser(text, report) if c.text]
    if not cues and not report.problems:
        report.add(f"no transcript text found (read as {fmt})")
    passages = _merge_cues(cues)
    log.debug("%s: %s, %d cues, %d passages", path, fmt, len(cues), len(passages))
    return passages, report.finish()


def _format_of(content_type: str | None, plain: str | None = None) -> str | None:
    """The format a MIME type names; text/plain gives `plain`; None when unknown."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _CONTENT_TYPES:
        return _CONTENT_TYPES[mime]
    if mime.endswith("+json"):
        return "json"
    return plain if mime == "text/plain" else None


_PAGE = re.compile(r"<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE)


def _is_web_page(text: str, served: str | None) -> bool:
    """An HTML document: what servers answer for a missing file or a bot check."""
    head = text.lstrip("\ufeff \t\n")[:2000]
    if not head.startswith("<"):
        return False  # WEBVTT, JSON, SRT and plain text start otherwise
    return bool(_PAGE.search(head)) or _format_of(served) == "html"


def _page_title(text: str) -> str:
    """' ("Podcast not found")': the page's title or first heading, for the report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(text[:100_000], "html.parser")
    for tag in (soup.find("h1"), soup.title):
        words = " ".join(tag.get_text(" ").split()) if tag is not None else ""
        if words:
            return f" ({words[:80]!r})"
    return ""


def detect_format(path: str, text: str, content_type: str | None = None) -> str:
    """One of FORMATS. text/plain is too often used for SRT to be trusted, so it sniffs."""
    fmt = _format_of(content_type)
    if fmt is not None:
        return fmt
    dot = path.rfind(".")
    if dot != -1 and "/" not in path[dot:]:
        ext = path[dot:].lower()
        if ext in _EXTENSIONS and _EXTENSIONS[ext] != "text":
            return _EXTENSIONS[ext]
    return _sniff(text)


def _sniff(text: str) -> str:
    head = text.lstrip("\ufeff \t\n")[:2000]
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("{") or (head.startswith("[") and not _MARKER.match(head)):
        return "json"
    if head.startswith("<") or re.search(r"<(p|div|html|body|br)\b", head, re.IGNORECASE):
        return "html"
    if _SRT_TIMING.search(head):
        return "srt"
    return "text"


def _decode(raw: bytes, report: _Report) -> str:
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if raw.startswith(bom):
            text = raw.decode(codec, errors="replace")
            break
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.add(
                f"not valid UTF-8 (first bad byte at offset {exc.start}); read as Windows-1252",
                hint="save the transcript as UTF-8",
            )
            text = raw.decode("cp1252", errors="replace")
        # Both decode a byte below 0x20 as that control character and never make one
        # otherwise, so bytes without them give text without them: no regex pass needed
        # (bytes.translate scans ~10× faster than the regex).
        if len(raw.translate(None, _CONTROL_BYTES)) == len(raw):
            return text.replace("\r\n", "\n").replace("\r", "\n")
    # NULs and other C0 controls (bar tab/newline) are never transcript text.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)  # one regex pass: a generator per character cost ~6 ms a file


# C0 controls but tab and newline (carriage returns are line ends by then).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])  # and not \r

# ---- timestamps ----

_TS = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_SRT_TIMING = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}", re.MULTILINE)
_TS_FULL = re.compile(rf"^{_TS}$")


def parse_timestamp(value: str) -> float | None:
    """'01:02:03,500', '1:02:03.5', '02:03' → seconds; None when malformed or out of range."""
    m = _TS_FULL.match(value.strip())
    return _ts_from_groups(m.groups()) if m else None


def _ts_from_groups(groups: tuple[str | None, ...]) -> float | None:
    hours, minutes, seconds, frac = groups
    h, m, s = int(hours or 0), int(minutes or 0), int(seconds or 0)
    if m >= 60 or s >= 60:
        return None
    fraction = int(frac) / 10 ** len(frac) if frac else 0.0
    return h * 3600 + m * 60 + s + fraction


def _timing(line: str) -> tuple[float, float] | None:
    m = _SRT_TIMING.match(line)
    if not m:
        return None
    start, end = _ts_from_groups(m.groups()[:4]), _ts_from_groups(m.groups()[4:])
    if start is None or end is None:
        return None
    return start, end


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number of their first line."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not block:
                first = number
            block.append(line.rstrip())
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


# ---- SRT ----

_TAG = re.compile(r"<[^>\n]*>")


def _strip_tags(line: str) -> str:
    return html.unescape(_TAG.sub("", line)).strip()


def _timed(
    first: int, block: list[str], report: _Report, *, missing: str, example: str, pattern: str
) -> tuple[int, tuple[float, float]] | None:
    """Where a block's timing line is and what it says; reports and returns None otherwise.
    The index line is optional in practice; the timing line is the anchor."""
    index = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
    if index is None:
        report.add(missing, line=first, hint=example)
        return None
    times = _timing(block[index])
    if times is None:
        report.add(
            f"malformed timing line {block[index].strip()!r}",
            line=first + index,
            hint=f"use {pattern}",
        )
        return None
    return index, times


def _parse_srt(text: str, report: _Report) -> Iterator[_Cue]:
    for first, block in _blocks(text):
        timed = _timed(
            first,
            block,
            report,
            missing="subtitle block without a timing line",
            example="each block needs '00:00:01,000 --> 00:00:04,000' after its number",
            pattern="HH:MM:SS,mmm --> HH:MM:SS,mmm",
        )
        if timed is None:
            continue
        index, times = timed
        body = " ".join(filter(None, (_strip_tags(line) for line in block[index + 1 :])))
        yield _Cue(body, times[0], times[1])


# ---- WebVTT ----

_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>")


def _parse_vtt(text: str, report: _Report) -> Iterator[_Cue]:
    blocks = list(_blocks(text))
    if not blocks or not blocks[0][1][0].lstrip("\ufeff").startswith("WEBVTT"):
        report.add("missing the 'WEBVTT' header", line=1, hint="the first line must be WEBVTT")
    for first, block in blocks:
        head = block[0]
        if head.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")) and "-->" not in head:
            continue
        timed = _timed(
            first,
            block,
            report,
            missing="cue without a timing line",
            example="each cue needs '00:00:01.000 --> 00:00:04.000'",
            pattern="HH:MM:SS.mmm --> HH:MM:SS.mmm (cue settings may follow)",
        )
        if timed is None:
            continue
        index, times = timed
        speaker = ""
        parts = []
        for line in block[index + 1 :]:
            voice = _VOICE.search(line)
            if voice and not speaker:
                speaker = voice.group(1).strip()
            parts.append(_strip_tags(line))
        yield _Cue(" ".join(filter(None, parts)), times[0], times[1], speaker)


# ---- Podcasting 2.0 JSON ----


def _parse_json(text: str, report: _Report) -> Iterator[_Cue]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        report.add(f"invalid JSON: {exc.msg}", line=exc.lineno, hint="check the JSON syntax")
        return
    except RecursionError:
        report.add("invalid JSON: nested too deeply")
        return
    segments = doc.get("segments") if isinstance(doc, dict) else None
    if not isinstance(segments, list):
        report.add(
            "no 'segments' list in the JSON transcript",
            field="segments",
            hint='expected {"segments": [{"startTime": 0, "endTime": 4, "body": "..."}]}',
        )
        return
    for i, seg in enumerate(segments):
        where = f"segments[{i}]"
        if not isinstance(seg, dict):
            report.add("a segment must be an object", field=where)
            continue
        body = seg.get("body")
        if not isinstance(body, str):
            report.add("'body' must be a string", field=f"{where}.body")
            continue
        start, end = _seconds(seg.get("startTime")), _seconds(seg.get("endTime"))
        if "startTime" in seg and start is None:
            report.add("'startTime' must be a number of seconds", field=f"{where}.startTime")
        speaker = seg.get("speaker")
        yield _Cue(" ".join(body.split()), start, end, speaker if isinstance(speaker, str) else "")


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


# ---- HTML: flatten to lines, then read them as plain text ----


def _parse_html(text: str, report: _Report) -> Iterator[_Cue]:
    with warnings.catch_warnings():
        # bs4 warns when a document looks like a URL or like XML: this is HTML either way.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "head", "iframe", "noscript", "template"]):
        tag.decompose()
    # Block elements end a line; inline text inside them stays together.
    flat = soup.get_text("\n")
    lines = _join_inline(flat)
    yield from _parse_text("\n\n".join(lines), report)


def _join_inline(flat: str) -> list[str]:
    """get_text("\n") breaks at every tag; rejoin a line that is only a timestamp or a name."""
    out: list[str] = []
    for line in (ln.strip() for ln in flat.split("\n")):
        if not line:
            continue
        if out and (_is_marker_only(out[-1]) or out[-1].endswith(":")):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


# ---- plain text, optionally with timestamp markers at line starts ----

_MARKER = re.compile(
    rf"^\s*[\[(]?{_TS}[\])]?\s*(?:[-–—:]\s*)?(?=\S|$)"  # [00:01:02] / (1:02) / 00:01:02 -
)
# "Hugo Bowne-Anderson  0:03" (Otter) or "Hugo (00:00:03):" on a line of its own.
_SPEAKER_TS = re.compile(
    rf"^\s*([A-Z][\w.'\-]*(?: [A-Z\d][\w.'\-]*){{0,4}})(?:\s{{2,}}|\t|\s*[\[(])"
    rf"{_TS}[\])]?:?\s*$"
)
_SPEAKER = re.compile(r"^([A-Z][\w.'\- ]{0,40}):\s+(?=\S)")


def _speaker_then_time(line: str) -> tuple[str, float, str] | None:
    """'Name: [00:03:12] words' or 'Name: 0:00' alone (an HTML transcript's <cite> and <time>
    on one line): (speaker, start, words). A bare time inside speech ('Hugo: 3:15 is late')
    is not taken: only a bracketed one, or one alone after the name."""
    who = _SPEAKER.match(line)
    if who is None:
        return None
    rest = line[who.end() :]
    marker = _MARKER.match(rest)
    if marker is None:
        return None
    words = rest[marker.end() :].strip()
    if words and not rest.startswith(("[", "(")):
        return None
    at = _ts_from_groups(marker.groups())
    return None if at is None else (who.group(1).strip(), at, words)


def _is_marker_only(line: str) -> bool:
    m = _MARKER.match(line)
    return m is not None and not line[m.end() :].strip()


def _parse_text(text: str, report: _Report) -> Iterator[_Cue]:
    cues: list[_Cue] = []
    pending: list[str] = []
    start: float | None = None
    speaker = ""

    def flush() -> None:
        words = " ".join(pending).split()
        if words:
            cues.append(_Cue(" ".join(words), start, None, speaker, len(words)))
        pending.clear()

    timed = False
    for line in text.split("\n"):
        marker = _MARKER.match(line)
        named = _SPEAKER_TS.match(line) if not marker else None
        spoken = _speaker_then_time(line) if not marker and not named else None
        if spoken is not None:
            flush()
            timed = True
            speaker, start, words = spoken
            pending.append(words)
        elif marker and (at := _ts_from_groups(marker.groups())) is not None:
            flush()
            timed = True
            start = at
            rest = line[marker.end() :].strip()
            who = _SPEAKER.match(rest)
            speaker = who.group(1).strip() if who else ""
            pending.append(rest[who.end() :] if who else rest)
        elif named and _ts_from_groups(named.groups()[1:]) is not None:
            flush()
            timed = True
            start = _ts_from_groups(named.groups()[1:])
            speaker = named.group(1).strip()
        elif not line.strip():
            if not timed:  # untimed text: paragraphs are the cues
                flush()
        else:
            pending.append(line)
    flush()
    # A marker's cue lasts until the next marker.
    for cue, nxt in zip(cues, [*cues[1:], None][: len(cues)], strict=True):
        end = nxt.start if nxt is not None and cue.start is not None else None
        if end is not None and cue.start is not None and end < cue.start:
            end = None
        yield _Cue(cue.text, cue.start, end, cue.speaker, cue.words)


# ---- cues → passages ----


def _merge_cues(cues: Iterable[_Cue], words: int = PASSAGE_WORDS) -> tuple[Passage, ...]:
    """Group consecutive cues into passages of about `words` words. A speaker change starts a
    new line prefixed "Speaker:"; a cue longer than a passage is split on word boundaries; a
    short last group is folded into the one before, because a few words alone read badly."""
    groups: list[list[tuple[str, _Cue]]] = []
    count = 0
    for cue in cues:
        if 0 <= cue.words <= words:  # counted already: one piece, as _split_words gives it
            pieces = [(cue.text, cue.words)]
        else:
            pieces = _split_words(cue.text, words)
        for piece, n in pieces:
            if not groups or count + n > words:
                groups.append([])
                count = 0
            groups[-1].append((piece, cue))
            count += n
    if len(groups) >= 2 and count < words // 5:  # count: the words of the last group
        groups[-2].extend(groups.pop())
    return tuple(_passage(group) for group in groups)


def _passage(group: list[tuple[str, _Cue]]) -> Passage:
    parts: list[str] = []
    speaker = ""
    for piece, cue in group:
        if cue.speaker and cue.speaker != speaker:
            parts.append(f"\n{cue.speaker}: " if parts else f"{cue.speaker}: ")
            speaker = cue.speaker
        elif parts:
            parts.append(" ")
        parts.append(piece)
    return Passage("".join(parts).strip(), group[0][1].start, group[-1][1].end)


def _split_words(text: str, words: int) -> list[tuple[str, int]]:
    """Pieces of at most `words` words, each with its word count (counted once, here)."""
    tokens = text.split()
    if len(tokens) <= words:
        return [(" ".join(tokens), len(tokens))]
    return [
        (" ".join(tokens[i : i + words]), len(tokens[i : i + words]))
        for i in range(0, len(tokens), words)
    ]

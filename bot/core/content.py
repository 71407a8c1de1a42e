"""Parse and validate the files under `content/` into models.

The format is documented in content/README.md. Parsing is pure (bytes and a display path in,
models and Problems out); only `load_dir` reads the disk. Every Problem names the file, the line
where one is known, the field, and how to fix it, so `vgbot content check` is all an author needs.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from rapidfuzz import fuzz, process

try:
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]  # libyaml
except ImportError:  # a PyYAML built without libyaml: the pure-Python parser does it all
    _CParser = None  # type: ignore[misc,assignment]

from bot.core.models import (
    Catalog,
    Chapter,
    Episode,
    Link,
    Person,
    Problem,
    Section,
    Topic,
)
from bot.core.text import name_key, slugify, truncate
from bot.core.transcripts import parse_transcript
from bot.core.urls import url_trouble

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024  # episode files and topics.yaml: show notes are a few KiB
MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024  # a three-hour transcript as JSON stays well below
# Caps the work on hostile input (refusing takes ~2 s); a thousand full topics are ~25,000 values.
MAX_YAML_NODES = 30_000
MAX_YAML_DEPTH = 20  # PyYAML's composer recurses per level; deep nesting would overflow it

EPISODES_DIR = "episodes"
TOPICS_FILE = "topics.yaml"

EPISODE_FIELDS = (
    "number",
    "title",
    "released",
    "hosts",
    "guests",
    "topics",
    "links",
    "chapters",
    "transcript",
)
REQUIRED_EPISODE_FIELDS = ("number", "title", "released", "hosts", "topics")
PERSON_FIELDS = ("name", "role")
CHAPTER_FIELDS = ("at", "title")
TOPIC_FIELDS = ("slug", "title", "description", "aliases", "related", "questions")
REQUIRED_TOPIC_FIELDS = ("slug", "title")
MIN_QUESTIONS, MAX_QUESTIONS = 2, 4

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FILENAME = re.compile(r"(?P<number>[0-9]{3,})-(?P<slug>.*)\.md")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLOCK = re.compile(r"(?:(?P<h>[0-9]+):)?(?P<m>[0-9]{1,2}):(?P<s>[0-9]{2}(?:\.[0-9]+)?)")
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FENCE = re.compile(r" {0,3}(```|~~~)")
# Lines that start a Markdown block of their own, so they never continue the paragraph above.
_BLOCK_START = re.compile(r" {0,3}(?:[-*+] |[0-9]{1,9}[.)] |>|#|\||```|~~~|<|[-=*_ ]+$)| {4}|\t")
_TAGS_OK = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "merge")
)
# Where libyaml and the pure-Python reader disagree (see _libyaml_may_read).
_ODD_CHARACTER = re.compile(
    "[\t\x85\xa0\u2028\u2029\ufeff]|" + yaml.reader.Reader.NON_PRINTABLE.pattern
)
_RESOLVER = yaml.resolver.Resolver()  # the tags SafeLoader gives untagged values
_FieldLines = dict[tuple[str, ...], int]  # ("topics", "defensible-moats") -> file line
_SLUG_HINT = "use lowercase letters, digits and single '-' between words, e.g. defensible-moats"


# ---------------------------------------------------------------- public API


def parse_episode(path: str, raw: bytes) -> tuple[Episode | None, list[Problem]]:
    """One episode file: (episode, []) when it is valid, else (None, every problem found)."""
    parsed = _parse_episode(path, raw)
    return parsed.episode, parsed.problems


def parse_episode_file(path: str, raw: bytes) -> tuple[Episode | None, list[Problem], str | None]:
    """parse_episode plus the transcript the valid episode names (relative to the content root),
    from one parse: what a sync needs to know about an episode file."""
    parsed = _parse_episode(path, raw)
    transcript = parsed.transcript if parsed.episode is not None else None
    return parsed.episode, parsed.problems, transcript


def transcript_path(episode_path: str, raw: bytes) -> str | None:
    """The transcript file named in the front matter, relative to the content root, or None."""
    return _parse_episode(episode_path, raw).transcript


def parse_topics(path: str, raw: bytes) -> tuple[list[Topic], list[Problem]]:
    """topics.yaml: every valid topic entry, plus a problem for each broken (skipped) entry."""
    topics, problems, _ = _parse_topics(path, raw)
    return topics, problems


def cross_check(episodes: Sequence[Episode], topics: Sequence[Topic]) -> list[Problem]:
    """Problems spanning files: duplicates and references to topics that do not exist."""
    return _relate(episodes, topics, _Lines()).problems


def relate(
    episodes: Sequence[Episode],
    topics: Sequence[Topic],
    *,
    check_topic_refs: bool = True,
    established: Collection[str] = (),
) -> Related:
    """What load_dir keeps of these models, and the cross-file problems (without lines).

    Episodes: a file in `established` (already in the catalogue) wins over a newcomer with
    its number or slug, so a stray copy never replaces it; otherwise, in source order, the
    first file wins. Unknown topic
    references are reported and dropped. Topics: the first entry of a slug wins, an alias that
    already names another topic is dropped, related slugs must exist. `check_topic_refs=False`
    neither reports nor drops unknown references (when there is no usable topics file).
    """
    return _relate(episodes, topics, _Lines(), check_topic_refs, established)


def load_dir(root: Path) -> Catalog:
    """Read root/episodes/*.md, root/topics.yaml and the transcripts they name.

    Returns everything that loaded plus all problems; one broken file never stops the others.
    """
    if not root.is_dir():
        hint = "point content_dir (VGBOT_CONTENT_DIR) at the folder with episodes/ and topics.yaml"
        return Catalog(problems=(Problem(str(root), "content folder not found", hint=hint),))
    problems: list[Problem] = []
    lines = _Lines()

    topics: list[Topic] = []
    topics_usable = False  # refs to topics are only checked against a topics file that loaded
    raw = _read(root / TOPICS_FILE, MAX_FILE_BYTES)
    if isinstance(raw, str):
        problems.append(Problem(TOPICS_FILE, raw, hint=f"create {root / TOPICS_FILE}"))
    else:
        topics, topic_problems, lines.topics = _parse_topics(TOPICS_FILE, raw)
        problems += topic_problems
        topics_usable = bool(topics) or not topic_problems

    episodes: list[Episode] = []
    transcripts: dict[str, tuple[str, int]] = {}  # episode source -> (transcript path, line)
    for name in _episode_files(root, problems):
        display = f"{EPISODES_DIR}/{name}"
        raw = _read(root / display, MAX_FILE_BYTES)
        if isinstance(raw, str):
            problems.append(Problem(display, raw, hint="check the file and its permissions"))
            continue
        parsed = _parse_episode(display, raw)
        problems += parsed.problems
        if parsed.episode is not None:
            episodes.append(parsed.episode)
            lines.episodes[display] = parsed.lines
            if parsed.transcript is not None:
                transcripts[display] = (parsed.transcript, parsed.lines[("transcript",)])

    related = _relate(episodes, topics, lines, check_topic_refs=topics_usable)
    problems += related.problems
    loaded = [
        _with_transcript(root, ep, transcripts.get(ep.source), problems) for ep in related.episodes
    ]
    log.info(
        "loaded %s: %d episodes, %d topics, %d problems",
        root,
        len(loaded),
        len(related.topics),
        len(problems),
    )
    return Catalog(
        episodes=tuple(sorted(loaded, key=lambda e: (e.number or 0, e.slug))),
        topics=tuple(related.topics),
        problems=tuple(sorted(problems, key=lambda p: (p.path, p.line or 0))),
    )


# ---------------------------------------------------------------- bytes -> text -> YAML


class _Refused(yaml.MarkedYAMLError):
    """YAML we parse but will not accept (aliases, huge or deep documents, exotic tags)."""

    def __init__(self, mark: yaml.Mark, problem: str, hint: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader's composer with the limits hostile input needs.

    Aliases are refused outright: safe_load expands them, which is how a few hundred bytes
    ("billion laughs") become gigabytes. Nothing in our format needs them.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.node_count = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        assert event.start_mark is not None  # the pure-Python parser always sets marks
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                event.start_mark,
                f"YAML alias *{event.anchor} is not allowed",
                "write the value out in full: anchors (&) and aliases (*) are not supported",
            )
        self.node_count += 1
        if self.node_count > MAX_YAML_NODES:
            raise _Refused(
                event.start_mark,
                f"more than {MAX_YAML_NODES} YAML values in one file",
                "split the content up; no episode or topic list needs this many",
            )
        if self.depth >= MAX_YAML_DEPTH:
            raise _Refused(
                event.start_mark,
                f"lists or mappings nested more than {MAX_YAML_DEPTH} levels deep",
                "flatten the structure; the format needs at most three levels",
            )
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if node is not None and node.tag not in _TAGS_OK:
            raise _Refused(
                node.start_mark,
                f"YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed",
                "remove the tag: only plain text, numbers, dates, lists and mappings are used",
            )
        return node


class _Unsure(Exception):
    """The fast composer met something only the pure-Python parser may judge."""


def _compose_fast(text: str) -> yaml.Node | None:
    """libyaml's events composed into nodes, for plain valid YAML only: any alias, anchor,
    unknown tag, limit or oddity raises _Unsure (or a YAMLError) and the pure-Python parser
    decides. The nodes PyYAML's Composer builds, without its Python calls per event;
    iterative, so deep nesting never reaches the C stack, and nothing is built past a limit.
    """
    parser = _CParser(text)
    get: Callable[[], Any] = parser.get_event  # libyaml's events are untyped in the stubs
    try:
        get()  # the stream's start
        event = get()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        if not isinstance(event, yaml.DocumentStartEvent):
            raise _Unsure
        open_nodes: list[tuple[yaml.CollectionNode, list[yaml.Node]]] = []
        root: yaml.Node | None = None
        count = 0
        while root is None:
            event = get()
            kind = type(event)
            node: yaml.Node
            if kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                node, items = open_nodes.pop()
                node.end_mark = event.end_mark
                if kind is yaml.MappingEndEvent:
                    pairs = iter(items)
                    node.value = list(zip(pairs, pairs, strict=True))
                else:
                    node.value = items
            elif kind is yaml.AliasEvent or event.anchor is not None:
                raise _Unsure
            else:
                count += 1
                if count > MAX_YAML_NODES or len(open_nodes) >= MAX_YAML_DEPTH:
                    raise _Unsure
                node = _fast_node(kind, event)
                if node.tag not in _TAGS_OK:
                    raise _Unsure
                if isinstance(node, yaml.CollectionNode):
                    open_nodes.append((node, []))
                    continue
            if open_nodes:
                open_nodes[-1][1].append(node)
            else:
                root = node
        if not isinstance(get(), yaml.DocumentEndEvent) or not isinstance(
            get(), yaml.StreamEndEvent
        ):
            raise _Unsure  # a second document, or something else PyYAML would object to
        return root
    finally:
        parser.dispose()


def _fast_node(kind: type, event: Any) -> yaml.Node:
    """The node an event starts, tagged as SafeLoader's Composer would tag it."""
    tag = event.tag
    if kind is yaml.ScalarEvent:
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        return yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    if kind is yaml.SequenceStartEvent:
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.SequenceNode, None, event.implicit)
        return yaml.SequenceNode(tag, [], event.start_mark, None, event.flow_style)
    if kind is yaml.MappingStartEvent:
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.MappingNode, None, event.implicit)
        return yaml.MappingNode(tag, [], event.start_mark, None, event.flow_style)
    raise _Unsure  # an event out of place


def _libyaml_may_read(text: str) -> bool:
    """Whether libyaml composes this text exactly as the pure-Python parser would.

    They differ in a few places, each found by a differential test (tests/core/
    test_content_props.py): characters the Python reader refuses, tabs inside plain values,
    byte order marks and Unicode line breaks, '?' inside a flow list's plain items. Text with
    any of those takes the slow path.
    """
    if _CParser is None or _ODD_CHARACTER.search(text) is not None:
        return False
    return "?" not in text or ("[" not in text and "{" not in text)


def _decode(path: str, raw: bytes, limit: int) -> tuple[str | None, list[Problem]]:
    """Bytes to text with \\n line ends, or a problem saying why not."""
    if len(raw) > limit:
        return None, [
            Problem(
                path,
                f"file is more than the limit of {limit:,} bytes",
                hint="shorten it or split it; a file this large is almost certainly a mistake",
            )
        ]
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # editors on Windows add a BOM; it is harmless
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [
            Problem(
                path,
                f"is not valid UTF-8: byte 0x{raw[e.start]:02x} at byte offset {e.start}",
                line=raw.count(b"\n", 0, e.start) + 1,
                hint="save the file with UTF-8 encoding",
            )
        ]
    if not text.strip():
        return None, [Problem(path, "file is empty", hint="see content/README.md for the format")]
    return text.replace("\r\n", "\n").replace("\r", "\n"), []


def _compose(path: str, text: str, first_line: int) -> tuple[yaml.Node | None, list[Problem]]:
    """YAML text to a node tree (no values constructed yet), or the syntax problem.

    libyaml composes valid files; anything it stops at is composed again by the pure-Python
    parser, whose messages (and the hints keyed on them) are the ones authors see.
    """
    if _libyaml_may_read(text):
        try:
            return _compose_fast(text), []
        except (_Unsure, yaml.YAMLError):
            pass  # broken, refused or unusual: the pure-Python parser says why, in its words
    return _compose_slowly(path, text, first_line)


def _compose_slowly(
    path: str, text: str, first_line: int
) -> tuple[yaml.Node | None, list[Problem]]:
    loader: _GuardedLoader | None = None
    try:
        loader = _GuardedLoader(text)  # checks every character up front: may raise ReaderError
        return loader.get_single_node(), []
    except yaml.MarkedYAMLError as e:
        # A quote or bracket left open is found where the file ends or the next key begins;
        # the place to fix is where it was opened.
        opened = e.context_mark is not None and (
            "quoted scalar" in (e.context or "")
            or "flow" in (e.context or "")
            and ("got ':'" in (e.problem or "") or "end" in (e.problem or ""))
        )
        mark = e.context_mark if opened else e.problem_mark or e.context_mark
        line = mark.line + first_line if mark else None
        if isinstance(e, _Refused):
            return None, [Problem(path, e.problem or "", line=line, hint=e.hint)]
        detail = " ".join(s for s in (e.context, e.problem) if s)
        message = f"YAML syntax error: {detail}"
        return None, [Problem(path, message, line=line, hint=_yaml_hint(detail))]
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + first_line
        message = f"contains the control character {chr(e.character)!r}, which YAML forbids"
        return None, [Problem(path, message, line=line, hint="delete that character")]
    except yaml.YAMLError as e:  # any other parser complaint: still a message, never a traceback
        return None, [Problem(path, f"YAML error: {e}", hint="check the YAML syntax")]
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_hint(detail: str) -> str:
    if "while scanning a quoted scalar" in detail:
        return "the quote opened on this line is never closed: end the value with the same quote"
    if "while parsing a flow sequence" in detail and ("got ':'" in detail or "end" in detail):
        # The next key (or the end) came before the ']'.
        return "the list opened on this line is never closed: end it with ']'"
    if "'\\t'" in detail:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in detail:
        return "put values containing ': ' in quotes, e.g. title: \"Data Science: A Story\""
    if "cannot start any token" in detail:
        return "put the value in quotes"
    if "while parsing a flow" in detail:
        return "quote list items that contain ',', '?', ':', '[' or '{', e.g. [\"Why?\", \"How?\"]"
    return "check indentation and quoting on this line and the one before it"


# ---------------------------------------------------------------- field checks


@dataclass
class _Check:
    """Problems for one file; turns YAML node marks into file lines."""

    path: str
    first_line: int  # file line of the YAML text's first line
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def line(self, node: yaml.Node) -> int:
        return node.start_mark.line + self.first_line

    def add(
        self,
        message: str,
        *,
        node: yaml.Node | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str = "",
    ) -> None:
        where = self.line(node) if node is not None else line
        self.problems.append(Problem(self.path, message, line=where, field=field, hint=hint))

    def mapping(
        self,
        node: yaml.Node,
        field: str | None,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        example: str = "",
    ) -> dict[str, yaml.Node] | None:
        """A mapping's values by key; reports unknown, repeated and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            self.add(
                f"must be a mapping of fields, got {_kind(node)}",
                node=node,
                field=field,
                hint=example or f"write fields as 'key: value' lines ({', '.join(allowed)})",
            )
            return None
        found: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            name = _join(field, str(key))
            if key is None:
                self.add(
                    "a field name must be a plain word",
                    node=key_node,
                    field=field,
                    hint=f"use one of: {', '.join(allowed)}",
                )
            elif key in found:
                self.add("appears twice", node=key_node, field=name, hint="keep only one of them")
            elif key not in allowed:
                guess = _did_you_mean(key, allowed)
                hint = f"did you mean '{guess}'? " if guess else ""
                self.add(
                    "unknown field",
                    node=key_node,
                    field=name,
                    hint=f"{hint}known fields: {', '.join(allowed)}",
                )
            else:
                found[key] = value
        for key in required:
            if key not in found:
                self.add(
                    "missing required field",
                    node=node,
                    field=_join(field, key),
                    hint=f"add '{key}: ...'",
                )
        return found

    def sequence(self, node: yaml.Node, field: str, example: str) -> list[yaml.Node] | None:
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.add(f"must be a list, got {_kind(node)}", node=node, field=field, hint=example)
            return None
        return list(node.value)

    def text(self, node: yaml.Node, field: str, example: str = "") -> str | None:
        """Any scalar as written (YAML would turn `title: 1984` into a number; we keep text)."""
        if not isinstance(node, yaml.ScalarNode):
            self.add(
                f"must be text, got {_kind(node)}",
                node=node,
                field=field,
                hint=example or "write it on one line, in quotes if it contains ': '",
            )
            return None
        value = "" if _is_null(node) else node.value.strip()
        if not value:
            self.add("is empty", node=node, field=field, hint=example or "fill it in")
            return None
        if _SURROGATE.search(value):
            # YAML leaves JSON-style escapes of emoji ("\ud83d\udd25") as two halves that
            # cannot be stored; a pair is one character, a lone half is a mistake.
            try:
                value = value.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError:
                self.add(
                    "has a broken \\u escape (half of a character)",
                    node=node,
                    field=field,
                    hint="write the character itself, or escape it whole, e.g. \\U0001F525",
                )
                return None
        return value

    def slug(self, node: yaml.Node, field: str) -> str | None:
        value = self.text(node, field, example=_SLUG_HINT)
        if value is not None and not _SLUG.fullmatch(value):
            self.add(f"'{value}' is not a valid slug", node=node, field=field, hint=_SLUG_HINT)
            return None
        return value

    def number(self, node: yaml.Node, field: str) -> int | None:
        raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else None
        # Read digits ourselves: YAML 1.1 would take `number: 011` as octal 9.
        if raw is None or not raw.isascii() or not raw.isdigit():
            self.add(
                f"must be a whole number, got {_kind(node)}",
                node=node,
                field=field,
                hint="write the episode number in digits, e.g. number: 11",
            )
            return None
        return int(raw)

    def date(self, node: yaml.Node, field: str) -> date | None:
        raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else None
        hint = "write the date as YYYY-MM-DD, e.g. released: 2022-09-15"
        if raw is None or not _DATE.fullmatch(raw):
            self.add(f"must be a date, got {_kind(node)}", node=node, field=field, hint=hint)
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as e:
            self.add(f"'{raw}' is not a real date ({e})", node=node, field=field, hint=hint)
            return None


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if _is_null(node):
        return "nothing"
    value = str(node.value)
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _join(parent: str | None, child: str) -> str:
    if parent is None:
        return child
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice: by edit distance, else a longer choice containing the word."""
    options = list(choices)
    match = process.extractOne(word, options, scorer=fuzz.ratio, score_cutoff=70)
    if match is None and len(word) >= 4:  # "role-play" -> "data-science-as-role-play"
        longer = [c for c in options if len(c) >= 4]
        match = process.extractOne(word, longer, scorer=fuzz.partial_ratio, score_cutoff=90)
    return match[0] if match else None


def _split_front_matter(path: str, text: str) -> tuple[tuple[str, str, int] | None, list[Problem]]:
    """(front matter, body, file line of the body's first line), or the problem."""
    lines = text.split("\n")
    example = "start the file with a line '---', then the fields, then another '---' line"
    if lines[0].rstrip() != "---":
        return None, [
            Problem(path, "missing front matter: the first line must be '---'", 1, hint=example)
        ]
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            return ("\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), i + 2), []
    return None, [
        Problem(
            path,
            "front matter is not closed: no second '---' line",
            1,
            hint="add a line '---' after the last field, before the show notes",
        )
    ]


# ---------------------------------------------------------------- episodes


@dataclass
class _ParsedEpisode:
    episode: Episode | None
    problems: list[Problem]
    transcript: str | None = None
    lines: _FieldLines = dataclasses.field(default_factory=dict)


def _parse_episode(path: str, raw: bytes) -> _ParsedEpisode:
    text, problems = _decode(path, raw, MAX_FILE_BYTES)
    if text is None:
        return _ParsedEpisode(None, problems)
    split, problems = _split_front_matter(path, text)
    if split is None:
        return _ParsedEpisode(None, problems)
    front, body, body_line = split
    root, problems = _compose(path, front, first_line=2)
    if root is None:
        problems = problems or [
            Problem(path, "front matter is empty", 2, hint="add the fields number, title, ...")
        ]
        return _ParsedEpisode(None, problems)

    check = _Check(path, first_line=2)
    fields = check.mapping(root, None, EPISODE_FIELDS, REQUIRED_EPISODE_FIELDS)
    if fields is None:
        return _ParsedEpisode(None, check.problems)
    lines: _FieldLines = {(key,): check.line(node) for key, node in fields.items()}

    number = check.number(fields["number"], "number") if "number" in fields else None
    title = check.text(fields["title"], "title") if "title" in fields else None
    released = check.date(fields["released"], "released") if "released" in fields else None
    hosts = _people(check, fields, "hosts", "host")
    guests = _people(check, fields, "guests", "guest")
    topics = _topic_refs(check, fields.get("topics"), lines)
    links = _links(check, fields.get("links"))
    chapters = _chapters(check, fields.get("chapters"))
    transcript = _transcript(check, fields.get("transcript"))
    slug = _check_filename(check, number, title)
    summary, sections = _body(check, body, body_line)

    if check.problems or number is None or title is None or slug is None:
        return _ParsedEpisode(None, check.problems, transcript, lines)
    assert hosts is not None and guests is not None and topics is not None  # no problems: all set
    episode = Episode(
        number=number,
        title=title,
        slug=slug,
        released=released,
        people=hosts + guests,
        topics=topics,
        summary=summary,
        sections=sections,
        chapters=chapters or (),
        links=links or (),
        source=path,
    )
    return _ParsedEpisode(episode, [], transcript, lines)


def _people(
    check: _Check, fields: Mapping[str, yaml.Node], key: str, role: str
) -> tuple[Person, ...] | None:
    example = f"{key}: [Jane Doe] or a list of {{name: Jane Doe, role: Data Scientist at X}}"
    if key not in fields:
        return ()
    items = check.sequence(fields[key], key, example)
    if items is None:
        return None
    if not items and role == "host":
        check.add("needs at least one host", node=fields[key], field=key, hint=example)
        return None
    people: list[Person] = []
    for i, item in enumerate(items):
        field = f"{key}[{i}]"
        if isinstance(item, yaml.ScalarNode):
            name = check.text(item, field, example)
            affiliation: str | None = ""
        else:
            entry = check.mapping(item, field, PERSON_FIELDS, ("name",), example)
            if entry is None:
                continue
            name = check.text(entry["name"], f"{field}.name") if "name" in entry else None
            affiliation = check.text(entry["role"], f"{field}.role") if "role" in entry else ""
        if name is not None and affiliation is not None:
            people.append(Person(name, role=role, affiliation=affiliation))
    return tuple(people)


def _topic_refs(
    check: _Check, node: yaml.Node | None, lines: _FieldLines
) -> tuple[str, ...] | None:
    if node is None:
        return None  # reported as missing
    items = check.sequence(node, "topics", "topics: [defensible-moats, great-stagnation]")
    if items is None:
        return None
    slugs: list[str] = []
    for i, item in enumerate(items):
        slug = check.slug(item, f"topics[{i}]")
        if slug is None:
            continue
        if slug in slugs:
            check.add(
                f"'{slug}' is listed twice",
                node=item,
                field=f"topics[{i}]",
                hint="remove the repeat",
            )
            continue
        slugs.append(slug)
        lines[("topics", slug)] = check.line(item)
    return tuple(slugs)


def _links(check: _Check, node: yaml.Node | None) -> tuple[Link, ...] | None:
    if node is None or _is_null(node):
        return ()
    example = "links: {episode: https://vanishinggradients.fireside.fm/11}"
    entries = _labels(check, node, "links", example)
    if entries is None:
        return None
    links: list[Link] = []
    for label, value in entries:
        field = f"links.{label}"
        url = check.text(value, field, example)
        if url is None:
            continue
        trouble = url_trouble(url)
        if trouble:
            check.add(
                f"'{url}' {trouble}",
                node=value,
                field=field,
                hint="use a full web address starting with https://",
            )
            continue
        links.append(Link(label, url))
    return tuple(links)


def _labels(
    check: _Check, node: yaml.Node, field: str, example: str
) -> list[tuple[str, yaml.Node]] | None:
    """A mapping with free-form labels as keys, in file order."""
    if not isinstance(node, yaml.MappingNode):
        check.add(
            f"must be a mapping of label: url, got {_kind(node)}",
            node=node,
            field=field,
            hint=example,
        )
        return None
    seen: set[str] = set()
    out: list[tuple[str, yaml.Node]] = []
    for key_node, value in node.value:
        label = check.text(key_node, f"{field} label", example)
        if label is None:
            continue
        if label in seen:
            check.add(
                "appears twice",
                node=key_node,
                field=f"{field}.{label}",
                hint="keep only one of them",
            )
            continue
        seen.add(label)
        out.append((label, value))
    return out


def _chapters(check: _Check, node: yaml.Node | None) -> tuple[Chapter, ...] | None:
    if node is None:
        return ()
    example = 'chapters: [{at: "00:00", title: Intro}, {at: "04:30", title: Open source}]'
    items = check.sequence(node, "chapters", example)
    if items is None:
        return None
    chapters: list[Chapter] = []
    for i, item in enumerate(items):
        field = f"chapters[{i}]"
        entry = check.mapping(item, field, CHAPTER_FIELDS, CHAPTER_FIELDS, example)
        if entry is None or len(entry) < len(CHAPTER_FIELDS):
            continue
        start = _start_time(check, entry["at"], f"{field}.at")
        title = check.text(entry["title"], f"{field}.title")
        if start is None or title is None:
            continue
        if chapters and start <= chapters[-1].start:
            check.add(
                f"starts at or before the chapter above it ({chapters[-1].title})",
                node=entry["at"],
                field=f"{field}.at",
                hint="list chapters in time order, each later than the last",
            )
            continue
        chapters.append(Chapter(start, title))
    return tuple(chapters)


def _start_time(check: _Check, node: yaml.Node, field: str) -> float | None:
    # Parse the text ourselves: YAML 1.1 reads an unquoted 1:30 as the base-60 integer 90.
    raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else ""
    hint = 'write "mm:ss", "hh:mm:ss" or a number of seconds, e.g. at: "04:30"'
    if _SECONDS.fullmatch(raw):
        return float(raw)
    clock = _CLOCK.fullmatch(raw)
    if clock is None or int(clock["m"]) > 59 or float(clock["s"]) >= 60:
        check.add(f"is not a time, got {_kind(node)}", node=node, field=field, hint=hint)
        return None
    return int(clock["h"] or 0) * 3600 + int(clock["m"]) * 60 + float(clock["s"])


def _transcript(check: _Check, node: yaml.Node | None) -> str | None:
    if node is None:
        return None
    hint = "name a file inside content/, e.g. transcript: transcripts/011.txt"
    value = check.text(node, "transcript", hint)
    if value is None:
        return None
    parts = PurePosixPath(value).parts
    if "\\" in value or value.startswith("/") or ".." in parts or ":" in value:
        check.add(
            f"'{value}' must be a path relative to content/, without '..'",
            node=node,
            field="transcript",
            hint=hint,
        )
        return None
    return str(PurePosixPath(*parts))


def _check_filename(check: _Check, number: int | None, title: str | None) -> str | None:
    """The slug from `NNN-slug.md`, checked against the front matter's number."""
    name = PurePosixPath(check.path).name
    wanted = f"{'NNN' if number is None else f'{number:03d}'}-{slugify(title or '') or 'slug'}.md"
    match = _FILENAME.fullmatch(name)
    if match is None:
        check.add(
            f"file name '{name}' does not match NNN-slug.md",
            line=None,
            hint=f"rename it, e.g. to {wanted}",
        )
        return None
    if not _SLUG.fullmatch(match["slug"]):
        check.add(
            f"file name slug '{match['slug']}' is not valid",
            hint=f"{_SLUG_HINT}; e.g. rename to {wanted}",
        )
        return None
    if number is not None and int(match["number"]) != number:
        check.add(
            f"file name says episode {int(match['number'])} but number is {number}",
            line=check.first_line,
            field="number",
            hint=f"fix the number or rename the file to {number:03d}-{match['slug']}.md",
        )
        return None
    return match["slug"]


# `[text](url "title")`; the url may hold balanced parentheses, as CommonMark allows.
_MARKDOWN_LINK = re.compile(r"\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+\"[^\"]*\")?\s*\)")


_CODE_SPAN = re.compile(r"(`+).+?\1")


_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s")


class _IndentedCode:
    """Tells an indented code block (after a blank line, not in a list) from an indented line
    of a list or paragraph, line by line."""

    def __init__(self) -> None:
        self.blank_before = True
        self.code = False
        self.in_list = False

    def is_code(self, line: str) -> bool:
        indented = line.startswith(("    ", "\t"))
        self.code = indented and (self.blank_before or self.code) and not self.in_list
        if line.strip():
            if not self.code:
                self.in_list = bool(_LIST_ITEM.match(line)) or (self.in_list and indented)
            self.blank_before = False
        else:
            self.blank_before = True
        return self.code


def _check_links(check: _Check, line: str, at: int) -> None:
    """A link in the notes goes somewhere from Discord only as a full web (or mail) address.
    Code (a span in backticks; an indented block, which the caller skips) is no link."""
    for match in _MARKDOWN_LINK.finditer(_CODE_SPAN.sub("", line)):
        url = match[1]
        trouble = None if url.lower().startswith("mailto:") else url_trouble(url)
        if trouble is None:
            continue
        check.add(
            f"the link '{truncate(url, 60)}' {trouble}",
            line=at,
            hint="write a full address starting with https:// (relative, javascript: and "
            "other links go nowhere in Discord)",
        )


def _body(check: _Check, body: str, first_line: int) -> tuple[str, tuple[Section, ...]]:
    """Summary (text before the first `## ` heading) and the sections after it."""
    summary: list[str] = []
    blocks: list[tuple[str, int, list[str]]] = []  # heading, file line, body lines
    fence: str | None = None
    indented = _IndentedCode()
    for offset, line in enumerate(body.split("\n")):
        opened = _FENCE.match(line)
        if not indented.is_code(line) and fence is None:
            _check_links(check, line, first_line + offset)
        if fence is None and (line.startswith("## ") or line.rstrip() == "##"):
            blocks.append((line[2:].strip().rstrip("#").strip(), first_line + offset, []))
            continue
        lines = blocks[-1][2] if blocks else summary
        if fence is None and _continues(lines, line):
            lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
        else:
            lines.append(line)
        if opened and (fence is None or opened[1] == fence):
            fence = opened[1] if fence is None else None

    text = "\n".join(summary).strip()
    if not body.strip():
        check.add(
            "the show notes are missing",
            line=first_line,
            hint="after the closing '---', write a summary paragraph, then '## ' sections",
        )
    elif not text:
        check.add(
            "no summary before the first '## ' heading",
            line=first_line,
            hint="write a paragraph about the episode before the first section",
        )
    sections: list[Section] = []
    anchors: dict[str, int] = {}
    for heading, at, body_lines in blocks:
        anchor = name_key(heading)
        content = "\n".join(body_lines).strip()
        if not anchor:
            check.add(
                "a '## ' heading needs words",
                line=at,
                hint="write a heading such as '## Defensible moats'",
            )
        elif anchor in anchors:
            check.add(
                f"heading '{heading}' repeats the one on line {anchors[anchor]}",
                line=at,
                hint="give each section its own heading",
            )
        elif not content:
            check.add(
                f"section '{heading}' has no text",
                line=at,
                hint="write the section or remove the heading",
            )
        else:
            anchors[anchor] = at
            sections.append(Section(heading, content, anchor))
    return text, tuple(sections)


def _continues(lines: list[str], line: str) -> bool:
    """Whether `line` is a soft-wrapped continuation of the paragraph in `lines[-1]`.

    Markdown reads a single line break inside a paragraph as a space, but Discord shows it as a
    break, so wrapped show notes would come out ragged; joining keeps the Markdown's meaning.
    """
    if not lines or not lines[-1].strip() or not line.strip():
        return False
    above = lines[-1]
    if above.endswith(("  ", "\\")):  # a Markdown hard line break: keep it
        return False
    starts_block = _BLOCK_START.match(line)
    above_closed = re.match(r" {0,3}(?:#|\||```|~~~|<)| {4}|\t", above)  # takes no continuation
    return not starts_block and not above_closed


# ---------------------------------------------------------------- topics


def _parse_topics(path: str, raw: bytes) -> tuple[list[Topic], list[Problem], list[_FieldLines]]:
    """Topics, problems, and for each topic the file lines of its fields (for cross checks)."""
    text, problems = _decode(path, raw, MAX_FILE_BYTES)
    if text is None:
        return [], problems, []
    root, problems = _compose(path, text, first_line=1)
    if problems:
        return [], problems, []
    example = "start the file with 'topics:' and list entries under it: '  - slug: ...'"
    check = _Check(path, first_line=1)
    top = check.mapping(root, None, ("topics",), ("topics",), example) if root else None
    if root is None:
        check.add("file is empty", hint=example)
    if top is None or "topics" not in top:
        return [], check.problems, []
    items = check.sequence(top["topics"], "topics", example) or []
    topics: list[Topic] = []
    lines: list[_FieldLines] = []
    for i, item in enumerate(items):
        before = len(check.problems)
        topic, topic_lines, dropped = _topic(check, item, f"topics[{i}]")
        if topic is not None and len(check.problems) - dropped == before:
            topics.append(topic)
            lines.append(topic_lines)
    return topics, check.problems, lines


def _topic(check: _Check, node: yaml.Node, field: str) -> tuple[Topic | None, _FieldLines, int]:
    """The topic, its fields' lines, and how many of the problems it added only dropped an
    alias (the topic is kept without it, as with an alias that names another topic)."""
    entry = check.mapping(node, field, TOPIC_FIELDS, REQUIRED_TOPIC_FIELDS)
    if entry is None:
        return None, {}, 0
    lines: _FieldLines = {("entry",): check.line(node)}
    slug = check.slug(entry["slug"], f"{field}.slug") if "slug" in entry else None
    title = check.text(entry["title"], f"{field}.title") if "title" in entry else None
    description = ""
    if "description" in entry:
        description = check.text(entry["description"], f"{field}.description") or ""
    before_aliases = len(check.problems)
    aliases = _texts(check, entry.get("aliases"), f"{field}.aliases", lines) or ()
    dropped = len(check.problems) - before_aliases
    related = _slugs(check, entry.get("related"), f"{field}.related", lines)
    questions = _texts(check, entry.get("questions"), f"{field}.questions", lines)
    if questions is not None and not MIN_QUESTIONS <= len(questions) <= MAX_QUESTIONS:
        check.add(
            f"needs {MIN_QUESTIONS} to {MAX_QUESTIONS} questions, has {len(questions)}",
            node=entry["questions"],
            field=f"{field}.questions",
            hint="write short, open discussion questions in our own words, one per item",
        )
    if slug is None or title is None:
        return None, lines, dropped
    topic = Topic(slug, title, description, aliases, related, questions or ())
    return topic, lines, dropped


def _texts(
    check: _Check, node: yaml.Node | None, field: str, lines: _FieldLines
) -> tuple[str, ...] | None:
    """A list of texts; None when the field is absent or not a list (already reported)."""
    if node is None:
        return None
    name = field.rsplit(".", 1)[-1]
    items = check.sequence(node, field, f'{name}: ["first", "second"]')
    if items is None:
        return None
    out = [check.text(item, f"{field}[{i}]") for i, item in enumerate(items)]
    for item, value in zip(items, out, strict=True):
        if value is not None:
            lines[(name, value)] = check.line(item)
    return tuple(v for v in out if v is not None)


def _slugs(
    check: _Check, node: yaml.Node | None, field: str, lines: _FieldLines
) -> tuple[str, ...]:
    if node is None:
        return ()
    items = check.sequence(node, field, "related: [defensible-moats, great-stagnation]") or []
    out = [check.slug(item, f"{field}[{i}]") for i, item in enumerate(items)]
    for item, value in zip(items, out, strict=True):
        if value is not None:
            lines[("related", value)] = check.line(item)
    return tuple(v for v in out if v is not None)


# ---------------------------------------------------------------- across files


@dataclass
class _Lines:
    """File lines of fields, kept by load_dir so cross-file problems can point at a line."""

    episodes: dict[str, _FieldLines] = dataclasses.field(default_factory=dict)
    topics: list[_FieldLines] = dataclasses.field(default_factory=list)

    def episode(self, ep: Episode, *key: str) -> int | None:
        return self.episodes.get(ep.source, {}).get(key)

    def topic(self, index: int, *key: str) -> int | None:
        found = self.topics[index] if index < len(self.topics) else {}
        return found.get(key) or found.get(("entry",))


@dataclass
class Related:
    """What relate() keeps: episodes and topics as load_dir would load them, and why not more."""

    episodes: list[Episode]
    topics: list[Topic]
    problems: list[Problem]


def _relate(
    episodes: Sequence[Episode],
    topics: Sequence[Topic],
    lines: _Lines,
    check_topic_refs: bool = True,
    established: Collection[str] = (),
) -> Related:
    """Duplicates are left out; references to unknown topics are reported and dropped."""
    problems: list[Problem] = []
    kept: dict[int, Topic] = {}  # index in `topics` -> topic as kept
    for i, topic in enumerate(topics):
        if any(t.slug == topic.slug for t in kept.values()):
            problems.append(
                Problem(
                    TOPICS_FILE,
                    f"topic '{topic.slug}' is defined twice; the second entry was left out",
                    line=lines.topic(i),
                    field="slug",
                    hint="merge the two entries into one",
                )
            )
        else:
            kept[i] = topic

    # Every name a person might type for a topic -> its slug; an alias must not name two topics.
    names = {t.slug: t.slug for t in kept.values()}
    for t in kept.values():
        if name_key(t.title):
            names.setdefault(name_key(t.title), t.slug)
    for i, topic in kept.items():
        aliases: list[str] = []
        for alias in topic.aliases:
            keys = {k for k in (alias.casefold(), name_key(alias)) if k}
            owner = next((names[k] for k in keys if names.get(k, topic.slug) != topic.slug), None)
            if owner is None:
                aliases.append(alias)
                names.update(dict.fromkeys(keys, topic.slug))
                continue
            problems.append(
                Problem(
                    TOPICS_FILE,
                    f"alias '{alias}' of topic '{topic.slug}' already names topic '{owner}'",
                    line=lines.topic(i, "aliases", alias),
                    field="aliases",
                    hint="remove the alias from one of the two topics",
                )
            )
        kept[i] = dataclasses.replace(topic, aliases=tuple(aliases))

    slugs = {t.slug for t in kept.values()}
    for i, topic in kept.items():
        for slug in topic.related:
            if slug not in slugs:
                problems.append(
                    Problem(
                        TOPICS_FILE,
                        f"topic '{topic.slug}' is related to '{slug}', which is not a topic",
                        line=lines.topic(i, "related", slug),
                        field="related",
                        hint=_topic_hint(slug, names),
                    )
                )
        kept[i] = dataclasses.replace(topic, related=tuple(s for s in topic.related if s in slugs))

    kept_episodes: list[Episode] = []
    by_number: dict[int | None, Episode] = {}
    by_slug: dict[str, Episode] = {}
    for ep in sorted(episodes, key=lambda e: (e.source not in established, e.source)):
        first = by_number.get(ep.number) if ep.number is not None else None
        if first is not None:
            problems.append(
                Problem(
                    ep.source,
                    f"episode number {ep.number} is also used by {first.source}",
                    line=lines.episode(ep, "number"),
                    field="number",
                    hint="give each episode its own number; this file was left out",
                )
            )
            continue
        if ep.slug in by_slug:
            problems.append(
                Problem(
                    ep.source,
                    f"slug '{ep.slug}' is also used by {by_slug[ep.slug].source}",
                    hint="rename one of the files so each slug is unique; this file was left out",
                )
            )
            continue
        by_number[ep.number] = ep
        by_slug[ep.slug] = ep
        unknown = [s for s in ep.topics if s not in slugs] if check_topic_refs else []
        for slug in unknown:
            problems.append(
                Problem(
                    ep.source,
                    f"unknown topic '{slug}'",
                    line=lines.episode(ep, "topics", slug) or lines.episode(ep, "topics"),
                    field="topics",
                    hint=_topic_hint(slug, names),
                )
            )
        if unknown:
            ep = dataclasses.replace(ep, topics=tuple(s for s in ep.topics if s in slugs))
        kept_episodes.append(ep)
    return Related(kept_episodes, list(kept.values()), problems)


def _topic_hint(slug: str, names: Mapping[str, str]) -> str:
    guess = names.get(slug) or names.get(slug.replace("-", " "))
    if guess is None and (near := _did_you_mean(slug, names)) is not None:
        guess = names[near]
    hint = f"did you mean '{guess}'? " if guess else ""
    return hint + f"use a slug from {TOPICS_FILE} or add the topic there"


# ---------------------------------------------------------------- the disk


def editor_dropping(name: str) -> bool:
    """Files editors and file managers leave beside the ones being edited, never content:
    hidden ones (.DS_Store, vim's .x.swp, emacs's .#x lock, macOS's ._x), emacs's x~ backup
    and #x# auto-save, and vim's 4913 (made and removed at once to test the folder)."""
    return (
        name.startswith(".")
        or name.endswith("~")
        or (name.startswith("#") and name.endswith("#"))
        or name == "4913"
    )


def _episode_files(root: Path, problems: list[Problem]) -> list[str]:
    folder = root / EPISODES_DIR
    if not folder.is_dir():
        if folder.is_symlink():
            what, hint = (
                "is a link that leads nowhere (a missing target, or a loop)",
                "fix the link",
            )
        else:
            what, hint = "folder not found", f"create {folder} for NNN-slug.md files"
        problems.append(Problem(EPISODES_DIR, what, hint=hint))
        return []
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        problems.append(Problem(EPISODES_DIR, f"cannot be read: {e.strerror or e}"))
        return []
    names: list[str] = []
    for entry in entries:
        if editor_dropping(entry.name):
            continue
        if entry.suffix == ".md" and entry.is_file():
            names.append(entry.name)
        else:
            problems.append(stray_file(entry.name, entry.suffix == ".md" and entry.is_symlink()))
    return names


def stray_file(name: str, dead_link: bool) -> Problem:
    """The problem with something in episodes/ that is not an episode file (`dead_link`: a
    .md link whose target is missing or loops, which is no stray but a broken file)."""
    if dead_link:
        return Problem(
            f"{EPISODES_DIR}/{name}",
            "is a link that leads nowhere (a missing target, or a loop)",
            hint="point the link at an episode file, or replace it with the file",
        )
    return Problem(
        f"{EPISODES_DIR}/{name}",
        "is not an episode file",
        hint="only NNN-slug.md files belong in episodes/; move it elsewhere",
    )


def _read(file: Path, limit: int) -> bytes | str:
    """At most limit + 1 bytes (enough to see it is too big), or why the file cannot be read."""
    try:
        with file.open("rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"


def inside(root: Path, rel: str) -> bool:
    """Whether root/rel, links followed, stays inside root. A link loop counts as inside: it
    points nowhere, and reading it says so."""
    try:
        return (root / rel).resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # Python 3.11's resolve raises RuntimeError on a loop
        return True


def _with_transcript(
    root: Path, ep: Episode, named: tuple[str, int] | None, problems: list[Problem]
) -> Episode:
    """The episode with its transcript's passages; a broken transcript leaves it without."""
    if named is None:
        return ep
    rel, line = named
    file = root / rel
    if not inside(root, rel):
        why: bytes | str = "points outside the content folder (through a link)"
    else:
        why = _read(file, MAX_TRANSCRIPT_BYTES)
    if isinstance(why, str):
        problems.append(
            Problem(
                ep.source,
                f"transcript '{rel}': {why}",
                line=line,
                field="transcript",
                hint=f"put the transcript at {file}, or remove the 'transcript' line",
            )
        )
        return ep
    if len(why) > MAX_TRANSCRIPT_BYTES:
        problems.append(
            Problem(
                rel,
                f"file is more than the limit of {MAX_TRANSCRIPT_BYTES:,} bytes",
                hint="trim the transcript; this is far longer than any episode",
            )
        )
        return ep
    passages, transcript_problems = parse_transcript(rel, why)
    problems += transcript_problems
    return dataclasses.replace(ep, transcript=passages)

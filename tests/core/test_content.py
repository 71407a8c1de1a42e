"""Content files in, models or exact Problems out: every broken file names file, line and fix."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.core.content import (
    MAX_FILE_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    cross_check,
    load_dir,
    parse_episode,
    parse_episode_file,
    parse_topics,
    relate,
    transcript_path,
)
from bot.core.models import Chapter, Episode, Link, Person, Problem, Topic

REPO = Path(__file__).resolve().parents[2]

TOPICS = """\
topics:
  - slug: alpha
    title: Alpha
    description: The first letter.
    aliases: [First Letter, a]
    related: [beta]
    questions: ["Why alpha?", "Why first?"]
  - slug: beta
    title: Beta
    related: [alpha]
  - slug: gamma
    title: Gamma
"""

EPISODE = """\
---
number: 1
title: "Pilot: Where It Starts"
released: 2024-01-02
hosts: [Hugo Bowne-Anderson]
guests:
  - name: Ada Lovelace
    role: Analyst at the Engine
topics: [alpha, beta]
links:
  episode: https://example.com/1
chapters:
  - {at: "00:00", title: Intro}
  - {at: "01:30", title: Alpha}
---
A summary of the pilot.

## Alpha things
About alpha.

## Beta things
About beta.
"""
BODY_LINE = 16  # the file line right after the closing '---'

SECOND = """\
---
number: 2
title: Second
released: 2024-02-01
hosts: [Hugo Bowne-Anderson]
topics: [gamma]
---
The second one.
"""


def swap(old: str, new: str, text: str = EPISODE) -> str:
    assert old in text, f"test setup: {old!r} is not in the template"
    return text.replace(old, new, 1)


def write(root: Path, episodes: dict[str, str | bytes], topics: str | bytes | None = TOPICS):
    (root / "episodes").mkdir(parents=True, exist_ok=True)
    if topics is not None:
        (root / "topics.yaml").write_bytes(topics.encode() if isinstance(topics, str) else topics)
    for name, text in episodes.items():
        raw = text.encode() if isinstance(text, str) else text
        (root / "episodes" / name).write_bytes(raw)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    text: str | bytes
    expected: list[tuple[int | None, str | None, str, str]]  # line, field, message, hint
    name: str = "001-pilot.md"


EPISODE_CASES = [
    Case(
        "yaml-syntax-unquoted-colon",
        swap('title: "Pilot: Where It Starts"', "title: Pilot: Where It Starts"),
        [(3, None, "YAML syntax error: mapping values are not allowed", "in quotes")],
    ),
    Case(
        "no-front-matter",
        EPISODE.removeprefix("---\n"),
        [(1, None, "missing front matter: the first line must be '---'", "line '---'")],
    ),
    Case(
        "front-matter-not-closed",
        swap("---\nA summary", "A summary"),
        [(1, None, "front matter is not closed", "add a line '---'")],
    ),
    Case(
        "empty-front-matter", "---\n---\nJust a body.\n", [(2, None, "front matter is empty", "")]
    ),
    Case(
        "front-matter-is-a-list",
        "---\n- number: 1\n---\nBody.\n",
        [(2, None, "must be a mapping of fields, got a list", "'key: value' lines")],
    ),
    Case(
        "missing-required-field",
        swap("released: 2024-01-02\n", ""),
        [(2, "released", "missing required field", "add 'released: ...'")],
    ),
    Case(
        "number-in-words",
        swap("number: 1", "number: eleven"),
        [(2, "number", "must be a whole number, got 'eleven'", "number: 11")],
    ),
    Case(
        "number-not-whole",
        swap("number: 1", "number: 1.5"),
        [(2, "number", "must be a whole number, got '1.5'", "in digits")],
    ),
    Case(
        "title-is-a-list",
        swap('title: "Pilot: Where It Starts"', "title: [Pilot, Where]"),
        [(3, "title", "must be text, got a list", "on one line")],
    ),
    Case(
        "impossible-date",
        swap("released: 2024-01-02", "released: 2022-13-45"),
        [(4, "released", "'2022-13-45' is not a real date (month must be in 1..12)", "YYYY-MM-DD")],
    ),
    Case(
        "date-in-words",
        swap("released: 2024-01-02", "released: last tuesday"),
        [(4, "released", "must be a date, got 'last tuesday'", "released: 2022-09-15")],
    ),
    Case(
        "unknown-key-with-did-you-mean",
        swap("title:", "titel:"),
        [
            (2, "title", "missing required field", "add 'title: ...'"),
            (3, "titel", "unknown field", "did you mean 'title'?"),
        ],
    ),
    Case(
        "repeated-key",
        swap("number: 1\n", "number: 1\nnumber: 2\n"),
        [(3, "number", "appears twice", "keep only one")],
    ),
    Case(
        "no-hosts",
        swap("hosts: [Hugo Bowne-Anderson]", "hosts: []"),
        [(5, "hosts", "needs at least one host", "hosts: [Jane Doe]")],
    ),
    Case(
        "host-without-name",
        swap("hosts: [Hugo Bowne-Anderson]", "hosts: [{role: co-host}]"),
        [(5, "hosts[0].name", "missing required field", "add 'name: ...'")],
    ),
    Case(
        "guest-key-typo",
        swap("    role: Analyst", "    rol: Analyst"),
        [(8, "guests[0].rol", "unknown field", "did you mean 'role'?")],
    ),
    Case(
        "topics-not-a-list",
        swap("topics: [alpha, beta]", "topics: alpha"),
        [(9, "topics", "must be a list, got 'alpha'", "topics: [")],
    ),
    Case(
        "topic-slug-invalid",
        swap("topics: [alpha, beta]", "topics: [Alpha Things]"),
        [(9, "topics[0]", "'Alpha Things' is not a valid slug", "lowercase letters")],
    ),
    Case(
        "topic-listed-twice",
        swap("topics: [alpha, beta]", "topics: [alpha, alpha]"),
        [(9, "topics[1]", "'alpha' is listed twice", "remove the repeat")],
    ),
    Case(
        "url-not-http",
        swap("https://example.com/1", "ftp://example.com/1"),
        [(11, "links.episode", "is not an http(s) URL", "https://")],
    ),
    Case(
        "url-is-prose",
        swap("https://example.com/1", "see the website"),
        [(11, "links.episode", "contains spaces", "https://")],
    ),
    Case(
        "url-without-host",
        swap("https://example.com/1", "https:///1"),
        [(11, "links.episode", "has no host name", "https://")],
    ),
    Case(
        "chapters-out-of-order",
        swap('{at: "01:30", title: Alpha}', '{at: "00:00", title: Alpha}'),
        [(14, "chapters[1].at", "starts at or before the chapter above it (Intro)", "time order")],
    ),
    Case(
        "chapter-time-unreadable",
        swap('{at: "01:30", title: Alpha}', '{at: "1h30", title: Alpha}'),
        [(14, "chapters[1].at", "is not a time, got '1h30'", '"mm:ss"')],
    ),
    Case(
        "chapter-seconds-over-59",
        swap('{at: "01:30", title: Alpha}', '{at: "01:75", title: Alpha}'),
        [(14, "chapters[1].at", "is not a time, got '01:75'", "hh:mm:ss")],
    ),
    Case(
        "transcript-outside-content",
        swap("links:", "transcript: ../secrets.txt\nlinks:"),
        [(10, "transcript", "must be a path relative to content/", "transcripts/011.txt")],
    ),
    Case(
        "tabs-for-indentation",
        swap("  - name: Ada", "\t- name: Ada"),
        [(7, None, "YAML syntax error", "spaces, not tabs")],
    ),
    Case(
        "yaml-alias",
        swap("hosts: [Hugo Bowne-Anderson]", "hosts: &people [Hugo]\nchapters: *people"),
        [(6, None, "YAML alias *people is not allowed", "write the value out in full")],
    ),
    Case(
        "python-tag",
        swap("number: 1", "number: !!python/object/apply:os.system [ls]"),
        [(2, None, "YAML tag !!python/object/apply:os.system is not allowed", "remove the tag")],
    ),
    Case(
        "control-character",
        swap('"Pilot: Where It Starts"', '"Pilot\x07"'),
        [(3, None, "control character '\\x07'", "delete that character")],
    ),
    Case("empty-file", "", [(None, None, "file is empty", "content/README.md")]),
    Case("whitespace-only", " \n\n\t\n", [(None, None, "file is empty", "content/README.md")]),
    Case(
        "no-show-notes",
        EPISODE[: EPISODE.index("A summary")],
        [(BODY_LINE, None, "the show notes are missing", "summary paragraph")],
    ),
    Case(
        "no-summary",
        swap("A summary of the pilot.\n", ""),
        [(BODY_LINE, None, "no summary before the first '## ' heading", "paragraph")],
    ),
    Case(
        "repeated-heading",
        swap("## Beta things", "## Alpha Things"),
        [(21, None, "heading 'Alpha Things' repeats the one on line 18", "its own heading")],
    ),
    Case(
        "empty-section",
        swap("About beta.\n", ""),
        [(21, None, "section 'Beta things' has no text", "remove the heading")],
    ),
    Case(
        "heading-without-words",
        swap("## Beta things", "## ???"),
        [(21, None, "a '## ' heading needs words", "## Defensible moats")],
    ),
    Case(
        "file-name-shape",
        EPISODE,
        [(None, None, "file name '1-pilot.md' does not match NNN-slug.md", "001-pilot-where")],
        name="1-pilot.md",
    ),
    Case(
        "file-name-slug",
        EPISODE,
        [(None, None, "file name slug 'Pilot_One' is not valid", "lowercase")],
        name="001-Pilot_One.md",
    ),
    Case(
        "file-name-number-differs",
        EPISODE,
        [(2, "number", "file name says episode 3 but number is 1", "001-pilot.md")],
        name="003-pilot.md",
    ),
]


@pytest.mark.parametrize("case", EPISODE_CASES, ids=lambda c: c.id)
def test_a_broken_episode_file_is_reported_exactly_and_the_others_still_load(
    tmp_path: Path, case: Case
):
    write(tmp_path, {case.name: case.text, "002-second.md": SECOND})

    catalog = load_dir(tmp_path)

    assert [p.path for p in catalog.problems] == [f"episodes/{case.name}"] * len(case.expected)
    got = [(p.line, p.field) for p in catalog.problems]
    assert got == [(line, field) for line, field, _, _ in case.expected]
    for problem, (_, _, message, hint) in zip(catalog.problems, case.expected, strict=True):
        assert message in problem.message
        assert hint in problem.hint
        assert str(problem).startswith(f"episodes/{case.name}")
    assert [e.number for e in catalog.episodes] == [2]


TOPIC_CASES = [
    Case(
        "entry-missing-title",
        swap("    title: Gamma\n", "", TOPICS),
        [(11, "topics[2].title", "missing required field", "add 'title: ...'")],
    ),
    Case(
        "entry-missing-slug",
        swap("  - slug: gamma\n    title: Gamma", "  - title: Gamma", TOPICS),
        [(11, "topics[2].slug", "missing required field", "add 'slug: ...'")],
    ),
    Case(
        "entry-bad-slug",
        swap("slug: gamma", "slug: Gamma Rays", TOPICS),
        [(11, "topics[2].slug", "'Gamma Rays' is not a valid slug", "lowercase")],
    ),
    Case(
        "entry-not-a-mapping",
        swap("  - slug: gamma\n    title: Gamma", "  - gamma", TOPICS),
        [(11, "topics[2]", "must be a mapping of fields, got 'gamma'", "slug, title")],
    ),
    Case(
        "entry-unknown-key",
        TOPICS + "    alias: [g]\n",
        [(13, "topics[2].alias", "unknown field", "did you mean 'aliases'?")],
    ),
    Case(
        "too-few-questions",
        TOPICS + '    questions: ["Only one?"]\n',
        [(13, "topics[2].questions", "needs 2 to 4 questions, has 1", "discussion questions")],
    ),
    Case(
        "too-many-questions",
        TOPICS + "    questions: [a, b, c, d, e]\n",
        [(13, "topics[2].questions", "needs 2 to 4 questions, has 5", "discussion questions")],
    ),
    Case(
        "questions-not-a-list",
        TOPICS + "    questions: Why?\n",
        [(13, "topics[2].questions", "must be a list, got 'Why?'", "questions: [")],
    ),
    Case(
        "question-marks-in-a-flow-list",
        TOPICS + "    questions: [Why gamma?, Why now?]\n",
        [(13, None, "YAML syntax error", "quote list items")],
    ),
    Case(
        "top-level-key-typo",
        swap("topics:", "topic:", TOPICS),
        [
            (1, "topic", "unknown field", "did you mean 'topics'?"),
            (1, "topics", "missing required field", "add 'topics: ...'"),
        ],
    ),
    Case(
        "topics-not-a-list",
        "topics: alpha\n",
        [(1, "topics", "must be a list, got 'alpha'", "start the file with 'topics:'")],
    ),
    Case(
        "yaml-syntax",
        swap("    title: Gamma", "   title: Gamma", TOPICS),
        [(12, None, "YAML syntax error", "indentation")],
    ),
    Case("empty-file", "", [(None, None, "file is empty", "README")]),
    Case(
        "billion-laughs",
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
        [(2, None, "YAML alias *a is not allowed", "anchors (&) and aliases (*)")],
    ),
]


@pytest.mark.parametrize("case", TOPIC_CASES, ids=lambda c: c.id)
def test_a_broken_topic_entry_is_reported_exactly_and_skipped(tmp_path: Path, case: Case):
    write(tmp_path, {"002-second.md": swap("topics: [gamma]", "topics: []", SECOND)}, case.text)

    catalog = load_dir(tmp_path)

    assert [p.path for p in catalog.problems] == ["topics.yaml"] * len(case.expected)
    got = [(p.line, p.field) for p in catalog.problems]
    assert got == [(line, field) for line, field, _, _ in case.expected]
    for problem, (_, _, message, hint) in zip(catalog.problems, case.expected, strict=True):
        assert message in problem.message
        assert hint in problem.hint
    loaded = [t.slug for t in catalog.topics]
    assert loaded in (["alpha", "beta"], [])  # gamma (the broken one) never loads
    assert [e.number for e in catalog.episodes] == [2]


@pytest.mark.parametrize(
    ("old", "new", "line", "hint"),
    [
        ("    role: Analyst at the Engine", "    role: 'Analyst at the Engine", 8, "quote"),
        ("hosts: [Hugo Bowne-Anderson]", "hosts: [Hugo Bowne-Anderson", 5, "end it with ']'"),
    ],
)
def test_a_quote_or_list_left_open_is_reported_where_it_opens(old, new, line, hint):
    _, problems = parse_episode("episodes/001-pilot-where-it-starts.md", swap(old, new).encode())
    ((at, said),) = [(p.line, p.hint) for p in problems]
    assert at == line and hint in said and "never closed" in said


def test_links_in_the_notes_must_go_somewhere_from_discord():
    notes = (
        "A summary of the pilot. [bad](javascript:alert(1)) [rel](/notes) "
        "[wiki](https://en.wikipedia.org/wiki/Moat_(castle)) [mail](mailto:hi@example.org) "
        "call `scores[i](x)` or ``a[0](b)``\n\n    table[0](row)\n\n"
        "- Papers:\n    - [Attention](arxiv.org/abs/1706.03762)\n\n"
        "```\n[code](not/a/link)\n```"
    )
    _, problems = parse_episode(
        "episodes/001-pilot-where-it-starts.md",
        swap("A summary of the pilot.", notes).encode(),
    )
    assert [(p.line, p.message) for p in problems] == [
        (BODY_LINE, "the link 'javascript:alert(1)' is not an http(s) URL"),
        (BODY_LINE, "the link '/notes' is not an http(s) URL"),
        (BODY_LINE + 5, "the link 'arxiv.org/abs/1706.03762' is not an http(s) URL"),
    ]


def test_a_valid_episode_becomes_a_complete_model():
    episode, problems = parse_episode("episodes/001-pilot.md", EPISODE.encode())

    assert problems == []
    assert episode == Episode(
        number=1,
        title="Pilot: Where It Starts",
        slug="pilot",
        released=date(2024, 1, 2),
        people=(
            Person("Hugo Bowne-Anderson", "host"),
            Person("Ada Lovelace", "guest", affiliation="Analyst at the Engine"),
        ),
        topics=("alpha", "beta"),
        summary="A summary of the pilot.",
        sections=episode.sections if episode else (),
        chapters=(Chapter(0.0, "Intro"), Chapter(90.0, "Alpha")),
        links=(Link("episode", "https://example.com/1"),),
        source="episodes/001-pilot.md",
    )
    assert episode is not None
    assert [(s.heading, s.body, s.anchor) for s in episode.sections] == [
        ("Alpha things", "About alpha.", "alpha-things"),
        ("Beta things", "About beta.", "beta-things"),
    ]


def test_hosts_and_guests_may_be_written_with_roles():
    text = swap(
        "hosts: [Hugo Bowne-Anderson]",
        "hosts:\n  - {name: Hugo Bowne-Anderson, role: Founder}\n  - Second Host",
    )
    episode, problems = parse_episode("episodes/001-pilot.md", text.encode())
    assert problems == []
    assert episode is not None
    assert episode.hosts == (
        Person("Hugo Bowne-Anderson", "host", "Founder"),
        Person("Second Host", "host"),
    )
    assert [g.name for g in episode.guests] == ["Ada Lovelace"]


def test_yaml_1_1_surprises_are_read_the_way_an_author_means_them():
    # Unquoted 011 is octal 9 in YAML 1.1 and unquoted 1:30 is the base-60 number 90.
    text = swap("number: 1", "number: 011").replace('"01:30"', "1:30:15")
    episode, problems = parse_episode("episodes/011-pilot.md", text.encode())
    assert problems == []
    assert episode is not None
    assert episode.number == 11
    assert episode.chapters[1] == Chapter(5415.0, "Alpha")


def test_a_title_that_yaml_would_read_as_a_number_stays_text():
    text = swap('"Pilot: Where It Starts"', "1984")
    episode, _ = parse_episode("episodes/001-pilot.md", text.encode())
    assert episode is not None
    assert episode.title == "1984"


def test_headings_inside_code_fences_do_not_start_sections():
    body = "Summary.\n\n## Code\n```python\n## not a heading\nx = 1\n```\n\n~~~\n## nor this\n~~~\n"
    text = EPISODE[: EPISODE.index("A summary")] + body
    episode, problems = parse_episode("episodes/001-pilot.md", text.encode())
    assert problems == []
    assert episode is not None
    assert [s.heading for s in episode.sections] == ["Code"]
    assert "## not a heading" in episode.sections[0].body
    assert "## nor this" in episode.sections[0].body


def test_wrapped_paragraphs_are_joined_and_other_markdown_blocks_kept():
    # Markdown reads a lone line break as a space; Discord would show it, so the loader joins.
    body = (
        "A summary that is\nwrapped over\nthree lines.\n\n## Notes\n"
        "First paragraph\ncontinues.\n\n- item one\n  goes on\n- item two\n"
        "> quoted\n\nHard break  \nkept.\n### Smaller heading\nafter it.\n"
        "```\ncode\nstays\n```\nafter code.\n\n    indented code\nnext\n"
    )
    text = EPISODE[: EPISODE.index("A summary")] + body
    episode, problems = parse_episode("episodes/001-pilot.md", text.encode())
    assert problems == []
    assert episode is not None
    assert episode.summary == "A summary that is wrapped over three lines."
    assert episode.sections[0].body.split("\n") == [
        "First paragraph continues.",
        "",
        "- item one goes on",
        "- item two",
        "> quoted",
        "",
        "Hard break  ",
        "kept.",
        "### Smaller heading",
        "after it.",
        "```",
        "code",
        "stays",
        "```",
        "after code.",
        "",
        "    indented code",
        "next",
    ]


def test_a_bom_and_windows_line_ends_are_accepted(tmp_path: Path):
    raw = b"\xef\xbb\xbf" + EPISODE.replace("\n", "\r\n").encode()
    write(tmp_path, {"001-pilot.md": raw})

    catalog = load_dir(tmp_path)

    assert catalog.problems == ()
    plain, _ = parse_episode("episodes/001-pilot.md", EPISODE.encode())
    assert catalog.episodes == (plain,)


def test_a_non_utf8_file_is_reported_with_its_byte_offset_and_line(tmp_path: Path):
    raw = swap("About beta.", "About b\xe9ta.").encode("latin-1")
    write(tmp_path, {"001-pilot.md": raw, "002-second.md": SECOND})

    catalog = load_dir(tmp_path)

    offset = raw.index(b"\xe9")
    assert catalog.problems == (
        Problem(
            "episodes/001-pilot.md",
            f"is not valid UTF-8: byte 0xe9 at byte offset {offset}",
            line=22,
            hint="save the file with UTF-8 encoding",
        ),
    )
    assert [e.number for e in catalog.episodes] == [2]


def test_an_oversized_file_is_refused_and_one_at_the_limit_is_read(tmp_path: Path):
    at_limit = EPISODE + "x" * (MAX_FILE_BYTES - len(EPISODE.encode()) - 1) + "\n"
    assert len(at_limit.encode()) == MAX_FILE_BYTES
    write(tmp_path, {"001-pilot.md": at_limit, "002-second.md": SECOND + "y" * MAX_FILE_BYTES})

    catalog = load_dir(tmp_path)

    [problem] = catalog.problems
    assert problem.path == "episodes/002-second.md"
    assert f"more than the limit of {MAX_FILE_BYTES:,}" in problem.message
    assert [e.number for e in catalog.episodes] == [1]


def test_billion_laughs_in_front_matter_is_refused():
    bomb = "---\n" + "\n".join(
        f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9 if i else ['"lol"'] * 9) + "]"
        for i in range(10)
    )
    text = bomb + "\n" + EPISODE.removeprefix("---\n")
    episode, problems = parse_episode("episodes/001-pilot.md", text.encode())
    assert episode is None
    assert [(p.line, p.message) for p in problems] == [(3, "YAML alias *l0 is not allowed")]


def test_huge_or_deeply_nested_yaml_is_refused():
    wide = "---\nx: [" + ",".join(["1"] * (MAX_YAML_NODES + 10)) + "]\n---\nBody.\n"
    deep = "---\nx: " + "[" * 10_000 + "\n---\nBody.\n"

    _, wide_problems = parse_episode("episodes/001-pilot.md", wide.encode())
    _, deep_problems = parse_episode("episodes/001-pilot.md", deep.encode())

    assert [p.message for p in wide_problems] == [
        f"more than {MAX_YAML_NODES} YAML values in one file"
    ]
    assert [p.message for p in deep_problems] == [
        f"lists or mappings nested more than {MAX_YAML_DEPTH} levels deep"
    ]


def test_one_broken_file_of_each_kind_does_not_stop_the_good_ones(tmp_path: Path):
    write(
        tmp_path,
        {
            "001-pilot.md": EPISODE,
            "002-second.md": SECOND,
            "003-bad-yaml.md": "---\ntitle: [unclosed\n---\nBody.\n",
            "004-binary.md": bytes(range(256)),
            "005-empty.md": "",
            "006-no-front-matter.md": "Just text.\n",
        },
    )
    (tmp_path / "episodes" / "notes.txt").write_text("scratch")
    (tmp_path / "episodes" / ".DS_Store").write_bytes(b"\0")

    catalog = load_dir(tmp_path)

    assert [e.number for e in catalog.episodes] == [1, 2]
    assert [t.slug for t in catalog.topics] == ["alpha", "beta", "gamma"]
    assert sorted({p.path for p in catalog.problems}) == [
        "episodes/003-bad-yaml.md",
        "episodes/004-binary.md",
        "episodes/005-empty.md",
        "episodes/006-no-front-matter.md",
        "episodes/notes.txt",
    ]


def test_duplicate_numbers_across_files_keep_the_first_and_report_the_second(tmp_path: Path):
    other = swap("title: Second", "title: Other", SECOND).replace("number: 2", "number: 1")
    write(tmp_path, {"001-pilot.md": EPISODE, "001-other.md": other})

    catalog = load_dir(tmp_path)

    assert [e.source for e in catalog.episodes] == ["episodes/001-other.md"]
    assert catalog.problems == (
        Problem(
            "episodes/001-pilot.md",
            "episode number 1 is also used by episodes/001-other.md",
            line=2,
            field="number",
            hint="give each episode its own number; this file was left out",
        ),
    )


def test_duplicate_slugs_across_files_keep_the_first_and_report_the_second(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": EPISODE, "002-pilot.md": swap("number: 1", "number: 2")})

    catalog = load_dir(tmp_path)

    assert [e.number for e in catalog.episodes] == [1]
    [problem] = catalog.problems
    assert (problem.path, problem.line) == ("episodes/002-pilot.md", None)
    assert problem.message == "slug 'pilot' is also used by episodes/001-pilot.md"
    assert "rename one of the files" in problem.hint


@pytest.mark.parametrize(
    ("written", "suggested"),
    [("alpah", "alpha"), ("first-letter", "alpha"), ("gama", "gamma")],
)
def test_an_unknown_topic_is_reported_with_did_you_mean_and_dropped(
    tmp_path: Path, written: str, suggested: str
):
    write(
        tmp_path,
        {"001-pilot.md": swap("topics: [alpha, beta]", f"topics:\n  - beta\n  - {written}")},
    )

    catalog = load_dir(tmp_path)

    [problem] = catalog.problems
    assert (problem.path, problem.line, problem.field) == ("episodes/001-pilot.md", 11, "topics")
    assert problem.message == f"unknown topic '{written}'"
    assert problem.hint.startswith(f"did you mean '{suggested}'?")
    assert [e.topics for e in catalog.episodes] == [("beta",)]


def test_an_unknown_topic_far_from_any_gets_no_guess(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": swap("topics: [alpha, beta]", "topics: [zzzz]")})
    [problem] = load_dir(tmp_path).problems
    assert problem.hint == "use a slug from topics.yaml or add the topic there"


def test_relations_between_topics_are_checked_with_lines(tmp_path: Path):
    topics = TOPICS + "    related: [alpah]\n    aliases: [first letter]\n"
    topics += "  - slug: beta\n    title: Beta again\n"
    write(tmp_path, {"002-second.md": SECOND}, topics)

    catalog = load_dir(tmp_path)

    assert [(p.line, p.field, p.message) for p in catalog.problems] == [
        (13, "related", "topic 'gamma' is related to 'alpah', which is not a topic"),
        (14, "aliases", "alias 'first letter' of topic 'gamma' already names topic 'alpha'"),
        (15, "slug", "topic 'beta' is defined twice; the second entry was left out"),
    ]
    assert "did you mean 'alpha'?" in catalog.problems[0].hint
    gamma = catalog.topics[2]
    assert (gamma.slug, gamma.related, gamma.aliases) == ("gamma", (), ())
    assert [t.title for t in catalog.topics] == ["Alpha", "Beta", "Gamma"]


def test_an_alias_may_not_be_another_topics_slug_or_title_even_a_later_one(tmp_path: Path):
    topics = swap("aliases: [First Letter, a]", "aliases: [Gamma, a, Beta]", TOPICS)
    write(tmp_path, {"002-second.md": SECOND}, topics)

    catalog = load_dir(tmp_path)

    assert [(p.line, p.message) for p in catalog.problems] == [
        (5, "alias 'Gamma' of topic 'alpha' already names topic 'gamma'"),
        (5, "alias 'Beta' of topic 'alpha' already names topic 'beta'"),
    ]
    assert catalog.topics[0].aliases == ("a",)


def test_names_in_any_script_are_headings_and_aliases_of_their_own(tmp_path: Path):
    topics = swap("aliases: [First Letter, a]", "aliases: [機械学習, Борщ]", TOPICS)
    topics = swap("    title: Beta\n", "    title: Beta\n    aliases: [ラーメン, 寿司]\n", topics)
    episode = swap("## Beta things", "## 機械学習の話", EPISODE)
    write(tmp_path, {"001-pilot-where-it-starts.md": episode, "002-second.md": SECOND}, topics)

    catalog = load_dir(tmp_path)

    assert catalog.problems == ()
    assert catalog.topics[1].aliases == ("ラーメン", "寿司")
    assert [s.heading for s in catalog.episodes[0].sections] == ["Alpha things", "機械学習の話"]


def test_json_style_escapes_of_emoji_are_one_character_and_a_lone_half_is_reported(
    tmp_path: Path,
):
    topics = swap("title: Gamma", 'title: "Gamma \\ud83d\\udd25"', TOPICS)
    topics = swap("title: Beta", 'title: "Beta \\ud83d"', topics)
    write(tmp_path, {"002-second.md": SECOND}, topics)

    catalog = load_dir(tmp_path)

    assert [t.title for t in catalog.topics if t.slug == "gamma"] == ["Gamma \U0001f525"]
    assert [(p.field, p.message) for p in catalog.problems if p.field.endswith("title")] == [
        ("topics[1].title", "has a broken \\u escape (half of a character)")
    ]


def test_an_empty_alias_is_reported_and_dropped_and_its_topic_kept(tmp_path: Path):
    topics = swap("aliases: [First Letter, a]", 'aliases: ["", First Letter]', TOPICS)
    write(tmp_path, {"001-pilot-where-it-starts.md": EPISODE, "002-second.md": SECOND}, topics)

    catalog = load_dir(tmp_path)

    assert [(p.field, p.message) for p in catalog.problems] == [
        ("topics[0].aliases[0]", "is empty")
    ]
    assert catalog.topics[0].slug == "alpha" and catalog.topics[0].aliases == ("First Letter",)
    assert catalog.episodes[0].topics == ("alpha", "beta")  # nothing else is lost


def test_a_thousand_full_topics_load(tmp_path: Path):
    entry = """\
  - slug: topic-{n}
    title: Topic number {n}
    description: What the show said about topic {n}, in a sentence or two.
    aliases: [t{n}, number {n}, the {n}th, another name {n}]
    related: [topic-{m}]
    questions: ["What about {n}?", "Why {n}?", "Where have you seen {n}?"]
"""
    topics = "topics:\n" + "".join(entry.format(n=n, m=(n + 1) % 1000) for n in range(1000))
    write(tmp_path, {"002-second.md": SECOND.replace("[gamma]", "[topic-7]")}, topics)

    catalog = load_dir(tmp_path)

    assert catalog.problems == () and len(catalog.topics) == 1000


def test_a_missing_or_unusable_topics_file_does_not_flood_episodes_with_problems(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": EPISODE}, topics=None)
    missing = load_dir(tmp_path)
    (tmp_path / "topics.yaml").write_text("topics: [\n")
    broken = load_dir(tmp_path)

    assert [(p.path, p.message) for p in missing.problems] == [("topics.yaml", "file not found")]
    assert [p.path for p in broken.problems] == ["topics.yaml"]
    assert [e.number for e in missing.episodes] == [e.number for e in broken.episodes] == [1]


def test_missing_folders_are_reported(tmp_path: Path):
    nowhere = load_dir(tmp_path / "nope")
    (tmp_path / "topics.yaml").write_text(TOPICS)
    no_episodes = load_dir(tmp_path)

    assert [p.message for p in nowhere.problems] == ["content folder not found"]
    assert [(p.path, p.message) for p in no_episodes.problems] == [("episodes", "folder not found")]
    assert len(no_episodes.topics) == 3


def test_a_transcript_named_in_the_front_matter_is_loaded(tmp_path: Path):
    text = swap("links:", "transcript: transcripts/001.txt\nlinks:")
    write(tmp_path, {"001-pilot.md": text})
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "001.txt").write_text("[00:00:05] Hello and welcome.\n")

    catalog = load_dir(tmp_path)

    assert catalog.problems == ()
    assert transcript_path("episodes/001-pilot.md", text.encode()) == "transcripts/001.txt"
    [episode] = catalog.episodes
    assert [(p.text, p.start) for p in episode.transcript] == [("Hello and welcome.", 5.0)]


def test_a_missing_transcript_is_reported_and_the_episode_still_loads(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": swap("links:", "transcript: transcripts/001.txt\nlinks:")})

    catalog = load_dir(tmp_path)

    [problem] = catalog.problems
    assert (problem.path, problem.line, problem.field) == (
        "episodes/001-pilot.md",
        10,
        "transcript",
    )
    assert problem.message == "transcript 'transcripts/001.txt': file not found"
    assert [e.transcript for e in catalog.episodes] == [()]


def test_a_transcript_linked_out_of_the_content_folder_is_refused(tmp_path: Path):
    root = tmp_path / "content"
    write(root, {"001-pilot.md": swap("links:", "transcript: transcripts/001.txt\nlinks:")})
    (tmp_path / "secret.txt").write_text("not for the bot")
    (root / "transcripts").mkdir()
    (root / "transcripts" / "001.txt").symlink_to(tmp_path / "secret.txt")

    [problem] = load_dir(root).problems

    assert "points outside the content folder" in problem.message


def test_transcript_path_is_none_without_the_field():
    assert transcript_path("episodes/001-pilot.md", EPISODE.encode()) is None
    assert transcript_path("episodes/001-pilot.md", b"\xff") is None


def test_parse_topics_returns_the_models():
    topics, problems = parse_topics("topics.yaml", TOPICS.encode())
    assert problems == []
    assert topics[0] == Topic(
        slug="alpha",
        title="Alpha",
        description="The first letter.",
        aliases=("First Letter", "a"),
        related=("beta",),
        questions=("Why alpha?", "Why first?"),
    )
    assert topics[2] == Topic("gamma", "Gamma")


def test_cross_check_works_on_models_from_anywhere():
    pilot = Episode(1, "Pilot", "pilot", None, topics=("alpha",), source="feed:1")
    again = dataclasses.replace(pilot, source="feed:2")
    topics = [Topic("beta", "Beta", related=("alph",))]

    problems = cross_check([pilot, again], topics)

    assert [(p.path, p.message) for p in problems] == [
        ("topics.yaml", "topic 'beta' is related to 'alph', which is not a topic"),
        ("feed:1", "unknown topic 'alpha'"),
        ("feed:2", "episode number 1 is also used by feed:1"),
    ]


def test_parse_episode_file_gives_the_episode_with_its_transcript_from_one_parse():
    text = swap("links:", "transcript: ./transcripts/001.txt\nlinks:")

    episode, problems, transcript = parse_episode_file("episodes/001-pilot.md", text.encode())

    assert (episode, problems) == parse_episode("episodes/001-pilot.md", text.encode())
    assert episode is not None and transcript == "transcripts/001.txt"
    assert parse_episode_file("episodes/001-pilot.md", EPISODE.encode())[2] is None
    broken = swap("number: 1", "number: one", text).encode()  # named, but the episode is invalid
    assert parse_episode_file("episodes/001-pilot.md", broken)[::2] == (None, None)


def test_relate_keeps_what_load_dir_keeps():
    pilot = Episode(1, "Pilot", "pilot", None, topics=("alpha", "nope"), source="episodes/a.md")
    same_number = dataclasses.replace(pilot, slug="other", source="episodes/b.md")
    same_slug = dataclasses.replace(pilot, number=2, source="episodes/c.md")
    topics = [
        Topic("alpha", "Alpha", aliases=("Beta", "first")),  # 'Beta' is a later topic's title
        Topic("beta", "Beta", related=("alpha", "nope")),
        Topic("alpha", "Alpha again"),
    ]

    related = relate([same_slug, same_number, pilot], topics)

    assert related.episodes == [dataclasses.replace(pilot, topics=("alpha",))]
    assert related.topics == [
        Topic("alpha", "Alpha", aliases=("first",)),
        Topic("beta", "Beta", related=("alpha",)),
    ]
    assert sorted(p.field or "-" for p in related.problems) == [
        "-",  # the repeated episode slug names no field
        "aliases",
        "number",
        "related",
        "slug",
        "topics",
    ]
    unchecked = relate([pilot], topics, check_topic_refs=False)
    assert unchecked.episodes == [pilot]
    assert all(p.field != "topics" for p in unchecked.problems)


def test_links_that_lead_nowhere_are_reported_not_raised(tmp_path: Path):
    text = swap("links:", "transcript: transcripts/001.txt\nlinks:")
    write(tmp_path, {"001-pilot.md": text})
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "001.txt").symlink_to("001.txt")
    (tmp_path / "episodes" / "002-gone.md").symlink_to("nowhere.md")

    catalog = load_dir(tmp_path)

    assert [(p.path, p.message) for p in catalog.problems] == [
        (
            "episodes/001-pilot.md",
            "transcript 'transcripts/001.txt': cannot be read: Too many levels of symbolic links",
        ),
        ("episodes/002-gone.md", "is a link that leads nowhere (a missing target, or a loop)"),
    ]
    assert [e.number for e in catalog.episodes] == [1]


def _problems_as_a_user(root: Path) -> list[tuple[str, str]]:
    """load_dir's problems, read by a process that permissions stop: root here (and in CI)
    reads any folder, so it runs without that power."""
    code = (
        "import json, sys; from pathlib import Path; from bot.core.content import load_dir; "
        "print(json.dumps([[p.path, p.message] for p in load_dir(Path(sys.argv[1])).problems]))"
    )
    command = [sys.executable, "-c", code, str(root)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    return [(path, message) for path, message in json.loads(done.stdout)]


def test_an_episodes_folder_that_cannot_be_listed_is_reported_not_raised(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": EPISODE})
    folder = tmp_path / "episodes"
    folder.chmod(0)
    try:
        problems = _problems_as_a_user(tmp_path)
    finally:
        folder.chmod(0o755)
    assert problems == [("episodes", "cannot be read: Permission denied")]


def test_an_episodes_folder_that_is_a_looping_link_is_reported(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": EPISODE})
    folder = tmp_path / "episodes"
    shutil.rmtree(folder)
    folder.symlink_to(folder)

    catalog = load_dir(tmp_path)

    assert [(p.path, p.message) for p in catalog.problems] == [
        ("episodes", "is a link that leads nowhere (a missing target, or a loop)")
    ]


def test_editor_backups_beside_the_episodes_are_not_reported(tmp_path: Path):
    write(tmp_path, {"001-pilot.md": EPISODE, "001-pilot.md~": "old", "#001-pilot.md#": "draft"})
    (tmp_path / "episodes" / "4913").write_text("")

    catalog = load_dir(tmp_path)

    assert catalog.problems == ()
    assert [e.number for e in catalog.episodes] == [1]

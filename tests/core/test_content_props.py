"""Properties: whatever bytes arrive, the loader answers with a model or Problems, never a crash."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core import content
from bot.core.content import load_dir, parse_episode, parse_topics, transcript_path
from bot.core.models import Episode, Problem

EPISODE_PATH = "episodes/007-pilot.md"
VALID = """\
---
number: 7
title: "Pilot: Where It Starts"
released: 2024-01-02
hosts: [Hugo Bowne-Anderson]
guests:
  - name: Ada Lovelace
    role: Analyst
topics: [alpha]
links:
  episode: https://example.com/7
chapters:
  - {at: "00:00", title: Intro}
  - {at: "01:30", title: Alpha}
transcript: transcripts/007.txt
---
A summary.

## Alpha
About alpha.
"""
TOPICS = """\
topics:
  - slug: alpha
    title: Alpha
    aliases: [first]
    related: [beta]
    questions: ["Why?", "How?"]
  - slug: beta
    title: Beta
"""

# Pieces that break YAML, Markdown or our rules in interesting ways.
NASTY = st.sampled_from(
    [
        "",
        ":",
        ": ",
        "-",
        "- ",
        "---",
        "#",
        "## ",
        "&a",
        "*a",
        "!!python/object:x",
        "!foo",
        "[",
        "]",
        "{",
        "}",
        "'",
        '"',
        "|",
        ">",
        "?",
        "\t",
        "\x00",
        "\x07",
        "\ufeff",
        "\u2028",
        "\r",
        "\n",
        "  ",
        "null",
        "~",
        "yes",
        "0x1F",
        "1:30",
        "2022-13-45",
        "1e400",
        "-1",
        "99999999999999999999999",
        "é",
        "🎙",
        "```",
    ]
)


def _assert_answered(path: str, result: tuple[Episode | None, list[Problem]]) -> None:
    episode, problems = result
    assert (episode is None) == bool(problems)
    for problem in problems:
        assert problem.path == path
        assert str(problem).startswith(path)
        assert problem.message


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """The text with a few lines deleted, doubled, swapped or spliced with nasty pieces."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "double", "swap", "splice", "replace"]))
        if action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "double":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "splice":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(NASTY) + lines[i][at:]
        else:
            head = lines[i].split(":", 1)[0]
            lines[i] = f"{head}: {draw(st.one_of(NASTY, st.text(max_size=12)))}"
    return "\n".join(lines).encode("utf-8", "surrogatepass")


FAST = settings(max_examples=150, deadline=None)


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash_the_parsers(raw: bytes):
    _assert_answered(EPISODE_PATH, parse_episode(EPISODE_PATH, raw))
    transcript_path(EPISODE_PATH, raw)
    topics, problems = parse_topics("topics.yaml", raw)
    assert topics or problems
    assert all(str(p).startswith("topics.yaml") for p in problems)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_a_valid_prefix_never_crash(tail: bytes):
    raw = VALID.encode()[: len(VALID) // 2] + tail
    _assert_answered(EPISODE_PATH, parse_episode(EPISODE_PATH, raw))


@FAST
@given(mutated(VALID))
def test_mutated_episode_files_give_a_model_or_problems_naming_the_file(raw: bytes):
    _assert_answered(EPISODE_PATH, parse_episode(EPISODE_PATH, raw))


@FAST
@given(mutated(TOPICS))
def test_mutated_topic_files_give_topics_or_problems_naming_the_file(raw: bytes):
    topics, problems = parse_topics("topics.yaml", raw)
    assert topics or problems
    assert all(str(p).startswith("topics.yaml") for p in problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(VALID), mutated(TOPICS), st.binary(max_size=200))
def test_load_dir_never_raises_and_keeps_every_problem_tied_to_a_file(
    episode: bytes, topics: bytes, transcript: bytes
):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "episodes").mkdir()
        (root / "transcripts").mkdir()
        (root / "episodes" / "007-pilot.md").write_bytes(episode)
        (root / "episodes" / "008-second.md").write_bytes(
            VALID.replace("number: 7", "number: 8").replace("007", "008").encode()
        )
        (root / "topics.yaml").write_bytes(topics)
        (root / "transcripts" / "007.txt").write_bytes(transcript)
        (root / "transcripts" / "008.txt").write_bytes(b"[00:00:01] Hello.\n")

        catalog = load_dir(root)

    files = {"episodes/007-pilot.md", "episodes/008-second.md", "topics.yaml"}
    files |= {"transcripts/007.txt", "transcripts/008.txt"}
    assert {p.path for p in catalog.problems} <= files
    assert 8 in [e.number for e in catalog.episodes]  # the untouched file always loads


TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=40).filter(
    str.strip
)


@FAST
@given(
    number=st.integers(0, 9999),
    title=TEXT,
    released=st.dates(min_value=date(1900, 1, 1)),
    hosts=st.lists(TEXT, min_size=1, max_size=3),
    summary=TEXT.filter(lambda t: not t.lstrip().startswith(("#", "---", "```", "~~~"))),
)
def test_any_episode_yaml_can_write_is_read_back_faithfully(
    number: int, title: str, released: date, hosts: list[str], summary: str
):
    front = {"number": number, "title": title, "released": released, "hosts": hosts}
    front["topics"] = []
    raw = f"---\n{yaml.safe_dump(front, allow_unicode=True)}---\n{summary}\n".encode()
    path = f"episodes/{number:03d}-pilot.md"

    episode, problems = parse_episode(path, raw)

    assert problems == []
    assert episode is not None
    assert (episode.number, episode.title, episode.released) == (number, title.strip(), released)
    assert [h.name for h in episode.hosts] == [h.strip() for h in hosts]
    assert episode.summary == summary.strip()


# ---- libyaml composes exactly what the pure-Python parser composes -------------------------

# Pieces where the two parsers have disagreed (tabs, BOMs, Unicode breaks, '?' in flow lists).
ODD = st.sampled_from(
    ["\t", "\x85", "\xa0", "\u2028", "\ufeff", "?", "? ", ": ", "- ", "#", "!!str ", "&a ", "*a"]
    + ["'", '"', "|-", ">", "{", "}", "[", "]", ",", "\n", "\n  ", "...", "--- ", "%YAML 1.1\n"]
)
FRONT_MATTER = VALID.split("---\n")[1]


def _shape(node: yaml.Node | None) -> object:
    """A node tree as plain values, with the lines our problems point at."""
    if node is None or isinstance(node, yaml.ScalarNode):
        return node and (node.tag, node.value, node.start_mark.line)
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, node.start_mark.line, [_shape(n) for n in node.value])
    return (node.tag, node.start_mark.line, [(_shape(k), _shape(v)) for k, v in node.value])


@FAST
@given(
    st.sampled_from([FRONT_MATTER, TOPICS]),
    st.lists(st.tuples(st.floats(0, 1), st.one_of(ODD, NASTY)), min_size=1, max_size=5),
)
@example(TOPICS, [(0.9, "questions: [Why now?, How?]\n")])  # PyYAML: '?' ends a flow item
@example(FRONT_MATTER, [(0.01, "\t")])  # PyYAML refuses a tab inside a plain key
@example(FRONT_MATTER, [(1.0, "\ufeff")])  # a BOM after the last line: only PyYAML refuses
def test_libyaml_and_the_python_parser_compose_the_same_nodes_and_problems(
    base: str, edits: list[tuple[float, str]]
):
    text = base
    for where, piece in edits:
        at = int(where * len(text))
        text = text[:at] + piece + text[at:]

    fast = content._compose("topics.yaml", text, first_line=1)
    slow = content._compose_slowly("topics.yaml", text, first_line=1)

    assert fast[1] == slow[1]
    assert _shape(fast[0]) == _shape(slow[0])


def test_without_libyaml_the_pure_python_parser_reads_the_same_episode(
    monkeypatch: pytest.MonkeyPatch,
):
    with_libyaml = parse_episode(EPISODE_PATH, VALID.encode())
    monkeypatch.setattr(content, "_CParser", None)  # a PyYAML built without libyaml

    assert parse_episode(EPISODE_PATH, VALID.encode()) == with_libyaml
    assert with_libyaml[0] is not None

"""Transcripts in every supported format become timestamped passages; broken ones, Problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import Passage
from bot.core.transcripts import (
    MAX_PROBLEMS,
    PASSAGE_WORDS,
    detect_format,
    parse_timestamp,
    parse_transcript,
)

FIXTURES = Path(__file__).resolve().parents[1] / "feeds" / "fixtures" / "transcripts"
SOFT_404 = (FIXTURES / "soft-404.html").read_bytes()  # a CDN's answer for a missing file

SRT = b"""1
00:00:01,000 --> 00:00:04,000
Welcome to <i>Signal &amp; Noise</i>.

2
00:00:04,500 --> 00:00:09,250
Today we talk about
evaluation harnesses.

3
01:02:03,400 --> 01:02:05,000
Thanks for listening.
"""

VTT = b"""WEBVTT - Signal and Noise, episode 3
Kind: captions

NOTE This transcript was generated
and checked by a person.

STYLE
::cue { color: yellow }

intro
00:00.000 --> 00:03.500 align:start position:10% line:0
<v Mara Quill>Welcome back to the show.</v>

00:00:03.500 --> 00:00:08.000
<v.loud Theo Brandt>Happy to be here &amp; talk <b>data</b>.

00:00:08.000 --> 00:00:10.000
<v Mara Quill><c.yellow>Let's</c> <00:00:09.000>start.
"""

JSON = json.dumps(
    {
        "version": "1.0.0",
        "segments": [
            {"startTime": 0.5, "endTime": 2.0, "body": "Hi, I'm Mara.", "speaker": "Mara"},
            {"startTime": 2.0, "endTime": 5.25, "body": "And I'm Theo.", "speaker": "Theo"},
            {"startTime": 5.25, "endTime": 7.0, "body": "Let's begin.", "speaker": "Theo"},
        ],
    }
).encode()


def test_srt_cues_become_one_passage_with_first_start_and_last_end():
    passages, problems = parse_transcript("t/ep3.srt", SRT)
    assert problems == []
    assert passages == (
        Passage(
            "Welcome to Signal & Noise. Today we talk about evaluation harnesses. "
            "Thanks for listening.",
            start=1.0,
            end=3725.0,
        ),
    )


def test_srt_without_index_lines_and_with_dot_decimals_still_parses():
    raw = b"00:00:01.000 --> 00:00:02.000\nOne\n\n00:00:02.000 --> 00:00:03.000\nTwo\n"
    passages, problems = parse_transcript("x.srt", raw)
    assert problems == []
    assert passages == (Passage("One Two", 1.0, 3.0),)


def test_srt_bad_blocks_are_reported_with_line_and_skipped():
    raw = (
        b"1\n00:00:01,000 --> 00:00:02,000\nGood\n\n"
        b"2\nno timing here\n\n"
        b"3\n00:99:01,000 --> x\nBad\n"
    )
    passages, problems = parse_transcript("x.srt", raw)
    assert [p.text for p in passages] == ["Good"]
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [
        (5, "subtitle"),
        (9, "malformed"),
    ]
    assert all(p.path == "x.srt" and p.hint for p in problems)


def test_vtt_skips_header_notes_and_styles_and_keeps_voices_as_speakers():
    passages, problems = parse_transcript("ep3.vtt", VTT)
    assert problems == []
    assert passages == (
        Passage(
            "Mara Quill: Welcome back to the show.\n"
            "Theo Brandt: Happy to be here & talk data.\n"
            "Mara Quill: Let's start.",
            start=0.0,
            end=10.0,
        ),
    )


def test_vtt_without_header_is_reported_but_cues_are_kept():
    raw = b"00:01.000 --> 00:02.000\nHello\n"
    passages, problems = parse_transcript("a.vtt", raw)
    assert [p.text for p in passages] == ["Hello"]
    assert len(problems) == 1 and "WEBVTT" in problems[0].message and problems[0].line == 1


def test_podcasting_json_segments_with_speakers():
    passages, problems = parse_transcript("ep3.json", JSON)
    assert problems == []
    assert passages == (Passage("Mara: Hi, I'm Mara.\nTheo: And I'm Theo. Let's begin.", 0.5, 7.0),)


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"segments": [{"startTime": 1, "body": "x"', None, "invalid JSON"),
        (b'{"version": "1.0.0"}', "segments", "no 'segments'"),
        (b'{"segments": [3]}', "segments[0]", "must be an object"),
        (b'{"segments": [{"startTime": 1}]}', "segments[0].body", "'body'"),
        (b'{"segments": [{"startTime": "soon", "body": "x"}]}', "segments[0].startTime", "seconds"),
        (b"[1, 2]", "segments", "no 'segments'"),
    ],
)
def test_broken_json_names_the_field(raw, field, words):
    _, problems = parse_transcript("t.json", raw)
    assert problems and problems[0].field == field and words in problems[0].message


def test_plain_text_with_bracketed_markers_and_speakers():
    raw = b"Intro music.\n[00:00:05] Mara: Hello there.\nStill me.\n[00:01:10] Theo: Hi!\n"
    passages, problems = parse_transcript("ep.txt", raw)
    assert problems == []
    # the preamble has no time, so the passage (which starts with it) has none either
    assert passages == (
        Passage("Intro music.\nMara: Hello there. Still me.\nTheo: Hi!", None, None),
    )


def test_plain_text_markers_give_ends_from_the_next_marker():
    raw = b"00:00:05 first\n00:01:10 - second\n1:00:00 third\n"
    passages, _ = parse_transcript("ep.txt", raw)
    assert passages == (Passage("first second third", 5.0, None),)


def test_otter_style_speaker_lines():
    raw = b"Mara Quill  0:03\nHello there.\n\nTheo Brandt  1:05\nHi.\n"
    passages, problems = parse_transcript("ep.txt", raw)
    assert problems == []
    assert passages == (Passage("Mara Quill: Hello there.\nTheo Brandt: Hi.", 3.0, None),)


def test_plain_text_without_timestamps_uses_paragraphs():
    raw = b"We met at 10:30 for coffee.\n\nThen we talked.\n"
    passages, problems = parse_transcript("ep.txt", raw)
    assert problems == []
    assert passages == (Passage("We met at 10:30 for coffee. Then we talked.", None, None),)


def test_html_transcript_drops_scripts_and_reads_markers():
    raw = (
        b"<html><head><title>T</title><style>p{}</style></head><body>"
        b"<p><b>Mara:</b> Welcome&nbsp;back.</p><script>alert(1)</script>"
        b"<p><time>00:01:02</time> <b>Theo:</b> Thanks.</p></body></html>"
    )
    passages, problems = parse_transcript("ep.html", raw)
    assert problems == []
    assert passages == (Passage("Mara: Welcome back.\nTheo: Thanks.", None, None),)


@pytest.mark.parametrize(
    ("declared", "served"),
    [
        ("text/vtt", "text/html; charset=utf-8"),
        ("text/vtt", "text/vtt"),  # the page is a page whatever the server calls it
        ("application/json", "text/html"),
        ("application/x-subrip", None),
        ("text/plain", "text/html"),
    ],
)
def test_a_web_page_where_the_feed_promised_a_transcript_is_refused(declared, served):
    passages, problems = parse_transcript(
        "https://cdn.example.org/t/3.vtt", SOFT_404, served, declared=declared
    )
    assert passages == ()
    assert len(problems) == 1
    message = problems[0].message
    assert "web page ('Podcast not found')" in message and declared in message
    assert "nothing kept" in message and problems[0].hint


def test_an_html_transcript_the_feed_declares_as_html_is_read():
    raw = b"<html><body><p>[00:00:05] Mara: Hello there.</p></body></html>"
    passages, problems = parse_transcript("t", raw, "text/html", declared="text/html")
    assert problems == [] and passages == (Passage("Mara: Hello there.", 5.0, None),)


def test_a_transcript_served_as_html_but_not_a_page_is_read_as_declared():
    passages, problems = parse_transcript("t", VTT, "text/html", declared="text/vtt")
    assert problems == [] and passages[0].start == 0.0


def test_podcasting_html_transcript_keeps_its_times():
    """The Podcasting 2.0 HTML format: <cite>Name:</cite><time>0:00</time><p>words</p>."""
    raw = (FIXTURES / "podcasting-2.0.html").read_bytes()
    passages, problems = parse_transcript("t.html", raw, "text/html", declared="text/html")
    assert problems == []
    assert passages == (
        Passage(
            "Hugo: Welcome to the show, everyone.\nGuest: Synthetic data generation is underrated.",
            0.0,
            None,
        ),
    )
    words = " ".join(["data"] * 200)
    long = f"<cite>Hugo:</cite><time>0:00</time><p>{words}</p>"
    long += f"<cite>Guest:</cite><time>2:15</time><p>{words}</p>"
    long_passages, _ = parse_transcript("t.html", long.encode(), "text/html")
    assert [(p.text.split(":")[0], p.start) for p in long_passages] == [
        ("Hugo", 0.0),
        ("Guest", 135.0),
    ]


def test_plain_text_with_the_time_after_the_speaker():
    raw = (FIXTURES / "speaker-then-time.txt").read_bytes()
    passages, problems = parse_transcript("t.txt", raw, "text/plain")
    assert problems == [] and passages[0].start == 0.0
    assert "[00:" not in passages[0].text
    assert passages[0].text.startswith("Hugo Bowne-Anderson: Welcome to Vanishing Gradients.")
    words = " ".join(["models"] * 200)
    long = f"Hugo: [00:00:00] {words}\n\nGuest: (00:03:12) {words}\n".encode()
    assert [p.start for p in parse_transcript("t.txt", long)[0]] == [0.0, 192.0]


def test_a_time_inside_speech_after_a_name_is_not_a_marker():
    passages, _ = parse_transcript("t.txt", b"Hugo: 3:15 is when we start.\n")
    assert passages == (Passage("Hugo: 3:15 is when we start.", None, None),)


def test_long_transcripts_split_into_passages_of_about_passage_words():
    cues = [
        f"{i}\n00:{i // 60:02d}:{i % 60:02d},000 --> 00:{i // 60:02d}:{i % 60:02d},900\n"
        + " ".join(["word"] * 10)
        for i in range(100)
    ]
    passages, problems = parse_transcript("long.srt", "\n\n".join(cues).encode())
    assert problems == []
    assert sum(len(p.text.split()) for p in passages) == 1000
    assert all(len(p.text.split()) <= PASSAGE_WORDS for p in passages[:-1])
    assert passages[0].start == 0.0 and passages[-1].end == 99.9
    starts = [p.start or 0.0 for p in passages]
    assert starts == sorted(starts)
    assert all(p.start is not None and p.end is not None and p.start < p.end for p in passages)


def test_one_huge_untimed_paragraph_is_split_on_words():
    raw = " ".join(f"w{i}" for i in range(PASSAGE_WORDS * 3)).encode()
    passages, _ = parse_transcript("big.txt", raw)
    assert [len(p.text.split()) for p in passages] == [PASSAGE_WORDS] * 3
    assert passages[1].text.startswith(f"w{PASSAGE_WORDS} ")


def test_a_short_tail_is_folded_into_the_previous_passage():
    raw = " ".join(["w"] * (PASSAGE_WORDS + 3)).encode()
    passages, _ = parse_transcript("t.txt", raw)
    assert [len(p.text.split()) for p in passages] == [PASSAGE_WORDS + 3]


@pytest.mark.parametrize(
    ("path", "content_type", "text", "expected"),
    [
        ("a.srt", None, "hello", "srt"),
        ("a.txt", "application/x-subrip", "hello", "srt"),
        ("a", "text/vtt; charset=utf-8", "hello", "vtt"),
        ("a", "application/json", "hello", "json"),
        ("a", "text/html", "hello", "html"),
        ("a.txt", "text/plain", "1\n00:00:01,000 --> 00:00:02,000\nhi", "srt"),  # sniffed
        ("a", None, "\ufeffWEBVTT\n", "vtt"),
        ("a", None, '  {"segments": []}', "json"),
        ("a", None, "[00:00:01] hi", "text"),
        ("a", None, "<p>hi</p>", "html"),
        ("dir.v2/file", None, "plain words", "text"),
    ],
)
def test_detect_format(path, content_type, text, expected):
    assert detect_format(path, text, content_type) == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:00:01,000", 1.0),
        ("1:02:03.5", 3723.5),
        ("02:03", 123.0),
        ("100:00:00", 360000.0),
        ("00:61:00", None),
        ("00:00:60", None),
        ("abc", None),
    ],
)
def test_parse_timestamp(value, seconds):
    assert parse_timestamp(value) == seconds


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeff1\n00:00:01,000 --> 00:00:02,000\nCafé\n".encode(),
        "1\n00:00:01,000 --> 00:00:02,000\nCafé\n".encode("utf-16"),
        "1\n00:00:01,000 --> 00:00:02,000\nCafé\n".encode("utf-32"),
        b"1\r\n00:00:01,000 --> 00:00:02,000\r\nCaf\xc3\xa9\r\n",
    ],
)
def test_encodings_and_line_endings(raw):
    passages, problems = parse_transcript("a.srt", raw)
    assert problems == [] and passages == (Passage("Café", 1.0, 2.0),)


def test_windows_1252_is_read_and_reported():
    passages, problems = parse_transcript("a.txt", b"Caf\xe9 au lait\n")
    assert passages == (Passage("Café au lait"),)
    assert len(problems) == 1 and "UTF-8" in problems[0].message and problems[0].hint


def test_html_with_only_a_timestamp_is_an_empty_transcript_not_a_crash():
    passages, problems = parse_transcript("a.html", b"0:0")
    assert passages == () and problems[0].message.startswith("no transcript text")


def test_control_characters_are_dropped_but_tabs_and_line_breaks_kept():
    raw = b"[00:00:01] Hugo: Hel\x00lo\x07 wor\x1bld\tagain\x7f\r\n[00:00:03] Ada: Hi\x0b!\n"
    passages, problems = parse_transcript("a.txt", raw)
    assert problems == []
    assert passages == (Passage("Hugo: Hello world again\x7f\nAda: Hi!", 1.0, None),)


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"\x00\x00"])
def test_empty_transcript_is_a_problem(raw):
    passages, problems = parse_transcript("a.srt", raw)
    assert passages == () and "empty" in problems[0].message


def test_garbage_srt_gives_a_capped_report():
    raw = b"\n\n".join(b"junk block %d" % i for i in range(200))
    passages, problems = parse_transcript("a.srt", raw)
    assert passages == ()
    assert len(problems) == MAX_PROBLEMS + 1
    assert "180 more" in problems[-1].message


@settings(max_examples=150, deadline=None)
@given(
    raw=st.binary(max_size=400)
    | st.text(alphabet='0123456789:,.-> \n\r[]<>{}"vWEBTNOabc', max_size=300).map(str.encode),
    content_type=st.sampled_from([None, "text/vtt", "application/json", "text/html", "text/plain"]),
    path=st.sampled_from(["a.srt", "a.vtt", "a.json", "a.html", "a.txt", "a"]),
)
def test_any_bytes_give_passages_or_problems_never_an_exception(raw, content_type, path):
    passages, problems = parse_transcript(path, raw, content_type)
    assert all(isinstance(p, Passage) and p.text for p in passages)
    assert all(p.path == path for p in problems)
    if not passages:
        assert problems

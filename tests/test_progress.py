"""The progress display: redrawn in place on a terminal, plain tenths elsewhere."""

from __future__ import annotations

import io

from bot.progress import ProgressBar


def test_a_terminal_gets_one_line_redrawn_per_stage():
    out = io.StringIO()
    bar = ProgressBar(out, tty=True)
    for done in range(5):
        bar("transcripts", done, 4)
    bar("store", 0, 1)
    bar.close()
    text = out.getvalue()
    assert text.count("\n") == 2  # one finished line per stage
    assert "\rtranscripts [" + "#" * 30 + "] 4/4\n" in text
    assert text.endswith("] 0/1\n")


def test_elsewhere_plain_lines_at_each_tenth_and_the_end():
    out = io.StringIO()
    bar = ProgressBar(out, tty=False)
    for done in range(201):
        bar("transcripts", done, 200)
    bar("parse", 0, 1)
    bar("parse", 1, 1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "transcripts: 0/200" and lines[10] == "transcripts: 200/200"
    assert len(lines) == 12 and lines[-1] == "parse: 1/1"
    assert "\r" not in out.getvalue()


def test_nothing_to_count_shows_nothing():
    out = io.StringIO()
    ProgressBar(out, tty=True)("transcripts", 0, 0)
    assert out.getvalue() == ""

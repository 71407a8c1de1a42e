"""bench/import.py runs end to end at a tiny size and prints both totals, the old one and the
one without the transcripts' storage. No timing is judged: the bench measures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "import.py"


def seconds(output: str, label: str) -> tuple[float, float]:
    """(wall, CPU) seconds of the line starting with `label` (a difference of two timings, as
    the transcripts' storage is, can come out below zero in a tiny run)."""
    found = re.search(
        rf"^{re.escape(label)} +(-?[\d.]+) +-?[\d.]+× +(-?[\d.]+) +-?[\d.]+×$", output, re.M
    )
    assert found, f"no line {label!r} in:\n{output}"
    return float(found.group(1)), float(found.group(2))


def test_a_tiny_run_prints_the_import_with_and_without_storing_transcripts(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--episodes", "12", "--runs", "1", "--words", "40"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,  # not the repository: the script finds its own way
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    total = seconds(out, "import-feed, transcript downloads excluded")
    stored = seconds(out, "  of which storing the transcripts (see the doc)")
    without = seconds(out, "import-feed, transcript downloads and storage excl.")
    for label in (
        "feedparser.parse alone (the yardstick)",
        "parse_feed (feedparser + strict pass + Markdown)",
        "transcript downloads and parsing (separately)",
        "import-feed again, unchanged (idempotent)",
        "a poll, the same bytes again (not parsed)",  # the bench asserts it was skipped
    ):
        seconds(out, label)
    for clock in (0, 1):  # the second total is the first minus the storage, run by run
        assert (
            abs(total[clock] - stored[clock] - without[clock]) < 0.016
        )  # three numbers rounded to 0.01
    assert len(re.findall(r"^target ≤ 2\.00× feedparser, .*: (met|NOT met) \(", out, re.M)) == 4
    # One run: each total's ratio to that run's own yardstick, one number each.
    assert (
        len(re.findall(r"^per run, CPU, import ÷ that run's feedparser.*: [\d.]+$", out, re.M)) == 2
    )
    assert "Traceback" not in result.stderr

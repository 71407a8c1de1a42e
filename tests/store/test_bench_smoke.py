"""The search benchmark still runs end to end (its --quick mode, a few seconds)."""

from __future__ import annotations

import re
import subprocess
import sys


def test_search_bench_quick_prints_its_tables(repo_root):
    out = subprocess.run(
        [sys.executable, str(repo_root / "bench" / "search.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "| ours: CatalogueService.answer_topic |" in out
    assert "| rank_bm25 BM25Okapi (top 12) |" in out
    assert "Content sync: cold" in out
    assert "| sync_unchanged_s |" in out
    # The episode files alone are synced too: 300 of them at --quick, nothing to parse again.
    assert re.search(r"episode files alone \(301 files with topics.yaml, no transcripts", out)
    assert "| sync_cold_episode_files_s |" in out
    # Typos beside what people type, with how often what was meant was offered.
    assert re.search(
        r"^\| autocomplete, 60 typos \(same; what was meant offered for \d+ of", out, re.M
    )
    assert "| autocomplete_typo_p99_ms | ≤ 5 |" in out

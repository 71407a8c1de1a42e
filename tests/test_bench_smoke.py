"""bench/interactions.py runs end to end at tiny sizes and explains bad flags. No timing is
asserted: the bench measures, it does not judge."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "interactions.py"
HEADER = "| in flight | who | p50 ms | p99 ms | per second | answers |"


def run_bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,  # not the repository: the script finds its own way
    )


def row(output: str, concurrency: int, who: str) -> str:
    found = re.search(
        rf"^\| {concurrency} \| {who} \| [\d.]+ \| [\d.]+ \| [\d,]+ \| (.*) \|$",
        output,
        re.MULTILINE,
    )
    assert found, f"no numeric row for {who} at {concurrency} in flight:\n{output}"
    return found.group(1)


def answered(kinds: str) -> int:
    return sum(int(n) for n in re.findall(r"(\d+) [a-z ]+", kinds))


def test_quick_run_prints_both_bots_side_by_side(tmp_path: Path) -> None:
    result = run_bench("--quick", "--cache", str(tmp_path / "cache"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert HEADER in out
    for concurrency in (1, 8):
        assert row(out, concurrency, "bare") == "50 constant"
        ours = row(out, concurrency, "ours")
        assert "answer" in ours and answered(ours) == 50, ours
        assert answered(row(out, concurrency, "catalogue only")) == 50
        assert re.search(rf"^- {concurrency} in flight: p50 ours/bare = [\d.]+× ", out, re.M)
    assert "Target: our p50 ≤ 1.3× the bare bot's." in out
    assert "Traceback" not in result.stderr


def test_the_catalogue_is_built_once_then_reused(tmp_path: Path) -> None:
    args = ("--quick", "--concurrency", "1", "--interactions", "4", "--batches", "1")
    cache = tmp_path / "cache"
    # Left over: a catalogue from older sources, and a build whose process died.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no running process
    (cache / "200ep-20tr-seed7-0123456789ab").mkdir(parents=True)
    (cache / f"200ep-20tr-seed7-0123456789ab.building-{gone.pid}").mkdir()

    first = run_bench(*args, "--cache", str(cache), cwd=tmp_path)
    # The second also runs over a simulated network: the same answers, only later.
    second = run_bench(*args, "--cache", str(cache), "--latency-ms", "5", cwd=tmp_path)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "catalogue built in" in first.stdout and "Loopback, no simulated network" in first.stdout
    assert "catalogue from cache" in second.stdout
    assert "Simulated network: 5 ms each way" in second.stdout
    answered_row = r"^\| 1 \| ours \| [\d.]+ \| [\d.]+ \| [\d,]+ \| .*answer"
    assert re.search(answered_row, second.stdout, re.M)
    assert [p.name.startswith("200ep-20tr-seed7-") for p in cache.iterdir()] == [True]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interactions", "0"], "--interactions must be at least 1, got 0"),
        (["--concurrency", "1,eight"], "--concurrency takes numbers separated by commas, e.g. 1,8"),
        (["--concurrency", "0"], "--concurrency needs in-flight counts of at least 1"),
        (["--interactions", "3", "--batches", "5"], "--batches (5) cannot exceed --interactions"),
        (["--episodes", "-4"], "--episodes must be at least 1, got -4"),
        (["--latency-ms", "-1"], "--latency-ms must be 0 to 1000, got -1.0"),
    ],
)
def test_bad_flags_are_explained(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_bench(*args, "--cache", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unusable_cache_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    result = run_bench("--quick", "--cache", str(blocker / "cache"), cwd=tmp_path)

    assert result.returncode == 2
    assert f"cannot keep catalogues in {blocker / 'cache'}" in result.stderr
    assert "pass --cache DIR" in result.stderr
    assert "Traceback" not in result.stderr


# ---- the two pure helpers the numbers depend on


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_interactions", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_percentile_is_nearest_rank(bench: ModuleType) -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, shuffled order does not matter

    assert bench.percentile(samples, 50) == 50.0
    assert bench.percentile(samples, 99) == 99.0
    assert bench.percentile(samples, 100) == 100.0
    assert bench.percentile([7.0], 99) == 7.0
    assert bench.percentile([1.0, 2.0, 3.0], 50) == 2.0
    with pytest.raises(ValueError, match="no samples"):
        bench.percentile([], 50)
    with pytest.raises(ValueError, match="must be in"):
        bench.percentile([1.0], 0)


@settings(max_examples=150, deadline=None)
@given(items=st.lists(st.text(max_size=3), max_size=60), parts=st.integers(1, 12))
def test_split_keeps_order_and_balances(bench: ModuleType, items: list[str], parts: int) -> None:
    slices = bench.split(items, parts)

    assert len(slices) == parts
    assert [x for s in slices for x in s] == items
    sizes = [len(s) for s in slices]
    assert max(sizes) - min(sizes) <= 1

"""`make bench`: every benchmark, one after another, each printing its side-by-side table.

Benchmarks run apart from `make test` (they take minutes and measure a shared, noisy machine);
pass --quick for a fast smoke run of all of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Interactions twice: over loopback, and over a simulated 20 ms network, where the ratio to
# the bare bot is what a member would notice (bench/README.md, "Interactions").
BENCHES = [
    ["search.py"],
    ["interactions.py"],
    ["interactions.py", "--latency-ms", "20"],
    ["import.py"],
]


def main(argv: list[str]) -> int:
    failed = []
    for name, *extra in BENCHES:
        script = HERE / name
        label = " ".join([name, *extra, *argv])
        if not script.exists():
            print(f"== {name}: missing", flush=True)
            failed.append(label)
            continue
        print(f"\n== {label}", flush=True)
        if subprocess.run([sys.executable, str(script), *extra, *argv]).returncode != 0:
            failed.append(label)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

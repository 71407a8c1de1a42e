"""`make bench`: every benchmark, one after another, each printing its side-by-side table.

Benchmarks run apart from `make test` (they take minutes and measure a shared, noisy machine);
pass --quick for a fast smoke run of all of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["search.py", "interactions.py", "import.py"]


def main(argv: list[str]) -> int:
    failed = []
    for name in BENCHES:
        script = HERE / name
        if not script.exists():
            print(f"== {name}: missing", flush=True)
            failed.append(name)
            continue
        print(f"\n== {name} {' '.join(argv)}", flush=True)
        if subprocess.run([sys.executable, str(script), *argv]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

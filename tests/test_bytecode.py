"""The bytecode tests/conftest.py writes for the `python -m bot` processes the tests start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import compile_for_processes


def test_a_source_edited_to_the_same_size_within_its_second_is_run_as_edited(tmp_path: Path):
    """Timestamp bytecode is trusted while the source keeps its mtime (whole seconds) and
    size: an edit then ran the code from before it."""
    module = tmp_path / "pkg" / "m.py"
    module.parent.mkdir()
    module.write_text('X = "old"\n')
    stamp = module.stat()
    compile_for_processes(module.parent)
    module.write_text('X = "new"\n')
    os.utime(module, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # the same second, made sure

    ran = subprocess.run(
        [sys.executable, "-c", "import m; print(m.X)"],
        cwd=module.parent,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "new"

"""Fixtures shared by every test package: where the repository and its shipped content are."""

from __future__ import annotations

import compileall
import py_compile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Compile bot/ once, before any test: the suite starts `python -m bot` as its own process
    dozens of times, and where bytecode is not written (PYTHONDONTWRITEBYTECODE) each of
    them compiled bot/ again, ~0.5 s of CPU apiece. They read what is written here (ignored by
    git and .dockerignore). Once, in the xdist controller (or the only process), not per worker."""
    if not hasattr(config, "workerinput"):
        compile_for_processes(REPO_ROOT / "bot")


def compile_for_processes(folder: Path) -> None:
    """Bytecode checked against its source's hash, not its mtime and size: a file edited
    twice within a second to the same size (a one-character fix, then its revert to see the
    test fail) kept the first edit's bytecode, and the processes ran code no longer on disk.
    Costs ~0.4 s per session (compileall rewrites hash-checked files each time)."""
    compileall.compile_dir(
        folder, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def content_root() -> Path:
    """The shipped content/ folder (read it; copy it to tmp_path before changing anything)."""
    return REPO_ROOT / "content"

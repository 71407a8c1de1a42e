"""Fixtures shared by every test package: where the repository and its shipped content are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def content_root() -> Path:
    """The shipped content/ folder (read it; copy it to tmp_path before changing anything)."""
    return REPO_ROOT / "content"

"""Shared by the operations tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Also registered by tests/deploy/conftest.py; here so `pytest tests/ops` alone knows it.
    config.addinivalue_line("markers", "slow: builds a virtualenv; deselect with -m 'not slow'")

"""Shared by the deploy tests: the deploy files, read fresh for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.dockerfile import Dockerfile, DockerIgnore, parse_dockerfile

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def pytest_configure(config: pytest.Config) -> None:
    # Registered here (not in pyproject.toml, which this part does not own) for --strict-markers.
    config.addinivalue_line("markers", "slow: builds a virtualenv; deselect with -m 'not slow'")


@pytest.fixture
def deploy_dir() -> Path:
    return DEPLOY


@pytest.fixture
def dockerfile_text() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


@pytest.fixture
def dockerfile(dockerfile_text: str) -> Dockerfile:
    return parse_dockerfile(dockerfile_text)


@pytest.fixture
def dockerignore() -> DockerIgnore:
    return DockerIgnore((DEPLOY.parent / ".dockerignore").read_text(encoding="utf-8"))

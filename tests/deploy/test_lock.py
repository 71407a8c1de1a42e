"""requirements.lock installs on every Python that pyproject.toml admits, not only on the one
that wrote it: Debian 12 ships 3.11.2, and soupsieve 3 needs 3.11.5 (its re fix), so `make`
failed there with ResolutionImpossible. Such a pin gets a marker line for the older releases."""

from __future__ import annotations

import importlib.metadata
import platform
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def _pins() -> list[Requirement]:
    lines = (REPO / "requirements.lock").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def _lowest_admitted() -> str:
    claimed = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    (lowest,) = [s.version for s in SpecifierSet(claimed) if s.operator == ">="]
    return lowest + ".0" * (2 - lowest.count("."))


@pytest.mark.parametrize("python", [_lowest_admitted(), "3.11.2", "3.11.4", "3.11.5"])
def test_each_python_gets_one_pin_per_package_that_admits_it(python):
    env = default_environment()
    env.update(python_full_version=python, python_version=python.rsplit(".", 1)[0])
    pins = [r for r in _pins() if r.marker is None or r.marker.evaluate(env)]
    twice = [n for n, k in Counter(canonicalize_name(r.name) for r in pins).items() if k > 1]
    assert twice == []
    refused = []
    for pin in pins:
        (version,) = [s.version for s in pin.specifier]
        try:
            installed = importlib.metadata.distribution(pin.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed on this Python: its metadata is not here to read
        if installed.version != version:
            continue  # another line's version: this one is for a Python other than ours
        needs = installed.metadata.get("Requires-Python") or ""
        if python not in SpecifierSet(needs):
            refused.append(f"{pin.name}=={version} needs Python {needs}")
    assert refused == [], f"on Python {python}: " + "; ".join(refused)


def test_the_lock_was_read_on_a_python_it_pins_for():
    # Guards the test above against reading nothing: this Python's own pins are installed.
    env = default_environment()
    pins = [r for r in _pins() if r.marker is None or r.marker.evaluate(env)]
    installed = {canonicalize_name(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    missing = [r.name for r in pins if canonicalize_name(r.name) not in installed]
    assert missing == [], f"Python {platform.python_version()}: not installed: {missing}"

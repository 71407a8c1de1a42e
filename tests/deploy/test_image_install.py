"""The image's install steps, run for real: the Dockerfile's own RUN lines in a fresh virtualenv.

No Docker engine is needed. The build stage is replayed in tmp_path (a folder standing in for
the image's `/`), the runtime stage's copies too, and then the installed `vgbot` runs there.

The one difference from `docker build`: pip installs from a wheelhouse (all pinned wheels,
downloaded once per requirements.lock and pyproject.toml, kept under ~/.cache/vgbot-tests),
given through PIP_NO_INDEX and PIP_FIND_LINKS. The commands themselves are untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.deploy.replay import Replay, clean_environment

DEV_ONLY = {"pytest", "pytest-asyncio", "hypothesis", "ruff", "mypy", "types-pyyaml", "psutil"}


def _wheelhouse(repo: Path) -> Path:
    """Every wheel the image's pip install needs, fetched once and reused by later runs."""
    key = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        key.update((repo / name).read_bytes())
    key.update(f"{sys.version_info[:2]} {sysconfig.get_platform()}".encode())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vgbot-tests"
    house = cache / f"wheels-{key.hexdigest()[:16]}"
    if house.is_dir():
        return house
    cache.mkdir(parents=True, exist_ok=True)
    filling = Path(tempfile.mkdtemp(prefix="filling-", dir=cache))
    project = filling / "project"  # pip download needs the project's metadata, not the repo
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, project / name)
    shutil.copytree(repo / "bot", project / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(filling / "wheels")]
        + ["-c", str(repo / "requirements.lock"), str(project), "setuptools>=68"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(filling, ignore_errors=True)
        pytest.fail(f"could not fetch the pinned wheels (is PyPI reachable?):\n{done.stderr}")
    try:
        (filling / "wheels").rename(house)
    except OSError:
        assert house.is_dir()  # another run filled it first
    shutil.rmtree(filling, ignore_errors=True)
    for old in cache.glob("wheels-*"):
        if old != house:
            shutil.rmtree(old, ignore_errors=True)
    return house


def _python_only_path(folder: Path) -> str:
    """A PATH where `python` is this interpreter and nothing of the project's .venv shows."""
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    return f"{folder}:/usr/local/bin:/usr/bin:/bin"


@pytest.mark.slow
def test_the_images_install_steps_give_a_working_vgbot(
    tmp_path, repo_root, dockerfile, dockerignore
):
    wheels = _wheelhouse(repo_root)
    image = Replay(
        root=tmp_path / "image",
        repo=repo_root,
        ignore=dockerignore,
        env=clean_environment(os.environ, _python_only_path(tmp_path / "shim")),
    )
    image.env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    build = dockerfile.stage("build")
    assert build is not None
    image.stage(build, run=True)
    assert image.ran == [i.value for i in build.all("RUN")]

    # The runtime stage: copies and ENV only; its RUN lines add a user and need root.
    image.env = clean_environment(os.environ, _python_only_path(tmp_path / "shim2"))
    image.stage(dockerfile.final, run=False)
    image.host("/data").mkdir()
    venv = image.host("/opt/venv")

    def vgbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["vgbot", *args],
            cwd=image.host(image.workdir),
            env=image.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert shutil.which("vgbot", path=image.env["PATH"]) == str(venv / "bin" / "vgbot")
    shown = vgbot("--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: vgbot")
    checked = vgbot("content", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.rstrip().endswith(" 0 problems")

    freeze = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--exclude", "vgbot"],
        capture_output=True,
        text=True,
        check=True,
        env=image.env,
    )
    installed = dict(line.split("==") for line in freeze.stdout.split())
    # The pins for this Python: a line may carry a marker for older releases (see test_lock).
    lock = [
        Requirement(line) for line in (repo_root / "requirements.lock").read_text().splitlines()
    ]
    pins = {
        r.name: next(iter(r.specifier)).version
        for r in lock
        if r.marker is None or r.marker.evaluate()
    }
    assert installed, "nothing installed"
    assert {name: pins.get(name) for name in installed} == installed, "not the pinned versions"
    assert not DEV_ONLY & {name.lower() for name in installed}, "dev tools in the image"

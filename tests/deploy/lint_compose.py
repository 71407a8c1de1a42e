"""Our rules for deploy/compose.yaml, and its agreement with the Dockerfile."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from bot.settings import SettingsError, load_settings
from tests.deploy.dockerfile import Dockerfile
from tests.deploy.settings_names import holds_secret, unknown_settings

RESTARTS = {"always", "unless-stopped", "on-failure"}


def check_compose(data: Any, compose_dir: Path, repo: Path, dockerfile: Dockerfile) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        return ["compose file has no services: mapping"]
    services = data["services"]
    if set(services) != {"bot"}:
        return [f"expected one service, bot; found {sorted(services)}"]
    bot = services["bot"]
    problems: list[str] = []

    build = bot.get("build") or {}
    context = (compose_dir / str(build.get("context", "."))).resolve()
    if context != repo.resolve():
        problems.append(f"build.context is {context}, not the repository root")
    dockerfile_path = context / str(build.get("dockerfile", "Dockerfile"))
    if not dockerfile_path.is_file() or not dockerfile_path.samefile(repo / "deploy/Dockerfile"):
        problems.append("build.dockerfile must be deploy/Dockerfile (relative to the context)")

    env_files = bot.get("env_file")
    env_files = [env_files] if isinstance(env_files, str | dict) else env_files or []
    paths = [f["path"] if isinstance(f, dict) else f for f in env_files]
    if [os.path.normpath(compose_dir / p) for p in paths] != [str(repo / ".env")]:
        problems.append(
            f"env_file is {paths}: use the repository's .env (../.env from deploy/), the file "
            "`make run` reads and .env.example describes"
        )

    environment = bot.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    environment = {str(k): str(v) for k, v in environment.items()}
    problems += [
        f"environment: {n} is no setting of the bot" for n in unknown_settings(environment)
    ]
    problems += [
        f"environment: {name} holds a secret in the compose file: put it in .env"
        for name, value in environment.items()
        if holds_secret(name, value)
    ]
    image_env = dockerfile.final.env()
    problems += [
        f"environment: {name}={value} differs from the image's ENV ({image_env[name]})"
        for name, value in environment.items()
        if name in image_env and image_env[name] != value
    ]
    try:
        settings = load_settings(env={**image_env, **environment})
    except SettingsError as exc:
        return [*problems, f"environment: not valid settings: {exc}"]

    mounts: dict[PurePosixPath, str] = {}
    for volume in bot.get("volumes") or []:
        source, _, target = str(volume).partition(":")
        mounts[PurePosixPath(target.split(":")[0])] = source
    named = set(data.get("volumes") or {})
    db = PurePosixPath(settings.db)
    holder = next((t for t in mounts if db.is_relative_to(t)), None)
    if holder is None or mounts[holder] not in named:
        problems.append(
            f"the database {db} is not on a named volume (fix: volumes: [vgbot-data:/data] "
            "and a top-level volumes: entry)"
        )

    if bot.get("restart") not in RESTARTS:
        problems.append(f"restart: {bot.get('restart')!r}; use unless-stopped")

    check = bot.get("healthcheck") or {}
    test = check.get("test")
    if not isinstance(test, list) or test[:3] != ["CMD", "vgbot", "health"]:
        problems.append('healthcheck.test must be ["CMD", "vgbot", "health"]')

    if bot.get("read_only") is not True:
        problems.append("read_only: true is missing (the bot writes only /data and /tmp)")
    tmpfs = bot.get("tmpfs") or []
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    tmp_mounts = [PurePosixPath(str(t).split(":")[0]) for t in tmpfs]
    health = PurePosixPath(settings.health_file) if settings.health_file else None
    writable = [*tmp_mounts, *mounts]
    if health is None or not any(health.is_relative_to(w) for w in writable):
        problems.append(
            f"VGBOT_HEALTH_FILE {health} is on the read-only root: put it on the tmpfs (/tmp)"
        )
    if "ALL" not in (bot.get("cap_drop") or []):
        problems.append("cap_drop: [ALL] is missing: the bot needs no capability")
    if "no-new-privileges:true" not in (bot.get("security_opt") or []):
        problems.append("security_opt: [no-new-privileges:true] is missing")
    if "user" in bot and str(bot["user"]).partition(":")[0] in ("root", "0"):
        problems.append("user: root overrides the image's unprivileged user")
    return problems

"""A newcomer's systemd deploy, step by step as the README's "Deploy" section gives it.

systemd is not running here, so its part is played from the unit file itself: the clone goes to
a temporary /opt/vgbot, the README's own install line builds the venv there, the env file holds
the token, and the unit's ExecStart runs in its WorkingDirectory with its Environment= lines
(specifiers and /opt/vgbot moved under the temporary root) and the env file on top, as systemd
would. The "Discord" is the emulator. The check: the bot answers /episode 11, `vgbot health`
and `vgbot backup` work as the README says, and `systemctl stop`'s SIGTERM ends it cleanly.

pip installs from the deploy tests' wheelhouse (the pinned wheels, fetched once), so the run
needs no network after the first.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.sandbox.emulator import Emulator
from tests.deploy.guide import deploy_guide
from tests.deploy.systemd import environment, last, parse_unit

REPO = Path(__file__).resolve().parents[2]
OPT = "/opt/vgbot"


def readme_install_line(readme: str) -> str:
    """The lean install command the README gives for the systemd path."""
    found = re.search(r"`(python3 -m venv \.venv && [^`]+)`", readme)
    assert found, "the README's Deploy section no longer gives the lean install line"
    return found.group(1)


def shim_path(folder: Path) -> str:
    """A PATH where python3 is this interpreter and nothing of the project's .venv shows."""
    folder.mkdir()
    (folder / "python3").symlink_to(sys.executable)
    return f"{folder}:/usr/local/bin:/usr/bin:/bin"


def run(argv: list[str] | str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done


def env_file_values(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def install(root: Path) -> tuple[Path, str]:
    """Clone and install as the README says; returns the install folder and the PATH."""
    from tests.deploy.test_image_install import _wheelhouse

    wheels = _wheelhouse(REPO)
    target = root / OPT.lstrip("/")
    target.parent.mkdir(parents=True)
    run(["git", "clone", "--quiet", str(REPO), str(target)])  # what is committed, nothing else
    path = shim_path(root / "shim")
    env = {
        "PATH": path,
        "HOME": str(root),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    readme = deploy_guide(target)
    run(["/bin/sh", "-c", readme_install_line(readme)], cwd=target, env=env)
    return target, path


def unit_command(root: Path, env_file: Path) -> tuple[list[str], Path, dict[str, str]]:
    """ExecStart, WorkingDirectory and the environment systemd would give the service."""
    unit = parse_unit((root / OPT.lstrip("/") / "deploy" / "vgbot.service").read_text())

    def here(value: str) -> str:
        for spec, meaning in (("%S", "/var/lib"), ("%t", "/run"), ("%%", "%")):
            value = value.replace(spec, meaning)
        return re.sub(r"(?<![\w/])/(opt|var|run|etc)/", lambda m: f"{root}/{m.group(1)}/", value)

    exec_start = last(unit, "Service", "ExecStart")
    workdir = last(unit, "Service", "WorkingDirectory")
    env_file_line = last(unit, "Service", "EnvironmentFile")
    assert exec_start and workdir and env_file_line == "-/etc/vgbot/env"
    env = {name: here(value) for name, value in environment(unit).items()}
    # systemd: EnvironmentFile= is read after Environment=, so its values win.
    env.update(env_file_values(env_file.read_text(encoding="utf-8")))
    # StateDirectory= and RuntimeDirectory= exist before the service starts.
    for folder in (f"/var/lib/{last(unit, 'Service', 'StateDirectory')}",
                   f"/run/{last(unit, 'Service', 'RuntimeDirectory')}"):  # fmt: skip
        Path(here(folder)).mkdir(parents=True, exist_ok=True)
    return shlex.split(here(exec_start)), Path(here(workdir)), env


def start_service(
    argv: list[str], workdir: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the journal
        return subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
async def test_the_readme_systemd_path_ends_with_a_bot_answering_episode_11(tmp_path):
    root = tmp_path / "machine"
    target, path = await asyncio.to_thread(install, root)

    async with Emulator(heartbeat_interval=5.0) as emu:
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        alice = emu.add_member(guild, "alice")

        # /etc/vgbot/env, as the README has the admin write it.
        env_file = root / "etc" / "vgbot" / "env"
        env_file.parent.mkdir(parents=True)
        env_file.write_text(
            f"DISCORD_TOKEN={emu.token}\nDISCORD_API_BASE={emu.api_base}\n", encoding="utf-8"
        )
        os.chmod(env_file, 0o600)
        argv, workdir, unit_env = unit_command(root, env_file)
        assert argv == [f"{target}/.venv/bin/vgbot", "run"]
        service_env = {"PATH": path, "HOME": str(root), **unit_env}
        log = root / "journal.log"
        proc = start_service(argv, workdir, service_env, log)
        try:
            deadline = time.monotonic() + 60
            while emu.gateway.ready_sessions < 1:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no connection\n" + log.read_text()
                await asyncio.sleep(0.05)

            handle = await emu.invoke("episode", {"query": "11"}, user=alice, channel=general)
            reply = await handle.response(timeout=20)
            assert "Great Stagnation" in reply["embeds"][0]["title"]

            # The README's health and backup lines, with the unit's paths.
            vgbot = str(target / ".venv" / "bin" / "vgbot")
            tool_env = {"PATH": path, "HOME": str(root)}
            health_file = unit_env["VGBOT_HEALTH_FILE"]
            assert health_file == f"{root}/run/vgbot/health.json"
            deadline = time.monotonic() + 30
            while not await asyncio.to_thread(Path(health_file).exists):
                assert time.monotonic() < deadline, "no heartbeat\n" + log.read_text()
                await asyncio.sleep(0.05)
            health = await asyncio.to_thread(
                run, [vgbot, "health"], env={**tool_env, "VGBOT_HEALTH_FILE": health_file}
            )
            assert health.stdout.startswith("ok: last beat")
            backup = root / "root" / "vgbot-backup.sqlite3"
            backup.parent.mkdir()
            done = await asyncio.to_thread(
                run,
                [vgbot, "backup", str(backup)],
                env={**tool_env, "VGBOT_DB": unit_env["VGBOT_DB"]},
            )
            assert "integrity check ok" in done.stdout and backup.exists()
        finally:
            # `systemctl stop`: KillSignal=SIGTERM, then TimeoutStopSec=30s.
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 30)
        assert code == 0, log.read_text()
        assert "stopped" in log.read_text()
        assert emu.token not in log.read_text()

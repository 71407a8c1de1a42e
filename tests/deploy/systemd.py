"""Read a systemd unit file (repeated keys kept, as systemd does) and check ours against our
rules. configparser cannot: it refuses or merges repeated keys such as Environment=."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from bot.settings import SettingsError, load_settings
from tests.deploy.settings_names import holds_secret, unknown_settings

Unit = dict[str, list[tuple[str, str]]]


class UnitError(ValueError):
    pass


def parse_unit(text: str) -> Unit:
    unit: Unit = {}
    section: str | None = None
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("["):
            if not line.endswith("]"):
                raise UnitError(f"line {start}: section header {line!r} lacks its ']'")
            section = line[1:-1]
            unit.setdefault(section, [])
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UnitError(f"line {start}: {line!r} is not Key=value")
        if section is None:
            raise UnitError(f"line {start}: {key.strip()}= comes before any [Section]")
        unit[section].append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def last(unit: Unit, section: str, key: str) -> str | None:
    found = values(unit, section, key)
    return found[-1] if found else None


def environment(unit: Unit) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in values(unit, "Service", "Environment"):
        for word in shlex.split(line):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def expand_specifiers(value: str) -> str:
    """The specifiers we use, as a system service sees them."""
    for spec, meaning in (("%S", "/var/lib"), ("%t", "/run"), ("%%", "%")):
        value = value.replace(spec, meaning)
    return value


# Keys that must have exactly this value (the last one given wins, as in systemd).
REQUIRED = {
    "DynamicUser": "yes",
    "StateDirectory": "vgbot",
    "EnvironmentFile": "-/etc/vgbot/env",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
}


def check_unit(unit: Unit) -> list[str]:
    problems = []
    for key, want in REQUIRED.items():
        got = last(unit, "Service", key)
        if got != want:
            problems.append(f"[Service] {key}={want} is required (got {got!r})")
    for key in ("RestartSec", "TimeoutStopSec", "WorkingDirectory"):
        if not last(unit, "Service", key):
            problems.append(f"[Service] {key}= must be set")
    if "@system-service" not in values(unit, "Service", "SystemCallFilter"):
        problems.append("[Service] SystemCallFilter=@system-service is required")
    if last(unit, "Service", "User") in ("root", "0"):
        problems.append("[Service] User=root: let DynamicUser= pick an unprivileged user")

    exec_start = (last(unit, "Service", "ExecStart") or "").split()
    workdir = last(unit, "Service", "WorkingDirectory") or ""
    if exec_start[1:] != ["run"] or not exec_start[0].endswith("/.venv/bin/vgbot"):
        problems.append("ExecStart= must run the install's venv: <install>/.venv/bin/vgbot run")
    elif not exec_start[0].startswith(workdir.rstrip("/") + "/"):
        problems.append(f"ExecStart= {exec_start[0]} is not under WorkingDirectory={workdir}")

    env = environment(unit)
    problems += [f"Environment={name} is no setting of the bot" for name in unknown_settings(env)]
    problems += [
        f"Environment={name} holds a secret in a world-readable unit: put it in /etc/vgbot/env"
        for name, value in env.items()
        if holds_secret(name, value)
    ]
    state = PurePosixPath("/var/lib") / (last(unit, "Service", "StateDirectory") or "")
    runtime = PurePosixPath("/run") / (last(unit, "Service", "RuntimeDirectory") or "")
    try:
        settings = load_settings(env={k: expand_specifiers(v) for k, v in env.items()})
    except SettingsError as exc:
        return [*problems, f"Environment= lines are not valid settings: {exc}"]
    if PurePosixPath(settings.db).parent != state or env.get("VGBOT_DB", "")[:3] != "%S/":
        problems.append(
            f"VGBOT_DB={env.get('VGBOT_DB')} is not in the StateDirectory (fix: "
            "Environment=VGBOT_DB=%S/vgbot/vgbot.sqlite3)"
        )
    health = PurePosixPath(settings.health_file) if settings.health_file else None
    if health is None or not any(health.is_relative_to(d) for d in (state, runtime) if d.name):
        problems.append(
            f"VGBOT_HEALTH_FILE={health} is not in the StateDirectory or RuntimeDirectory, "
            "the only places the service can write"
        )
    for setting in ("content_dir", "prompts_dir"):
        where = PurePosixPath(getattr(settings, setting))
        if not where.is_absolute() and not workdir:
            problems.append(f"VGBOT_{setting.upper()} is relative and no WorkingDirectory= set")

    if "network-online.target" not in " ".join(values(unit, "Unit", "After")):
        problems.append("[Unit] After=network-online.target: the bot needs the network up")
    if last(unit, "Install", "WantedBy") != "multi-user.target":
        problems.append("[Install] WantedBy=multi-user.target, or enable does nothing")
    return problems

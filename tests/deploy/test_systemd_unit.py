"""deploy/vgbot.service: our rules always, and systemd's own verifier where it is installed."""

import shutil
import subprocess

import pytest

from tests.deploy.systemd import UnitError, check_unit, environment, parse_unit, values

INSTALLED_VGBOT = "/opt/vgbot/.venv/bin/vgbot"


@pytest.fixture
def unit_text(deploy_dir):
    return (deploy_dir / "vgbot.service").read_text(encoding="utf-8")


def test_the_shipped_unit_follows_every_rule(unit_text):
    assert check_unit(parse_unit(unit_text)) == []


def test_the_unit_runs_the_installed_venv_with_state_and_runtime_folders(unit_text):
    unit = parse_unit(unit_text)
    assert values(unit, "Service", "ExecStart") == [f"{INSTALLED_VGBOT} run"]
    assert values(unit, "Service", "WorkingDirectory") == ["/opt/vgbot"]
    env = environment(unit)
    assert env["VGBOT_DB"] == "%S/vgbot/vgbot.sqlite3"
    assert env["VGBOT_HEALTH_FILE"] == "%t/vgbot/health.json"
    assert values(unit, "Service", "RuntimeDirectory") == ["vgbot"]
    # A settings error exits 2: restarting cannot fix it, so systemd should not loop on it.
    assert values(unit, "Service", "RestartPreventExitStatus") == ["2"]


BREAKAGES = [
    ("DynamicUser=yes\n", "", "DynamicUser=yes is required"),
    ("ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem=strict is required"),
    ("ProtectHome=yes", "ProtectHome=read-only", "ProtectHome=yes is required"),
    ("PrivateTmp=yes\n", "", "PrivateTmp=yes is required"),
    ("PrivateDevices=yes", "PrivateDevices=no", "PrivateDevices=yes is required"),
    ("ProtectKernelTunables=yes\n", "", "ProtectKernelTunables=yes is required"),
    ("ProtectKernelModules=yes\n", "", "ProtectKernelModules=yes is required"),
    ("ProtectKernelLogs=yes\n", "", "ProtectKernelLogs=yes is required"),
    ("NoNewPrivileges=yes", "NoNewPrivileges=no", "NoNewPrivileges=yes is required"),
    ("LockPersonality=yes\n", "", "LockPersonality=yes is required"),
    ("MemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=no", "MemoryDenyWriteExecute=yes"),
    ("AF_INET AF_INET6 AF_UNIX", "AF_INET AF_INET6 AF_UNIX AF_NETLINK", "RestrictAddressFamilies"),
    ("SystemCallFilter=@system-service\n", "", "SystemCallFilter=@system-service is required"),
    ("CapabilityBoundingSet=\n", "", "CapabilityBoundingSet= is required"),
    ("Restart=on-failure", "Restart=always", "Restart=on-failure is required"),
    ("RestartSec=10s\n", "", "RestartSec= must be set"),
    ("KillSignal=SIGTERM", "KillSignal=SIGKILL", "KillSignal=SIGTERM is required"),
    ("TimeoutStopSec=30s\n", "", "TimeoutStopSec= must be set"),
    ("EnvironmentFile=-/etc/vgbot/env", "EnvironmentFile=/etc/vgbot/env", "EnvironmentFile=-"),
    ("StateDirectory=vgbot\n", "StateDirectory=bot\n", "StateDirectory=vgbot is required"),
    ("DynamicUser=yes\n", "DynamicUser=yes\nUser=root\n", "User=root"),
    ("ExecStart=/opt/vgbot/.venv/bin/vgbot run", "ExecStart=/usr/bin/vgbot run",
     "must run the install's venv"),
    ("ExecStart=/opt/vgbot/.venv/bin/vgbot run", "ExecStart=/opt/vgbot/.venv/bin/vgbot sandbox",
     "must run the install's venv"),
    ("WorkingDirectory=/opt/vgbot", "WorkingDirectory=/srv/vgbot", "is not under WorkingDirectory"),
    ("VGBOT_DB=%S/vgbot/vgbot.sqlite3", "VGBOT_DB=/opt/vgbot/data/vgbot.sqlite3",
     "is not in the StateDirectory"),
    ("VGBOT_HEALTH_FILE=%t/vgbot/health.json", "VGBOT_HEALTH_FILE=/opt/vgbot/health.json",
     "is not in the StateDirectory or RuntimeDirectory"),
    ("VGBOT_DB=", "VGBOT_DATABASE=", "Environment=VGBOT_DATABASE is no setting"),
    ("Environment=PYTHONUNBUFFERED=1", "Environment=DISCORD_TOKEN=abc",
     "Environment=DISCORD_TOKEN holds a secret"),
    ("Environment=PYTHONUNBUFFERED=1", "Environment=VGBOT_COOLDOWN_RATE=five",
     "not valid settings: setting 'cooldown_rate' must be a whole number"),
    ("After=network-online.target", "After=network.target", "After=network-online.target"),
    ("WantedBy=multi-user.target", "WantedBy=default.target", "WantedBy=multi-user.target"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "problem"), BREAKAGES)
def test_each_rule_catches_its_breakage(unit_text, old, new, problem):
    assert old in unit_text
    problems = check_unit(parse_unit(unit_text.replace(old, new, 1)))
    assert any(problem in p for p in problems), problems


def test_the_reader_keeps_repeated_keys_and_joins_continuations():
    unit = parse_unit('# c\n[Service]\n; c\nEnvironment=A=1\nEnvironment="B=two words" \\\n  C=3\n')
    assert values(unit, "Service", "Environment") == ["A=1", '"B=two words"  C=3']
    assert environment(unit) == {"A": "1", "B": "two words", "C": "3"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Key=1\n", "comes before any"),
        ("[Service\n", "lacks its ']'"),
        ("[Service]\njust words\n", "is not Key=value"),
    ],
)
def test_the_reader_refuses_what_is_not_a_unit(text, message):
    with pytest.raises(UnitError, match=message):
        parse_unit(text)


def test_systemd_itself_accepts_the_unit_where_systemd_analyze_exists(unit_text, tmp_path):
    """`systemd-analyze verify` and `security --offline`; our own rules run in any case."""
    assert check_unit(parse_unit(unit_text)) == []
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # a machine without systemd: the rules above are what can be checked
    # verify insists that ExecStart= exists: point it at a stand-in, keep every other line.
    stand_in = tmp_path / "vgbot"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "vgbot.service"
    unit.write_text(unit_text.replace(INSTALLED_VGBOT, str(stand_in)))

    verify = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # systemd reports bad values and unknown keys on stderr, yet exits 0: both must be clean.
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")

    # Exposure 0.0 (locked down) .. 10.0 (exposed); "OK" is below 2.0. Threshold is in tenths.
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", "--threshold=15", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr

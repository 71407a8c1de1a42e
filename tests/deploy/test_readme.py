"""The README's Deploy section names only things that exist, and .env.example, where it sends
readers for the settings, holds them all."""

import inspect
import re
from dataclasses import fields
from pathlib import Path

import discord

from bot.chat import poster
from bot.settings import Settings, load_settings
from tests.deploy.guide import deploy_guide
from tests.deploy.settings_names import unknown_settings


def test_every_deploy_file_the_guide_names_exists(repo_root):
    text = deploy_guide(repo_root)
    named = set(re.findall(r"\bdeploy/[\w.-]+", text))
    assert named >= {"deploy/Dockerfile", "deploy/compose.yaml", "deploy/vgbot.service"}
    assert [n for n in sorted(named) if not (repo_root / n).is_file()] == []


def test_every_setting_the_guide_names_is_one_the_bot_reads(repo_root):
    text = deploy_guide(repo_root)
    names = set(re.findall(r"\b(?:VGBOT|DISCORD)_[A-Z_]+[A-Z]", text))
    assert "VGBOT_DB" in names
    assert unknown_settings(names) == []


def test_plain_make_builds_the_venv_the_unit_runs(repo_root):
    """The guide says `cd /opt/vgbot && make`: make's first target must be the venv install."""
    makefile = (repo_root / "Makefile").read_text(encoding="utf-8")
    first_rule = re.search(r"^([^\s.#][^:=\n]*):(?!=)", makefile, re.MULTILINE)
    assert first_rule is not None
    assert first_rule.group(1).strip() == "$(STAMP)"
    assert "STAMP := $(VENV)/.installed" in makefile
    assert "VENV ?= .venv" in makefile


def _env_example(repo_root: Path) -> dict[str, str]:
    """NAME: value for each `NAME=value` line of .env.example, commented out or not."""
    text = (repo_root / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^#? ?((?:VGBOT|DISCORD)_[A-Z_]+)=(.*)$", text, re.MULTILINE))


def test_env_example_names_every_setting_with_its_default(repo_root):
    """The README sends readers to .env.example for the settings: VGBOT_FEED_URL, the one a
    release watcher needs, was missing from it, as were six others."""
    shown = _env_example(repo_root)
    assert unknown_settings(shown) == []
    defaults = Settings()
    missing = []
    for f in fields(Settings):
        if f.name == "clock_offset_file":
            continue  # for the sandbox and tests only
        # DISCORD_TOKEN, DISCORD_API_BASE and DISCORD_GATEWAY_URL stand for their VGBOT_ names.
        names = [n for n in (f"DISCORD_{f.name.upper()}", f"VGBOT_{f.name.upper()}") if n in shown]
        if not names:
            missing.append(f"VGBOT_{f.name.upper()}")
            continue
        default = getattr(defaults, f.name)
        if default in (None, ""):
            continue  # no default: the value shown is an example
        read = getattr(load_settings(env={names[0]: shown[names[0]]}), f.name)
        assert read == default, f"{names[0]}={shown[names[0]]} in .env.example, default {default!r}"
    assert missing == []


def test_the_invite_asks_for_the_permissions_it_names_and_those_the_bot_checks(repo_root):
    """The README's invite: the permissions integer and the URL are the named permissions, and
    these hold every one the bot checks before it posts (bot/chat/poster.py) and Embed Links."""
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("## Running on real Discord") :]
    m = re.search(r"these permissions:\s*(.+?) \(permissions integer `(\d+)`\)", setup, re.DOTALL)
    assert m is not None
    named = [n.strip() for n in " ".join(m[1].split()).split(",")]
    flags = {n: n.lower().replace(" ", "_").replace("view_channels", "view_channel") for n in named}
    perms = discord.Permissions(**dict.fromkeys(flags.values(), True))
    assert int(m[2]) == perms.value
    assert f"scope=bot%20applications.commands&permissions={perms.value}`" in setup
    checked = set(re.findall(r'\("([A-Z][\w ]+)", perms\.', inspect.getsource(poster)))
    asked = {n.removesuffix("s") if n == "View Channels" else n for n in named}
    assert checked - asked == set()
    assert "Embed Links" in asked  # the embeds /episode and /topic answer with


def test_the_guide_s_docker_run_stops_as_compose_does(repo_root, deploy_dir):
    """`docker stop` on the guide's `docker run` container waited Docker's default 10 s, not
    the 30 s compose.yaml (stop_grace_period) and the unit (TimeoutStopSec) give the bot."""
    text = deploy_guide(repo_root)
    run = re.search(r"^docker run -d .*?^  vgbot$", text, re.MULTILINE | re.DOTALL)
    assert run is not None
    compose = (deploy_dir / "compose.yaml").read_text(encoding="utf-8")
    grace = re.search(r"stop_grace_period: (\d+)s", compose)
    assert grace is not None
    assert f"--stop-timeout {grace[1]}" in run[0]
    for flag in ("--read-only", "--tmpfs /tmp", "--cap-drop ALL", "no-new-privileges:true"):
        assert flag in run[0]

"""The README's Deploy section names only things that exist."""

import re

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

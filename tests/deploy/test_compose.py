"""deploy/compose.yaml: loaded as YAML and held to our rules and to the Dockerfile."""

import pytest
import yaml

from tests.deploy.lint_compose import check_compose


@pytest.fixture
def compose_text(deploy_dir):
    return (deploy_dir / "compose.yaml").read_text(encoding="utf-8")


def check(text, deploy_dir, repo_root, dockerfile):
    return check_compose(yaml.safe_load(text), deploy_dir, repo_root, dockerfile)


def test_the_shipped_compose_file_follows_every_rule(
    compose_text, deploy_dir, repo_root, dockerfile
):
    assert check(compose_text, deploy_dir, repo_root, dockerfile) == []


def test_one_bot_service_with_its_data_volume_env_file_and_healthcheck(compose_text):
    data = yaml.safe_load(compose_text)
    bot = data["services"]["bot"]
    assert bot["volumes"] == ["vgbot-data:/data"]
    assert "vgbot-data" in data["volumes"]
    assert bot["env_file"] == "../.env"
    assert bot["restart"] == "unless-stopped"
    assert bot["healthcheck"]["test"] == ["CMD", "vgbot", "health"]
    assert bot["read_only"] is True
    assert bot["tmpfs"][0].startswith("/tmp:")


BREAKAGES = [
    ("  bot:\n", "  vgbot:\n", "expected one service, bot"),
    ("context: ..", "context: .", "not the repository root"),
    ("dockerfile: deploy/Dockerfile", "dockerfile: Dockerfile", "build.dockerfile must be"),
    ("env_file: ../.env", "env_file: .env", "use the repository's .env"),
    ("env_file: ../.env", "env_file: []", "use the repository's .env"),
    ("- vgbot-data:/data", "- ./data:/data", "is not on a named volume"),
    ("- vgbot-data:/data", "- vgbot-data:/srv", "is not on a named volume"),
    ("VGBOT_DB: /data/vgbot.sqlite3", "VGBOT_DB: /tmp/vgbot.sqlite3", "differs from the image's"),
    ("VGBOT_HEALTH_FILE: /tmp/vgbot-health.json", "VGBOT_HEALTH_FILE: /app/h.json",
     "on the read-only root"),
    ("VGBOT_DB:", "VGBOT_DATA:", "VGBOT_DATA is no setting"),
    ("VGBOT_DB:", "DISCORD_TOKEN: abc\n      VGBOT_DB:", "DISCORD_TOKEN holds a secret"),
    ("VGBOT_DB:", "VGBOT_COOLDOWN_PER: soon\n      VGBOT_DB:", "not valid settings"),
    ("restart: unless-stopped", "restart: \"no\"", "restart: 'no'"),
    ('test: ["CMD", "vgbot", "health"]', 'test: ["CMD", "true"]', "healthcheck.test must be"),
    ("read_only: true", "read_only: false", "read_only: true is missing"),
    ("- /tmp:size=16m,mode=1777", "- /run:size=16m", "on the read-only root"),
    ("      - ALL\n", "      - NET_RAW\n", "cap_drop: [ALL]"),
    ("- no-new-privileges:true", "- seccomp:unconfined", "no-new-privileges"),
    ("    read_only: true", "    user: root\n    read_only: true", "user: root overrides"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "problem"), BREAKAGES)
def test_each_rule_catches_its_breakage(
    compose_text, deploy_dir, repo_root, dockerfile, old, new, problem
):
    assert old in compose_text
    problems = check(compose_text.replace(old, new, 1), deploy_dir, repo_root, dockerfile)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("text", ["", "services: []", "- a list"])
def test_a_file_without_services_says_so(text, deploy_dir, repo_root, dockerfile):
    assert check(text, deploy_dir, repo_root, dockerfile) == [
        "compose file has no services: mapping"
    ]


def test_the_env_file_with_the_token_stays_out_of_git_and_the_image(repo_root, dockerignore):
    assert ".env" in (repo_root / ".gitignore").read_text().split()
    assert dockerignore.excluded(".env")

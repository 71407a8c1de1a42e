"""deploy/Dockerfile and its .dockerignore, checked without a Docker engine."""

import pytest

from tests.deploy.dockerfile import DockerfileError, DockerIgnore, expand, parse_dockerfile
from tests.deploy.lint_docker import lint_dockerfile


def lint(text, repo_root, dockerignore):
    return lint_dockerfile(parse_dockerfile(text), text, repo_root, dockerignore)


def test_the_shipped_dockerfile_follows_every_rule(dockerfile_text, repo_root, dockerignore):
    assert lint(dockerfile_text, repo_root, dockerignore) == []


def test_two_stages_from_slim_python_311_and_the_venv_carried_over(dockerfile):
    assert [s.name for s in dockerfile.stages] == ["build", "runtime"]
    assert {s.base for s in dockerfile.stages} == {"python:3.11-slim-bookworm"}
    copy_venv = [i.value for i in dockerfile.final.all("COPY") if "--from=" in i.value]
    assert copy_venv == ["--from=build /opt/venv /opt/venv"]
    assert dockerfile.final.env()["PATH"].startswith("/opt/venv/bin:")


# Built here, not written out, so no secret scanner mistakes this file for a leak.
FAKE_TOKEN = ".".join(("M" * 24, "G" * 6, "x" * 27))

# Each edit breaks one rule; the lint must name it. `old` must be in the shipped file, so an
# edit of the Dockerfile that makes a case vacuous fails here instead of passing quietly.
BREAKAGES = [
    ("ARG PYTHON_IMAGE=python:3.11-slim-bookworm", "ARG PYTHON_IMAGE=python:3.11",
     "is not a slim Python 3.11 image"),
    ("ARG PYTHON_IMAGE=python:3.11-slim-bookworm", "ARG PYTHON_IMAGE=python:3.12-slim",
     "is not a slim Python 3.11 image"),
    ("USER 10001:10001\n", "", "no USER before CMD"),
    ("USER 10001:10001\n", "USER root\n", "the bot runs as root"),
    ("USER 10001:10001\n", "USER 0:0\n", "the bot runs as root"),
    ('CMD ["vgbot", "run"]', "CMD vgbot run", 'CMD ["vgbot", "run"] (exec form)'),
    ('CMD ["vgbot", "run"]', 'ENTRYPOINT ["vgbot"]\nCMD ["run"]', "ENTRYPOINT is set"),
    ('    CMD ["vgbot", "health"]', '    CMD ["true"]', 'must run CMD ["vgbot", "health"]'),
    ('    CMD ["vgbot", "health"]', "    CMD vgbot health", 'must run CMD ["vgbot", "health"]'),
    ("--interval=30s ", "", "needs --interval"),
    ("VOLUME /data\n", "", "no VOLUME /data"),
    ("VGBOT_DB=/data/vgbot.sqlite3", "VGBOT_DB=/app/data/vgbot.sqlite3",
     "not on the /data volume"),
    ("VGBOT_HEALTH_FILE=/tmp/vgbot-health.json", "VGBOT_HEALTH_FILE=/app/health.json",
     "set it under /tmp or /data"),
    ("VGBOT_CONTENT_DIR=/app/content", "VGBOT_CONTENT_DIR=/app/contents",
     "where the image has no copy of content/"),
    ("COPY prompts ./prompts", "COPY prompts ./templates",
     "where the image has no copy of prompts/"),
    ("VGBOT_DB=/data/vgbot.sqlite3", "VGBOT_DATABASE=/data/vgbot.sqlite3",
     "ENV VGBOT_DATABASE is no setting of the bot"),
    ("PIP_NO_CACHE_DIR=1", "PIP_NO_CACHE_DIR=1 DISCORD_TOKEN=abc", "DISCORD_TOKEN holds a secret"),
    ("PIP_NO_CACHE_DIR=1", "PIP_NO_CACHE_DIR=1 VGBOT_TOKEN=abc", "VGBOT_TOKEN holds a secret"),
    ("ENV VIRTUAL_ENV", "ARG API_KEY=xyz\nENV VIRTUAL_ENV", "ARG API_KEY holds a secret"),
    ("STOPSIGNAL", f"LABEL note={FAKE_TOKEN}\nSTOPSIGNAL", "shaped like a Discord token"),
    ("COPY bot ./bot", "COPY bot ./bot\nADD https://example.org/x.tgz /x",
     "ADD fetches from the network"),
    ("COPY bot ./bot", "COPY bots ./bot", "source bots is not in the repository"),
    ("COPY bot ./bot", "COPY tests ./tests", "tests is left out by .dockerignore"),
    ("COPY bot ./bot", "COPY . .", "could carry .env"),
    ("COPY bot ./bot", "COPY .env ./", "could carry .env"),
    ("COPY --from=build", "COPY --from=builder", "names no earlier stage"),
    ("-c requirements.lock .", ".", "without the pinned versions"),
    ("-c requirements.lock .", "-c requirements.lock '.[dev]'", "without the dev extras"),
    ("-c requirements.lock .", "-c requirements.lock -e .", "not editable"),
    ("COPY pyproject.toml requirements.lock README.md", "COPY pyproject.toml README.md",
     "requirements.lock is not copied into this stage"),
    ('"$VIRTUAL_ENV" \\\n    && "$VIRTUAL_ENV/bin/python" -m pip install -c requirements.lock .',
     '"$VIRTUAL_ENV"', "no RUN line installs"),
    ("COPY --from=build /opt/venv /opt/venv",
     "COPY --from=build /opt/venv /opt/venv\nRUN pip install -c requirements.lock rich",
     "pip install in the final stage"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "problem"), BREAKAGES)
def test_each_rule_catches_its_breakage(
    dockerfile_text, repo_root, dockerignore, old, new, problem
):
    assert old in dockerfile_text
    problems = lint(dockerfile_text.replace(old, new, 1), repo_root, dockerignore)
    assert any(problem in p for p in problems), problems


def test_a_user_set_after_cmd_does_not_count(dockerfile_text, repo_root, dockerignore):
    moved = dockerfile_text.replace("USER 10001:10001\n", "") + "USER 10001:10001\n"
    assert moved != dockerfile_text
    assert "no USER before CMD" in " ".join(lint(moved, repo_root, dockerignore))


def test_the_lint_problems_say_where_and_how_to_fix(dockerfile_text, repo_root, dockerignore):
    broken = dockerfile_text.replace("COPY bot ./bot", "COPY bots ./bot")
    (problem,) = lint(broken, repo_root, dockerignore)
    line = broken.splitlines().index("COPY bots ./bot") + 1
    assert problem.startswith(f"line {line}: COPY source bots is not in the repository (fix: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN true", "RUN before the first FROM"),
        ("FROM x\nFETCH y", "unknown instruction 'FETCH'"),
        ("FROM x\nRUN a \\", "ends with a backslash"),
        ("# escape=`\nFROM x", "escape directive is not supported"),
        ("FROM x\nRUN <<EOF\nhi\nEOF", "heredocs are not supported"),
        ("# only a comment", "no FROM"),
    ],
)
def test_the_reader_refuses_what_it_does_not_understand(text, message):
    with pytest.raises(DockerfileError, match=message):
        parse_dockerfile(text)


def test_the_reader_joins_continuations_and_skips_comments_inside_them():
    df = parse_dockerfile("FROM a AS b\nRUN one \\\n# a comment\n    && two\nENV K v w\n")
    (run,) = df.final.all("RUN")
    assert (run.value, run.line) == ("one && two", 2)
    assert df.final.env() == {"K": "v w"}


def test_env_expands_like_docker():
    df = parse_dockerfile("FROM a\nENV A=1 B=x\nENV A=2 C=$A-${B}-${NOPE:-d}\n")
    assert df.final.env({"B": "ignored"}) == {"A": "2", "B": "x", "C": "1-x-d"}
    assert expand("$UNSET/bin", {}) == "/bin"


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        (".env", True),
        (".venv/bin/python", True),
        ("data/vgbot.sqlite3", True),
        (".git/config", True),
        ("tests/test_health.py", True),
        ("build/lib/bot/cli.py", True),
        ("vgbot.egg-info/PKG-INFO", True),
        ("bot/__pycache__/cli.cpython-311.pyc", True),
        ("bot/core/models.pyc", True),
        ("bot/cli.py", False),
        ("bot/core/models.py", False),
        ("content/topics.yaml", False),
        ("prompts/weekly/question.j2", False),
        ("pyproject.toml", False),
        ("requirements.lock", False),
        ("README.md", False),
    ],
)
def test_the_dockerignore_sends_only_what_the_image_needs(dockerignore, path, excluded):
    assert dockerignore.excluded(path) is excluded


def test_dockerignore_rules_last_match_wins_and_folders_cover_their_files():
    ignore = DockerIgnore("# comment\n\n*\n!keep/\nkeep/**/secret?.txt\n/top.txt\n")
    assert ignore.excluded("other/file")
    assert not ignore.excluded("keep/a/b.txt")
    assert ignore.excluded("keep/a/b/secret1.txt")
    assert not ignore.excluded("keep/a/b/secret10.txt")  # ? is one character
    assert DockerIgnore("/top.txt").excluded("top.txt")
    assert not DockerIgnore("*.txt").excluded("sub/a.txt")  # * stays in one segment


def test_the_ignore_file_is_the_one_every_builder_reads(repo_root, deploy_dir):
    """The legacy builder (what `docker build` is on Debian's docker.io, or without buildx)
    reads only .dockerignore at the context root; beside it, a Dockerfile.dockerignore would
    win under BuildKit, so two files could disagree. One file at the root serves both."""
    assert (repo_root / ".dockerignore").is_file()
    assert not (deploy_dir / "Dockerfile.dockerignore").exists()

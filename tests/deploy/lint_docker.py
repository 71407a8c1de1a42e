"""Our rules for deploy/Dockerfile: each problem names the line and how to fix it."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path, PurePosixPath

from bot.logs import RedactToken
from bot.settings import SettingsError, load_settings
from tests.deploy.dockerfile import Dockerfile, DockerIgnore, Stage, context_files, env_pairs
from tests.deploy.settings_names import holds_secret, unknown_settings

SLIM_PYTHON_311 = re.compile(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?")
REMOTE = re.compile(r"(https?|git|ssh)://|git@", re.IGNORECASE)
# Where a container with a read-only root can still write.
WRITABLE = (PurePosixPath("/data"), PurePosixPath("/tmp"))


def lint_dockerfile(df: Dockerfile, text: str, repo: Path, ignore: DockerIgnore) -> list[str]:
    problems: list[str] = []
    problems += _bases(df)
    problems += _secrets(df, text)
    problems += _copies(df, repo, ignore)
    problems += _installs(df)
    problems += _final_stage(df.final)
    return problems


def _bases(df: Dockerfile) -> list[str]:
    return [
        f"line {s.line}: base image {s.base!r} is not a slim Python 3.11 image "
        "(fix: FROM python:3.11-slim-bookworm)"
        for s in df.stages
        if not SLIM_PYTHON_311.fullmatch(s.base)
    ]


def _secrets(df: Dockerfile, text: str) -> list[str]:
    problems = []
    for name, value in df.global_args.items():
        if holds_secret(name, value):
            problems.append(f"ARG {name} has a value: secrets go in at run time, not the image")
    for stage in df.stages:
        for instr in stage.all("ENV") + stage.all("ARG"):
            pairs = (
                env_pairs(instr) if instr.keyword == "ENV" else [instr.value.partition("=")[::2]]
            )
            problems += [
                f"line {instr.line}: {instr.keyword} {name} holds a secret in the image "
                "(fix: pass it at run time, e.g. env_file or VGBOT_TOKEN_FILE)"
                for name, value in pairs
                if holds_secret(name, value)
            ]
    if RedactToken().redact(text) != text:
        problems.append("something shaped like a Discord token is in the Dockerfile: remove it")
    return problems


def _copies(df: Dockerfile, repo: Path, ignore: DockerIgnore) -> list[str]:
    problems = []
    names = [s.name for s in df.stages]
    for index, stage in enumerate(df.stages):
        for instr in stage.all("ADD"):
            if REMOTE.search(instr.value):
                problems.append(
                    f"line {instr.line}: ADD fetches from the network, unpinned and unchecked "
                    "(fix: COPY from the repository)"
                )
        for instr in stage.all("COPY") + stage.all("ADD"):
            flags, words = instr.flags_and_args()
            if "from" in flags:
                if flags["from"] not in names[:index]:
                    problems.append(
                        f"line {instr.line}: COPY --from={flags['from']} names no earlier stage"
                    )
                continue
            for source in words[:-1]:
                if source in (".", "./") or ".env" in PurePosixPath(source).parts:
                    problems.append(
                        f"line {instr.line}: {instr.keyword} {source} could carry .env or the "
                        "venv into the image (fix: copy named paths)"
                    )
                elif not (repo / source).exists():
                    problems.append(
                        f"line {instr.line}: {instr.keyword} source {source} is not in the "
                        "repository (fix: the path is relative to the repository root)"
                    )
                elif not context_files(repo, source, ignore):
                    problems.append(
                        f"line {instr.line}: {instr.keyword} source {source} is left out by "
                        f".dockerignore (fix: add !{source} there)"
                    )
    return problems


def _installs(df: Dockerfile) -> list[str]:
    problems = []
    installs = []
    for stage in df.stages:
        copied = {w for i in stage.all("COPY") for w in i.flags_and_args()[1][:-1]}
        for instr in stage.all("RUN"):
            for command in re.split(r"&&|;|\|\|", instr.value):
                if not re.search(r"\bpip3?(\"|')?\s+install\b", command):
                    continue
                installs.append(instr)
                words = command.split()
                if stage is df.final:
                    problems.append(
                        f"line {instr.line}: pip install in the final stage: install in the "
                        "build stage (whose RUN lines the install test runs) and COPY the venv"
                    )
                if not re.search(r"(-c|--constraint)(\s+|=)requirements\.lock\b", command):
                    problems.append(
                        f"line {instr.line}: pip install without the pinned versions "
                        "(fix: add -c requirements.lock)"
                    )
                elif "requirements.lock" not in copied:
                    problems.append(
                        f"line {instr.line}: requirements.lock is not copied into this stage"
                    )
                if {"-e", "--editable"} & set(words) or "[dev]" in command:
                    problems.append(
                        f"line {instr.line}: install the app itself, not editable and without "
                        "the dev extras (fix: pip install -c requirements.lock .)"
                    )
    if not installs:
        problems.append("no RUN line installs the app with pip")
    return problems


def _final_stage(final: Stage) -> list[str]:
    problems = []
    order = [i.keyword for i in final.instructions]
    cmds = final.all("CMD")
    if not cmds or cmds[-1].exec_form() != ["vgbot", "run"]:
        problems.append('the final stage must end with CMD ["vgbot", "run"] (exec form)')
    users = final.all("USER")
    last_cmd = len(order) - 1 - order[::-1].index("CMD") if "CMD" in order else len(order)
    before_cmd = [u for u in users if final.instructions.index(u) < last_cmd]
    if not before_cmd:
        problems.append("no USER before CMD: the bot would run as root (fix: USER 10001:10001)")
    elif before_cmd[-1].value.partition(":")[0] in ("root", "0"):
        problems.append(f"line {before_cmd[-1].line}: the bot runs as root (fix: a non-root USER)")
    if "ENTRYPOINT" in order:
        problems.append("ENTRYPOINT is set: keep CMD alone so `docker run IMAGE vgbot ...` works")

    checks = final.all("HEALTHCHECK")
    if not checks:
        problems.append('no HEALTHCHECK (fix: HEALTHCHECK CMD ["vgbot", "health"])')
    else:
        flags, words = checks[-1].flags_and_args()
        command = _json_list(checks[-1].value.partition("CMD")[2].strip())
        if not words or words[0] != "CMD" or command[:2] != ["vgbot", "health"]:
            problems.append(
                f'line {checks[-1].line}: HEALTHCHECK must run CMD ["vgbot", "health"] in exec form'
            )
        if "interval" not in flags or "start-period" not in flags:
            problems.append(
                f"line {checks[-1].line}: HEALTHCHECK needs --interval and --start-period"
            )

    volumes = {
        v for instr in final.all("VOLUME") for v in (instr.exec_form() or instr.value.split())
    }
    if "/data" not in volumes:
        problems.append("no VOLUME /data: the database would live in the container's layer")

    env = final.env()
    problems += [
        f"ENV {name} is no setting of the bot (known: see bot/settings.py)"
        for name in unknown_settings(env)
    ]
    try:
        settings = load_settings(env=env)
    except SettingsError as exc:
        return [*problems, f"the final stage's ENV is not valid settings: {exc}"]
    db = PurePosixPath(settings.db)
    if not db.is_relative_to("/data"):
        problems.append(f"VGBOT_DB is {db}, not on the /data volume (fix: /data/vgbot.sqlite3)")
    health = PurePosixPath(settings.health_file) if settings.health_file else None
    if health is None or not any(health.is_relative_to(w) for w in WRITABLE):
        problems.append(
            f"VGBOT_HEALTH_FILE is {health}: set it under /tmp or /data, the only places a "
            "read-only container can write"
        )
    copied = _copy_destinations(final)
    for setting, source in (("content_dir", "content"), ("prompts_dir", "prompts")):
        where = _absolute(str(getattr(settings, setting)), _workdir_at_end(final))
        if copied.get(where) != source:
            problems.append(
                f"VGBOT_{setting.upper()} is {where}, where the image has no copy of {source}/ "
                f"(fix: COPY {source} there)"
            )
    return problems


def _json_list(text: str) -> list[str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return []
    return [str(p) for p in parsed] if isinstance(parsed, list) else []


def _absolute(path: str, workdir: str) -> str:
    return posixpath.normpath(posixpath.join(workdir, path))


def _workdir_at_end(stage: Stage) -> str:
    workdir = "/"
    for instr in stage.all("WORKDIR"):
        workdir = _absolute(instr.value, workdir)
    return workdir


def _copy_destinations(stage: Stage) -> dict[str, str]:
    """Absolute destination -> source, for single-source COPYs from the build context."""
    out: dict[str, str] = {}
    workdir = "/"
    for instr in stage.instructions:
        if instr.keyword == "WORKDIR":
            workdir = _absolute(instr.value, workdir)
        elif instr.keyword == "COPY":
            flags, words = instr.flags_and_args()
            if "from" not in flags and len(words) == 2:
                out[_absolute(words[1], workdir)] = words[0].rstrip("/")
    return out

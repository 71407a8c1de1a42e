"""A small Dockerfile reader and a .dockerignore matcher, enough for our own deploy files.

Not a general parser: it reads the subset we write (no `# escape=` directive, no heredocs) and
says so when it meets something else, so a change outside the subset fails loudly.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

KEYWORDS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    value: str  # the rest of the instruction, continuation lines joined
    line: int  # where it starts, 1-based

    def exec_form(self) -> list[str] | None:
        """The JSON array form (["vgbot", "run"]), or None for the shell form."""
        if not self.value.startswith("["):
            return None
        try:
            parsed = json.loads(self.value)
        except ValueError:
            return None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return parsed
        return None

    def flags_and_args(self) -> tuple[dict[str, str], list[str]]:
        """Leading --name=value flags (COPY --from=build, HEALTHCHECK --interval=30s) and the
        remaining words."""
        words = self.value.split()
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            name, _, val = words.pop(0)[2:].partition("=")
            flags[name] = val
        return flags, words


@dataclass(frozen=True)
class Stage:
    base: str  # after substituting global ARGs
    name: str | None
    line: int
    instructions: tuple[Instruction, ...] = ()

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self, initial: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment after the stage's ENV instructions, `$VAR` expanded as Docker does."""
        env = dict(initial or {})
        for instr in self.all("ENV"):
            # Within one ENV instruction, $VAR means the value from before it, as in Docker.
            before = dict(env)
            env.update((key, expand(value, before)) for key, value in env_pairs(instr))
        return env


@dataclass(frozen=True)
class Dockerfile:
    global_args: dict[str, str]
    stages: tuple[Stage, ...] = field(default=())

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


_VAR = re.compile(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))")


def expand(text: str, env: Mapping[str, str]) -> str:
    """$VAR, ${VAR} and ${VAR:-default}; an unset variable is empty, as in Docker."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        value = env.get(name, "")
        if not value and m.group(2) is not None:
            return m.group(2)
        return value

    return _VAR.sub(one, text)


def env_pairs(instr: Instruction) -> list[tuple[str, str]]:
    words = shlex.split(instr.value)
    if words and "=" not in words[0]:  # the legacy `ENV KEY value with spaces` form
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise DockerfileError(f"line {instr.line}: ENV word {word!r} is not KEY=value")
        pairs.append((key, value))
    return pairs


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            if stripped.startswith("# escape="):
                raise DockerfileError(f"line {number}: the escape directive is not supported")
            continue  # Docker drops comment lines, even inside a continuation
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        out.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        raise DockerfileError(f"line {start}: the last instruction ends with a backslash")
    return out


def parse_dockerfile(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    current: list[Instruction] = []
    for number, line in logical_lines(text):
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword not in KEYWORDS:
            raise DockerfileError(f"line {number}: unknown instruction {keyword!r}")
        if "<<" in value and keyword in ("RUN", "COPY"):
            raise DockerfileError(f"line {number}: heredocs are not supported by this reader")
        instr = Instruction(keyword, value.strip(), number)
        if keyword == "FROM":
            if stages:
                stages[-1] = _with(stages[-1], current)
            flags, words = instr.flags_and_args()
            base = expand(words[0], global_args) if words else ""
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name, line=number))
            current = []
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {number}: {keyword} before the first FROM")
            arg, _, default = instr.value.partition("=")
            global_args[arg.strip()] = default.strip()
        else:
            current.append(instr)
    if not stages:
        raise DockerfileError("no FROM instruction")
    stages[-1] = _with(stages[-1], current)
    return Dockerfile(global_args=global_args, stages=tuple(stages))


def _with(stage: Stage, instructions: list[Instruction]) -> Stage:
    return Stage(stage.base, stage.name, stage.line, tuple(instructions))


# ---- .dockerignore ----


class DockerIgnore:
    """Docker's rules: the last matching pattern wins, a pattern that matches a folder
    matches everything in it, `!` re-includes, `*` stays within one path segment, `**` does not.
    """

    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:].strip() if include else line
            pattern = pattern.strip("/")
            if pattern:
                self.patterns.append((include, re.compile(_glob_to_regex(pattern))))

    def excluded(self, relative: str) -> bool:
        parts = Path(relative).parts
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for include, regex in self.patterns:
            if any(regex.fullmatch(c) for c in candidates):
                verdict = not include
        return verdict


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(pattern[i : end + 1])
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def context_files(repo: Path, source: str, ignore: DockerIgnore) -> list[Path]:
    """The files a COPY of `source` (relative to the build context) sends, after .dockerignore."""
    root = repo / source
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [p for p in files if not ignore.excluded(p.relative_to(repo).as_posix())]

"""Replay a Dockerfile stage on this machine, with a folder standing in for the image's `/`.

WORKDIR, ENV, COPY and RUN are carried out as Docker would, with absolute image paths moved
under that folder, so the very RUN lines of the Dockerfile run, unedited, in `sh -c`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.dockerfile import DockerIgnore, Instruction, Stage, context_files, env_pairs
from tests.deploy.dockerfile import expand as docker_expand

# An absolute path at the start of a value or of a PATH-like component (not `$PATH` itself).
_ABSOLUTE = re.compile(r"(^|:)(/[^:$]*)")


@dataclass
class ReplayError(Exception):
    instruction: Instruction
    output: str

    def __str__(self) -> str:
        return f"line {self.instruction.line}: {self.instruction.value}\n{self.output}"


@dataclass
class Replay:
    root: Path  # stands for the image's /
    repo: Path  # the build context
    ignore: DockerIgnore
    env: dict[str, str]  # the environment commands start from
    workdir: str = "/"
    ran: list[str] = field(default_factory=list)

    def host(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def stage(self, stage: Stage, *, run: bool, timeout: float = 900) -> None:
        """Carry out `stage`; its RUN lines only when `run` (they may need root, or change
        the machine, as useradd does)."""
        self.workdir = "/"
        for instr in stage.instructions:
            if instr.keyword == "ENV":
                before = dict(self.env)
                for key, value in env_pairs(instr):
                    self.env[key] = docker_expand(self._map(value), before)
            elif instr.keyword == "WORKDIR":
                self.workdir = os.path.normpath(os.path.join(self.workdir, instr.value))
                self.host(self.workdir).mkdir(parents=True, exist_ok=True)
            elif instr.keyword == "COPY":
                self._copy(instr)
            elif instr.keyword == "RUN" and run:
                self._run(instr, timeout)

    def _map(self, value: str) -> str:
        return _ABSOLUTE.sub(lambda m: m.group(1) + str(self.host(m.group(2))), value)

    def _copy(self, instr: Instruction) -> None:
        flags, words = instr.flags_and_args()
        *sources, dest = words
        target = self.host(os.path.join(self.workdir, dest))
        into_folder = dest.endswith("/") or len(sources) > 1
        for source in sources:
            if "from" in flags:
                # Another stage's files: with one folder for every stage they are already there.
                origin = self.host(source)
                if origin.resolve() != target.resolve():
                    shutil.copytree(origin, target, dirs_exist_ok=True, symlinks=True)
                continue
            for file in context_files(self.repo, source, self.ignore):
                if (self.repo / source).is_dir():
                    out = target / file.relative_to(self.repo / source)
                else:
                    out = target / file.name if into_folder else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)

    def _run(self, instr: Instruction, timeout: float) -> None:
        argv = instr.exec_form() or ["/bin/sh", "-c", instr.value]
        done = subprocess.run(
            argv,
            cwd=self.host(self.workdir),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.ran.append(instr.value)
        if done.returncode != 0:
            raise ReplayError(instr, (done.stdout + done.stderr)[-4000:])


def clean_environment(source: Mapping[str, str], path: str) -> dict[str, str]:
    """This process's environment without what would leak into the replay: our settings, an
    active virtualenv, a Python path."""
    drop = ("VGBOT_", "DISCORD_", "PYTHON", "VIRTUAL_ENV", "PIP_")
    env = {k: v for k, v in source.items() if not k.startswith(drop)}
    env["PATH"] = path
    return env

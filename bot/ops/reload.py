"""Content and templates without restarts: content/ and prompts/ reloaded on change or on
/reload, validated first.

A reload validates the whole of both folders (the same rules as `vgbot content check`). With
any problem it is refused: nothing is applied, the previous catalogue and templates keep
serving, and the problems (file and line) are kept for the admin to see. Without problems the
content is synced into the database (incremental, one transaction: bot.store.sync) and the new
templates are handed to whoever registered with `listen` (the scheduler, the feed announcer).

The watcher polls a fingerprint of the two folders (names, sizes, modification times) every
few seconds: cheap, and enough to notice a `git pull`. A refused version is not tried again
until a file changes again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.core.content import editor_dropping, load_dir
from bot.core.models import Problem
from bot.core.render import KINDS, Prompts, check_templates
from bot.core.text import counted
from bot.store.db import Store
from bot.store.sync import SyncReport, sync_content

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 3.0  # seconds between two looks at the folders
LOGGED_PROBLEMS = 20


@dataclass(frozen=True)
class Validation:
    episodes: int
    topics: int
    templates: int
    problems: tuple[str, ...]  # "content/episodes/011-x.md:4: ...", as a person fixes them
    prompts: Prompts | None = None  # the loaded templates, when there is no problem


@dataclass(frozen=True)
class ReloadResult:
    at: float  # epoch seconds
    trigger: str  # "start", "change", or "/reload by <user>"
    applied: bool
    problems: tuple[str, ...] = ()
    episodes: int = 0
    topics: int = 0
    templates: int = 0
    changes: str = ""  # what the sync changed, e.g. "1 changed"

    def summary(self) -> str:
        if not self.applied:
            problems = counted(len(self.problems), "problem")
            return f"refused: {problems}; the previous version keeps serving"
        counts = ", ".join(
            counted(n, noun)
            for n, noun in (
                (self.episodes, "episode"),
                (self.topics, "topic"),
                (self.templates, "template"),
            )
        )
        return f"loaded {counts}" + (f" ({self.changes})" if self.changes else "")


def _shown(problem: Problem, folder: Path) -> str:
    """A problem with its path as seen from the folder above content/ (or prompts/)."""
    if Path(problem.path).is_absolute() or problem.path.startswith(folder.name + "/"):
        return str(problem)
    return str(dataclasses.replace(problem, path=f"{folder.name}/{problem.path}"))


def template_count(prompts: Prompts) -> int:
    return sum(len(prompts.styles(kind)) for kind in KINDS)


def validate(content_dir: Path, prompts_dir: Path) -> Validation:
    """Both folders, checked as `vgbot content check` does (blocking: run it in a thread)."""
    catalog = load_dir(content_dir)
    problems = [_shown(p, content_dir) for p in catalog.problems]
    prompts = Prompts.load(prompts_dir)
    if prompts_dir.is_dir():
        # Renders every template with every topic and episode: catches what loading cannot.
        problems += [str(p) for p in check_templates(prompts_dir, catalog)]
    else:
        problems += [str(p) for p in prompts.problems]
    return Validation(
        episodes=len(catalog.episodes),
        topics=len(catalog.topics),
        templates=template_count(prompts),
        problems=tuple(problems),
        prompts=None if problems else prompts,
    )


def fingerprint(folders: Sequence[Path]) -> str:
    """Changes whenever a file in the folders is added, removed, resized or touched. Hidden
    files and folders (.git) and editor droppings are left out, as the loaders do.

    Runs in a thread every few seconds over every file of the catalogue (~11,000 in the
    benchmarks): one scandir per folder and one stat per file, and it lets go of the GIL
    every few hundred files so the event loop is never kept waiting long for it."""
    digest = hashlib.blake2b(digest_size=16)
    for folder in folders:
        digest.update(f"\0{folder}\0".encode())
        if not folder.is_dir():
            digest.update(b"missing")
            continue
        rows: list[str] = []
        _scan(str(folder), "", rows)
        digest.update("\n".join(rows).encode())
    return digest.hexdigest()


_YIELD_EVERY = 256  # files between two releases of the GIL (~2 ms of scanning)


def _scan(path: str, rel: str, rows: list[str]) -> None:
    try:
        with os.scandir(path) as it:
            entries = sorted((e for e in it if not editor_dropping(e.name)), key=_name)
    except OSError:
        return  # removed while we looked: the next look sees it gone
    for entry in entries:
        try:
            if entry.is_dir():
                if not entry.is_symlink():  # as os.walk: a linked folder is not entered
                    _scan(entry.path, f"{rel}{entry.name}/", rows)
                continue
            st = entry.stat()
        except OSError:
            continue
        rows.append(f"{rel}{entry.name}\0{st.st_size}\0{st.st_mtime_ns}")
        if len(rows) % _YIELD_EVERY == 0:
            time.sleep(0)  # the event loop's thread takes the GIL now, if it waits for it


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


class Reloader:
    def __init__(
        self,
        store: Store,
        content_dir: Path,
        prompts_dir: Path,
        *,
        clock: Clock,
        prompts: Prompts | None = None,
        seen: str = "",
    ) -> None:
        """`seen`: the folders' fingerprint when the catalogue was last synced from them (see
        bot.app.open_app); by default, taken now."""
        self.store = store
        self.content_dir = content_dir
        self.prompts_dir = prompts_dir
        self.clock = clock
        self.prompts = prompts if prompts is not None else Prompts.load(prompts_dir)
        self.last: ReloadResult | None = None  # the latest attempt, applied or refused
        self.last_applied: ReloadResult | None = None
        self._listeners: list[Callable[[Prompts], None]] = []
        self._seen = seen or fingerprint(self.folders)
        self._lock = asyncio.Lock()

    @property
    def folders(self) -> tuple[Path, Path]:
        return (self.content_dir, self.prompts_dir)

    def listen(self, on_prompts: Callable[[Prompts], None]) -> None:
        """Call `on_prompts(new)` after every applied reload."""
        self._listeners.append(on_prompts)

    def started(self, report: SyncReport, episodes: int, topics: int) -> ReloadResult:
        """Record the load done at start (bot.app.open_app synced the content)."""
        problems = tuple(_shown(p, self.content_dir) for p in report.problems)
        problems += tuple(str(p) for p in self.prompts.problems)
        result = ReloadResult(
            at=self.clock(),
            trigger="start",
            applied=True,
            problems=problems,
            episodes=episodes,
            topics=topics,
            templates=template_count(self.prompts),
        )
        self.last = self.last_applied = result
        return result

    async def poll(self) -> ReloadResult | None:
        """Reload if anything in the folders changed since the last look; else None."""
        current = await asyncio.to_thread(fingerprint, self.folders)
        if current == self._seen:
            return None
        return await self.reload("change")

    async def reload(self, trigger: str) -> ReloadResult:
        async with self._lock:
            seen = await asyncio.to_thread(fingerprint, self.folders)
            checked = await asyncio.to_thread(validate, self.content_dir, self.prompts_dir)
            if checked.problems or checked.prompts is None:
                result = ReloadResult(
                    at=self.clock(),
                    trigger=trigger,
                    applied=False,
                    problems=checked.problems,
                    episodes=checked.episodes,
                    topics=checked.topics,
                    templates=checked.templates,
                )
                log.warning(
                    "content reload (%s) refused, the previous version keeps serving:\n  %s",
                    trigger,
                    "\n  ".join(checked.problems[:LOGGED_PROBLEMS]),
                )
            else:
                report = await sync_content(self.store, self.content_dir)
                self.prompts = checked.prompts
                for tell in self._listeners:
                    tell(checked.prompts)
                result = ReloadResult(
                    at=self.clock(),
                    trigger=trigger,
                    applied=True,
                    # A file changed again between the check and the sync: its previous
                    # version was kept (bot.store.sync) and the next look reloads it.
                    problems=tuple(_shown(p, self.content_dir) for p in report.problems),
                    episodes=checked.episodes,
                    topics=checked.topics,
                    templates=checked.templates,
                    changes=_changes(report),
                )
                self.last_applied = result
                log.info("content reload (%s): %s", trigger, result.summary())
            self._seen = seen
            self.last = result
            return result

    async def watch(self, interval: float = DEFAULT_INTERVAL) -> None:
        """Poll until cancelled; a failing look is logged and the loop goes on."""
        log.info("watching %s and %s for changes", self.content_dir, self.prompts_dir)
        while True:
            # Wait first: the fingerprint is fresh (taken at start-up, see bot.app.open_app), and
            # a look at once would scan every file again while the bot connects.
            await asyncio.sleep(interval)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("content watcher: looking for changes failed")


def _changes(report: SyncReport) -> str:
    parts = [
        f"{n} {what}"
        for n, what in (
            (report.added, "added"),
            (report.changed, "changed"),
            (report.removed, "removed"),
        )
        if n
    ]
    if report.topics_changed:
        parts.append("topics changed")
    return ", ".join(parts) or "no catalogue change"

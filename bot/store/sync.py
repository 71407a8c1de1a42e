"""Incremental, atomic sync of the content/ folder into the catalogue.

Each sync:
1. looks at every episode file, topics.yaml and the transcripts the episodes name; a file whose
   size and mtime match what was recorded is not even read, one whose bytes hash the same is
   not parsed; only new or changed files are parsed (bot.core.content / transcripts);
2. checks the whole resulting catalogue across files (content.relate), using the stored
   rows for the unchanged files, and leaves out what load_dir would leave out (the later file of
   two with one number or slug);
3. applies every change in ONE transaction, so readers see the old catalogue or the new one,
   never a mix, and a failure half-way leaves the old one answering.

Nothing is lost to a mistake: a changed file that no longer parses (or a transcript that is
missing or broken) keeps its previously synced version and its problems are reported; such a
file is not recorded as synced, so every sync looks at it again until it is fixed. A deleted
episode file removes its episode.

What a file becomes (episode, notes, passages, search documents) also depends on the code that
parsed it. The catalogue notes the CATALOGUE_FORMAT it was built with (meta `content_format`);
a database built under another one (older code: none noted) has every file read again once, so
an upgrade's parsing fixes reach files that have not changed since.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core import content
from bot.core.models import Episode, Passage, Problem, Topic
from bot.core.transcripts import parse_transcript
from bot.store import catalog, search
from bot.store.db import Store, StoreError, explain

log = logging.getLogger(__name__)

# A file modified within this long of being hashed may change again without its mtime
# changing (coarse file-system clocks): it is re-read next time instead of trusted by stat.
RACY_NS = 2_000_000_000

# A sync writing this many episodes is a bulk load: the writer gets a bigger page cache,
# and FTS5 a bigger buffer of pending index entries. FTS5 writes that buffer out as a new
# segment whenever it fills (1 MiB by default), and merges segments as they pile up: a 64 MiB
# buffer made 13 million words ~25% cheaper to index (measured; bench/README.md). 256 MiB
# (catalog.BULK_FTS_HASHSIZE) is a ceiling, not an allocation: 10,000 episodes and 13
# million transcript words pend ~70-128 MiB, so a first load of that size is written as ONE
# segment (see _write).
BULK_EPISODES = 200
BULK_CACHE_KIB = 65536

# Bump it whenever the same file would be stored differently (parsing, notes conversion,
# passage splitting, search documents): the next sync then reads every file again.
CATALOGUE_FORMAT = "2"
FORMAT_KEY = "content_format"  # meta key: the CATALOGUE_FORMAT of what is stored

# A first load parses thousands of files: that many are parsed in worker processes, sent
# in chunks of this many jobs or bytes (small enough to keep both workers busy to the end).
PARALLEL_MIN = 200
MAX_WORKERS = 8
CHUNK_JOBS = 100
CHUNK_BYTES = 2 * 1024 * 1024
NEW_TRANSCRIPT_BYTES = 100 * 1024  # what a transcript read by its job counts as, unseen

# Called with the stage name before each write stage; may be async (awaited inside the
# transaction). Raising from it aborts the sync.
Progress = Callable[[str], Awaitable[None] | None]


@dataclass
class SyncReport:
    """Counts are episodes; `parsed` counts files parsed (0 when nothing changed)."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    parsed: int = 0
    topics_changed: bool = False


@dataclass(frozen=True)
class _Record:
    hash: str
    size: int
    mtime_ns: int
    checked_ns: int


@dataclass(frozen=True)
class _Stored:
    """What the catalogue holds for one content episode."""

    id: int
    episode: Episode  # enough for cross-checking: number, slug, topics, source
    transcript_path: str | None
    content_hash: str


@dataclass
class _Look:
    """One file as it is now."""

    path: str
    same: bool = False  # identical to its record: nothing to do
    raw: bytes | None = None  # read because it may have changed
    record: _Record | None = None  # what to record if its new version is used
    error: str = ""  # cannot be read (missing, permissions, too big)


@dataclass
class _Plan:
    """Everything one sync will write, worked out before the transaction starts."""

    problems: list[Problem] = field(default_factory=list)
    episodes: list[tuple[str, Episode, str | None, str]] = field(default_factory=list)
    notes: dict[str, list[search.DocRow]] = field(default_factory=dict)  # see _parse_episode
    passages: dict[str, tuple[Passage, ...]] = field(default_factory=dict)  # source → new
    deletes: list[int] = field(default_factory=list)
    topics: list[Topic] | None = None  # replace all topics when set
    record: dict[str, _Record] = field(default_factory=dict)
    forget: set[str] = field(default_factory=set)
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    parsed: int = 0
    # Plans the transcripts as their parsing (in worker processes) gets done, in the order of
    # `episodes`: each item is the sources planned since the last (their new passages are in
    # `passages`), and the last one comes when all are. None when they are planned already.
    # Step it in a thread: it waits for the workers.
    pending: Iterator[list[str]] | None = None
    pending_jobs: int = 0
    format: str | None = None  # the CATALOGUE_FORMAT to note, when this sync rebuilt under it

    @property
    def writes(self) -> bool:
        return bool(self.episodes or self.passages or self.deletes or self.topics is not None)


async def sync_content(
    store: Store,
    root: Path,
    *,
    progress: Progress | None = None,
    optimize_after: int = catalog.OPTIMIZE_AFTER_DOCS,
    workers: int = 0,
    parallel_min: int = PARALLEL_MIN,
    bulk_min: int = BULK_EPISODES,
) -> SyncReport:
    """Bring the catalogue in line with the content folder at `root`; see the module doc.

    `progress(stage)`, plain or async, is called before each write stage ("episodes",
    "topics", "passages", "index" when notes or topics changed, "files", and "optimize" after
    a big load); raising from it aborts
    the sync (the transaction rolls back). `optimize_after`: merge the index when at least
    this many search documents were written. `workers`: processes that parse files when at
    least `parallel_min` need parsing (0: one per CPU, up to MAX_WORKERS). `bulk_min`: a sync
    writing at least this many episodes and transcripts is written as a bulk load.
    """
    started = time.perf_counter()
    if not await asyncio.to_thread(root.is_dir):
        problem = Problem(
            str(root),
            "content folder not found; the catalogue was left as it was",
            hint="point content_dir (VGBOT_CONTENT_DIR) at the folder with episodes/",
        )
        return SyncReport(problems=[problem], seconds=time.perf_counter() - started)
    records, stored, topics, stored_format = await _load_state(store)
    if stored_format != CATALOGUE_FORMAT and (records or stored):
        log.info(
            "the catalogue was built by another version (format %s, now %s): every file in "
            "%s is read again",
            stored_format or "1",
            CATALOGUE_FORMAT,
            root,
        )
        records = {}  # nothing is trusted to be stored as this code would store it
    now_ns = time.time_ns()
    parser = _Parser(workers or min(os.cpu_count() or 1, MAX_WORKERS), parallel_min, root, now_ns)
    try:
        plan = await asyncio.to_thread(_plan, root, records, stored, topics, now_ns, parser)
        if stored_format != CATALOGUE_FORMAT and plan.record:  # not when no file was read
            plan.format = CATALOGUE_FORMAT
        if plan.pending is not None or plan.writes or plan.record or plan.forget:
            try:
                await _apply(store, plan, stored, progress, optimize_after, bulk_min)
            except sqlite3.Error as e:  # read-only file, full disk, locked: say which and why
                raise StoreError(explain(store.path, e)) from e
    finally:
        parser.close()
    report = SyncReport(
        added=plan.added,
        changed=plan.changed,
        removed=plan.removed,
        unchanged=plan.unchanged,
        problems=sorted(plan.problems, key=lambda p: (p.path, p.line or 0)),
        seconds=time.perf_counter() - started,
        parsed=plan.parsed,
        topics_changed=plan.topics is not None,
    )
    log.info(
        "content sync %s: %d added, %d changed, %d removed, %d unchanged, %d parsed, "
        "%d problems in %.2fs",
        root,
        report.added,
        report.changed,
        report.removed,
        report.unchanged,
        report.parsed,
        len(report.problems),
        report.seconds,
    )
    return report


# ------------------------------------------------------------------ state


async def _load_state(
    store: Store,
) -> tuple[dict[str, _Record], dict[str, _Stored], list[Topic], str | None]:
    def read(conn: sqlite3.Connection) -> tuple[list[Any], list[Any], str | None]:
        # One thread hop, plain tuples: every sync reads a row per file and per episode.
        cursor = conn.cursor()
        cursor.row_factory = None
        files = cursor.execute(
            "SELECT path, hash, size, mtime_ns, checked_ns FROM content_files"
        ).fetchall()
        episodes = cursor.execute(
            "SELECT id, key, number, slug, title, topics, source, transcript_path, content_hash "
            "FROM episodes WHERE origin = 'content'"
        ).fetchall()
        noted = cursor.execute("SELECT value FROM meta WHERE key = ?", (FORMAT_KEY,)).fetchone()
        return files, episodes, None if noted is None else str(noted[0])

    files, episodes, stored_format = await store.read(read)
    records = {path: _Record(*rest) for path, *rest in files}
    loads = json.loads
    stored = {
        key: _Stored(
            episode_id,
            Episode(
                number=number,
                title=title,
                slug=slug,
                released=None,
                topics=tuple(loads(topics)),
                source=source,
            ),
            transcript_path,
            content_hash or "",
        )
        for episode_id, key, number, slug, title, topics, source, transcript_path, content_hash in (
            episodes
        )
    }
    return records, stored, await catalog.list_topics(store), stored_format


# ------------------------------------------------------------------ planning (a worker thread)


def _plan(
    root: Path,
    records: Mapping[str, _Record],
    stored: Mapping[str, _Stored],
    stored_topics: Sequence[Topic],
    now_ns: int,
    parser: _Parser,
) -> _Plan:
    plan = _Plan()
    topics, topics_usable = _plan_topics(root, records, stored_topics, now_ns, plan)

    # Episodes: new versions where files changed and parse; stored versions otherwise.
    candidates: list[Episode] = []
    fresh: dict[str, tuple[str, str | None]] = {}  # source → (hash, transcript path)
    listing = _episode_paths(root, plan.problems)
    # A folder that cannot be listed (missing, unreadable) is no sign its files were deleted:
    # every stored episode stays as it is, as when the whole content folder is missing.
    paths = listing if listing is not None else []
    # A new episode file has no record, so it is read: the parser reads, hashes and parses it
    # in one job (in a first load, this process only lists the files).
    looks: dict[str, _Look] = {}
    for path in paths:
        old = stored.get(path)
        if old is None:
            parser.add(_NEW_EPISODE, path, None)
            continue
        look = _look(root, path, records.get(path), content.MAX_FILE_BYTES, now_ns)
        looks[path] = look
        if look.raw is not None:
            parser.add(_EPISODE, path, look.raw)
    parsed = parser.run()
    for path in paths:
        old = stored.get(path)
        if path in looks:
            look = looks[path]
        else:
            look, parsed[path] = parsed[path]
        if look.same and old is not None:
            candidates.append(old.episode)
            if look.record is not None:  # same bytes, new mtime: remember the new stat
                plan.record[path] = look.record
            continue
        if look.raw is None:
            plan.problems.append(
                Problem(path, look.error, hint="check the file and its permissions")
            )
        else:
            plan.parsed += 1
            episode, problems, transcript, notes = parsed[path]
            plan.problems += problems
            if episode is not None and look.record is not None:
                candidates.append(episode)
                fresh[path] = (look.record.hash, transcript)
                plan.notes[path] = notes
                plan.record[path] = look.record
                continue
        if old is not None:  # broken now: the previous version stays
            candidates.append(old.episode)
            plan.forget.add(path)
    if listing is None:
        candidates += [old.episode for old in stored.values()]
    listed = set(paths) if listing is not None else set(stored)
    for path, old in stored.items():
        if path not in listed:
            plan.deletes.append(old.id)
            plan.removed += 1
            plan.forget.add(path)

    # Across files: what load_dir would leave out is left out here too. Without a usable
    # topics file every reference would look unknown, so references are not checked then.
    related = content.relate(
        candidates, topics, check_topic_refs=topics_usable, established=stored.keys()
    )
    cross = related.problems
    plan.problems += cross
    if any(p.path == content.TOPICS_FILE for p in cross):
        # Look at topics.yaml again next time, so its problems are reported until fixed.
        plan.record.pop(content.TOPICS_FILE, None)
        plan.forget.add(content.TOPICS_FILE)
    # The episodes as parsed, unknown topic references included: stored rows stand in for
    # unchanged files at the next sync, when those topics may exist.
    kept_sources = {ep.source for ep in related.episodes}
    kept = {ep.source: ep for ep in candidates if ep.source in kept_sources}
    for ep in candidates:
        if ep.source not in kept:
            plan.record.pop(ep.source, None)
            plan.forget.add(ep.source)
            old = stored.get(ep.source)
            if old is not None:
                plan.deletes.append(old.id)
                plan.removed += 1

    # Transcripts of the episodes kept: read the changed ones, parse them all at once.
    named: dict[str, str | None] = {}
    for source in kept:
        old = stored.get(source)
        if source in fresh:
            named[source] = fresh[source][1]
        else:
            named[source] = old.transcript_path if old else None
    transcript_looks: dict[str, _Look] = {}
    # A transcript only new episodes name has no record to trust (see _look_transcript), so
    # it is read: the parser reads and parses it in one job, and its look comes back with it.
    by_parser: dict[str, list[str]] = {}  # transcript → the new episodes naming it
    shared = {t for source, t in named.items() if t and stored.get(source) is not None}
    for source, transcript in named.items():
        if transcript is None:
            continue
        old = stored.get(source)
        if old is None and transcript not in shared:
            by_parser.setdefault(transcript, []).append(source)
        else:
            transcript_looks[source] = _look_transcript(root, transcript, old, records, now_ns)
    for transcript in by_parser:
        parser.add(_NEW_TRANSCRIPT, transcript, None)
    for look in {look.path: look for look in transcript_looks.values()}.values():
        if look.raw is not None:
            parser.add(_TRANSCRIPT, look.path, look.raw)
    for source, ep in kept.items():
        if source in fresh:
            plan.episodes.append((source, ep, named[source], fresh[source][0]))

    def plan_transcripts(chunks: Iterator[Mapping[str, Any]]) -> Iterator[list[str]]:
        parsed: dict[str, Any] = {}
        planned: list[str] = []
        for source, ep in kept.items():
            transcript = named[source]
            look = transcript_looks.get(source)
            wanted = transcript in by_parser or (
                look is not None and not look.same and look.raw is not None
            )
            while wanted and transcript not in parsed:  # its parse is in a later chunk
                for path, result in next(chunks).items():
                    if path in by_parser:
                        look_read, result = result
                        for reader in by_parser[path]:
                            transcript_looks[reader] = look_read
                    parsed[path] = result
                if planned:
                    yield planned
                    planned = []
            old = stored.get(source)
            passages_changed = _plan_transcript(
                root, ep, transcript, old, transcript_looks.get(source), parsed, plan
            )
            planned.append(source)
            if old is None:
                plan.added += 1
            elif source in fresh or passages_changed:
                plan.changed += 1
            else:
                plan.unchanged += 1
        # Transcripts no kept episode names any more are forgotten.
        still_named = {t for t in named.values() if t}
        for path in records:
            if path.startswith(content.EPISODES_DIR + "/") or path == content.TOPICS_FILE:
                continue
            if path not in still_named and path not in plan.record:
                plan.forget.add(path)
        for path in plan.record:
            plan.forget.discard(path)
        yield planned

    # Parsed in worker processes, the transcripts are planned inside the transaction, as
    # they get parsed: both CPUs work at once (a first load: ~1,000 transcripts parsing
    # while the passages of those parsed already are written). Parsed here, they are planned
    # now.
    chunks = parser.start()
    if parser.deferred:
        plan.pending = plan_transcripts(chunks)
        plan.pending_jobs = parser.started
    else:
        for _ in plan_transcripts(chunks):
            pass
    return plan


def _plan_topics(
    root: Path,
    records: Mapping[str, _Record],
    stored_topics: Sequence[Topic],
    now_ns: int,
    plan: _Plan,
) -> tuple[list[Topic], bool]:
    """The topics to cross-check against, and whether they came from a usable file."""
    path = content.TOPICS_FILE
    look = _look(root, path, records.get(path), content.MAX_FILE_BYTES, now_ns)
    if look.same:
        if look.record is not None:
            plan.record[path] = look.record
        return list(stored_topics), True
    if look.raw is None:
        hint = f"create {root / path}" + (
            "; the topics synced before are kept meanwhile" if stored_topics else ""
        )
        plan.problems.append(Problem(path, look.error, hint=hint))
        plan.forget.add(path)
        return list(stored_topics), bool(stored_topics)
    plan.parsed += 1
    parsed, problems = content.parse_topics(path, look.raw)
    plan.problems += problems
    if problems and stored_topics:  # broken now: the previous topics stay
        plan.forget.add(path)
        return list(stored_topics), True
    kept = content.relate([], parsed).topics
    if kept != list(stored_topics) or path not in records:
        plan.topics = kept
    if look.record is not None:
        plan.record[path] = look.record
    return parsed, bool(parsed) or not problems


def _look_transcript(
    root: Path,
    transcript: str,
    old: _Stored | None,
    records: Mapping[str, _Record],
    now_ns: int,
) -> _Look:
    # Its record only counts for the episode that already used this transcript.
    record = records.get(transcript) if old and transcript == old.transcript_path else None
    look = _look(root, transcript, record, content.MAX_TRANSCRIPT_BYTES, now_ns)
    if look.raw is not None and not content.inside(root, transcript):
        look.raw, look.error = None, "points outside the content folder (through a link)"
    return look


def _plan_transcript(
    root: Path,
    ep: Episode,
    transcript: str | None,
    old: _Stored | None,
    look: _Look | None,
    parsed: Mapping[str, Any],
    plan: _Plan,
) -> bool:
    """Plan the episode's passages; True when they change."""
    old_path = old.transcript_path if old else None
    if transcript is None or look is None:
        if old_path is not None:
            plan.passages[ep.source] = ()
            return True
        return False
    if look.same:
        if look.record is not None:
            plan.record[transcript] = look.record
        return False
    if look.raw is None:
        keep = "; the transcript synced before is kept meanwhile" if old_path else ""
        plan.problems.append(
            Problem(
                ep.source,
                f"transcript '{transcript}': {look.error}",
                field="transcript",
                hint=f"put the transcript at {root / transcript}, or remove the 'transcript' "
                f"line{keep}",
            )
        )
        return False
    plan.parsed += 1
    passages, problems = parsed[transcript]
    plan.problems += problems
    if problems and old_path is not None:  # broken now: the previous passages stay
        return False
    plan.passages[ep.source] = passages
    if look.record is not None and not problems:
        plan.record[transcript] = look.record
    return True


# ------------------------------------------------------------------ parsing, maybe in parallel

# Jobs: (kind, path, bytes read here). A "new" job has no bytes: it is a file without a
# record, which the job reads (and hashes) itself, giving back (look, parsed) where the look's
# raw is b"" (read) or None (not: look.error says why) and parsed is None when not read.
_EPISODE, _TRANSCRIPT = "episode", "transcript"
_NEW_EPISODE, _NEW_TRANSCRIPT = "new episode", "new transcript"
_Job = tuple[str, str, bytes | None]


def _parse(job: _Job, root: Path, now_ns: int) -> tuple[str, Any]:
    """One file → what bot.core parses from it. Module-level: it runs in worker processes."""
    kind, path, raw = job
    if kind == _NEW_EPISODE:
        look = _look(root, path, None, content.MAX_FILE_BYTES, now_ns)
        return path, _parse_read(look, _parse_episode)
    if kind == _NEW_TRANSCRIPT:
        look = _look_transcript(root, path, None, {}, now_ns)
        return path, _parse_read(look, parse_transcript)
    assert raw is not None
    if kind == _EPISODE:
        return path, _parse_episode(path, raw)
    return path, parse_transcript(path, raw)


def _parse_episode(
    path: str, raw: bytes
) -> tuple[Episode | None, list[Problem], str | None, list[search.DocRow]]:
    """parse_episode_file, plus the episode's notes documents, built here (in a worker
    process) for episode id 0: the writer only gives them their id (catalog.write_episodes)."""
    episode, problems, transcript = content.parse_episode_file(path, raw)
    notes = search.notes_docs(0, episode) if episode is not None else []
    return episode, problems, transcript, notes


def _parse_read(look: _Look, parse: Callable[[str, bytes], Any]) -> tuple[_Look, Any]:
    if look.raw is None:
        return look, None
    parsed = parse(look.path, look.raw)
    look.raw = b""  # read: the bytes need not travel back
    return look, parsed


def _parse_chunk(jobs: list[_Job], root: Path, now_ns: int) -> list[tuple[str, Any]]:
    return [_parse(job, root, now_ns) for job in jobs]


class _Parser:
    """Collects parse jobs and runs them: in this process for a few, in `workers` processes
    for many (a first load parses thousands of files; parsing is pure CPU work).

    Once `parallel_min` jobs are waiting, they go to the workers in chunks as they are added,
    so the workers start (and parse) while this process is still reading files.
    """

    def __init__(self, workers: int, parallel_min: int, root: Path, now_ns: int) -> None:
        self.workers = workers
        self.parallel_min = parallel_min
        self.root, self.now_ns = root, now_ns  # what every job is looked at and parsed with
        self._jobs: list[_Job] = []  # this batch's, all of them
        self._waiting: list[_Job] = []  # not sent to a worker yet
        self._waiting_bytes = 0
        self._sent: list[Future[list[tuple[str, Any]]]] = []
        self._pool: ProcessPoolExecutor | None = None
        self.deferred = False
        self.started = 0

    def add(self, kind: str, path: str, raw: bytes | None) -> None:
        job = (kind, path, raw)
        self._jobs.append(job)
        self._waiting.append(job)
        self._waiting_bytes += NEW_TRANSCRIPT_BYTES if kind == _NEW_TRANSCRIPT else len(raw or b"")
        if len(self._jobs) < self.parallel_min or self.workers < 2:
            return
        if len(self._waiting) >= CHUNK_JOBS or self._waiting_bytes >= CHUNK_BYTES:
            self._send()

    def run(self) -> dict[str, Any]:
        return {path: parsed for chunk in self.start() for path, parsed in chunk.items()}

    def start(self) -> Iterator[dict[str, Any]]:
        """Run the jobs added; returns their results, chunk by chunk in the order the jobs
        were added. `deferred` tells whether they run in worker processes meanwhile (then
        the iterator waits for each chunk), else they ran here, before this returned."""
        jobs, sent = self._jobs, self._sent
        parallel = self.workers >= 2 and len(jobs) >= self.parallel_min
        if parallel and self._waiting:
            self._send()
        self._jobs, self._waiting, self._waiting_bytes, self._sent = [], [], 0, []
        self.started = len(jobs)
        self.deferred = parallel and self.workers >= 2  # _send may have given up on workers
        if not self.deferred:
            return iter([dict(self._parse_here(jobs))])
        return self._results(jobs, sent)

    def _results(
        self, jobs: list[_Job], sent: list[Future[list[tuple[str, Any]]]]
    ) -> Iterator[dict[str, Any]]:
        for future in sent:
            try:
                chunk = future.result()
            except (OSError, BrokenProcessPool) as e:  # a worker died: redo them all here
                yield self._here(jobs, e)
                return
            yield dict(chunk)

    def _send(self) -> None:
        chunk, self._waiting, self._waiting_bytes = self._waiting, [], 0
        try:
            if self._pool is None:
                # spawn, not fork: this process has database threads a fork must not copy.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
            self._sent.append(self._pool.submit(_parse_chunk, chunk, self.root, self.now_ns))
        except (OSError, BrokenProcessPool) as e:  # no processes here (sandbox, limits)
            log.warning("parsing in this process: worker processes cannot start (%s)", e)
            self.workers = 1

    def _here(self, jobs: list[_Job], e: Exception) -> dict[str, Any]:
        log.warning("parsing in this process: worker processes failed (%s)", e)
        self.workers = 1
        return dict(self._parse_here(jobs))

    def _parse_here(self, jobs: list[_Job]) -> list[tuple[str, Any]]:
        return _parse_chunk(jobs, self.root, self.now_ns)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)  # a failed sync need not wait for them


def _episode_paths(root: Path, problems: list[Problem]) -> list[str] | None:
    """`episodes/NAME.md` display paths, sorted; anything else in the folder is reported
    (the same rules as content.load_dir). None when the folder cannot be listed."""
    folder = root / content.EPISODES_DIR
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        problems.append(
            Problem(
                content.EPISODES_DIR,
                "folder not found",
                hint=f"create {folder} for NNN-slug.md files",
            )
        )
        return None
    except OSError as e:
        problems.append(Problem(content.EPISODES_DIR, f"cannot be read: {e.strerror or e}"))
        return None
    paths = []
    for entry in entries:
        if content.editor_dropping(entry.name):
            continue
        markdown = entry.name.endswith(".md")
        try:
            is_file = entry.is_file()
        except OSError:  # a link loop (DirEntry raises where Path.is_file says False)
            is_file = False
        if markdown and is_file:
            paths.append(f"{content.EPISODES_DIR}/{entry.name}")
        else:
            problems.append(content.stray_file(entry.name, markdown and entry.is_symlink()))
    return paths


def _look(root: Path, path: str, record: _Record | None, limit: int, now_ns: int) -> _Look:
    """Is the file the same as recorded? Trust size+mtime unless it was hashed in the same
    clock tick it was last modified; otherwise read and hash it."""
    # Not Path, nor os.path.join (~3 µs each): this runs for every file at every sync.
    file = path if path.startswith("/") else f"{root}/{path}"
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return _Look(path, error="file not found")
    except OSError as e:
        return _Look(path, error=f"cannot be read: {e.strerror or e}")
    if (
        record is not None
        and record.size == st.st_size
        and record.mtime_ns == st.st_mtime_ns
        and record.mtime_ns < record.checked_ns - RACY_NS
    ):
        return _Look(path, same=True)
    try:
        with open(file, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        return _Look(path, error=f"cannot be read: {e.strerror or e}")
    if len(raw) > limit:
        return _Look(path, error=f"file is more than the limit of {limit:,} bytes")
    digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    new = _Record(digest, st.st_size, st.st_mtime_ns, now_ns)
    if record is not None and record.hash == digest:
        return _Look(path, same=True, record=new)
    return _Look(path, raw=raw, record=new)


# ------------------------------------------------------------------ applying (one transaction)


async def _apply(
    store: Store,
    plan: _Plan,
    stored: Mapping[str, _Stored],
    progress: Progress | None,
    optimize_after: int,
    bulk_min: int,
) -> None:
    async def stage(name: str) -> None:
        if progress is not None:
            result = progress(name)
            if inspect.isawaitable(result):
                await result

    bulk = len(plan.episodes) + len(plan.passages) + plan.pending_jobs >= bulk_min
    if bulk:  # a big load builds index segments faster with a bigger page cache
        await store.writer_pragma(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
    try:
        await _write(store, plan, stored, stage, optimize_after, bulk)
    finally:
        if bulk:
            await store.writer_pragma("PRAGMA cache_size = -2000")


async def _write(
    store: Store,
    plan: _Plan,
    stored: Mapping[str, _Stored],
    stage: Callable[[str], Awaitable[None]],
    optimize_after: int,
    bulk: bool,
) -> None:
    async with store.transaction() as db:
        if bulk:  # stored in the index's config table: in the transaction, undone below
            await catalog.set_fts_hashsize(db, catalog.BULK_FTS_HASHSIZE)
        await stage("episodes")
        await catalog.delete_episodes(db, plan.deletes)
        new_id = await catalog.next_id(db, "episodes")
        ids: dict[str, int] = {}
        rows: list[tuple[tuple[Any, ...], Episode]] = []
        for source, ep, transcript, digest in plan.episodes:
            old = stored.get(source)
            if old is not None and old.id not in plan.deletes:
                episode_id = old.id
            else:
                episode_id, new_id = new_id, new_id + 1
            ids[source] = episode_id
            rows.append(
                (
                    catalog.episode_values(
                        episode_id, catalog.ORIGIN_CONTENT, source, ep, transcript, digest
                    ),
                    ep,
                )
            )
        # The curated notes win over a feed item for the same episode, as the feed sees it
        # (a slug alone does not make another number's episode the same one).
        feed = await db.execute_fetchall(
            "SELECT id, number, guid, slug FROM episodes WHERE origin = 'feed'"
        )
        claims = catalog.ContentClaims.from_rows(
            [(ep.number, ep.guid, ep.slug) for _, ep, _, _ in plan.episodes]
        )
        await catalog.delete_episodes(
            db, [r[0] for r in feed if claims.claims_item(r[1], r[2], r[3])]
        )
        # The index gets its documents in rowid order: passages (the lowest ids) as their
        # transcripts get parsed, then notes and topics (catalog.index_docs). In a bulk load,
        # that is one segment, which the optimize below has nothing to merge; so nothing that
        # could write the index out early (see catalog.delete_docs) runs between them.
        unindexed: list[search.DocRow] = []
        notes = [plan.notes.get(source) for source, _, _, _ in plan.episodes]
        written = await catalog.write_episodes(db, rows, unindexed, notes)
        await stage("topics")
        if plan.topics is not None:
            written += await catalog.replace_topics(db, plan.topics, unindexed)
        await stage("passages")
        batches = plan.pending if plan.pending is not None else iter([list(plan.passages)])
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            written += await catalog.write_passages(
                db,
                [
                    (ids.get(source) or stored[source].id, plan.passages[source])
                    for source in batch
                    if source in plan.passages
                ],
            )
        plan.pending = None
        if unindexed:
            await stage("index")
            await catalog.index_docs(db, unindexed)
        await stage("files")
        await db.executemany(
            "DELETE FROM content_files WHERE path = ?", [(p,) for p in sorted(plan.forget)]
        )
        await db.executemany(
            "INSERT OR REPLACE INTO content_files (path, hash, size, mtime_ns, checked_ns) "
            "VALUES (?, ?, ?, ?, ?)",
            [(p, r.hash, r.size, r.mtime_ns, r.checked_ns) for p, r in plan.record.items()],
        )
        if plan.format is not None:
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (FORMAT_KEY, plan.format, time.time()),
            )
        if plan.writes:
            await catalog.bump_version(db)
        if bulk:
            await catalog.set_fts_hashsize(db, catalog.FTS_HASHSIZE)
        if written >= optimize_after:
            await stage("optimize")
            await catalog.optimize_index(db)

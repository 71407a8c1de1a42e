"""The bot's SQLite database: connections, pragmas, migrations and transactions.

`open_store(path)` creates the file (and its folder) if needed, switches it to WAL, and runs
the migrations it has not seen yet (see bot/store/migrations/__init__.py for how to add one).
A Store has two connections: one writer (aiosqlite), used only inside `transaction()`
(serialised by a lock, BEGIN IMMEDIATE so concurrent processes wait instead of failing
half-way), and one read-only reader on its own thread, which under WAL keeps answering from the
last committed state while a long write (a content sync) is in progress. `read(fn)` runs
several reads in one thread hop; `fetchall`/`fetchone` run one statement. `read_quick(fn)` is
for the answer path: a third, read-only connection used right on the event loop when the read
is short (QuickReader), the reader thread otherwise.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import queue
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000  # another process holding the write lock: wait this long, then fail
_MODULE = re.compile(r"m(?P<version>\d{4})_(?P<name>\w+)")


class StoreError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def discover_migrations() -> list[Migration]:
    """Every `mNNNN_name` module in bot.store.migrations, in version order."""
    from bot.store import migrations as package

    found: list[Migration] = []
    for info in pkgutil.iter_modules(package.__path__):
        m = _MODULE.fullmatch(info.name)
        if m is None:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Migration(int(m["version"]), m["name"], module.SQL))
    return check_migrations(found)


def check_migrations(migrations: Iterable[Migration]) -> list[Migration]:
    """Sorted by version; two steps with one version number are a mistake worth stopping for."""
    ordered = sorted(migrations, key=lambda m: m.version)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.version == b.version:
            raise StoreError(
                f"two migrations have version {a.version}: {a.name!r} and {b.name!r}; "
                "give the newer one the next free number"
            )
    return ordered


T = TypeVar("T")


class Reader:
    """A read-only connection on its own thread. `run(fn)` calls fn(connection) there: any
    number of statements (and the Python between them) for one thread hop, which matters on
    the answer path where a hop costs about as much as a small query. The thread takes jobs
    from a queue and settles asyncio futures directly (no concurrent.futures Future to chain:
    ~20-40 µs less per hop than run_in_executor)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _open(self) -> None:
        self._conn = _connect_reader(self._path)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._open()
        assert self._conn is not None
        return fn(self._conn)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            fn, loop, future = job
            try:
                result, error = self._call(fn), None
            except BaseException as e:  # handed to the awaiting task, raised there
                result, error = None, e
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="sqlite-reader", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._jobs.put(None)  # after the jobs already queued
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]

QUICK_BUDGET_S = 0.005  # a quick read still running after this long moves to the reader thread
_QUICK_CHECK_EVERY = 1000  # SQLite VM instructions between two looks at the clock
_GIVE_UP = {sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class QuickReader:
    """A read-only connection used on the event loop's own thread, for the answer path.

    Handing a read to the reader thread costs ~0.5 ms on this kind of VM (waking an idle
    thread, then waking the loop again): as much as the search itself. A read that finishes
    within `budget` seconds is simply done here; SQLite's progress handler interrupts one that
    runs longer, and `try_run` says so, so the caller runs it again on the reader thread. The
    loop is never held much longer than the budget. It never waits for a lock either
    (busy_timeout 0): a busy or locked database also goes to the reader thread, which waits.
    Only for idempotent reads: an interrupted one runs again from the start.
    """

    def __init__(self, path: Path, budget: float = QUICK_BUDGET_S) -> None:
        self._path = path
        self.budget = budget
        self._conn: sqlite3.Connection | None = None
        self._thread = 0  # the thread that opened the connection
        self._deadline = 0.0

    def _open(self) -> sqlite3.Connection:
        # check_same_thread off: try_run keeps it to one thread itself, and close() may come
        # from another (a store closed by a different loop than the one that first read).
        conn = _connect_reader(self._path, "PRAGMA busy_timeout = 0", check_same_thread=False)
        conn.set_progress_handler(self._over_budget, _QUICK_CHECK_EVERY)
        return conn

    def _over_budget(self) -> int:
        return time.perf_counter() > self._deadline  # non-zero interrupts the statement

    def try_run(self, fn: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """(True, fn(conn)) when it finished in time; (False, None) to run it elsewhere."""
        if self._conn is not None and self._thread != threading.get_ident():
            return False, None  # sqlite3 connections stay with the thread that opened them
        try:
            if self._conn is None:
                self._conn = self._open()
                self._thread = threading.get_ident()
            self._deadline = time.perf_counter() + self.budget
            return True, fn(self._conn)
        except sqlite3.Error as e:
            if getattr(e, "sqlite_errorcode", None) in _GIVE_UP:
                return False, None
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Store:
    """An open database. Use `async with await open_store(path) as store:` or call close()."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: Reader) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self.quick = QuickReader(path)
        self._write_lock = asyncio.Lock()
        self.schema_version = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer inside BEGIN IMMEDIATE ... COMMIT; ROLLBACK if the block raises."""
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def writer_pragma(self, pragma: str) -> None:
        """Run a PRAGMA on the writer, between transactions (e.g. a bigger cache for a bulk
        load)."""
        async with self._write_lock:
            await self._writer.execute(pragma)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(connection) on the reader thread (read-only; sees the last commit)."""
        return await self._reader.run(fn)

    async def read_quick(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`read(fn)`, done right here on the event loop when it takes less than a few
        milliseconds (see QuickReader); fn must only read, and may run twice."""
        done, result = self.quick.try_run(fn)
        if done:
            return result  # type: ignore[return-value]
        return await self._reader.run(fn)

    async def fetchall(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """Rows of one read query on the reader connection (one thread hop)."""
        return await self._reader.run(lambda conn: conn.execute(sql, params).fetchall())

    async def fetchone(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        try:
            self.quick.close()
            await self._reader.close()
        finally:
            await self._writer.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
)


def _connect_reader(
    path: Path, *pragmas: str, check_same_thread: bool = True
) -> sqlite3.Connection:
    """A read-only connection with the store's pragmas (then `pragmas`), rows as sqlite3.Row."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    conn.row_factory = sqlite3.Row
    try:
        for pragma in (*_PRAGMAS, "PRAGMA query_only = ON", *pragmas):
            conn.execute(pragma)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    """A connection that cannot change the file at `path`: no migration, no switch to WAL, no
    checkpoint. For checks (`vgbot doctor`), which may run from a newer version beside an older
    bot still using the database. Errors about the file may come only with the first statement
    (SQLite reads it then); `explain` words them. `immutable`: no locks and no -wal/-shm (only
    safe while nothing writes; see read_quietly)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    return conn


def read_quietly(path: Path, fn: Callable[[sqlite3.Connection], T]) -> T:
    """fn(connection) on a read-only connection that leaves nothing beside the file.

    A read-only reader of a WAL database creates the -wal and -shm when they are missing, and
    leaves them, owned by whoever ran it: root's, from `vgbot doctor` under systemd, the bot's
    own user could not write them at its next start. They are missing only when no one has the
    database open, so then it is read `immutable` (no locks, no files), and read again the usual
    way if a writer turned up meanwhile (a -wal appeared, or the file changed)."""
    wal = path.with_name(path.name + "-wal")
    if _is_wal(path) and not wal.exists():
        before = _stamp(path)
        try:
            with closing(connect_read_only(path, immutable=True)) as conn:
                result = fn(conn)
        except Exception:
            # Pages a writer changed under this lock-free read look 'malformed': an error
            # says something about the file only when nothing wrote meanwhile.
            if not wal.exists() and _stamp(path) == before:
                raise
        else:
            if not wal.exists() and _stamp(path) == before:
                return result
    with closing(connect_read_only(path)) as conn:
        return fn(conn)


def _is_wal(path: Path) -> bool:
    """The header's file format bytes say WAL (2), not a rollback journal (1)."""
    try:
        with path.open("rb") as f:
            header = f.read(20)
    except OSError:
        return False  # connecting says what is wrong
    return len(header) == 20 and header[18] == 2


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


async def _connect_writer(path: Path) -> aiosqlite.Connection:
    # isolation_level=None: no implicit BEGIN; transactions are explicit (Store.transaction).
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        for pragma in _PRAGMAS:
            await conn.execute(pragma)
        mode = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))[0][0]
        if str(mode).lower() != "wal":
            log.warning("database %s: journal mode is %s, not WAL", path, mode)
    except BaseException:
        await conn.close()
        raise
    return conn


async def open_store(path: Path, *, migrations: Sequence[Migration] | None = None) -> Store:
    """Open (creating if needed) the database at `path` and bring its schema up to date.

    Raises StoreError, with what to do, when the file is not a database, cannot be created,
    or was written by a newer version of the bot.
    """
    steps = check_migrations(discover_migrations() if migrations is None else migrations)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the folder for database {path}: {e.strerror}") from None
    try:
        writer = await _connect_writer(path)
    except sqlite3.Error as e:
        raise StoreError(explain(path, e)) from None
    reader = Reader(path)
    try:
        version = await _migrate(writer, path, steps)
        await reader.run(lambda conn: None)  # open it now: errors belong to open_store
    except BaseException as e:
        await reader.close()
        await writer.close()
        if isinstance(e, sqlite3.Error):
            raise StoreError(explain(path, e)) from None
        raise
    store = Store(path, writer, reader)
    store.schema_version = version
    return store


def explain(path: Path, e: sqlite3.Error) -> str:
    """A database error as a sentence naming the file and what to do."""
    text = str(e)
    if "not a database" in text or "malformed" in text:
        return (
            f"{path} is not a usable SQLite database ({text}); "
            "point the db setting (VGBOT_DB) at another file, or move this one away"
        )
    if getattr(e, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK":
        # A hot -journal: only a writer may roll it back, and a read-only check is none.
        return (
            f"{path} holds an unfinished write (a process stopped mid-transaction; its "
            f"{path.name}-journal undoes it): the bot's next start (vgbot run) rolls it back. "
            "Keep the -journal file beside the database"
        )
    if "unable to open" in text or "readonly" in text:
        return f"cannot open database {path} ({text}); check the path and its permissions"
    if "locked" in text or "busy" in text:
        return f"database {path} is locked by another process ({text}); stop it or retry"
    return f"database {path}: {text}"


async def _migrate(conn: aiosqlite.Connection, path: Path, steps: Sequence[Migration]) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    known = steps[-1].version if steps else 0
    for step in steps:
        # Re-read the version inside the write lock: another process may have migrated.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            current = await _current_version(conn)
            if current > known:
                raise StoreError(
                    f"database {path} has schema version {current}, newer than this code "
                    f"knows (up to {known}); upgrade vgbot, or use another database file"
                )
            if step.version <= current:
                await conn.execute("ROLLBACK")
                continue
            log.info("database %s: migration %04d %s", path, step.version, step.name)
            for statement in _statements(step.sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, time.time()),
            )
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
    current = await _current_version(conn)
    if current > known:
        raise StoreError(
            f"database {path} has schema version {current}, newer than this code knows "
            f"(up to {known}); upgrade vgbot, or use another database file"
        )
    return current


async def _current_version(conn: aiosqlite.Connection) -> int:
    row = list(await conn.execute_fetchall("SELECT max(version) FROM schema_version"))[0]
    return int(row[0] or 0)


def _statements(sql: str) -> list[str]:
    """Split a migration script into complete statements (triggers contain `;` too)."""
    out: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                out.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        out.append(pending.strip())
    return out

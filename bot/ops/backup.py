"""Online backup and restore of the bot's SQLite database, with sqlite3's backup API.

`backup` is safe while the bot runs: it copies one consistent snapshot (under WAL a reader never
blocks the bot's writes, and the bot's writes never tear the copy) into a temporary file beside
the target, checks it with `PRAGMA integrity_check`, and only then renames it into place.

`restore` refuses a file that is not a healthy vgbot database or was written by a newer
version, and refuses while anything else has the database open (it takes SQLite's exclusive
lock and keeps it for the whole restore, so the bot cannot start half-way through). It keeps a
consistent copy of the database it replaces beside it.

Plain sqlite3, synchronous: these run from the command line, never inside the bot's loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from bot.store.db import discover_migrations
from bot.store.outbox import BACKUP_TAKEN_AT, RESTORED_AT

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT = 10.0  # seconds to wait for a lock held by the running bot (rollback journals)
# Counted in reports so a person can tell at a glance that the copy holds what they expect.
COUNTED_TABLES = ("episodes", "topics", "weekly_prompts", "schedules", "outbox", "guild_config")


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Snapshot:
    """What a database file holds, as far as a person checking a backup cares."""

    path: Path
    size: int
    schema_version: int
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {table}" for table, n in self.rows.items())
        return f"schema version {self.schema_version}, {self.size:,} bytes" + (
            f"; {counts}" if counts else ""
        )


@dataclass(frozen=True)
class Restored:
    database: Snapshot
    kept: Path | None  # the copy of the replaced database, if there was one
    migrations_pending: bool  # the backup is older than this code: the next start migrates


def known_schema_version() -> int:
    steps = discover_migrations()
    return steps[-1].version if steps else 0


def stamp(now: datetime) -> str:
    return now.strftime("%Y%m%d-%H%M%S")


# ------------------------------------------------------------------ backup


def backup(db: Path, dest: Path, *, now: datetime) -> Snapshot:
    """Copy the database at `db` to `dest` (a file, or a folder to put a dated file in)."""
    _require_database_file(db, what="database", hint="check VGBOT_DB (or --db)")
    if dest.is_dir():
        dest = dest / f"vgbot-{stamp(now)}.sqlite3"
    if _same_file(dest, db) or dest.name in (f"{db.name}-wal", f"{db.name}-shm"):
        raise BackupError(f"{dest} is the live database (or part of it): back up to another path")
    if not dest.parent.is_dir():
        raise BackupError(
            f"folder {dest.parent} does not exist: create it first (mkdir -p {dest.parent})"
        )
    with _connect_read_only(db) as source, _new_file_beside(dest) as tmp:
        with contextlib.closing(sqlite3.connect(tmp)) as copy:
            try:
                source.backup(copy)  # every page in one step: one consistent snapshot
                # One self-contained file: no -wal beside the copy, whatever the source used.
                copy.execute("PRAGMA journal_mode = DELETE")
                _note(copy, BACKUP_TAKEN_AT, now)
            except sqlite3.Error as exc:
                raise BackupError(_copy_failed(db, dest, exc)) from None
            _require_intact(copy, tmp, what="the copy")
        _fsync(tmp)
        os.replace(tmp, dest)
    _fsync_folder(dest.parent)
    snapshot = inspect_database(dest)
    log.info("backup of %s written to %s (%s)", db, dest, snapshot.summary())
    return snapshot


# ------------------------------------------------------------------ restore


def restore(source: Path, db: Path, *, now: datetime) -> Restored:
    """Replace the database at `db` with the backup at `source`; see the module doc."""
    _require_database_file(source, what="backup", hint="give the path of a `vgbot backup` file")
    if _same_file(source, db):
        raise BackupError(f"{source} is the database itself: give the path of a backup")
    checked = inspect_database(source)
    known = known_schema_version()
    if checked.schema_version > known:
        raise BackupError(
            f"{source} has schema version {checked.schema_version}, newer than this vgbot knows "
            f"(up to {known}): restore it with the newer vgbot that wrote it, or upgrade first"
        )
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        with _connect_read_only(source) as src, _new_file_beside(db) as tmp:
            with contextlib.closing(sqlite3.connect(tmp)) as target:
                try:
                    src.backup(target)
                except sqlite3.Error as exc:
                    raise BackupError(_copy_failed(source, db, exc)) from None
                _require_intact(target, tmp, what="the restored database")
                _note_restore(target, now)
            _fsync(tmp)
            os.replace(tmp, db)
        _fsync_folder(db.parent)
        return Restored(inspect_database(db), None, checked.schema_version < known)
    with _exclusive(db) as live:
        kept = db.with_name(f"{db.name}.before-restore-{stamp(now)}")
        with _new_file_beside(kept) as tmp:
            with contextlib.closing(sqlite3.connect(tmp)) as copy:
                try:
                    live.backup(copy)
                    copy.execute("PRAGMA journal_mode = DELETE")
                    _note(copy, BACKUP_TAKEN_AT, now)  # it is a backup of this moment too
                except sqlite3.Error as exc:
                    raise BackupError(_copy_failed(db, kept, exc)) from None
            _fsync(tmp)
            os.replace(tmp, kept)
        with _connect_read_only(source) as src:
            # Out of WAL first (we hold the only connection), so the backup API may write
            # pages of any size; the bot turns WAL on again when it opens the file.
            live.execute("PRAGMA journal_mode = DELETE")
            try:
                src.backup(live)  # if it fails, the journal undoes it (at the next open)
            except sqlite3.Error as exc:
                raise BackupError(_copy_failed(source, db, exc)) from None
        _require_intact(live, db, what="the restored database")
        _note_restore(live, now)
    log.info("restored %s from %s; the replaced database is kept as %s", db, source, kept)
    return Restored(inspect_database(db), kept, checked.schema_version < known)


def _note_restore(conn: sqlite3.Connection, now: datetime) -> None:
    """Remember when: posts the bot made after the backup was taken are unknown to this
    database, so for a while the publisher looks for each post before making it (see
    Publisher._may_exist)."""
    if not _note(conn, RESTORED_AT, now):
        log.warning("this backup predates the meta table: posts made since may be repeated")


def _note(conn: sqlite3.Connection, key: str, now: datetime) -> bool:
    """A time in the database's meta table; False if it has none (a very old database)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return False
    with conn:
        conn.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (key, str(now.timestamp()), time.time()),
        )
    return True


# ------------------------------------------------------------------ checks


# SQLite's names for a failure on the writing side of a copy (a full disk above all).
_WRITE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_READONLY")


def _copy_failed(source: Path, target: Path, exc: sqlite3.Error) -> str:
    """Which side of a copy failed: sqlite3's backup raises the same way for both."""
    if getattr(exc, "sqlite_errorname", "").startswith(_WRITE_ERRORS):
        return (
            f"cannot write {target}: {exc} (is {target.parent} full? "
            f"`df -h {target.parent}` shows its free space)"
        )
    return f"cannot read {source}: {exc}"


def inspect_database(path: Path) -> Snapshot:
    """Integrity-check a vgbot database file and count its main tables, or BackupError."""
    _require_database_file(path, what="database", hint="")
    with _connect_read_only(path) as conn:
        _require_intact(conn, path, what=str(path))
        try:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        except sqlite3.Error:
            raise BackupError(
                f"{path} is an SQLite database but not a vgbot one (no schema_version table)"
            ) from None
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in COUNTED_TABLES
            if t in tables
        }
    return Snapshot(path, path.stat().st_size, int(row[0] or 0), rows)


def _require_database_file(path: Path, *, what: str, hint: str) -> None:
    fix = f": {hint}" if hint else ""
    if not path.exists():
        raise BackupError(f"no {what} at {path}{fix}")
    if not path.is_file():
        raise BackupError(f"{path} is not a file{fix}")
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        raise BackupError(f"{path} is not an SQLite database (wrong header){fix}")


def _require_intact(conn: sqlite3.Connection, path: Path, *, what: str) -> None:
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} ({path}) is damaged: {exc}") from None
    if result != ["ok"]:
        shown = "; ".join(str(r) for r in result[:5])
        raise BackupError(f"{what} ({path}) failed the integrity check: {shown}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


@contextlib.contextmanager
def _connect_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from None
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()


@contextlib.contextmanager
def _exclusive(db: Path) -> Iterator[sqlite3.Connection]:
    """The live database, locked against every other connection until the block ends."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        try:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")  # the lock stays: locking_mode is EXCLUSIVE
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise BackupError(
                    f"database {db} is in use (is the bot running?): stop the bot first "
                    "(systemctl stop vgbot, or docker compose stop bot), then restore"
                ) from None
            raise BackupError(f"cannot open database {db}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise BackupError(
                f"the database being replaced ({db}) cannot be read ({exc}): move it away "
                "yourself, then restore again"
            ) from None
        yield conn
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"restore into {db} failed: {exc}") from None
    finally:
        conn.close()


@contextlib.contextmanager
def _new_file_beside(target: Path) -> Iterator[Path]:
    """A temporary path in target's folder (so the final rename is atomic); removed unless
    the block renamed it away."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise BackupError(f"cannot write in {target.parent}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be synced
        _fsync(folder)

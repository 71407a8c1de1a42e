"""`vgbot backup` / `vgbot restore` on real SQLite files, with the real store writing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.ops.backup import BackupError, backup, inspect_database, known_schema_version, restore
from bot.store.db import open_store
from bot.store.outbox import Outbox

NOW = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


class Written(list[int]):
    """Commits made so far; `reached(n)` waits until there are n."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()

    async def add(self, n: int) -> None:
        async with self.changed:
            self.append(n)
            self.changed.notify_all()

    async def reached(self, n: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self) >= n), 10)


async def writer(path: Path, stop: asyncio.Event, written: Written) -> None:
    """The bot's writes: each transaction adds a row AND moves a counter, so a torn copy
    (one without the other) is detectable."""
    async with await open_store(path) as store:
        n = 0
        while not stop.is_set():
            n += 1
            async with store.transaction() as db:
                await db.execute(
                    "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)",
                    (f"row:{n:06d}", "x" * 200, time.time()),
                )
                await db.execute(
                    "INSERT INTO meta (key, value, updated_at) VALUES ('count', ?, 0)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(n),),
                )
            await written.add(n)


def consistent_count(path: Path) -> int:
    (count,) = rows(path, "SELECT value FROM meta WHERE key = 'count'")[0]
    (seen,) = rows(path, "SELECT count(*) FROM meta WHERE key LIKE 'row:%'")[0]
    assert int(str(count)) == seen, "the copy holds half a transaction"
    return seen


async def test_a_backup_taken_while_the_bot_writes_restores_to_a_consistent_database(tmp_path):
    live = tmp_path / "data" / "vgbot.sqlite3"
    await _create(live)
    stop, written = asyncio.Event(), Written()
    task = asyncio.create_task(writer(live, stop, written))
    try:
        await written.reached(50)
        copies = []
        for k in range(3):  # several copies, each in the middle of the writes
            dest = tmp_path / f"backup-{k}.sqlite3"
            before = len(written)
            snapshot = await asyncio.to_thread(backup, live, dest, now=NOW)
            copies.append((dest, before, len(written)))
            assert snapshot.schema_version == known_schema_version()
        await written.reached(copies[-1][2] + 5)  # and the bot goes on writing afterwards
    finally:
        stop.set()
        await task
    total = len(written)
    for dest, before, after in copies:
        # A snapshot of one moment during the copy: every commit before it, none torn. (+1: a
        # commit may land before the writer's coroutine resumes to count it.)
        assert before <= consistent_count(dest) <= after + 1
        assert rows(dest, "PRAGMA integrity_check") == [("ok",)]
        assert rows(dest, "PRAGMA journal_mode") == [("delete",)]  # one self-contained file
        assert not dest.with_name(dest.name + "-wal").exists()

    # Restore the first copy over the (stopped) bot's database: it opens and migrates cleanly.
    restored = restore(copies[0][0], live, now=NOW)
    assert restored.kept is not None and restored.kept.exists()
    assert consistent_count(restored.kept) == total  # the replaced data is kept, whole
    assert consistent_count(live) == consistent_count(copies[0][0])
    async with await open_store(live) as store:
        assert store.schema_version == known_schema_version()
        check = await store.fetchone("PRAGMA integrity_check")
        assert check is not None and check[0] == "ok"


def test_backup_into_a_folder_names_the_file_by_date(tmp_path):
    live = tmp_path / "vgbot.sqlite3"
    asyncio.run(_create(live))
    folder = tmp_path / "backups"
    folder.mkdir()
    snapshot = backup(live, folder, now=NOW)
    assert snapshot.path == folder / "vgbot-20260301-123005.sqlite3"
    assert [p.name for p in folder.iterdir()] == [snapshot.path.name]  # no temp file left


def test_backup_replaces_an_older_backup_atomically(tmp_path):
    live = tmp_path / "vgbot.sqlite3"
    asyncio.run(_create(live))
    dest = tmp_path / "b.sqlite3"
    dest.write_text("an old backup")
    backup(live, dest, now=NOW)
    assert inspect_database(dest).schema_version == known_schema_version()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no database at"),
        ("text", "is not an SQLite database"),
        ("folder", "is not a file"),
    ],
)
def test_backup_refuses_a_source_that_is_not_a_database(tmp_path, setup, message):
    live = tmp_path / "vgbot.sqlite3"
    if setup == "text":
        live.write_text("hello")
    elif setup == "folder":
        live.mkdir()
    with pytest.raises(BackupError, match=message):
        backup(live, tmp_path / "b.sqlite3", now=NOW)
    assert not (tmp_path / "b.sqlite3").exists()


def test_backup_refuses_to_overwrite_the_live_database_or_a_missing_folder(tmp_path):
    live = tmp_path / "vgbot.sqlite3"
    asyncio.run(_create(live))
    with pytest.raises(BackupError, match="is the live database"):
        backup(live, tmp_path / "." / "vgbot.sqlite3", now=NOW)
    with pytest.raises(BackupError, match="is the live database"):
        backup(live, tmp_path / "vgbot.sqlite3-wal", now=NOW)
    with pytest.raises(BackupError, match="mkdir -p"):
        backup(live, tmp_path / "nope" / "b.sqlite3", now=NOW)


async def test_restore_refuses_while_the_database_is_open(tmp_path):
    live, copy = tmp_path / "vgbot.sqlite3", tmp_path / "b.sqlite3"
    async with await open_store(live):
        backup(live, copy, now=NOW)
        with pytest.raises(BackupError, match="in use .*stop the bot first"):
            restore(copy, live, now=NOW)
    assert not list(tmp_path.glob("*before-restore*"))


def test_restore_refuses_a_newer_schema_and_non_databases(tmp_path):
    live, copy = tmp_path / "vgbot.sqlite3", tmp_path / "b.sqlite3"
    asyncio.run(_create(live))
    backup(live, copy, now=NOW)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)")
        conn.commit()
    with pytest.raises(BackupError, match="schema version 9999, newer than this vgbot knows"):
        restore(copy, live, now=NOW)

    other = tmp_path / "other.sqlite3"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(BackupError, match="not a vgbot one"):
        restore(other, live, now=NOW)

    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    with pytest.raises(BackupError, match="not an SQLite database"):
        restore(text, live, now=NOW)

    truncated = tmp_path / "cut.sqlite3"
    truncated.write_bytes(copy.read_bytes()[: 4096 * 3])
    with pytest.raises(BackupError):
        restore(truncated, live, now=NOW)
    assert not list(tmp_path.glob("*before-restore*"))  # nothing was touched
    assert inspect_database(live).schema_version == known_schema_version()


def test_restore_to_a_new_path_creates_the_database(tmp_path):
    live, copy = tmp_path / "vgbot.sqlite3", tmp_path / "b.sqlite3"
    asyncio.run(_create(live))
    backup(live, copy, now=NOW)
    target = tmp_path / "fresh" / "vgbot.sqlite3"
    restored = restore(copy, target, now=NOW)
    assert restored.kept is None and not restored.migrations_pending
    assert inspect_database(target).schema_version == known_schema_version()


async def test_a_restored_database_knows_when_its_backup_was_taken_and_restored(tmp_path):
    live, copy = tmp_path / "vgbot.sqlite3", tmp_path / "b.sqlite3"
    await _create(live)
    backup(live, copy, now=NOW)
    later = NOW + timedelta(days=2)
    restore(copy, live, now=later)
    async with await open_store(live) as store:
        assert await Outbox(store).restore_marks() == (later, NOW)
    async with await open_store(copy) as store:  # the backup itself was never restored
        assert await Outbox(store).restore_marks() is None


def test_the_command_line_backs_up_and_restores(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VGBOT_DB", raising=False)
    live, copy = tmp_path / "vgbot.sqlite3", tmp_path / "b.sqlite3"
    asyncio.run(_create(live))
    assert main(["--db", str(live), "backup", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"backup written to {copy}" in out and "integrity check ok" in out
    assert main(["--db", str(live), "restore", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"restored {live} from {copy}" in out and "before-restore" in out
    assert main(["--db", str(live), "restore", str(tmp_path / "nope")]) == 1
    assert "error: no backup at" in capsys.readouterr().err


async def _create(path: Path) -> None:
    store = await open_store(path)
    await store.close()


def _no_file_over(size: int) -> None:
    # Runs in the child: writes past `size` bytes fail as on a full disk (EFBIG, not a kill).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))


def test_a_backup_that_cannot_be_written_blames_the_target_not_the_live_database(tmp_path):
    live, copy = tmp_path / "vgbot.sqlite3", tmp_path / "backups" / "b.sqlite3"
    asyncio.run(_create(live))
    copy.parent.mkdir()
    assert live.stat().st_size > 65536
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(live), "backup", str(copy)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        preexec_fn=lambda: _no_file_over(65536),
    )
    assert out.returncode == 1
    assert f"cannot write {copy}" in out.stderr and "full?" in out.stderr
    assert f"cannot read {live}" not in out.stderr and "Traceback" not in out.stderr
    assert list(copy.parent.iterdir()) == []  # no half-written file left behind


def test_a_restore_onto_a_full_disk_blames_the_disk_and_keeps_the_database(tmp_path):
    live, bigger = tmp_path / "vgbot.sqlite3", tmp_path / "big.sqlite3"
    asyncio.run(_create(live))
    asyncio.run(_create(bigger))
    with contextlib.closing(sqlite3.connect(bigger)) as conn, conn:
        conn.executemany(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, 0)",
            ((f"row:{n}", "x" * 1000) for n in range(1000)),
        )
    before = rows(live, "SELECT key, value FROM meta ORDER BY key")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(live), "restore", str(bigger)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        preexec_fn=lambda: _no_file_over(512 * 1024),  # the kept copy fits, the restore not
    )
    assert out.returncode == 1
    assert f"cannot write {live}" in out.stderr and "full?" in out.stderr
    assert f"cannot read {bigger}" not in out.stderr and "Traceback" not in out.stderr
    assert rows(live, "SELECT key, value FROM meta ORDER BY key") == before

"""The database file: pragmas, migrations (fresh, upgrade, too new), clear errors."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest

from bot.store.db import (
    Migration,
    StoreError,
    check_migrations,
    discover_migrations,
    open_store,
    read_quietly,
)


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_fresh_database_is_created_with_every_migration_and_wal(tmp_path):
    path = tmp_path / "nested" / "folder" / "bot.sqlite3"
    async with await open_store(path) as store:
        assert store.schema_version == discover_migrations()[-1].version
        mode = await store.fetchone("PRAGMA journal_mode")
        assert mode is not None and mode[0] == "wal"
        fk = await store.fetchone("PRAGMA foreign_keys")
        assert fk is not None and fk[0] == 1
    assert {"episodes", "topics", "docs", "content_files", "schema_version"} <= _tables(path)


async def test_an_older_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "bot.sqlite3"
    steps = discover_migrations()
    async with await open_store(path, migrations=steps[:1]) as store:
        assert store.schema_version == 1
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO topics (slug, title) VALUES ('defensible-moats', 'Defensible moats')"
            )
    assert "docs" not in _tables(path)
    async with await open_store(path) as store:
        assert store.schema_version == steps[-1].version
        row = await store.fetchone("SELECT title FROM topics")
        assert row is not None and row[0] == "Defensible moats"  # data kept
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [m.version for m in steps]


async def test_reopening_runs_nothing_twice(tmp_path):
    path = tmp_path / "bot.sqlite3"
    async with await open_store(path):
        pass
    async with await open_store(path) as store:
        rows = await store.fetchall("SELECT version, count(*) FROM schema_version GROUP BY 1")
        assert all(r[1] == 1 for r in rows)


async def test_a_database_from_newer_code_is_refused_with_advice(tmp_path):
    path = tmp_path / "bot.sqlite3"
    async with await open_store(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)")
    with pytest.raises(StoreError, match=r"schema version 9999, newer than this code.*upgrade"):
        await open_store(path)


async def test_a_quiet_read_reads_again_when_a_writer_turned_up_during_it(tmp_path):
    path = tmp_path / "bot.sqlite3"
    async with await open_store(path, migrations=discover_migrations()[:1]) as store:
        async with store.transaction() as db:
            await db.execute("INSERT INTO topics (slug, title) VALUES ('moats', 'Moats')")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.sqlite3"]
    writer: list[sqlite3.Connection] = []

    def titles(conn: sqlite3.Connection) -> list[str]:
        seen = [r[0] for r in conn.execute("SELECT title FROM topics ORDER BY 1")]
        if not writer:  # the bot starts while the first read runs, and writes
            writer.append(sqlite3.connect(path, isolation_level=None))
            writer[0].execute("INSERT INTO topics (slug, title) VALUES ('evals', 'Evals')")
        return seen

    try:
        assert read_quietly(path, titles) == ["Evals", "Moats"]
    finally:
        writer[0].close()
    # Nobody writing: nothing left beside the file.
    count = read_quietly(path, lambda conn: conn.execute("SELECT count(*) FROM topics").fetchone())
    assert count[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.sqlite3"]


async def test_a_quiet_read_torn_by_a_writer_is_read_again_not_called_damaged(tmp_path):
    # The quiet read takes no lock: a bot that starts, rewrites pages and closes while the
    # doctor reads makes that read fail as 'malformed'. The file is fine; only a read that
    # nothing disturbed may say it is not.
    path = tmp_path / "bot.sqlite3"
    async with await open_store(path, migrations=discover_migrations()[:1]) as store:
        async with store.transaction() as db:
            await db.executemany(
                "INSERT INTO topics (slug, title) VALUES (?, ?)",
                [(f"t{n}", "x" * 500) for n in range(200)],
            )
    reads = []

    def check(conn: sqlite3.Connection) -> str:
        reads.append(conn.execute("SELECT name FROM sqlite_master").fetchall())
        if len(reads) == 1:  # a writer comes and goes under the first read
            with closing(sqlite3.connect(path, isolation_level=None)) as writer:
                writer.execute("DELETE FROM topics WHERE slug > 't1'")
                writer.execute("VACUUM")
        return str(conn.execute("PRAGMA quick_check").fetchone()[0])

    assert read_quietly(path, check) == "ok"
    assert len(reads) == 2  # read again the usual way, with locks


async def test_a_file_that_is_not_a_database_is_named(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"this is a text file, not SQLite\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.sqlite3 is not a usable SQLite database"):
        await open_store(path)


async def test_a_failing_migration_leaves_the_previous_version(tmp_path):
    path = tmp_path / "bot.sqlite3"
    steps = [
        Migration(1, "one", "CREATE TABLE one (x INTEGER);"),
        Migration(2, "two", "CREATE TABLE two (x INTEGER); CREATE TABLE one (y INTEGER);"),
    ]
    with pytest.raises(StoreError, match="table one already exists"):
        await open_store(path, migrations=steps)
    tables = _tables(path)
    assert "one" in tables and "two" not in tables  # step 2 rolled back as a whole
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 1


def test_two_migrations_with_one_number_are_refused():
    with pytest.raises(StoreError, match="two migrations have version 3: 'a' and 'b'"):
        check_migrations([Migration(3, "a", ""), Migration(3, "b", "")])


def test_shipped_migrations_have_distinct_versions_and_sql():
    steps = discover_migrations()
    assert [m.version for m in steps] == sorted({m.version for m in steps})
    assert all(m.sql.strip() for m in steps)


async def test_transaction_rolls_back_on_error(tmp_path):
    async with await open_store(tmp_path / "bot.sqlite3") as store:
        with pytest.raises(RuntimeError):
            async with store.transaction() as db:
                await db.execute("INSERT INTO topics (slug, title) VALUES ('a', 'A')")
                raise RuntimeError("boom")
        assert await store.fetchall("SELECT * FROM topics") == []
        async with store.transaction() as db:  # the connection is usable again
            await db.execute("INSERT INTO topics (slug, title) VALUES ('a', 'A')")
        assert len(await store.fetchall("SELECT * FROM topics")) == 1


async def test_reads_run_on_one_reader_thread_and_errors_reach_the_caller(tmp_path):
    import asyncio
    import threading

    store = await open_store(tmp_path / "bot.sqlite3")
    names = await asyncio.gather(
        *(store.read(lambda c: threading.current_thread().name) for _ in range(20))
    )
    assert set(names) == {"sqlite-reader"}
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await store.fetchall("SELECT * FROM nowhere")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store.fetchall("CREATE TABLE t (x)")
    started = threading.Event()
    release = threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        started.set()
        release.wait(5)
        return 1

    pending = asyncio.ensure_future(store.read(slow))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    pending.cancel()  # the caller gave up: the reader finishes the job and carries on
    release.set()
    assert (await store.fetchone("SELECT 41 + 1"))[0] == 42
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.fetchall("SELECT 1")


# A read that walks a million rows: far more than any budget below allows.
_LONG = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) "
    "SELECT count(*) FROM n"
)


async def test_a_quick_read_runs_on_the_loop_thread_and_sees_the_last_commit(tmp_path):
    import threading

    async with await open_store(tmp_path / "bot.sqlite3") as store:
        async with store.transaction() as db:
            await db.execute("INSERT INTO topics (slug, title) VALUES ('a', 'A')")

        def read(conn: sqlite3.Connection) -> tuple[str, int]:
            n = conn.execute("SELECT count(*) FROM topics").fetchone()[0]
            return threading.current_thread().name, n

        assert await store.read_quick(read) == (threading.current_thread().name, 1)
        async with store.transaction() as db:
            await db.execute("INSERT INTO topics (slug, title) VALUES ('b', 'B')")
        assert (await store.read_quick(read))[1] == 2
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.read_quick(lambda c: c.execute("CREATE TABLE t (x)"))
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await store.read_quick(lambda c: c.execute("SELECT * FROM nowhere").fetchall())


async def test_a_read_over_the_budget_is_finished_on_the_reader_thread(tmp_path):
    import threading

    async with await open_store(tmp_path / "bot.sqlite3") as store:
        threads: list[str] = []

        def long(conn: sqlite3.Connection) -> int:
            threads.append(threading.current_thread().name)
            return conn.execute(_LONG).fetchone()[0]

        store.quick.budget = 0.0  # interrupted at its first look at the clock
        assert await store.read_quick(long) == 1_000_000
        assert threads == [threading.current_thread().name, "sqlite-reader"]
        # The interrupted connection is fine for the next read.
        store.quick.budget = 60.0
        assert await store.read_quick(lambda c: c.execute("SELECT 41 + 1").fetchone()[0]) == 42


async def test_a_busy_database_sends_a_quick_read_to_the_reader_thread(tmp_path):
    import threading

    # Under WAL a reader is only refused in rare moments (another process recovering the WAL
    # after a crash): SQLite then says SQLITE_BUSY, as raised here on the loop thread.
    async with await open_store(tmp_path / "bot.sqlite3") as store:
        threads: list[str] = []

        def read(conn: sqlite3.Connection) -> int:
            threads.append(threading.current_thread().name)
            if len(threads) == 1:
                busy = sqlite3.OperationalError("database is locked")
                busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
                raise busy
            return conn.execute("SELECT count(*) FROM topics").fetchone()[0]

        assert await store.read_quick(read) == 0
        assert threads == [threading.current_thread().name, "sqlite-reader"]


async def test_a_quick_read_from_another_thread_goes_to_the_reader_thread(tmp_path):
    import threading

    async with await open_store(tmp_path / "bot.sqlite3") as store:
        assert await store.read_quick(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1

        def elsewhere() -> list[str]:  # another event loop, in another thread
            async def read() -> str:
                return await store.read_quick(lambda c: threading.current_thread().name)

            return [asyncio.run(read())]

        assert await asyncio.to_thread(elsewhere) == ["sqlite-reader"]


async def test_a_store_first_read_quickly_from_another_thread_closes_from_this_one(tmp_path):
    store = await open_store(tmp_path / "bot.sqlite3")

    def elsewhere() -> int:
        async def read() -> int:
            return await store.read_quick(lambda c: c.execute("SELECT 41 + 1").fetchone()[0])

        return asyncio.run(read())

    assert await asyncio.to_thread(elsewhere) == 42  # the quick connection is that thread's
    assert await store.read_quick(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1
    await store.close()  # from this thread: no "objects created in a thread" error

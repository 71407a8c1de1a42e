"""Content sync: incremental, atomic, nothing lost to a broken file, deletions followed."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.content import load_dir
from bot.core.models import Episode, Passage
from bot.store import catalog, search
from bot.store.db import StoreError, open_store
from bot.store.sync import sync_content
from tests.store.files import (
    Ep,
    small_catalogue,
    topic,
    write_episode,
    write_topics,
    write_transcript,
)


@pytest.fixture
async def store(tmp_path):
    async with await open_store(tmp_path / "db" / "bot.sqlite3") as s:
        yield s


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "content"
    small_catalogue(path)
    return path


async def _numbers(store) -> list[int]:
    rows = await store.fetchall("SELECT number FROM episodes ORDER BY number")
    return [r[0] for r in rows]


async def _search_count(store, word: str) -> int:
    row = await store.fetchone("SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?", (word,))
    return int(row[0]) if row else 0


def _bump_mtime(path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def _age(root, seconds: int = 60) -> None:
    """Make every file look written a while ago, so size+mtime can be trusted."""
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


async def test_first_sync_loads_everything_second_parses_nothing(store, root):
    _age(root)
    first = await sync_content(store, root)
    assert (first.added, first.changed, first.removed, first.problems) == (3, 0, 0, [])
    assert first.parsed == 5  # 3 episodes, topics.yaml, 1 transcript
    assert await _numbers(store) == [11, 12, 13]

    second = await sync_content(store, root)
    assert (second.added, second.changed, second.removed, second.unchanged) == (0, 0, 0, 3)
    assert second.parsed == 0
    assert second.problems == []
    assert not second.topics_changed


async def test_synced_catalogue_equals_what_load_dir_reads(store, root):
    await sync_content(store, root)
    loaded = load_dir(root)
    for expected in loaded.episodes:
        got = await catalog.get_episode(store, number=expected.number, with_transcript=True)
        assert got == expected
    assert await catalog.list_topics(store) == sorted(loaded.topics, key=lambda t: t.title.lower())


async def test_touched_but_identical_file_is_not_parsed(store, root):
    await sync_content(store, root)
    _bump_mtime(root / "episodes/011-great-stagnation.md")
    report = await sync_content(store, root)
    assert report.parsed == 0 and report.unchanged == 3


async def test_files_stored_by_older_code_are_read_again_once_after_an_upgrade(store, root):
    """The files have not changed since older code stored them, but that code read them
    differently: before 3116b61 a 'Name: [00:03:12] words' transcript kept its times as text,
    with no time to cite. The first sync after the upgrade reads every file again (the
    database notes no catalogue format, as older code wrote none); later syncs trust them."""
    write_transcript(
        root,
        "transcripts/012.txt",
        "Hugo: [00:00:05] Welcome back to the show.\n\n"
        "Ana: [00:01:40] Defensible moats of data that nobody else can collect.\n",
    )
    _age(root)
    await sync_content(store, root)
    expected = next(e for e in load_dir(root).episodes if e.number == 12).transcript
    assert expected and expected[0].start == 5.0
    # The database as the older version left it: its passages, and no format noted.
    old_passage = Passage(
        "Hugo: [00:00:05] Welcome back to the show.\n"
        "Ana: [00:01:40] Defensible moats of data that nobody else can collect.",
        None,
        None,
    )
    (row,) = await store.fetchall("SELECT id FROM episodes WHERE number = 12")
    async with store.transaction() as db:
        await catalog.write_passages(db, [(row["id"], (old_passage,))])
        await db.execute("DELETE FROM meta WHERE key = 'content_format'")

    upgraded = await sync_content(store, root)
    assert upgraded.problems == [] and upgraded.parsed == 5  # every file, once
    got = await catalog.get_episode(store, number=12, with_transcript=True)
    assert got is not None and got.transcript == expected
    assert await _search_count(store, "nobody") == 1  # the index follows
    assert (await sync_content(store, root)).parsed == 0


async def test_edited_episode_is_updated_in_place(store, root):
    await sync_content(store, root)
    before = await catalog.get_episode(store, number=13)
    ep = Ep(
        13,
        "Causal Inference for Product Teams",
        slug="causal-inference",
        topics=["causal-inference"],
        summary="Jo explains instrumental variables with a lighthouse example.",
    )
    write_episode(root, ep)
    report = await sync_content(store, root)
    assert (report.changed, report.unchanged, report.parsed) == (1, 2, 1)
    after = await catalog.get_episode(store, number=13)
    assert after is not None and before is not None
    assert "lighthouse" in after.summary
    assert await _search_count(store, "lighthouse") == 1
    assert await _search_count(store, "correlations") == 0  # the old summary left the index


async def test_deleted_episode_file_removes_the_episode_and_its_index(store, root):
    await sync_content(store, root)
    assert await _search_count(store, "forecasting") > 0
    (root / "episodes/012-retail-forecasting.md").unlink()
    report = await sync_content(store, root)
    assert (report.removed, report.unchanged) == (1, 2)
    assert await _numbers(store) == [11, 13]
    assert await _search_count(store, "forecasting") == 0
    assert await _search_count(store, "grocer") == 0
    assert await _search_count(store, "nobody") == 0  # its transcript too
    rows = await store.fetchall("SELECT path FROM content_files ORDER BY path")
    assert [r[0] for r in rows] == [
        "episodes/011-great-stagnation.md",
        "episodes/013-causal-inference.md",
        "topics.yaml",
    ]


async def test_broken_file_keeps_its_previous_version_and_is_reported(store, root):
    await sync_content(store, root)
    path = root / "episodes/011-great-stagnation.md"
    path.write_text(path.read_text().replace("number: 11", "number: eleven"))
    report = await sync_content(store, root)
    assert report.problems, "the broken file must be reported"
    assert all(p.path == "episodes/011-great-stagnation.md" for p in report.problems)
    assert any(p.field == "number" for p in report.problems)
    kept = await catalog.get_episode(store, number=11)
    assert kept is not None and kept.title == "Data Science: The Great Stagnation"
    # Still broken next time: still reported (not silently recorded as synced).
    again = await sync_content(store, root)
    assert again.problems == report.problems
    # Fixed: the new version replaces the old one.
    path.write_text(
        path.read_text().replace("number: eleven", "number: 11").replace("Mark", "Marc")
    )
    fixed = await sync_content(store, root)
    assert fixed.problems == [] and fixed.changed == 1
    ep = await catalog.get_episode(store, number=11)
    assert ep is not None and ep.guests[0].name == "Marc Saroufim"


async def test_broken_transcript_keeps_the_previous_passages(store, root):
    await sync_content(store, root)
    before = await catalog.get_episode(store, number=12, with_transcript=True)
    assert before is not None and before.transcript
    (root / "transcripts/012.txt").write_bytes(b"")
    report = await sync_content(store, root)
    assert report.problems and report.problems[0].path.startswith("transcripts/012")
    after = await catalog.get_episode(store, number=12, with_transcript=True)
    assert after is not None and after.transcript == before.transcript


async def test_missing_transcript_is_reported_and_the_old_one_kept(store, root):
    await sync_content(store, root)
    (root / "transcripts/012.txt").unlink()
    report = await sync_content(store, root)
    assert [(p.path, p.field) for p in report.problems] == [
        ("episodes/012-retail-forecasting.md", "transcript")
    ]
    assert "not found" in report.problems[0].message
    assert await _search_count(store, "nobody") == 1


async def test_changed_transcript_replaces_passages_only(store, root):
    await sync_content(store, root)
    (root / "transcripts/012.txt").write_text("[00:00:01] Ana: Lighthouses and moats.\n")
    report = await sync_content(store, root)
    assert (report.changed, report.unchanged, report.parsed) == (1, 2, 1)
    assert await _search_count(store, "lighthouses") == 1
    assert await _search_count(store, "nobody") == 0
    assert await _search_count(store, "grocer") == 1  # the notes were not touched


async def test_topics_file_change_replaces_topics(store, root):
    await sync_content(store, root)
    write_topics(
        root,
        [
            topic("defensible-moats", "Defensible moats", aliases=["moats"]),
            topic("open-source-risk", "Open source risk"),
            topic("data-science-as-role-play", "Data science as theatre"),
            topic("causal-inference", "Causal inference"),
        ],
    )
    assert await _search_count(store, "larp") == 1
    report = await sync_content(store, root)
    assert report.topics_changed and report.parsed == 1 and report.problems == []
    titles = {t.slug: t.title for t in await catalog.list_topics(store)}
    assert titles["open-source-risk"] == "Open source risk"
    assert await _search_count(store, "theatre") == 1
    assert await _search_count(store, "larp") == 0  # the old alias left the index


async def test_duplicate_number_leaves_the_later_file_out_like_load_dir(store, root):
    await sync_content(store, root)
    write_episode(root, Ep(13, "Another Thirteen", slug="zz-another", summary="Duplicate."))
    report = await sync_content(store, root)
    assert [(p.path, p.field) for p in report.problems] == [
        ("episodes/013-zz-another.md", "number")
    ]
    assert await _numbers(store) == [11, 12, 13]
    ep = await catalog.get_episode(store, number=13)
    assert ep is not None and ep.title == "Causal Inference for Product Teams"
    assert {e.number: e.title for e in load_dir(root).episodes}[13] == ep.title
    # Reported at every sync until fixed, without re-reading the files that are fine.
    again = await sync_content(store, root)
    assert again.problems == report.problems and again.parsed == 1


@pytest.mark.parametrize(
    ("stray", "name"),
    [
        (Ep(13, "Oops a copy", slug="oops-a-copy", summary="A copy."), "0013-oops-a-copy.md"),
        (Ep(10, "Same slug", slug="causal-inference", summary="A copy."), None),
    ],
)
async def test_a_stray_file_sorting_first_never_replaces_a_stored_episode(store, root, stray, name):
    await sync_content(store, root)
    before = await catalog.get_episode(store, number=13)
    assert before is not None
    path = write_episode(root, stray)  # sorts before the stored 013-causal-inference.md
    if name is not None:
        path.rename(path.with_name(name))
    report = await sync_content(store, root)
    (problem,) = report.problems
    assert problem.path != before.source and before.source in problem.message, problem
    after = await catalog.get_episode(store, number=13)
    assert after is not None and after.title == before.title and report.removed == 0


async def test_topics_kept_are_the_ones_load_dir_keeps(store, root):
    # An alias naming a LATER topic's title, a repeated slug, a related slug that is no topic.
    write_topics(
        root,
        [
            topic("defensible-moats", "Defensible moats", aliases=["Open source risk", "moats"]),
            topic("open-source-risk", "Open source risk", related=["no-such-topic"]),
            topic("data-science-as-role-play", "Data science as role play"),
            topic("causal-inference", "Causal inference"),
            topic("causal-inference", "Causal inference again"),
        ],
    )
    report = await sync_content(store, root)
    loaded = load_dir(root)

    assert {(p.path, p.field) for p in report.problems} == {
        ("topics.yaml", "aliases"),
        ("topics.yaml", "related"),
        ("topics.yaml", "slug"),
    }
    assert await catalog.list_topics(store) == sorted(loaded.topics, key=lambda t: t.title.lower())
    moats = next(t for t in loaded.topics if t.slug == "defensible-moats")
    assert moats.aliases == ("moats",)


async def test_unknown_topic_is_reported_and_the_episode_kept(store, root):
    write_episode(root, Ep(14, "Moats Again", slug="moats-again", topics=["defensible-moat"]))
    report = await sync_content(store, root)
    assert [(p.path, p.field) for p in report.problems] == [
        ("episodes/014-moats-again.md", "topics")
    ]
    assert "did you mean 'defensible-moats'" in report.problems[0].hint
    ep = await catalog.get_episode(store, number=14)
    assert ep is not None and ep.topics == ()
    assert (await sync_content(store, root)).problems == report.problems


async def test_failure_midway_leaves_the_previous_catalogue(store, root):
    await sync_content(store, root)
    (root / "episodes/013-causal-inference.md").unlink()
    write_episode(root, Ep(14, "Brand New", slug="brand-new", summary="Lighthouses."))
    (root / "transcripts/012.txt").write_text("[00:00:01] Ana: Totally new words.\n")

    def fail_at_passages(stage: str) -> None:
        if stage == "passages":
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await sync_content(store, root, progress=fail_at_passages)
    assert await _numbers(store) == [11, 12, 13]
    assert await _search_count(store, "lighthouses") == 0
    assert await _search_count(store, "nobody") == 1
    # The next sync does all of it: nothing was recorded as done.
    report = await sync_content(store, root)
    assert (report.added, report.removed, report.changed) == (1, 1, 1)
    assert await _numbers(store) == [11, 12, 14]


async def test_readers_see_the_old_catalogue_until_commit(store, root):
    await sync_content(store, root)
    (root / "episodes/012-retail-forecasting.md").unlink()
    seen: list[list[int]] = []

    async def look(stage: str) -> None:  # runs inside the write transaction
        if stage == "files":
            seen.append(await _numbers(store))

    await sync_content(store, root, progress=look)
    assert seen == [[11, 12, 13]]
    assert await _numbers(store) == [11, 13]


async def test_missing_content_folder_changes_nothing(store, root, tmp_path):
    await sync_content(store, root)
    report = await sync_content(store, tmp_path / "nowhere")
    assert report.problems and "content folder not found" in report.problems[0].message
    assert await _numbers(store) == [11, 12, 13]


async def test_missing_topics_file_keeps_the_topics(store, root):
    await sync_content(store, root)
    (root / "topics.yaml").unlink()
    report = await sync_content(store, root)
    assert [p.path for p in report.problems] == ["topics.yaml"]
    assert len(await catalog.list_topics(store)) == 4


async def test_stray_files_in_episodes_are_reported(store, root):
    (root / "episodes" / "notes.txt").write_text("not an episode")
    (root / "episodes" / ".DS_Store").write_bytes(b"\0")
    report = await sync_content(store, root)
    assert [(p.path, p.message) for p in report.problems] == [
        ("episodes/notes.txt", "is not an episode file")
    ]


async def test_shipped_content_syncs_cleanly(store, content_root, tmp_path):
    root = tmp_path / "shipped"
    shutil.copytree(content_root, root)
    report = await sync_content(store, root)
    assert report.problems == []
    loaded = load_dir(root)
    assert report.added == len(loaded.episodes) > 0
    for ep in loaded.episodes:
        got = await catalog.get_episode(store, number=ep.number, with_transcript=True)
        assert got == ep


async def test_feed_episodes_are_upserted_and_content_wins(store, root):
    await sync_content(store, root)
    feed = "https://example.com/feed.xml"
    items = [
        Episode(number=20, title="From The Feed", slug="from-the-feed", released=None, guid="g20"),
        Episode(number=11, title="Feed copy of 11", slug="feed-11", released=None, guid="g11"),
    ]
    first = await catalog.upsert_episodes(store, items, feed)
    assert (first.added, first.skipped) == (1, 1)
    again = await catalog.upsert_episodes(store, items, feed)
    assert (again.added, again.unchanged, again.skipped) == (0, 1, 1)
    ep = await catalog.get_episode(store, number=20)
    assert ep is not None and ep.source == feed and ep.guid == "g20"
    # The feed item later gets curated notes in content/: the notes replace it.
    write_episode(root, Ep(20, "From The Feed, Annotated", slug="from-the-feed-annotated"))
    report = await sync_content(store, root)
    assert report.added == 1
    rows = await store.fetchall("SELECT origin, title FROM episodes WHERE number = 20")
    assert [tuple(r) for r in rows] == [("content", "From The Feed, Annotated")]


async def test_a_feed_episode_sharing_only_a_slug_survives_the_content_sync(store, root):
    """A feed episode of another number whose title gives a content/ episode's slug (a rerun,
    a part two) is its own episode (catalog.ContentClaims): rewriting the content/ episode (an
    edit, or the re-read after an upgrade) must not delete it."""
    await sync_content(store, root)
    feed = "https://example.com/feed.xml"
    rerun = Episode(
        number=40, title="Data Science: The Great Stagnation", slug="great-stagnation",
        released=None, guid="g40",
    )  # fmt: skip
    assert (await catalog.upsert_episodes(store, [rerun], feed)).added == 1
    path = root / "episodes/011-great-stagnation.md"
    path.write_text(path.read_text().replace("open source", "open-source software"))
    assert (await sync_content(store, root)).changed == 1
    rows = await store.fetchall("SELECT origin, number FROM episodes WHERE slug = ?", (rerun.slug,))
    assert sorted(tuple(r) for r in rows) == [("content", 11), ("feed", 40)]


async def test_feed_episodes_stored_with_the_first_hash_are_still_known(store):
    # Hashes written before the transcript was hashed as plain tuples: still "unchanged".
    feed = "https://example.com/feed.xml"
    told = (Passage("Hello there.", 0.0, 4.5), Passage("More words.", 4.5, None))
    items = [
        Episode(number=n, title=f"E{n}", slug=f"e{n}", released=None, guid=f"g{n}", transcript=told)
        for n in (30, 31)
    ]
    await catalog.upsert_episodes(store, items, feed)
    async with store.transaction() as db:
        for ep in items:
            first_hash = hashlib.blake2b(repr(ep).encode(), digest_size=16).hexdigest()
            await db.execute(
                "UPDATE episodes SET content_hash = ? WHERE guid = ?", (first_hash, ep.guid)
            )
    edited = [items[0], replace(items[1], transcript=(Passage("Changed.", 0.0, 4.5),))]
    again = await catalog.upsert_episodes(store, edited, feed)
    assert (again.unchanged, again.changed) == (1, 1)
    third = await catalog.upsert_episodes(store, edited, feed)
    assert (third.unchanged, third.changed) == (2, 0)


async def test_a_big_load_merges_the_index(store, root):
    _age(root)
    stages: list[str] = []
    await sync_content(store, root, progress=stages.append, optimize_after=1)
    assert stages == ["episodes", "topics", "passages", "index", "files", "optimize"]
    assert await _search_count(store, "forecasting") == 2  # title and section of 12
    stages.clear()
    await sync_content(store, root, progress=stages.append, optimize_after=1)
    assert stages == []  # nothing changed: no transaction at all


@pytest.mark.parametrize("workers", [1, 2])
async def test_notes_documents_are_the_ones_search_builds(root, tmp_path, workers):
    # Built in the parsing job for episode id 0, they are given their id by the writer.
    async with await open_store(tmp_path / f"w{workers}.sqlite3") as store:
        await sync_content(store, root, workers=workers, parallel_min=1)
        for ep in load_dir(root).episodes:
            row = await store.fetchone("SELECT id FROM episodes WHERE number = ?", (ep.number,))
            assert row is not None
            got = await store.fetchall(
                f"SELECT {search.DOC_COLUMNS} FROM docs "
                "WHERE episode_id = ? AND kind <> 'passage' ORDER BY id",
                (row[0],),
            )
            assert [tuple(r) for r in got] == search.notes_docs(row[0], ep)


async def _index_segments(store) -> int:
    # FTS5 stores segment s's pages at ids s << 37 and up (FTS5_SEGMENT_ROWID in fts5_index.c).
    row = await store.fetchone(
        "SELECT count(DISTINCT id >> 37) FROM docs_fts_data WHERE id >= (1 << 37)"
    )
    return int(row[0]) if row else 0


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_first_bulk_load_writes_the_index_as_one_segment(root, tmp_path, workers):
    # Passages (the lowest document ids) first, then notes and topics: in rowid order, FTS5
    # never has to write its pending entries out early, so there is nothing to merge.
    _age(root)
    async with await open_store(tmp_path / f"w{workers}.sqlite3") as store:
        report = await sync_content(
            store, root, bulk_min=1, workers=workers, parallel_min=1, optimize_after=10**9
        )
        assert (report.added, report.problems) == (3, [])
        assert await _index_segments(store) == 1
        assert await _search_count(store, "forecasting") == 2
        assert await _search_count(store, "café") == 1  # a passage of episode 12


async def _fts_hashsize(store) -> int | None:
    row = await store.fetchone("SELECT v FROM docs_fts_config WHERE k = 'hashsize'")
    return None if row is None else int(row[0])


async def test_a_bulk_load_restores_the_index_buffer_size_or_rolls_it_back(store, root):
    def fail(stage: str) -> None:
        if stage == "topics":
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError):
        await sync_content(store, root, progress=fail, bulk_min=1)
    assert await _fts_hashsize(store) is None  # rolled back with everything else
    assert await _numbers(store) == []

    await sync_content(store, root, bulk_min=1)
    assert await _fts_hashsize(store) == catalog.FTS_HASHSIZE
    assert await _search_count(store, "forecasting") == 2


async def test_parsing_in_worker_processes_gives_the_same_catalogue(root, tmp_path):
    async with await open_store(tmp_path / "parallel.sqlite3") as parallel:
        report = await sync_content(parallel, root, workers=2, parallel_min=1)
        assert (report.added, report.parsed, report.problems) == (3, 5, [])
        for ep in load_dir(root).episodes:
            got = await catalog.get_episode(parallel, number=ep.number, with_transcript=True)
            assert got == ep


def test_when_worker_processes_die_the_files_are_parsed_here(root, tmp_path):
    # A script without a `__main__` guard: every spawned worker re-runs it and dies while
    # starting, so the pool breaks after the jobs were submitted.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import asyncio, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
        "from pathlib import Path\n"
        "from bot.store.db import open_store\n"
        "from bot.store.sync import sync_content\n"
        "async def main():\n"
        f"    async with await open_store(Path({str(tmp_path / 'w.sqlite3')!r})) as store:\n"
        f"        r = await sync_content(store, Path({str(root)!r}), workers=2, parallel_min=1)\n"
        "        print('RESULT', r.added, r.parsed, len(r.problems))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RESULT 3 5 0" in done.stdout
    assert "parsing in this process: worker processes failed" in done.stderr


async def test_episodes_of_a_topic_newest_first(store, root):
    write_episode(root, Ep(14, "Moats Again", slug="moats-again", topics=["defensible-moats"]))
    await sync_content(store, root)
    episodes = await catalog.episodes_of_topic(store, "defensible-moats")
    assert [e.number for e in episodes] == [14, 11]
    assert await catalog.episodes_of_topic(store, "no-such-topic") == []


async def test_a_database_error_midway_is_explained_and_rolled_back(store, root):
    def disk_full(stage: str) -> None:
        if stage == "passages":
            raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreError, match=r"bot\.sqlite3: database or disk is full"):
        await sync_content(store, root, progress=disk_full)
    assert await _numbers(store) == []
    assert (await sync_content(store, root)).added == 3


def _feed_episodes(word: str, count: int = 40) -> list[Episode]:
    """Feed items with the word once in their notes and once in each of 3 passages."""
    return [
        Episode(
            number=n,
            title=f"Feed episode {n}",
            slug=f"feed-{n}",
            released=None,
            guid=f"g{n}",
            summary=f"Notes of episode {n} about {word}.",
            transcript=tuple(Passage(f"passage {k} on {word}", k * 60.0, None) for k in range(3)),
        )
        for n in range(1, count + 1)
    ]


async def test_a_big_feed_import_merges_the_index_and_a_small_one_does_not(tmp_path):
    feed = "https://example.com/feed.xml"
    episodes = _feed_episodes("forecasting")
    async with await open_store(tmp_path / "feed.sqlite3") as store:
        # 40 episodes: 40 notes documents and 120 passages, written in two batches so that
        # the index has more than one segment unless it is merged.
        await catalog.upsert_episodes(store, episodes[:20], feed)  # 80 documents each:
        await catalog.upsert_episodes(store, episodes[20:], feed)  # below OPTIMIZE_AFTER_DOCS
        assert await _index_segments(store) > 1
        # A later import writing at least optimize_after documents merges all of it.
        more = [
            replace(ep, number=ep.number + 100, guid=f"h{ep.number}", slug=f"more-{ep.number}")
            for ep in episodes
        ]
        await catalog.upsert_episodes(store, more, feed, optimize_after=160)
        assert await _index_segments(store) == 1
        assert await _search_count(store, "forecasting") == 80 * 4


async def test_a_bulk_feed_import_is_indexed_as_one_segment_and_edits_replace_words(tmp_path):
    feed = "https://example.com/feed.xml"
    episodes = _feed_episodes("lighthouses")
    async with await open_store(tmp_path / "feed.sqlite3") as store:
        first = await catalog.upsert_episodes(
            store, episodes, feed, optimize_after=10**9, bulk_min=1
        )
        assert first.added == 40
        assert await _index_segments(store) == 1  # nothing written out early, nothing to merge
        assert await _search_count(store, "lighthouses") == 40 * 4
        assert await _fts_hashsize(store) == catalog.FTS_HASHSIZE  # the bulk buffer was given back
        # Half of them edited: their old words leave the index, the new ones are found.
        edited = [
            replace(ep, summary=f"Notes of episode {ep.number} about harbours.")
            for ep in episodes[:20]
        ]
        again = await catalog.upsert_episodes(store, edited, feed, bulk_min=1)
        assert (again.added, again.changed) == (0, 20)
        assert await _search_count(store, "lighthouses") == 20 + 40 * 3
        assert await _search_count(store, "harbours") == 20
        ep = await catalog.get_episode(store, number=1, with_transcript=True)
        assert ep is not None and "harbours" in ep.summary and len(ep.transcript) == 3


@pytest.mark.parametrize("how", ["missing", "link loop"])
async def test_an_episodes_folder_that_cannot_be_listed_keeps_every_episode(store, root, how):
    # A mount gone or unreadable (a link loop stands in for permissions: tests may run as root).
    await sync_content(store, root)
    shutil.rmtree(root / "episodes")
    if how == "link loop":
        (root / "episodes").symlink_to("episodes")
    report = await sync_content(store, root)
    assert [p.path for p in report.problems] == ["episodes"]
    assert report.removed == 0
    assert await _numbers(store) == [11, 12, 13]
    assert await _search_count(store, "nobody") == 1  # transcripts stay too


async def test_a_looping_link_among_the_episodes_is_reported_not_raised(store, root):
    await sync_content(store, root)
    (root / "episodes/099-loop.md").symlink_to("099-loop.md")
    report = await sync_content(store, root)
    assert [(p.path, p.message) for p in report.problems] == [
        ("episodes/099-loop.md", "is a link that leads nowhere (a missing target, or a loop)")
    ]
    assert await _numbers(store) == [11, 12, 13]


async def test_editor_backups_beside_the_episodes_are_not_reported(store, root):
    # Emacs keeps 'NAME~' after each save and '#NAME#' while editing; vim probes with '4913'.
    folder = root / "episodes"
    (folder / "011-great-stagnation.md~").write_text("an older version")
    (folder / "#012-retail-forecasting.md#").write_text("an unsaved draft")
    (folder / "4913").write_text("")
    report = await sync_content(store, root)
    assert report.problems == []
    assert await _numbers(store) == [11, 12, 13]

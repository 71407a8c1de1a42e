"""The outbox table: one row per key, state changes committed, rows survive reopening."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.store.db import open_store
from bot.store.outbox import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    Outbox,
    OutboxEntry,
    Post,
    StaleRow,
)

T0 = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)


def entry(key: str = "weekly:1:2026-03-06T18:00Z", **changes: object) -> OutboxEntry:
    base: dict[str, object] = {
        "key": key,
        "kind": "weekly",
        "guild_id": 1,
        "channel_id": 10,
        "post": Post(title="Title", body="Body @everyone", topic="t", style="question"),
        "due_at": T0,
    }
    return OutboxEntry(**{**base, **changes})  # type: ignore[arg-type]


async def test_a_key_is_stored_once_and_keeps_its_first_payload(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        assert await outbox.add(entry(), T0) is True
        again = entry(post=Post(title="Other", body="Other"))
        assert await outbox.add(again, T0 + timedelta(minutes=1)) is False
        stored = await outbox.get(entry().key)
    assert stored is not None
    assert stored.post == Post(title="Title", body="Body @everyone", topic="t", style="question")
    assert stored.state == PENDING and stored.attempts == 0 and stored.created_at == T0


async def test_states_and_ids_survive_reopening(tmp_path):
    path = tmp_path / "db.sqlite3"
    async with await open_store(path) as store:
        outbox = Outbox(store)
        await outbox.add(entry(), T0)
        sending = await outbox.start_attempt(entry().key, T0 + timedelta(seconds=1))
        assert sending.state == SENDING and sending.attempts == 1
        assert sending.first_attempt_at == T0 + timedelta(seconds=1)
        await outbox.record_message(entry().key, 1234567890123456789, T0)
    async with await open_store(path) as store:
        outbox = Outbox(store)
        stored = await outbox.get(entry().key)
        assert stored is not None and stored.message_id == 1234567890123456789
        # A second attempt keeps the time of the first one.
        again = await outbox.start_attempt(entry().key, T0 + timedelta(minutes=5))
        assert again.attempts == 2 and again.first_attempt_at == T0 + timedelta(seconds=1)
        await outbox.mark_sent(
            entry().key, T0 + timedelta(minutes=5), message_id=2**62, thread_id=2**62
        )
        done = await outbox.get(entry().key)
    assert done is not None
    assert (done.state, done.message_id, done.thread_id) == (SENT, 2**62, 2**62)
    assert done.sent_at == T0 + timedelta(minutes=5)


async def test_ready_lists_open_rows_due_by_now_oldest_first(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        await outbox.add(entry("a", due_at=T0 + timedelta(hours=1)), T0)
        await outbox.add(entry("b", due_at=T0), T0)
        await outbox.add(entry("c", due_at=T0 + timedelta(days=1)), T0)
        await outbox.add(entry("d", due_at=T0, state=SKIPPED, last_error="late"), T0)
        await outbox.add(entry("e", due_at=T0), T0)
        await outbox.mark_failed("e", "no permission", T0)
        ready = await outbox.ready(T0 + timedelta(hours=2))
        assert [e.key for e in ready] == ["b", "a"]
        await outbox.start_attempt("b", T0)
        assert [e.key for e in await outbox.ready(T0 + timedelta(hours=2))] == ["b", "a"]
        assert await outbox.counts() == {PENDING: 2, SENDING: 1, SKIPPED: 1, FAILED: 1}


async def test_a_finished_row_cannot_be_attempted_again(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        await outbox.add(entry(), T0)
        await outbox.mark_sent(entry().key, T0, message_id=1, thread_id=None)
        with pytest.raises(StaleRow, match="already finished"):
            await outbox.start_attempt(entry().key, T0)
        with pytest.raises(StaleRow, match="no outbox row"):
            await outbox.mark_failed("missing", "x", T0)


async def test_recent_lists_the_latest_due_first_whenever_each_changed(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        weeks = [T0 - timedelta(weeks=w) for w in (2, 0, 3, 1)]
        for i, due in enumerate(weeks):  # changed in this order, e.g. skipped after downtime
            await outbox.add(entry(f"w{i}", state=SKIPPED, due_at=due), T0 + timedelta(seconds=i))
        got = await outbox.recent(1, since=T0 - timedelta(days=1), states=(SKIPPED,))
        assert [e.due_at for e in got] == sorted(weeks, reverse=True)


async def test_recent_filters_by_guild_state_kind_and_age(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        await outbox.add(entry("old", state=SKIPPED), T0 - timedelta(days=30))
        await outbox.add(entry("new", state=SKIPPED), T0)
        await outbox.add(entry("thread", kind="thread", state=SKIPPED), T0)
        await outbox.add(entry("other-guild", guild_id=2, state=SKIPPED), T0)
        await outbox.add(entry("pending"), T0)
        since = T0 - timedelta(days=1)
        got = await outbox.recent(1, since=since, states=(SKIPPED,), kinds=("weekly",))
        assert [e.key for e in got] == ["new"]
        assert await outbox.recent(1, since=since, states=()) == []


async def test_errors_are_clipped_and_naive_times_refused(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        await outbox.add(entry(), T0)
        await outbox.note_error(entry().key, "x" * 5000, T0)
        stored = await outbox.get(entry().key)
        assert stored is not None and len(stored.last_error) == 500
        with pytest.raises(ValueError, match="naive"):
            await outbox.add(entry("naive", due_at=datetime(2026, 1, 1)), T0)
        with pytest.raises(ValueError, match="unknown outbox state"):
            await outbox.add(entry("bad", state="posted"), T0)


async def test_the_whole_post_round_trips_and_plain_posts_keep_their_old_payload(tmp_path):
    full = Post(
        title="Episode 4",
        body="<@&7>\nOut now",
        image="https://art.example.org/4.jpg",
        link_url="https://show.example.org/4.mp3",
        link_label="Listen",
        tags=("Evals", "MLOps"),
        mention_role=7,
    )
    async with await open_store(tmp_path / "db.sqlite3") as store:
        outbox = Outbox(store)
        await outbox.add(entry("announce:1", post=full), T0)
        await outbox.add(entry(), T0)
        stored = await outbox.get("announce:1")
        plain = await store.fetchone("SELECT payload FROM outbox WHERE key = ?", (entry().key,))
    assert stored is not None and stored.post == full
    assert plain is not None and set(json.loads(plain[0])) == {
        "title",
        "body",
        "open_thread",
        "topic",
        "style",
    }

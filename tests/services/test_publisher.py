"""The publisher against a hand-written fake of our Poster port: exactly one post per outbox
row through repeated drains, restarts (the store reopened), crashes at every point of the
path, network failures, missing permissions and lateness; time is injected, never slept."""

from __future__ import annotations

import asyncio
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.publisher import (
    FORUM,
    TEXT,
    Found,
    PostError,
    PostRetry,
    Publisher,
    Ticker,
    marker_for,
    nonce_for,
)
from bot.store.db import open_store
from bot.store.guild_config import Defaults, GuildConfigStore, GuildSettings
from bot.store.outbox import FAILED, PENDING, SENDING, SENT, SKIPPED, Outbox, OutboxEntry, Post

T0 = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
GRACE = timedelta(hours=6)
TEXT_CHANNEL, FORUM_CHANNEL, VOICE_CHANNEL, GONE_CHANNEL = 10, 20, 30, 40
DISCORD_NONCE_WINDOW = 300.0  # seconds Discord (and the fake) remember a nonce


class Crash(BaseException):
    """The process dies here: raised past every `except Exception`, like SIGKILL would stop
    the code, while whatever Discord already did stays done."""


class Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta).total_seconds()


@dataclass
class Message:
    id: int
    channel_id: int
    content: str
    created_at: float
    thread_id: int | None = None
    post: Post | None = None  # everything the one send carried


class FakeDiscord:
    """Our Poster port over an in-memory Discord; crashes and failures at named points:
    'send:before', 'send:after', 'thread:before', 'thread:after', 'forum:before',
    'forum:after', 'search', 'perms'."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.kinds = {TEXT_CHANNEL: TEXT, FORUM_CHANNEL: FORUM, VOICE_CHANNEL: "voice"}
        self.missing: dict[int, list[str]] = {}
        self.messages: dict[int, Message] = {}
        self.threads: dict[int, tuple[int, str]] = {}  # thread id -> (parent, name)
        self.nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.faults: dict[str, BaseException] = {}
        self.nonce_hits = 0
        self.searches = 0
        self._ids = 1000

    def fault(self, point: str, exc: BaseException) -> None:
        self.faults[point] = exc

    def _maybe(self, point: str) -> None:
        exc = self.faults.pop(point, None)
        if exc is not None:
            raise exc

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- the port --

    async def channel_kind(self, channel_id: int) -> str:
        if channel_id not in self.kinds:
            raise PostError(f"channel {channel_id} no longer exists")
        return self.kinds[channel_id]

    async def check_permissions(self, channel_id: int, *, open_thread: bool) -> list[str]:
        self._maybe("perms")
        missing = self.missing.get(channel_id, [])
        return [m for m in missing if open_thread or "Thread" not in m]

    async def send_message(self, channel_id: int, post: Post, nonce: str, marker: str) -> int:
        assert len(nonce) <= 25
        self._maybe("send:before")
        seen = self.nonces.get((channel_id, nonce))
        if seen and self.clock() - seen[1] < DISCORD_NONCE_WINDOW:
            self.nonce_hits += 1
            message_id = seen[0]
        else:
            message_id = self._next_id()
            content = f"{post.body}\n-# {marker}"
            self.messages[message_id] = Message(
                message_id, channel_id, content, self.clock(), post=post
            )
            self.nonces[(channel_id, nonce)] = (message_id, self.clock())
        self._maybe("send:after")
        return message_id

    async def create_thread(self, channel_id: int, message_id: int, name: str) -> int:
        self._maybe("thread:before")
        msg = self.messages[message_id]
        if msg.thread_id is None:  # Discord: "already created" is an error the adapter absorbs
            msg.thread_id = message_id
            self.threads[message_id] = (channel_id, name)
        self._maybe("thread:after")
        return message_id

    async def create_forum_post(self, channel_id: int, post: Post, marker: str) -> tuple[int, int]:
        self._maybe("forum:before")
        thread_id = self._next_id()
        self.threads[thread_id] = (channel_id, post.title)
        content = f"{post.body}\n-# {marker}"
        msg = Message(thread_id, thread_id, content, self.clock(), thread_id, post)
        self.messages[thread_id] = msg
        self._maybe("forum:after")
        return thread_id, thread_id

    async def find_marked(self, channel_id: int, marker: str, since: datetime) -> Found | None:
        self.searches += 1
        self._maybe("search")
        for msg in self.messages.values():
            parent = self.threads.get(msg.channel_id, (msg.channel_id, ""))[0]
            in_channel = msg.channel_id == channel_id or parent == channel_id
            if in_channel and marker in msg.content and msg.created_at >= since.timestamp():
                return Found(msg.id, msg.thread_id)
        return None

    # -- what tests look at --

    def posts_in(self, channel_id: int) -> list[Message]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id or self.threads.get(m.channel_id, (0,))[0] == channel_id
        ]


def post_entry(key: str = "weekly:1:2026-03-06T18:00Z", **changes: object) -> OutboxEntry:
    base: dict[str, object] = {
        "key": key,
        "kind": "weekly",
        "guild_id": 1,
        "channel_id": TEXT_CHANNEL,
        "post": Post(title="Weekly: tests", body="What do you test? @everyone"),
        "due_at": T0,
    }
    return OutboxEntry(**{**base, **changes})  # type: ignore[arg-type]


class Bot:
    """One run of the bot: the store opened on a file, and a publisher on it."""

    def __init__(self, path: Path, discord: FakeDiscord, clock: Clock) -> None:
        self.path, self.discord, self.clock = path, discord, clock

    async def __aenter__(self) -> Publisher:
        self.store = await open_store(self.path)
        return Publisher(Outbox(self.store), self.discord, self.clock, grace=GRACE)

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def discord(clock: Clock) -> FakeDiscord:
    return FakeDiscord(clock)


async def enqueue(path: Path, *entries: OutboxEntry) -> None:
    async with await open_store(path) as store:
        for e in entries:
            await Outbox(store).add(e, T0)


async def row(path: Path, key: str) -> OutboxEntry:
    async with await open_store(path) as store:
        found = await Outbox(store).get(key)
    assert found is not None
    return found


async def test_repeated_drains_post_once_with_one_thread(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    async with Bot(db, discord, clock) as publisher:
        first = await publisher.drain()
        second = await publisher.drain()
    async with Bot(db, discord, clock) as publisher:
        third = await publisher.drain()
    assert first.sent == [post_entry().key] and second.sent == [] and third.sent == []
    (msg,) = discord.posts_in(TEXT_CHANNEL)
    assert msg.thread_id == msg.id and discord.threads == {msg.id: (TEXT_CHANNEL, "Weekly: tests")}
    assert marker_for(post_entry().key) in msg.content
    done = await row(db, post_entry().key)
    assert (done.state, done.message_id, done.thread_id, done.attempts) == (SENT, msg.id, msg.id, 1)


async def test_rows_not_yet_due_wait(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry(due_at=T0 + timedelta(minutes=5)))
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).sent == []
        clock.advance(minutes=5)
        assert (await publisher.drain()).sent == [post_entry().key]
    assert len(discord.posts_in(TEXT_CHANNEL)) == 1


TEXT_POINTS = ["send:before", "send:after", "thread:before", "thread:after"]
# Restart delays: inside our nonce window (2 min), past it but inside Discord's (5 min),
# past both; the post must exist exactly once in every case.
DELAYS = [timedelta(seconds=30), timedelta(minutes=3), timedelta(hours=1)]


@pytest.mark.parametrize("point", TEXT_POINTS)
@pytest.mark.parametrize("delay", DELAYS, ids=["30s", "3min", "1h"])
async def test_a_crash_at_any_point_then_a_restart_posts_once(
    tmp_path, discord, clock, point, delay
):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault(point, Crash())
    with pytest.raises(Crash):
        async with Bot(db, discord, clock) as publisher:
            await publisher.drain()
    assert (await row(db, post_entry().key)).state == SENDING  # committed before the call
    clock.advance(seconds=delay.total_seconds())
    async with Bot(db, discord, clock) as publisher:
        report = await publisher.drain()
    assert report.sent == [post_entry().key]
    (msg,) = discord.posts_in(TEXT_CHANNEL)
    assert len(discord.threads) == 1 and msg.thread_id == msg.id
    done = await row(db, post_entry().key)
    assert (done.state, done.message_id, done.thread_id) == (SENT, msg.id, msg.id)


async def test_inside_the_nonce_window_the_resend_is_deduplicated_by_discord(
    tmp_path, discord, clock
):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault("send:after", Crash())
    with pytest.raises(Crash):
        async with Bot(db, discord, clock) as publisher:
            await publisher.drain()
    clock.advance(seconds=60)
    async with Bot(db, discord, clock) as publisher:
        await publisher.drain()
    assert (discord.nonce_hits, discord.searches) == (1, 0)
    assert len(discord.posts_in(TEXT_CHANNEL)) == 1


async def test_past_the_nonce_window_the_marker_is_looked_for_and_found(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault("send:after", Crash())
    with pytest.raises(Crash):
        async with Bot(db, discord, clock) as publisher:
            await publisher.drain()
    clock.advance(hours=1)
    async with Bot(db, discord, clock) as publisher:
        await publisher.drain()
    assert (discord.nonce_hits, discord.searches) == (0, 1)
    assert len(discord.posts_in(TEXT_CHANNEL)) == 1


async def test_past_the_nonce_window_a_request_that_never_arrived_is_sent(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault("send:before", Crash())
    with pytest.raises(Crash):
        async with Bot(db, discord, clock) as publisher:
            await publisher.drain()
    clock.advance(hours=1)
    async with Bot(db, discord, clock) as publisher:
        await publisher.drain()
    assert discord.searches == 1 and len(discord.posts_in(TEXT_CHANNEL)) == 1
    assert (await row(db, post_entry().key)).attempts == 2


async def test_crashes_again_and_again_still_post_once(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    for point, wait in [
        ("send:after", 30),
        ("send:after", 400),  # the second send went out too: Discord has one message only
        ("thread:after", 10),
        ("thread:before", 4000),
    ]:
        discord.fault(point, Crash())
        with pytest.raises(Crash):
            async with Bot(db, discord, clock) as publisher:
                await publisher.drain()
        clock.advance(seconds=wait)
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).sent == [post_entry().key]
    assert len(discord.posts_in(TEXT_CHANNEL)) == 1 and len(discord.threads) == 1


@pytest.mark.parametrize("point", ["forum:before", "forum:after"])
@pytest.mark.parametrize("delay", DELAYS, ids=["30s", "3min", "1h"])
async def test_forum_posts_are_made_once_across_crashes(tmp_path, discord, clock, point, delay):
    db = tmp_path / "bot.sqlite3"
    key = "thread:7:2026-03-06T18:00Z"
    await enqueue(db, post_entry(key, kind="thread", channel_id=FORUM_CHANNEL))
    discord.fault(point, Crash())
    with pytest.raises(Crash):
        async with Bot(db, discord, clock) as publisher:
            await publisher.drain()
    clock.advance(seconds=delay.total_seconds())
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).sent == [key]
        await publisher.drain()
    (msg,) = discord.posts_in(FORUM_CHANNEL)
    assert discord.threads == {msg.id: (FORUM_CHANNEL, "Weekly: tests")}
    done = await row(db, key)
    assert (done.state, done.thread_id, done.message_id) == (SENT, msg.id, msg.id)


async def test_a_network_failure_leaves_the_row_for_the_next_drain(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry(), post_entry("weekly:2:2026-03-06T18:00Z", guild_id=2))
    discord.fault("send:after", OSError("connection reset"))  # it reached Discord, then broke
    async with Bot(db, discord, clock) as publisher:
        report = await publisher.drain()
        assert report.retry == [post_entry().key] and report.sent == []  # the rest waits
        stored = await row(db, post_entry().key)
        assert stored.state == SENDING and "connection reset" in stored.last_error
        clock.advance(seconds=30)
        report = await publisher.drain()
    assert sorted(report.sent) == sorted([post_entry().key, "weekly:2:2026-03-06T18:00Z"])
    assert len(discord.posts_in(TEXT_CHANNEL)) == 2 and discord.nonce_hits == 1
    assert (await row(db, post_entry().key)).last_error == ""


async def test_discord_unavailable_is_retried_not_failed(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault("perms", PostRetry("503 Service Unavailable"))
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).retry == [post_entry().key]
        assert (await row(db, post_entry().key)).state == PENDING
        assert (await publisher.drain()).sent == [post_entry().key]


async def test_missing_permissions_fail_the_post_with_their_names(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    discord.missing[TEXT_CHANNEL] = ["Send Messages", "Create Public Threads"]
    await enqueue(db, post_entry())
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).failed == [post_entry().key]
        assert (await publisher.drain()).failed == []  # told once, not retried every tick
    failed = await row(db, post_entry().key)
    assert failed.state == FAILED
    assert "Send Messages, Create Public Threads" in failed.last_error
    assert f"<#{TEXT_CHANNEL}>" in failed.last_error
    assert discord.messages == {}


async def test_a_post_without_thread_does_not_need_thread_permissions(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    discord.missing[TEXT_CHANNEL] = ["Create Public Threads"]
    post = Post(title="New episode", body="Out now", open_thread=False)
    await enqueue(db, post_entry("announce:5:2026-03-06T18:00Z", kind="announce", post=post))
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).sent == ["announce:5:2026-03-06T18:00Z"]
    assert discord.threads == {} and len(discord.messages) == 1


@pytest.mark.parametrize(
    ("channel", "expected"),
    [(GONE_CHANNEL, "no longer exists"), (VOICE_CHANNEL, "is a voice channel")],
)
async def test_unusable_channels_fail_clearly(tmp_path, discord, clock, channel, expected):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry(channel_id=channel))
    async with Bot(db, discord, clock) as publisher:
        await publisher.drain()
    failed = await row(db, post_entry().key)
    assert failed.state == FAILED and expected in failed.last_error


async def test_a_post_that_cannot_go_out_within_grace_is_skipped(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    clock.advance(hours=7)
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).skipped == [post_entry().key]
    skipped = await row(db, post_entry().key)
    assert skipped.state == SKIPPED and "grace window" in skipped.last_error
    assert discord.messages == {}


async def test_a_late_row_that_was_sent_is_found_not_skipped(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault("send:after", Crash())
    with pytest.raises(Crash):
        async with Bot(db, discord, clock) as publisher:
            await publisher.drain()
    clock.advance(hours=30)
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).sent == [post_entry().key]
    assert len(discord.messages) == 1 and len(discord.threads) == 1


async def test_an_unexpected_error_fails_the_row_and_is_logged(tmp_path, discord, clock, caplog):
    db = tmp_path / "bot.sqlite3"
    await enqueue(db, post_entry())
    discord.fault("send:before", KeyError("bug"))
    async with Bot(db, discord, clock) as publisher:
        assert (await publisher.drain()).failed == [post_entry().key]
    failed = await row(db, post_entry().key)
    assert failed.state == FAILED and "internal error (KeyError)" in failed.last_error
    assert "unexpected error" in caplog.text


def test_nonce_and_marker_are_stable_short_and_distinct():
    key = "weekly:42:2024-03-31T00:30Z"
    assert nonce_for(key) == nonce_for(key) and len(nonce_for(key)) == 25
    assert nonce_for(key) != nonce_for("weekly:42:2024-04-07T00:30Z")
    assert marker_for(key).startswith("ref ") and len(marker_for(key)) == 14
    assert marker_for(key) != marker_for("weekly:42:2024-04-07T00:30Z")


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_any_key_gives_a_valid_discord_nonce(key):
    nonce = nonce_for(key)
    assert 1 <= len(nonce) <= 25 and set(nonce) <= set(string.ascii_lowercase + string.digits)


class CountingPlanner:
    """A planner that fails on the ticks it is told to, and records the `now` of each."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.calls: list[datetime] = []
        self.fail_on = fail_on or set()
        self.called = asyncio.Event()

    async def plan(self, now: datetime) -> list[OutboxEntry]:
        self.calls.append(now)
        self.called.set()
        if len(self.calls) in self.fail_on:
            raise RuntimeError("planner broke")
        return []


async def test_the_tick_loop_ticks_at_start_on_wake_and_stops_when_told(
    tmp_path, discord, clock, caplog
):
    async with Bot(tmp_path / "bot.sqlite3", discord, clock) as publisher:
        planner = CountingPlanner(fail_on={1})
        ticker = Ticker(planner, publisher, clock)
        ticked = asyncio.Queue[None]()

        async def on_tick() -> None:
            ticked.put_nowait(None)

        loop = asyncio.create_task(ticker.run(3600, on_tick=on_tick))
        # The first tick fails (logged) and the loop goes on; a wake ticks again at once,
        # with the clock's time, never waiting for the hour-long interval.
        await asyncio.wait_for(planner.called.wait(), 5)
        clock.advance(minutes=5)
        ticker.wake()
        await asyncio.wait_for(ticked.get(), 5)
        ticker.stop()
        await asyncio.wait_for(loop, 5)
    assert planner.calls == [T0, T0 + timedelta(minutes=5)]
    assert "scheduler tick failed" in caplog.text and ticker.stopping


async def test_the_one_send_carries_the_whole_post(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    post = Post(
        title="Episode 4",
        body="<@&77>\nOut now",
        image="https://art.example.org/4.jpg",
        link_url="https://show.example.org/4.mp3",
        link_label="Listen",
        tags=("Defensible moats",),
        mention_role=77,
    )
    text = post_entry("announce:1:a:1", kind="announce", post=post)
    forum = post_entry("announce:1:a:2", kind="announce", post=post, channel_id=FORUM_CHANNEL)
    await enqueue(db, text, forum)
    async with Bot(db, discord, clock) as publisher:
        assert sorted((await publisher.drain()).sent) == [text.key, forum.key]
    assert [m.post for m in discord.messages.values()] == [post, post]


async def test_each_guild_has_its_own_grace_window(tmp_path, discord, clock):
    db = tmp_path / "bot.sqlite3"
    strict, relaxed = post_entry("weekly:1:x", guild_id=1), post_entry("weekly:2:x", guild_id=2)
    await enqueue(db, strict, relaxed)
    async with await open_store(db) as store:
        await GuildConfigStore(store).set(1, "grace_window", 3600.0, by=9, now=T0.timestamp())
    clock.advance(hours=3)
    async with await open_store(db) as store:
        graces = GuildSettings(store, Defaults(grace_window=GRACE.total_seconds()))
        publisher = Publisher(Outbox(store), discord, clock, grace=GRACE, graces=graces)
        report = await publisher.drain()
        skipped = await Outbox(store).get(strict.key)
    assert report.skipped == [strict.key] and report.sent == [relaxed.key]
    assert skipped is not None and "grace 1:00:00" in skipped.last_error

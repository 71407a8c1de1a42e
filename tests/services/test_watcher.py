"""The release watcher through the real path (local HTTP server, SQLite, outbox), time given
as a parameter: polling, 304s, backoff, announcements once per guild, downtime, edits."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import Episode, Link
from bot.core.render import Prompts
from bot.core.schedule import format_discord_timestamp
from bot.feeds.fetch import Backoff, fetch
from bot.feeds.parse import FEED_FORMAT
from bot.services.catalogue import CatalogueService
from bot.services.feeds import (
    ANNOUNCED,
    AWAY,
    BACKDATED,
    FeedConfig,
    FeedService,
    ReadReport,
    Watcher,
    extras_retry_delay,
    not_found_text,
    release_decision,
    status_text,
    summary_look,
)
from bot.services.publisher import Found, GuildRetry, PostError, PostRetry, marker_for
from bot.store import catalog
from bot.store.db import Store, open_store
from bot.store.feeds import Look, announcement_key
from bot.store.guild_config import GuildConfigStore
from bot.store.outbox import Outbox, OutboxEntry
from bot.store.sync import sync_content
from tests.feeds.feedgen import FeedServer, Item, Show, episode, feed_xml, vtt

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday morning
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
GUILD_A, GUILD_B = 1001, 2002
CHANNEL_A, CHANNEL_B = 11, 22
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Edit:
    channel_id: int
    message_id: int
    thread_id: int | None
    look: Look
    marker: str


@dataclass
class RecordingEditor:
    """A hand-written fake of our AnnouncementEditor port."""

    edits: list[Edit] = field(default_factory=list)
    refuse: bool = False

    async def edit_announcement(
        self, channel_id: int, message_id: int, thread_id: int | None, look: Look, marker: str
    ) -> None:
        if self.refuse:
            raise PostError("the message was deleted")
        self.edits.append(Edit(channel_id, message_id, thread_id, look, marker))


@dataclass
class Env:
    server: FeedServer
    store: Store
    session: aiohttp.ClientSession
    service: FeedService
    watcher: Watcher
    editor: RecordingEditor
    woken: list[int]

    @property
    def url(self) -> str:
        return self.server.url("feed.xml")

    def restart(self) -> None:
        """A new service and watcher on the same database, as after a process restart."""
        self.service = make_service(self.store, self.session)
        self.watcher = Watcher(self.service, self.url, editor=self.editor)

    async def rows(self) -> list[OutboxEntry]:
        keys = [r[0] for r in await self.store.fetchall("SELECT key FROM outbox ORDER BY key")]
        box = Outbox(self.store)
        return [e for e in [await box.get(k) for k in keys] if e is not None]

    async def post_all(self, now: datetime) -> None:
        """What the publisher does, through the outbox's own API: every open row posted."""
        box = Outbox(self.store)
        for i, entry in enumerate(await box.ready(now), start=1):
            await box.start_attempt(entry.key, now)
            await box.mark_sent(entry.key, now, message_id=900 + i, thread_id=900 + i)


def make_service(store: Store, session: aiohttp.ClientSession, **config: object) -> FeedService:
    return FeedService(
        store,
        functools.partial(fetch, session),
        config=FeedConfig(timeout=2.0, extras_timeout=2.0, **config),  # type: ignore[arg-type]
        prompts=Prompts.load(REPO / "prompts"),
        backoff=Backoff(base=60, factor=2, cap=3600, jitter=0),
        rng=random.Random(7),
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with (
        FeedServer() as server,
        await open_store(tmp_path / "db.sqlite3") as store,
        aiohttp.ClientSession() as session,
    ):
        service = make_service(store, session)
        editor = RecordingEditor()
        woken: list[int] = []
        url = server.url("feed.xml")
        watcher = Watcher(service, url, editor=editor, on_planned=lambda: woken.append(1))
        for guild, channel in ((GUILD_A, CHANNEL_A), (GUILD_B, CHANNEL_B)):
            await configure(store, guild, "announce_channel", channel)
        yield Env(server, store, session, service, watcher, editor, woken)


BACK = tuple(episode(n) for n in range(1, 4))


async def configure(store: Store, guild: int, name: str, value: int | float | None) -> None:
    """What /config does: one guild setting stored (None: back to the default)."""
    await GuildConfigStore(store).set(
        guild, name, value, by=1, now=T0.timestamp(), guild_name=f"Guild {guild}"
    )


def new_item(n: int, released: datetime) -> Item:
    return episode(n, published=released, image=f"https://art.example.org/{n}.jpg")


# ---- polling ----


async def test_the_first_read_stores_the_back_catalogue_silently(env):
    env.server.feed = feed_xml(Show(items=BACK))
    step = await env.watcher.step(T0)
    assert step.read is not None and step.read.added == 3
    assert await env.rows() == [] and env.woken == []
    assert "seed" in await env.service.why("2")


async def test_a_new_episode_is_announced_once_in_every_subscribed_guild(env):
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    later = T0 + 20 * timedelta(minutes=1)
    env.server.feed = feed_xml(Show(items=(new_item(4, later), *BACK)))
    step = await env.watcher.step(later)
    assert step.read is not None and step.read.announced == 2 and env.woken == [1]

    reply = await CatalogueService(env.store).answer_episode("4")
    assert reply.found  # answerable before anything is posted

    rows = await env.rows()
    assert sorted((r.guild_id, r.channel_id) for r in rows) == [
        (GUILD_A, CHANNEL_A),
        (GUILD_B, CHANNEL_B),
    ]
    assert all("Talking about thing 4" in r.post.body and r.post.open_thread for r in rows)
    assert all(r.kind == "announce" and r.due_at == later for r in rows)

    # Polled again (304), re-read in full, and after a restart: never planned again.
    await env.watcher.step(later + timedelta(minutes=20))
    env.restart()
    await env.service.read(env.url, later + HOUR, conditional=False)
    assert len(await env.rows()) == 2
    assert "posting in <#11>" in await env.service.why("Talking about thing 4")


async def test_a_new_guid_for_the_same_episode_is_not_a_new_release(env):
    """Hosts re-key items (a move to https changes permalink guids): same number and title,
    old guid gone from the feed. Announcing or storing it again would be a duplicate."""
    later = T0 + 20 * timedelta(minutes=1)
    item = new_item(4, later)
    env.server.feed = feed_xml(Show(items=(item, *BACK)))
    await env.watcher.step(T0)  # the back catalogue, episode 4 in it
    moved = tuple(i.but(guid=f"https://show.example.org/{i.number}") for i in (item, *BACK))
    env.server.feed = feed_xml(Show(items=moved))
    step = await env.watcher.step(later + HOUR)

    assert step.read is not None and (step.read.added, step.read.removed) == (0, 0)
    assert await env.rows() == []
    counts = await env.store.fetchone("SELECT count(*) FROM episodes")
    assert counts is not None and counts[0] == 4
    assert "new guid" in await env.service.why("4")


async def test_200_then_304_and_no_fetch_before_the_next_poll(env):
    env.server.feed = feed_xml(Show(items=BACK))
    first = await env.watcher.step(T0)
    assert first.read is not None and first.read.status == 200
    early = await env.watcher.step(T0 + timedelta(minutes=5))
    assert early.read is None and env.server.count("/feed.xml") == 1
    second = await env.watcher.step(T0 + timedelta(minutes=15))
    assert second.read is not None and second.read.not_modified
    feed = await env.service.feeds.feed(env.url)
    assert feed is not None and feed.last_status == 304 and feed.last_not_modified
    assert feed.next_poll_at == T0 + timedelta(minutes=30)


async def test_errors_back_off_mark_the_feed_unhealthy_and_recover(env):
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    env.server.status = 500
    now = T0 + timedelta(minutes=15)
    waits = []
    for _ in range(3):
        step = await env.watcher.step(now)
        assert step.read is not None and "HTTP 500" in (step.read.error or "")
        assert step.read.next_poll_at is not None
        waits.append(step.read.next_poll_at - now)
        now = step.read.next_poll_at
    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    feed = await env.service.feeds.feed(env.url)
    assert feed is not None and not feed.healthy and feed.failures == 3
    text = status_text(feed, 3, now, None)
    assert "unhealthy" in text and "HTTP 500" in text and "3 failed reads" in text

    env.server.status = 200
    await env.watcher.step(now)
    feed = await env.service.feeds.feed(env.url)
    assert feed is not None and feed.healthy and feed.failures == 0
    assert "Next poll: <t:" in status_text(feed, 3, now, None)
    # Before its first read a feed is due: not "never" polled.
    unread = replace(feed, last_fetch_at=None, next_poll_at=None)
    assert "Next poll: at the watcher's next step." in status_text(unread, 0, now, None)
    # A private feed's key (in its URL, and so in its errors) is not shown to moderators.
    private = replace(
        feed, url=env.url + "?auth=S3CRET", last_error=f"HTTP 401 from {env.url}?auth=S3CRET"
    )
    shown = status_text(private, 3, now, None)
    assert "S3CRET" not in shown and "(its key hidden)" in shown, shown


# ---- transcripts that come late or never ----


async def transcript_text(env: Env, number: int) -> str:
    stored = await catalog.get_episode(env.store, number=number, with_transcript=True)
    assert stored is not None
    return " ".join(p.text for p in stored.transcript)


async def test_a_late_transcript_is_fetched_while_the_feed_answers_304(env):
    late = episode(4, transcripts=((env.server.url("files/4.vtt"), "text/vtt"),))
    env.server.feed = feed_xml(Show(items=(late, *BACK)))
    first = await env.watcher.step(T0)  # the transcript is not uploaded yet: 404
    assert first.read is not None and first.read.extras_failed == 1
    assert "tried again in 15 min" in await env.service.why("4")

    env.server.files["4.vtt"] = (vtt("the late words about okapi forests"), "text/vtt")
    step = await env.watcher.step(T0 + timedelta(minutes=15))  # the feed itself: 304
    assert step.read is not None and step.read.ok and step.read.extras_failed == 0
    assert "okapi" in await transcript_text(env, 4)
    items = await env.service.feeds.items(1)
    assert items["guid:vg-0004"].complete and items["guid:vg-0004"].extras_retry_at is None

    # Done: the next 304 asks for nothing else.
    files = env.server.count("/files/")
    again = await env.watcher.step(T0 + timedelta(minutes=30))
    assert again.read is not None and again.read.not_modified
    assert env.server.count("/files/") == files


async def test_a_dead_transcript_link_is_tried_less_and_less_often(env):
    dead = episode(4, transcripts=((env.server.url("files/gone.vtt"), "text/vtt"),))
    env.server.feed = feed_xml(Show(items=(dead, *BACK)))
    now = T0
    tried_at = []
    for _ in range(12):  # three hours of polls every 15 minutes
        before = env.server.count("/files/gone.vtt")
        step = await env.watcher.step(now)
        assert step.read is not None and step.read.ok
        if env.server.count("/files/gone.vtt") > before:
            tried_at.append(int((now - T0).total_seconds() // 60))
        now += timedelta(minutes=15)
    assert tried_at == [0, 15, 45, 105]  # then waits of 15, 30, 60, 120 minutes
    items = await env.service.feeds.items(1)
    assert items["guid:vg-0004"].extras_failures == 4
    # An import someone asks for tries it at once.
    before = env.server.count("/files/gone.vtt")
    await env.service.read(env.url, now, announce=False, conditional=False)
    assert env.server.count("/files/gone.vtt") == before + 1


async def test_a_feed_read_leniently_is_not_read_twice_a_poll_for_its_missing_extras(env):
    """A stray '&' makes the feed a lenient read, which keeps its items as they were: reading it
    in full on a 304 to retry a missing transcript would retry nothing, every poll. Fixing the
    feed changes its body, and that read tries the transcript again."""
    late = episode(4, transcripts=((env.server.url("files/late.vtt"), "text/vtt"),))
    good = feed_xml(Show(items=(late, *BACK)))
    env.server.feed = good
    await env.watcher.step(T0)
    env.server.feed = good.replace(b"</channel>", b"<x>a & b</x></channel>")
    now, feeds = T0, []
    for _ in range(6):
        now += timedelta(minutes=15)
        before = env.server.count("/feed.xml")
        await env.watcher.step(now)
        feeds.append(env.server.count("/feed.xml") - before)
    assert feeds == [1] * 6

    env.server.files["late.vtt"] = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHi quokka\n",
        "text/vtt",
    )
    env.server.feed = good  # fixed
    await env.watcher.step(now + timedelta(minutes=15))
    assert env.server.count("/files/late.vtt") >= 2


def test_extras_retry_delay_doubles_up_to_its_cap():
    cap = timedelta(days=1)
    waits = [extras_retry_delay(n, 900, cap) for n in (1, 2, 3, 10, 10_000)]
    assert waits == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=1),
    ]


# ---- hosts that ignore conditional requests ----


async def poll(env: Env, now: datetime, **options: bool) -> tuple[ReadReport, set[str]]:
    """One read as the watcher does it, with the stages it went through (parse or not)."""
    stages: set[str] = set()
    report = await env.service.read(
        env.url, now, progress=lambda stage, done, total: stages.add(stage), **options
    )
    assert report.ok, report.error
    return report, stages


async def test_the_same_body_again_is_not_parsed_again(env):
    env.server.validators = False  # no ETag: the whole body every poll
    env.server.feed = feed_xml(Show(items=BACK))
    first, stages = await poll(env, T0)
    assert first.added == 3 and not first.same_body and "parse" in stages

    later = T0 + 15 * MINUTE
    again, stages = await poll(env, later)
    assert again.status == 200 and again.same_body and not again.not_modified
    assert "parse" not in stages and (again.added, again.changed, again.unchanged) == (0, 0, 0)
    assert again.next_poll_at == later + 15 * MINUTE
    feed = await env.service.feeds.feed(env.url)
    assert feed is not None and feed.healthy and feed.same_body
    assert feed.body_hash.startswith(f"{FEED_FORMAT}:") and feed.body_read_at == T0
    assert feed.title == "Vanishing Gradients" and feed.items_in_feed == 3
    read_at = format_discord_timestamp(T0, "R")
    assert f"HTTP 200, the same bytes as read in full {read_at} (not parsed again)" in (
        status_text(feed, 3, later, None)
    )
    items = await env.service.feeds.items(feed.id)
    assert {i.last_seen_at for i in items.values()} == {later}

    # A new release changes the body: read, stored and announced.
    released = later + 15 * MINUTE
    env.server.feed = feed_xml(Show(items=(new_item(4, released), *BACK)))
    changed, stages = await poll(env, released)
    assert not changed.same_body and "parse" in stages
    assert changed.added == 1 and changed.announced == 2
    # `vgbot import-feed` reads it all, however unchanged.
    imported, stages = await poll(env, released + MINUTE, announce=False, conditional=False)
    assert not imported.same_body and "parse" in stages and imported.unchanged == 4


async def test_the_same_body_is_read_again_when_a_missing_transcript_is_due(env):
    env.server.validators = False
    dead = episode(4, transcripts=((env.server.url("files/gone.vtt"), "text/vtt"),))
    env.server.feed = feed_xml(Show(items=(dead, *BACK)))
    parsed_at = []
    for minutes in range(0, 120, 15):
        report, stages = await poll(env, T0 + minutes * MINUTE)
        assert report.same_body == ("parse" not in stages)
        if "parse" in stages:
            parsed_at.append(minutes)
    assert parsed_at == [0, 15, 45, 105]  # the first read, then each retry of the transcript
    assert env.server.count("/files/gone.vtt") == 4


async def test_the_same_body_is_read_again_after_a_failed_read(env):
    env.server.validators = False
    env.server.feed = feed_xml(Show(items=BACK))
    await poll(env, T0)
    env.server.status = 500
    failed = await env.service.read(env.url, T0 + 15 * MINUTE)
    assert failed.error is not None
    env.server.status = 200
    # Nothing says what a failed read left behind: the same bytes are read in full once.
    after, stages = await poll(env, T0 + 30 * MINUTE)
    assert not after.same_body and "parse" in stages
    settled, stages = await poll(env, T0 + 45 * MINUTE)
    assert settled.same_body and "parse" not in stages


async def test_the_same_body_is_read_again_by_a_new_parser(env):
    env.server.validators = False
    env.server.feed = feed_xml(Show(items=BACK))
    await poll(env, T0)
    # As left by code with an older FEED_FORMAT: the same bytes, read by another parser.
    async with env.store.transaction() as db:
        await db.execute("UPDATE feeds SET body_hash = '0:' || substr(body_hash, 3)")
    upgraded, stages = await poll(env, T0 + 15 * MINUTE)
    assert not upgraded.same_body and "parse" in stages and upgraded.unchanged == 3
    settled, stages = await poll(env, T0 + 30 * MINUTE)
    assert settled.same_body and "parse" not in stages


async def test_a_body_read_leniently_is_read_again(env):
    """A lenient read keeps stored items as they were: it is not noted as read."""
    env.server.validators = False
    env.server.feed = feed_xml(Show(items=BACK)).replace(b"</channel>", b"<x>a & b</x></channel>")
    for minutes in (0, 15):
        report, stages = await poll(env, T0 + minutes * MINUTE)
        assert report.warning and not report.same_body and "parse" in stages
    feed = await env.service.feeds.feed(env.url)
    assert feed is not None and feed.body_hash == "" and not feed.same_body


# ---- downtime ----


async def test_after_downtime_recent_releases_are_announced_and_older_ones_summarised(env):
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    back = T0 + timedelta(days=3, hours=6)  # Thursday 15:00
    env.server.feed = feed_xml(
        Show(
            items=(
                new_item(7, back - HOUR),  # today: inside the 6 h grace window
                new_item(6, T0 + timedelta(days=2)),  # Wednesday
                new_item(5, T0 + timedelta(days=1)),  # Tuesday
                episode(50, published=None, title="Bonus: no date"),
                *BACK,
            )
        )
    )
    step = await env.watcher.step(back)
    assert step.read is not None and (step.read.announced, step.read.summarised) == (2, 3)
    rows = await env.rows()
    announcements = [r for r in rows if r.key.startswith("announce:")]
    summaries = [r for r in rows if r.key.startswith("away:")]
    assert len(announcements) == 2 and all("thing 7" in r.post.body for r in announcements)
    assert len(summaries) == 2  # one per guild
    body = summaries[0].post.body
    assert "While we were away" in body and "thing 5" in body and "thing 6" in body
    assert "no date" in body and not summaries[0].post.open_thread
    assert "grace window" in await env.service.why("5")
    # Posted oldest news first, in each server: what we missed, then today's release.
    order = [(e.guild_id, e.key.split(":")[0]) for e in await Outbox(env.store).ready(back)]
    for guild in (GUILD_A, GUILD_B):
        assert [kind for g, kind in order if g == guild] == ["away", "announce"]


@dataclass
class FakeFinder:
    """A hand-written fake of our PostFinder port: the marked posts on "Discord", or an error."""

    posts: dict[tuple[int, str], int] = field(default_factory=dict)  # (channel, marker) → id
    error: Exception | None = None
    down: set[int] = field(default_factory=set)  # channels of servers Discord lists unavailable

    async def find_marked(self, channel_id: int, marker: str, since: datetime) -> Found | None:
        if self.error is not None:
            raise self.error
        if channel_id in self.down:
            raise GuildRetry(f"the server of <#{channel_id}> is unavailable")
        found = self.posts.get((channel_id, marker))
        return None if found is None else Found(found, found)


async def test_after_a_restore_a_release_announced_since_the_backup_is_not_listed_as_missed(env):
    """The restored database's last read is older than the release, so it looks missed (a
    day later: outside the grace window). Its announcement, made between the backup and the
    restore, is looked for first; Discord not answering postpones the read."""
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    async with env.store.transaction() as db:  # what `vgbot restore` notes
        for key, at in (("backup_taken_at", T0), ("restored_at", T0 + timedelta(hours=30))):
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, 0)",
                (key, str(at.timestamp())),
            )
    env.server.feed = feed_xml(Show(items=(new_item(4, T0 + HOUR), *BACK)))
    finder = FakeFinder(error=PostRetry("Discord answered 503"))
    env.service.finder = finder
    later = T0 + timedelta(hours=31)

    step = await env.watcher.step(later)
    assert step.read is not None and "could not look on Discord" in step.read.error
    assert await env.rows() == []

    key = announcement_key(1, "guid:vg-0004", GUILD_A)
    finder.error, finder.posts = None, {(CHANNEL_A, marker_for(key)): 500}
    step = await env.watcher.step(later + timedelta(hours=1))
    assert step.read is not None and step.read.error is None
    keys = sorted(r.key.split(":")[0] + f":{r.guild_id}" for r in await env.rows())
    # Guild A had it announced: its own row (the publisher finds that post); B missed it.
    assert keys == [f"announce:{GUILD_A}", f"away:{GUILD_B}"]
    # What guild A's channel holds is guild A's to see in /feed why, not guild B's.
    assert f"<#{CHANNEL_A}>" in await env.service.why("4", GUILD_A)
    assert f"<#{CHANNEL_A}>" not in await env.service.why("4", GUILD_B)


async def test_after_a_restore_one_server_down_does_not_hold_up_the_others(env):
    """Which releases a server had announced cannot be asked while Discord lists it as
    unavailable: its missed ones are summarised as before the restore check (the summary
    waits for the server in the outbox), and the other servers' are read as usual."""
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    async with env.store.transaction() as db:  # what `vgbot restore` notes
        for key, at in (("backup_taken_at", T0), ("restored_at", T0 + timedelta(hours=30))):
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, 0)",
                (key, str(at.timestamp())),
            )
    env.server.feed = feed_xml(Show(items=(new_item(4, T0 + HOUR), *BACK)))
    key = announcement_key(1, "guid:vg-0004", GUILD_B)
    env.service.finder = FakeFinder(posts={(CHANNEL_B, marker_for(key)): 500}, down={CHANNEL_A})

    step = await env.watcher.step(T0 + timedelta(hours=31))
    assert step.read is not None and step.read.error is None
    keys = sorted(r.key.split(":")[0] + f":{r.guild_id}" for r in await env.rows())
    assert keys == [f"announce:{GUILD_B}", f"away:{GUILD_A}"]


async def test_an_old_episode_added_late_is_stored_but_not_announced(env):
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    env.server.feed = feed_xml(Show(items=(new_item(0, T0 - timedelta(days=400)), *BACK)))
    step = await env.watcher.step(T0 + timedelta(minutes=15))
    assert step.read is not None and step.read.added == 1 and step.read.announced == 0
    assert await env.rows() == []
    assert "backdated" in await env.service.why("thing 0")


async def test_no_server_asked_for_announcements(env):
    for guild in (GUILD_A, GUILD_B):
        await configure(env.store, guild, "announce_channel", None)
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    env.server.feed = feed_xml(Show(items=(new_item(4, T0), *BACK)))
    await env.watcher.step(T0 + timedelta(minutes=15))
    assert await env.rows() == []
    assert "no server asked" in await env.service.why("4")


# ---- the message: artwork, button, edits ----


async def test_the_outbox_row_carries_artwork_button_and_tags_and_edits_follow_changes(env):
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    now = T0 + timedelta(minutes=15)
    item = new_item(4, now)
    env.server.feed = feed_xml(Show(items=(item, *BACK)))
    await env.watcher.step(now)
    for row in await env.rows():  # what the publisher's first send carries
        assert row.post.image == "https://art.example.org/4.jpg"
        assert row.post.link_url == item.audio and row.post.link_label == "Listen"
        assert row.post.mention_role is None and not row.post.body.startswith("<@&")
    await env.post_all(now)

    await env.watcher.step(now + timedelta(minutes=1))
    assert env.editor.edits == []  # posted whole: nothing to add afterwards

    fixed = item.but(title="Episode 4: Fixed typo in the title")
    env.server.feed = feed_xml(Show(items=(fixed, *BACK)))
    later = now + timedelta(minutes=30)
    await env.watcher.step(later)
    assert len(await env.rows()) == 2  # edited, never posted again
    assert len(env.editor.edits) == 2
    edit = env.editor.edits[0]
    assert "Fixed typo" in edit.look.body and "Fixed typo" in edit.look.title
    assert edit.look.image == "https://art.example.org/4.jpg" and edit.look.listen_url
    rows = {r.channel_id: r for r in await env.rows()}
    assert edit.marker == marker_for(rows[edit.channel_id].key)
    await env.watcher.step(later + timedelta(minutes=1))
    assert len(env.editor.edits) == 2  # applied once
    assert "will be edited" in await env.service.why("4")


async def test_a_refused_edit_is_reported_and_not_retried_forever(env):
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    now = T0 + timedelta(minutes=15)
    item = new_item(4, now)
    env.server.feed = feed_xml(Show(items=(item, *BACK)))
    await env.watcher.step(now)
    await env.post_all(now)
    env.editor.refuse = True
    env.server.feed = feed_xml(Show(items=(item.but(title="Episode 4: Renamed"), *BACK)))
    step = await env.watcher.step(now + timedelta(minutes=16))
    assert step.edits is not None and step.edits.failed == 2
    step = await env.watcher.step(now + timedelta(minutes=17))
    assert step.edits is not None and step.edits.failed == 0
    assert "last edit failed: the message was deleted" in await env.service.why("4")


async def test_the_bot_wide_announce_role_is_mentioned_when_a_guild_sets_none(env):
    env.service = make_service(env.store, env.session, announce_role_id=555)
    env.watcher = Watcher(env.service, env.url)
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    env.server.feed = feed_xml(Show(items=(new_item(4, T0), *BACK)))
    await env.watcher.step(T0 + timedelta(minutes=15))
    rows = await env.rows()
    assert rows and all(r.post.body.startswith("<@&555>\n") for r in rows)
    assert all(r.post.mention_role == 555 for r in rows)


async def test_each_guild_mentions_its_own_role_or_nobody(env):
    await configure(env.store, GUILD_A, "announce_role", 777)
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    env.server.feed = feed_xml(Show(items=(new_item(4, T0), *BACK)))
    await env.watcher.step(T0 + timedelta(minutes=15))
    rows = {r.guild_id: r.post for r in await env.rows()}
    assert rows[GUILD_A].body.startswith("<@&777>\n") and rows[GUILD_A].mention_role == 777
    assert "<@&" not in rows[GUILD_B].body and rows[GUILD_B].mention_role is None


async def test_each_guild_has_its_own_grace_window(env):
    await configure(env.store, GUILD_A, "grace_window", 3600.0)  # B keeps the default 6 h
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    # Down overnight; back Tuesday 03:00. Episode 4 is dated Monday: taken as out at the end
    # of Monday, 3 h ago: inside B's 6 h, outside A's 1 h.
    back = T0 + timedelta(hours=18)
    env.server.feed = feed_xml(Show(items=(new_item(4, T0 + HOUR), *BACK)))
    step = await env.watcher.step(back)
    assert step.read is not None and (step.read.announced, step.read.summarised) == (1, 1)
    rows = {r.guild_id: r for r in await env.rows()}
    assert rows[GUILD_A].key.startswith("away:") and "While we were away" in rows[GUILD_A].post.body
    assert rows[GUILD_B].key.startswith("announce:") and rows[GUILD_B].post.open_thread
    why = await env.service.why("4")
    assert "up to 3.0 h ago, outside the grace window (60 min)" in why and f"<#{CHANNEL_A}>" in why
    assert f"posting in <#{CHANNEL_B}>" in why


# ---- content/ ----


async def test_the_watcher_notices_new_content_files(env, tmp_path, content_root):
    root = tmp_path / "content"
    (root / "episodes").mkdir(parents=True)
    (root / "topics.yaml").write_bytes((content_root / "topics.yaml").read_bytes())
    watcher = Watcher(env.service, "", sync=lambda: sync_content(env.store, root))
    await watcher.step(T0)
    catalogue = CatalogueService(env.store)
    assert not (await catalogue.answer_episode("11")).found
    source = content_root / "episodes" / "011-great-stagnation.md"
    (root / "episodes" / source.name).write_bytes(source.read_bytes())
    await watcher.step(T0 + timedelta(seconds=30))
    assert (await catalogue.answer_episode("11")).found


# ---- pure policy ----

LAST = datetime(2024, 3, 4, 14, 45, tzinfo=UTC)
NOW = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
GRACE = timedelta(hours=6)


@pytest.mark.parametrize(
    ("released", "last", "step"),
    [
        (date(2024, 3, 4), LAST, ANNOUNCED),  # today, polled 15 min ago
        (date(2024, 3, 3), LAST, ANNOUNCED),  # dated yesterday, appeared just now
        (None, LAST, ANNOUNCED),  # no date, polled 15 min ago
        (date(2024, 3, 1), LAST, BACKDATED),  # days before our last look
        (date(2024, 3, 4), LAST - timedelta(days=3), ANNOUNCED),  # today, after downtime
        (date(2024, 3, 2), LAST - timedelta(days=3), AWAY),  # during the downtime
        (None, LAST - timedelta(days=3), AWAY),  # no date after downtime: summarised
        (date(2024, 3, 5), LAST, ANNOUNCED),  # dated tomorrow (time zones)
    ],
)
def test_release_decision(released, last, step):
    assert release_decision(released, last, NOW, GRACE)[0] == step


def test_an_announced_release_is_explained_by_what_is_known():
    _, why = release_decision(date(2024, 3, 4), LAST, LAST + timedelta(minutes=15), HOUR * 6)
    assert (
        why == "new: dated 2024-03-04, not in the feed 15 min ago; inside the grace window (6.0 h)"
    )


def test_a_summary_shows_titles_and_the_show_as_written():
    ep = Episode(5, "Why __init__ *matters*", "why-init", date(2024, 3, 1))
    look = summary_look([ep], "Data_Science_Show", None, None)
    assert r"Data\_Science\_Show published 1 episode" in look.body
    assert r"- **Episode 5: Why \_\_init\_\_ \*matters\***" in look.body


def test_a_summary_of_many_episodes_fits_one_message():
    eps = [
        Episode(
            n,
            f"Talking about thing {n}",
            f"thing-{n}",
            date(2024, 3, 1),
            links=(Link("audio", f"https://show.example.org/audio/{n}.mp3"),),
        )
        for n in range(1, 301)
    ]
    look = summary_look(eps, "Vanishing Gradients", None, None)
    assert len(look.body) <= 1960 and look.body.endswith("/episode`.")
    assert "Episode 1: Talking about thing 1" in look.body and "…and " in look.body
    assert look.title == "While we were away: 300 new episodes"


async def test_run_steps_at_once_and_stops_when_asked(env):
    stepped = asyncio.Event()

    async def sync() -> None:
        stepped.set()

    env.server.feed = feed_xml(Show(items=BACK))
    watcher = Watcher(env.service, env.url, sync=sync)
    task = asyncio.create_task(watcher.run(lambda: T0.timestamp(), interval=3600))
    await asyncio.wait_for(stepped.wait(), 10)
    watcher.stop()
    await asyncio.wait_for(task, 10)
    assert env.server.count("/feed.xml") == 1


async def test_feed_why_explains_the_episode_its_autocomplete_picked(env):
    """/feed why's autocomplete gives a number, a slug (an unnumbered episode) or `id:N` (a
    number two episodes share): each names the very item it was picked for."""
    bonus = Item(title="Bonus: a live chat", guid="vg-bonus", published=T0)
    twin = episode(3, guid="vg-0003-rerun").but(title="Episode 3: The rerun")
    env.server.feed = feed_xml(Show(items=(bonus, twin, *BACK)))
    await env.watcher.step(T0)
    catalogue = CatalogueService(env.store)
    picked = {name: value for name, value in await catalogue.episode_choices("")}
    assert picked["Bonus: a live chat"] == "bonus-a-live-chat"
    by_id = [v for n, v in picked.items() if "The rerun" in n or "thing 3" in n]
    assert any(v.startswith("id:") for v in by_id)
    for name, value in picked.items():
        why = await env.service.why(value)
        title = name.split(" · ")[-1].split(" — ")[0]
        assert title in why and "seed" in why, (name, value, why)


async def test_status_says_which_feed_is_watched_and_that_an_imported_one_is_not(env, tmp_path):
    """The back catalogue imported from a saved file is a feed of its own that nobody polls:
    its "Next poll" would be a time that passes with nothing happening."""
    saved = tmp_path / "feed.xml"
    saved.write_bytes(feed_xml(Show(items=BACK)))
    imported = await env.service.read(str(saved), T0, announce=False, conditional=False)
    assert imported.ok
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)

    later = T0 + 3 * HOUR
    watched, unwatched = await env.service.status(later, GUILD_A, watched=env.url)
    assert env.url in watched and "Next poll: <t:" in watched
    assert str(saved) in unwatched and "Next poll" not in unwatched
    assert f"Not polled: the bot watches <{env.url}> (`feed_url`)" in unwatched


async def test_a_new_episode_titled_like_a_content_one_is_its_own_episode(
    env, tmp_path, content_root
):
    """content/'s episode 11 is great-stagnation; a new episode 60 "Great Stagnation" shares
    the slug, not the episode: stored (answerable), and announced as itself."""
    root = tmp_path / "content"
    (root / "episodes").mkdir(parents=True)
    (root / "topics.yaml").write_bytes((content_root / "topics.yaml").read_bytes())
    source = content_root / "episodes" / "011-great-stagnation.md"
    (root / "episodes" / source.name).write_bytes(source.read_bytes())
    await sync_content(env.store, root)
    env.server.feed = feed_xml(Show(items=BACK))
    await env.watcher.step(T0)
    later = T0 + 20 * timedelta(minutes=1)
    rerun = new_item(60, later).but(title="Episode 60: Great Stagnation")
    env.server.feed = feed_xml(Show(items=(rerun, *BACK)))
    await env.watcher.step(later)

    reply = await CatalogueService(env.store).answer_episode("60")
    assert reply.found and "Great Stagnation" in reply.title
    rows = await env.rows()
    assert len(rows) == 2
    assert all("Episode 60: Great Stagnation" in r.post.body for r in rows)
    assert not any("Saroufim" in r.post.body for r in rows)
    # content/'s own episode keeps its curated notes.
    curated = await catalog.get_episode(env.store, number=11)
    assert curated is not None and curated.title == "Data Science: The Great Stagnation"


def test_why_without_a_feed_says_so_first():
    # It said "No item matching '11' was seen in the feed." first, of a feed that is not there.
    told = not_found_text("11", [])
    assert told.startswith("No feed is configured"), told
    assert "was seen in the feed" not in told, told

"""Importing a feed through the real path: a local HTTP server, fetch, parse, the SQLite
catalogue, and the answers /episode gives afterwards."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.content import load_dir
from bot.feeds.export import episode_document, write_content
from bot.feeds.fetch import fetch
from bot.services.catalogue import CatalogueService
from bot.services.feeds import FeedConfig, FeedService, ReadReport
from bot.store import catalog
from bot.store.db import Store, open_store
from bot.store.feeds import FeedStore
from bot.store.sync import sync_content
from tests.feeds.feedgen import ENTITY_BOMB, FeedServer, Item, Show, episode, feed_xml, vtt

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Env:
    server: FeedServer
    store: Store
    service: FeedService
    catalogue: CatalogueService

    @property
    def url(self) -> str:
        return self.server.url("feed.xml")

    async def read(self, *, keep_episodes: bool = False) -> ReadReport:
        """As `vgbot import-feed` reads: the whole feed, never announcing."""
        return await self.service.read(
            self.url, NOW, announce=False, conditional=False, keep_episodes=keep_episodes
        )

    async def episode_count(self) -> int:
        row = await self.store.fetchone("SELECT count(*) FROM episodes WHERE origin = 'feed'")
        assert row is not None
        return int(row[0])


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with (
        FeedServer() as server,
        await open_store(tmp_path / "db.sqlite3") as store,
        aiohttp.ClientSession() as session,
    ):
        service = FeedService(
            store,
            functools.partial(fetch, session),
            config=FeedConfig(timeout=2.0, extras_timeout=2.0, max_bytes=5 * 1024 * 1024),
        )
        yield Env(server, store, service, CatalogueService(store))


def with_transcripts(server: FeedServer, n: int) -> Item:
    server.files[f"{n}.vtt"] = (vtt(f"we discussed zanzibar pipelines in episode {n}"), "text/vtt")
    server.files[f"{n}.json"] = (
        json.dumps(
            {
                "chapters": [
                    {"startTime": 0, "title": "Hello"},
                    {"startTime": 65.5, "title": "Pipelines"},
                ]
            }
        ).encode(),
        "application/json",
    )
    return episode(
        n,
        transcripts=((server.url(f"files/{n}.vtt"), "text/vtt"),),
        chapters_url=server.url(f"files/{n}.json"),
    )


# ---- a good feed ----


async def test_import_stores_episodes_transcripts_and_chapters_answerable_at_once(env):
    env.server.feed = feed_xml(Show(items=(with_transcripts(env.server, 12), episode(13))))
    report = await env.read()
    assert report.ok and (report.added, report.transcripts, report.extras_failed) == (2, 1, 0)

    reply = await env.catalogue.answer_episode("12")
    assert reply.found and "thing 12" in reply.title.lower() + reply.text.lower()
    stored = await catalog.get_episode(env.store, number=12, with_transcript=True)
    assert stored is not None
    assert [c.title for c in stored.chapters] == ["Hello", "Pipelines"]
    assert "zanzibar" in stored.transcript[0].text and stored.transcript[0].start == 0.0
    assert "track()" not in stored.summary + "".join(s.body for s in stored.sections)
    assert [s.heading for s in stored.sections] == ["What we covered"]
    hits = await env.catalogue.search("zanzibar")
    assert hits.found


async def test_a_second_import_changes_nothing_and_fetches_no_transcript(env):
    env.server.feed = feed_xml(Show(items=(with_transcripts(env.server, 12), episode(13))))
    await env.read()
    version = await catalog.catalog_version(env.store)
    transcripts = env.server.count("/files/")

    again = await env.read()
    assert (again.added, again.changed, again.unchanged) == (0, 0, 2)
    assert await catalog.catalog_version(env.store) == version
    assert env.server.count("/files/") == transcripts


async def test_conditional_get_answers_304_and_changes_nothing(env):
    env.server.feed = feed_xml(Show(items=(episode(12),)))
    await env.service.read(env.url, NOW, announce=False)
    second = await env.service.read(env.url, NOW, announce=False)  # conditional by default
    assert second.not_modified and second.ok
    feed = await FeedStore(env.store).feed(env.url)
    assert feed is not None and feed.last_not_modified and feed.last_status == 304
    assert feed.healthy and feed.etag


async def test_a_real_shaped_feed_imports_with_its_transcript_and_chapters(env):
    """The parser's fixture: iTunes and Podcasting 2.0 tags, HTML-heavy notes (scripts,
    styles, tables, iframes), several transcripts, Podlove chapters, items without guid,
    date or audio. Its URLs are pointed at the local server."""
    fixture = (REPO / "tests" / "feeds" / "fixtures" / "show.xml").read_bytes()
    env.server.feed = fixture.replace(
        b"https://latent.example/t/", env.server.url("files/").encode()
    )
    env.server.files["3.json"] = (
        json.dumps({"segments": [{"startTime": 1.5, "body": "Harnesses drift quietly."}]}).encode(),
        "application/json",
    )
    report = await env.read()
    assert report.ok and report.added == 4 and report.transcripts == 1
    assert env.server.count("/files/3.json") == 1  # JSON is preferred over WebVTT and SRT
    three = await catalog.get_episode(env.store, number=3, with_transcript=True)
    assert three is not None and three.title == "Evaluation Harnesses That Don't Lie"
    assert [c.title for c in three.chapters] == ["Welcome", "Why evals drift", "Wrap-up"]
    assert three.transcript[0].start == 1.5 and "drift" in three.transcript[0].text
    notes = three.summary + "".join(s.body for s in three.sections)
    assert "trackPlay" not in notes and "color: red" not in notes
    assert "[Theo Brandt](https://latent.example/people/theo)" in notes
    assert [p.name for p in three.guests] == ["Theo Brandt"]


async def test_a_document_in_the_wrong_encoding_is_read_but_flagged(env):
    doc = feed_xml(Show(items=(episode(4, title="Episode 4: Café"),)))
    env.server.feed = doc.decode().encode("latin-1")  # still declares UTF-8
    report = await env.read()
    assert report.ok and report.added == 1
    feed = await FeedStore(env.store).feed(env.url)
    assert feed is not None and not feed.healthy and feed.last_error


# ---- identity ----


async def test_identity_is_guid_then_audio_then_title_and_number(env):
    by_guid = episode(1, guid="g-1")
    by_audio = episode(2, guid=None)
    by_title = episode(3, guid=None, audio=None)
    env.server.feed = feed_xml(Show(items=(by_guid, by_audio, by_title)))
    await env.read()
    items = await FeedStore(env.store).items(1)
    assert set(items) == {
        "guid:g-1",
        f"audio:{by_audio.audio}",
        "title:talking about thing 3#3",
    }

    # Retitled: the guid and the audio URL still say "same episode": updated, not added.
    env.server.feed = feed_xml(
        Show(
            items=(
                by_guid.but(title="Episode 1: New title"),
                by_audio.but(title="Renamed 2"),
                by_title,
            )
        )
    )
    report = await env.read()
    assert (report.added, report.changed, report.unchanged) == (0, 2, 1)
    assert await env.episode_count() == 3
    reply = await env.catalogue.answer_episode("2")
    assert "Renamed 2" in reply.title


async def test_an_episode_in_content_keeps_its_curated_notes(env, content_root, tmp_path):
    root = tmp_path / "content"
    shutil.copytree(content_root, root)
    await sync_content(env.store, root)
    env.server.feed = feed_xml(
        Show(items=(episode(11, title="Episode 11: Feed title"), episode(12)))
    )
    report = await env.read()
    assert (report.added, report.from_content) == (2, 1)
    eleven = await catalog.get_episode(env.store, number=11)
    assert eleven is not None and eleven.title == "Data Science: The Great Stagnation"
    assert await env.episode_count() == 1


async def test_items_without_dates_or_guids_are_kept(env):
    env.server.feed = feed_xml(
        Show(items=(episode(5, published=None, guid=None), Item(title="Bonus: questions")))
    )
    report = await env.read()
    assert report.added == 2 and await env.episode_count() == 2


async def test_a_removed_item_stays_in_the_catalogue(env):
    env.server.feed = feed_xml(Show(items=(episode(1), episode(2))))
    await env.read()
    env.server.feed = feed_xml(Show(items=(episode(2),)))
    report = await env.read()
    assert report.removed == 1 and await env.episode_count() == 2
    items = await FeedStore(env.store).items(1)
    assert not items["guid:vg-0001"].in_feed
    assert (await env.catalogue.answer_episode("1")).found


# ---- transcripts that fail ----


async def test_a_failed_transcript_is_tried_again_and_never_loses_the_stored_one(env):
    item = with_transcripts(env.server, 7)
    env.server.feed = feed_xml(Show(items=(item,)))
    await env.read()
    del env.server.files["7.vtt"]  # now 404s

    changed = item.but(title="Episode 7: Better title")
    env.server.feed = feed_xml(Show(items=(changed,)))
    report = await env.read()
    assert report.extras_failed == 1 and report.changed == 1
    assert any("404" in str(p) for p in report.problems)
    stored = await catalog.get_episode(env.store, number=7, with_transcript=True)
    assert stored is not None and stored.title == "Better title"
    assert stored.transcript and "zanzibar" in stored.transcript[0].text  # kept
    assert not (await FeedStore(env.store).items(1))[f"guid:{item.guid}"].complete

    env.server.files["7.vtt"] = (vtt("fresh words about kilimanjaro"), "text/vtt")
    await env.read()
    stored = await catalog.get_episode(env.store, number=7, with_transcript=True)
    assert stored is not None and "kilimanjaro" in stored.transcript[0].text
    assert (await FeedStore(env.store).items(1))[f"guid:{item.guid}"].complete


async def test_when_the_preferred_transcript_fails_the_next_one_is_used(env):
    env.server.files["9.vtt"] = (vtt("second best words about quokka tables"), "text/vtt")
    item = episode(
        9,
        transcripts=(
            (env.server.url("files/9.json"), "application/json"),  # preferred, but 404
            (env.server.url("files/9.vtt"), "text/vtt"),
        ),
    )
    env.server.feed = feed_xml(Show(items=(item,)))
    report = await env.read()
    assert (report.transcripts, report.extras_failed) == (1, 0)
    stored = await catalog.get_episode(env.store, number=9, with_transcript=True)
    assert stored is not None and "quokka" in stored.transcript[0].text
    assert any("9.json" in str(p) and "404" in str(p) and "used" in str(p) for p in report.problems)


async def test_when_every_transcript_fails_the_item_waits_for_a_retry(env):
    item = episode(
        9,
        transcripts=(
            (env.server.url("files/9.json"), "application/json"),
            (env.server.url("files/9.srt"), "application/x-subrip"),
        ),
    )
    env.server.feed = feed_xml(Show(items=(item,)))
    report = await env.read()
    assert report.extras_failed == 1
    assert env.server.count("/files/9.json") == env.server.count("/files/9.srt") == 1
    assert not (await FeedStore(env.store).items(1))["guid:vg-0009"].complete


async def test_a_public_feed_never_fetches_files_from_the_bots_own_network(env):
    # As if the feed were on the internet (it is on 127.0.0.1 here): its transcript link to
    # 127.0.0.1 could be a cloud's metadata service, then searchable by every member.
    public = FeedService(
        env.store,
        env.service.fetcher,
        config=FeedConfig(timeout=2.0, extras_timeout=2.0, extras_public_only=True),
    )
    env.server.feed = feed_xml(Show(items=(with_transcripts(env.server, 12),)))
    report = await public.read(env.url, NOW, announce=False, conditional=False)
    assert report.ok and report.added == 1 and report.extras_failed == 1
    assert env.server.count("/files/") == 0  # nothing was asked of the private host
    why = await public.why("12")
    assert "127.0.0.1 is at 127.0.0.1, not a public address" in why, why
    # The feed's own network (the default for a feed on it): fetched as before.
    assert (await env.read()).transcripts == 1


async def test_an_error_page_at_a_transcript_url_is_refused_and_the_stored_one_kept(env):
    item = with_transcripts(env.server, 8)
    env.server.feed = feed_xml(Show(items=(item,)))
    await env.read()
    soft_404 = (REPO / "tests/feeds/fixtures/transcripts/soft-404.html").read_bytes()
    env.server.files["8.vtt"] = (soft_404, "text/html")  # a CDN's 200 for a missing file

    env.server.feed = feed_xml(Show(items=(item.but(title="Episode 8: Retitled"),)))
    report = await env.read()
    assert report.extras_failed == 1
    assert any("Podcast not found" in str(p) and "text/vtt" in str(p) for p in report.problems)
    stored = await catalog.get_episode(env.store, number=8, with_transcript=True)
    assert stored is not None and stored.title == "Retitled"
    assert "zanzibar" in " ".join(p.text for p in stored.transcript)  # the page is not
    assert not (await FeedStore(env.store).items(1))["guid:vg-0008"].complete


# ---- bad feeds: a clear error, the feed unhealthy, nothing stored lost ----


async def seeded(env: Env) -> int:
    env.server.feed = feed_xml(Show(items=(episode(1), episode(2))))
    await env.read()
    return await env.episode_count()


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda s: setattr(s, "status", 500), "HTTP 500"),
        (lambda s: setattr(s, "feed", ENTITY_BOMB), "declares XML entities"),
        (lambda s: setattr(s, "feed", b"<html><body>Moved</body></html>"), "not an RSS"),
        (lambda s: setattr(s, "feed", b"<rss><channel><item><title>x</ti"), "not well-formed"),
        (lambda s: setattr(s, "feed", b""), "empty"),
    ],
    ids=["http-500", "entity-bomb", "web-page", "broken-xml", "empty"],
)
async def test_bad_feeds_give_a_clear_error_and_lose_nothing(env, setup, words):
    before = await seeded(env)
    setup(env.server)
    report = await env.read()
    assert not report.ok and words in (report.error or "")
    assert await env.episode_count() == before
    feed = await FeedStore(env.store).feed(env.url)
    assert feed is not None and not feed.healthy and feed.failures == 1
    assert words in feed.last_error


async def test_slow_huge_and_looping_feeds_are_cut_off(env):
    before = await seeded(env)
    env.server.slow = True
    env.service.config = FeedConfig(timeout=0.3)
    slow = await env.read()
    assert "timed out" in (slow.error or "")
    env.server.slow = False

    env.service.config = FeedConfig(max_bytes=5 * 1024 * 1024)
    huge = await env.service.read(env.server.url("big"), NOW, announce=False)
    assert "limit" in (huge.error or "") and env.server.big_sent < 10 * 1024 * 1024

    loop = await env.service.read(env.server.url("loop"), NOW, announce=False)
    assert "redirect loop" in (loop.error or "")
    assert await env.episode_count() == before


async def test_a_leniently_read_feed_adds_but_never_overwrites(env):
    await seeded(env)
    broken = feed_xml(Show(items=(episode(1, title="Episode 1: AT&T ruined it"), episode(3))))
    env.server.feed = broken.replace(b"</channel>", b"<bogus>&</channel>")
    report = await env.read()
    assert report.ok and "not well-formed" in report.warning
    assert report.added == 1  # episode 3
    one = await catalog.get_episode(env.store, number=1)
    assert one is not None and "AT&T" not in one.title
    feed = await FeedStore(env.store).feed(env.url)
    assert feed is not None and not feed.healthy


@pytest.mark.parametrize("codec", ["utf-16", "utf-32", "utf-8-sig"])
async def test_feeds_in_utf16_and_utf32_with_a_bom_import(env, codec):
    doc = feed_xml(Show(items=(episode(4, title="Episode 4: Café déjà vu — ünïcödé"),)))
    env.server.feed = doc.decode().replace('encoding="UTF-8"', f'encoding="{codec}"').encode(codec)
    report = await env.read()
    assert report.ok and report.added == 1
    stored = await catalog.get_episode(env.store, number=4)
    assert stored is not None and stored.title == "Café déjà vu — ünïcödé"


# ---- content files ----


async def test_write_content_round_trips_through_the_content_loader(env, tmp_path):
    items = (
        with_transcripts(env.server, 12),
        episode(13, notes="<h2>Links</h2><p>one</p><h2>Links</h2><p>two</p><h3>Empty</h3>"),
        episode(14, published=None),  # no date: reported, not written
    )
    env.server.feed = feed_xml(Show(items=items))
    report = await env.read(keep_episodes=True)
    out = tmp_path / "exported"
    export = write_content(out, report.episodes)
    assert len(export.written) == 2 and len(export.problems) == 1
    assert "no release date" in export.problems[0].message

    loaded = load_dir(out)
    assert loaded.problems == ()
    assert [e.number for e in loaded.episodes] == [12, 13]
    twelve = loaded.episodes[0]
    assert twelve.transcript and "zanzibar" in twelve.transcript[0].text
    assert [c.title for c in twelve.chapters] == ["Hello", "Pipelines"]

    again = write_content(out, report.episodes)
    assert again.written == [] and len(again.kept) == 2


def test_an_episode_document_never_invents_missing_facts():
    item = episode(3, hosts=())
    from bot.feeds.parse import parse_feed

    parsed = parse_feed(feed_xml(Show(items=(item,))))
    problem = episode_document(parsed.items[0].episode)
    assert not hasattr(problem, "text") and "no host" in str(problem)


# ---- property: mutated feeds never crash the import nor lose what is stored ----

BASE = feed_xml(Show(items=tuple(episode(n) for n in range(1, 6))))


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    lines = BASE.split(b"\n")
    raw = b"\n".join(lines)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cut", "garble", "insert", "drop-tag", "swap-guid"]))
        i = draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "cut":
            raw = raw[:i]
        elif op == "garble":
            raw = raw[:i] + draw(st.binary(min_size=1, max_size=6)) + raw[i + 1 :]
        elif op == "insert":
            junk = draw(
                st.sampled_from(
                    [
                        b"<",
                        b"&",
                        b"]]>",
                        b"<item>",
                        b"<!ENTITY x 'y'>",
                        b"\x00",
                        b"</rss>",
                        b"<guid>vg-0001</guid>",
                    ]
                )
            )
            raw = raw[:i] + junk + raw[i:]
        elif op == "drop-tag":
            tag = draw(st.sampled_from([b"<guid", b"<pubDate>", b"<enclosure", b"<title>"]))
            raw = raw.replace(tag, b"<x-dropped", 1)
        else:
            raw = raw.replace(b"vg-0002", b"vg-0003")
    return raw


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=mutations())
async def test_mutated_feeds_import_or_fail_clearly_and_never_lose_episodes(env, raw):
    if await env.episode_count() == 0:
        env.server.feed = BASE
        assert (await env.read()).added == 5
    keys = {r[0] for r in await env.store.fetchall("SELECT key FROM episodes")}
    env.server.feed = raw
    report = await env.read()
    assert report.ok or (report.error and len(report.error) > 10)
    after = {r[0] for r in await env.store.fetchall("SELECT key FROM episodes")}
    assert keys <= after


async def test_a_feed_with_seasons_counting_from_one_again(env):
    # "S2E3" is how listeners of such a show name an episode; each one stays reachable.
    first = episode(
        3, title="Gradient returns", guid="s1e3", extra="<itunes:season>1</itunes:season>"
    )
    second = episode(
        3, title="Stagnation ahead", guid="s2e3", extra="<itunes:season>2</itunes:season>"
    )
    env.server.feed = feed_xml(Show(items=(second, first)))
    assert (await env.read()).added == 2
    for text in ("s2e3", "S2 E3", "s2 ep 3", "season 2 episode 3", "S02E03"):
        reply = await env.catalogue.answer_episode(text)
        assert reply.found and reply.title == "Season 2, Episode 3: Stagnation ahead", text
    reply = await env.catalogue.answer_episode("s1e3")
    assert reply.title == "Season 1, Episode 3: Gradient returns"
    assert not (await env.catalogue.answer_episode("s3e3")).found
    choices = await env.catalogue.episode_choices("3")
    assert sorted(choices) == [
        ("S1 E3 · Gradient returns — Guest Number3", "s1e3"),
        ("S2 E3 · Stagnation ahead — Guest Number3", "s2e3"),
    ]
    both = await env.catalogue.answer_episode("3")
    assert both.footer == "Also numbered 3: Season 1, Episode 3: Gradient returns"
    # A second read of the unchanged feed changes nothing (the season is part of the item).
    again = await env.read()
    assert (again.added, again.changed, again.unchanged) == (0, 0, 2)

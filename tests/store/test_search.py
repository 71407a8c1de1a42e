"""FTS5 search over the synced catalogue: stemming, accents, weights, grouping, snippets."""

from __future__ import annotations

import pytest

from bot.core.answers import MARK_END, MARK_START, Hit
from bot.core.query import match_expression, parse_query
from bot.store import search
from bot.store.db import open_store
from bot.store.sync import sync_content
from tests.store.files import Ep, small_catalogue, write_episode


@pytest.fixture
async def store(tmp_path):
    root = tmp_path / "content"
    small_catalogue(root)
    write_episode(
        root,
        Ep(
            14,
            "Marked \ue000Words\ue001",
            slug="marked",
            summary="Text that contains our private \ue001marker\ue000 characters.",
        ),
    )
    async with await open_store(tmp_path / "bot.sqlite3") as s:
        report = await sync_content(s, root)
        assert report.problems == []
        yield s


async def _find(store, text: str, **kw) -> list[Hit]:
    return (await search.search(store, match_expression(parse_query(text)), **kw)).hits


async def _ids(store) -> dict[int, int]:
    rows = await store.fetchall("SELECT number, id FROM episodes")
    return {r[0]: r[1] for r in rows}


async def test_stemming_finds_other_forms(store):
    hits = await _find(store, "forecast", include_topics=False)
    assert [h.episode.number for h in hits if h.episode] == [12]
    hits = await _find(store, "experiment", include_topics=False)
    assert {h.episode.number for h in hits if h.episode} == {12, 13}


async def test_accents_are_ignored_both_ways(store):
    for text in ("cafe", "café", "CAFÉ"):
        hits = await _find(store, text, include_topics=False)
        assert [(h.episode.number, h.kind) for h in hits if h.episode] == [(12, "passage")]
    hits = await _find(store, "muller", include_topics=False)
    assert [h.episode.number for h in hits if h.episode] == [13]


async def test_titles_and_headings_outrank_transcripts(store):
    hits = await _find(store, "moats", include_topics=False)
    assert [(h.episode.number, h.kind) for h in hits if h.episode] == [
        (11, "section"),
        (12, "passage"),
    ]


async def test_own_episodes_come_first(store):
    plain = await _find(store, "experiments", include_topics=False)
    assert [h.episode.number for h in plain if h.episode] == [13, 12]
    ids = await _ids(store)
    owned = await _find(store, "experiments", include_topics=False, own=[ids[12]])
    assert [(h.episode.number, h.own) for h in owned if h.episode] == [(12, True), (13, False)]


async def test_one_hit_per_episode_and_topics_when_asked(store):
    hits = await _find(store, "open source")
    episodes = [h.episode.number for h in hits if h.episode]
    assert len(episodes) == len(set(episodes))
    assert "open-source-risk" in {h.topic_slug for h in hits}
    assert all(h.episode is None for h in hits if h.topic_slug)
    no_topics = await _find(store, "open source", include_topics=False)
    assert all(h.topic_slug is None for h in no_topics)


async def test_snippets_mark_matches_and_stay_short(store):
    (hit,) = await _find(store, "nobody", include_topics=False)
    assert f"{MARK_START}nobody{MARK_END}" in hit.marked
    assert hit.start == 5.0 and hit.chapters[0].title == "Intro"
    assert len(hit.marked.split()) <= search.SNIPPET_TOKENS + 2


async def test_marker_characters_in_content_cannot_fake_a_match(store):
    (hit,) = await _find(store, "private", include_topics=False)
    plain = hit.marked.replace(f"{MARK_START}private{MARK_END}", "")
    assert MARK_START not in plain and MARK_END not in plain


async def test_column_filter_limits_matching(store):
    assert await _find(store, "grocer", include_topics=False, columns=("title",)) == []
    hits = await _find(store, "grocer", include_topics=False, columns=("people",))
    assert [h.episode.number for h in hits if h.episode] == [12]


async def test_nothing_matches_and_empty_expression(store):
    assert await _find(store, "xylophone") == []
    assert (await search.search(store, "")).hits == []


def test_document_ids_keep_tiers_apart():
    notes = search.doc_id(search.TIER_NOTES, 1, 0)
    passage = search.doc_id(search.TIER_PASSAGE, search.MAX_OWNER, search.MAX_POSITION)
    topic = search.doc_id(search.TIER_TOPIC, 1, 0)
    assert passage < notes < topic
    with pytest.raises(ValueError, match="out of range"):
        search.doc_id(search.TIER_NOTES, 1, search.MAX_POSITION + 1)


def test_plain_text_keeps_the_words_a_reader_sees():
    text = search.plain_text("**Bold** and [a link](https://x.example) and ![img](y.png) `code`")
    assert text.split() == ["Bold", "and", "a", "link", "and", "img", "code"]


def test_newest_own_takes_own_episodes_in_the_given_order_without_ranking():
    notes = lambda ep, pos=0: search.doc_id(search.TIER_NOTES, ep, pos)  # noqa: E731
    passage = lambda ep, pos=0: search.doc_id(search.TIER_PASSAGE, ep, pos)  # noqa: E731
    topic = search.doc_id(search.TIER_TOPIC, 1, 0)
    found = sorted(
        [topic, notes(5, 2), notes(5, 1), passage(5), passage(4, 3), passage(4, 1), notes(3)],
        reverse=True,
    )
    r = search.newest_own(found, own=[9, 4, 5, 3], limit=2, quoted=1)
    assert r is not None
    # 9 has no match; 4 only passages (the earliest is taken); 5's notes beat its passage.
    assert r.ids == [passage(4, 1), notes(5, 1)] and r.quote == [passage(4, 1)]
    assert r.own == set(r.ids) and r.episodes == 3 and r.others == 0
    assert search.newest_own(found, own=[4, 7], limit=2, quoted=1) is None  # cannot fill
    r = search.newest_own(found, own=[3, 4, 5], limit=3, quoted=5)
    assert r is not None and r.ids == [notes(3), passage(4, 1), notes(5, 1)]


async def test_search_first_takes_the_first_expression_with_hits(store):
    first = await search.search_first(store, ['"xylophone"', "", '"forecast"', '"moats"'])
    assert [h.episode.number for h in first.hits if h.episode] == [12]
    assert first.version is not None
    none = await search.search_first(store, ['"xylophone"', '"zither"'])
    assert none.hits == [] and none.version == first.version
    assert (await search.search_first(store, ["", ""])).hits == []


async def test_a_word_in_more_documents_than_are_ranked_ranks_the_newest(tmp_path):
    root = tmp_path / "content"
    small_catalogue(root)
    # Each episode has 2 documents with the word (summary, one section): the cap is reached
    # within the newest episodes, and the older ones are counted out, not ranked.
    per_episode = 2
    n = search.CANDIDATES // per_episode + 20
    for number in range(100, 100 + n):
        write_episode(
            root,
            Ep(
                number,
                f"Episode {number}",
                released=f"2023-{1 + number % 12:02d}-01",
                summary="We talk about zebras" + " and zebras" * (number % 3),
                sections=(("More", "Zebras again."),),
            ),
        )
    async with await open_store(tmp_path / "bot.sqlite3") as s:
        assert (await sync_content(s, root)).problems == []
        results = await search.search(s, match_expression(parse_query("zebra")))
        ids = await _ids(s)
    assert results.capped
    assert results.episodes == search.CANDIDATES // per_episode  # every candidate's episode
    newest = sorted(ids[number] for number in range(100, 100 + n))[-results.episodes :]
    hit_ids = {ids[h.episode.number] for h in results.hits if h.episode is not None}
    assert len(hit_ids) == 8 and hit_ids <= set(newest)
    # Ranked by bm25 among those: the summaries saying "zebras" three times come first.
    assert all(h.episode is not None and h.episode.number % 3 == 2 for h in results.hits[:3])

"""/episode, /topic, search and autocomplete, end to end over real files and SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import open_app
from bot.services.catalogue import CHOICES_MAX_AGE, CatalogueService
from bot.settings import Settings
from bot.store.db import open_store
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
def root(tmp_path):
    path = tmp_path / "content"
    small_catalogue(path)
    return path


@pytest.fixture
async def service(tmp_path, root):
    async with open_app(Settings(db=tmp_path / "bot.sqlite3", content_dir=root)) as opened:
        assert opened.sync_report.problems == []
        yield opened.catalogue


@pytest.mark.parametrize(
    "text",
    [
        "11",
        "#11",
        "ep 11",
        "Episode 11",
        "great-stagnation",
        "Data Science: The Great Stagnation",
        "great stagnation",
        "saroufim",
        "Mark Saroufim",
        "stagnating",  # stemmed, through the index
    ],
)
async def test_episode_lookups(service, text):
    reply = await service.answer_episode(text)
    assert reply.kind == "episode", reply
    assert reply.title == "Episode 11: Data Science: The Great Stagnation"
    assert reply.episode_number == 11
    assert reply.url == "https://vanishinggradients.fireside.fm/11"
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Guest"] == "Mark Saroufim — Applied AI Engineer at Meta (PyTorch)"
    assert fields["Topics"] == "Defensible moats, The risk of adopting open source"
    assert "• Defensible moats" in fields["Sections"]


@pytest.mark.parametrize(
    "text",
    [
        "Episode 11: Data Science: The Great Stagnation",  # /episode's own title
        "Ep. 11: Data Science: The Great Stagnation",  # /topic's list and citations
        "#11 · Data Science: The Great Stagnation — Mark Saroufim",  # an autocomplete name
        "#11 · Data Science: The Great Stag…",  # one cut to Discord's 100 characters
    ],
)
async def test_episode_opens_from_the_way_the_bot_names_it(service, text):
    """Members paste what the bot showed them; each of its names for an episode opens it."""
    reply = await service.answer_episode(text)
    assert (reply.kind, reply.episode_number) == ("episode", 11), reply


async def test_a_number_and_title_that_disagree_open_neither(service):
    reply = await service.answer_episode("Episode 12: Data Science: The Great Stagnation")
    assert reply.kind == "not_found"


async def test_episode_with_chapters_and_accented_guest(service):
    reply = await service.answer_episode("12")
    assert {f.name: f.value for f in reply.fields}["Chapters"] == "0:00 Intro\n1:30 Moats in retail"
    assert (await service.answer_episode("muller")).episode_number == 13


async def test_episode_typo_gets_did_you_mean(service):
    reply = await service.answer_episode("stagnaton")
    assert reply.kind == "not_found"
    assert "No episode matches “stagnaton”" in reply.text
    # Named as autocomplete names it, a value /episode opens.
    assert reply.suggestions[0] == "#11 · Data Science: The Great Stagnation — Mark Saroufim"
    assert (await service.answer_episode(reply.suggestions[0])).episode_number == 11


async def test_a_misspelt_guest_is_suggested_with_the_guest_named(service):
    """A guest's episode was suggested by its title alone, which does not say why: to someone
    who typed a name it read as an unrelated episode."""
    reply = await service.answer_episode("saroufin")
    assert reply.kind == "not_found"
    assert reply.suggestions[:1] == ("#11 · Data Science: The Great Stagnation — Mark Saroufim",)


async def test_a_misspelt_guest_in_lower_case_is_suggested(service):
    """Members type names in lower case: 'Saroufin' was suggested Mark Saroufim, 'saroufin'
    nothing at all."""
    for text in ("saroufin", "Saroufin", "mark saroufin"):
        reply = await service.answer_episode(text)
        assert reply.kind == "not_found" and reply.suggestions, text
        assert (await service.answer_episode(reply.suggestions[0])).episode_number == 11, text


async def test_unknown_episode_number_names_the_latest(service):
    reply = await service.answer_episode("99")
    assert reply.kind == "not_found"
    assert reply.text.startswith(
        "There is no episode 99 in the catalogue. The latest is episode 13."
    )
    assert reply.suggestions[0] == "#13 · Causal Inference for Product Teams — Jo Müller"


@pytest.mark.parametrize(
    "text", ["defensible-moats", "Defensible Moats", "moats", "COMPETITIVE ADVANTAGE"]
)
async def test_topic_by_slug_title_or_alias(service, text):
    reply = await service.answer_topic(text)
    assert (reply.kind, reply.title) == ("topic", "Defensible moats")
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Episodes"] == "Ep. 11: Data Science: The Great Stagnation"
    # Its own episode first, then the other mention (12's transcript), matches marked.
    assert [e.citation.episode_number for e in reply.excerpts] == [11, 12]
    assert all(any(hit for _, hit in e.segments) for e in reply.excerpts)
    assert reply.excerpts[1].citation.timestamp == 5.0


async def test_topic_own_episodes_rank_before_better_other_matches(tmp_path, root):
    write_episode(root, Ep(15, "Pricing Power", topics=["defensible-moats"], summary="Moats once."))
    write_episode(root, Ep(16, "Moats, Moats Everywhere", summary="Untagged but all about moats."))
    async with open_app(Settings(db=tmp_path / "other.sqlite3", content_dir=root)) as opened:
        plain = await opened.catalogue.search("moats")
        assert [e.citation.episode_number for e in plain.excerpts][0] == 16  # best by text
        topic = await opened.catalogue.answer_topic("moats")
        order = [e.citation.episode_number or 0 for e in topic.excerpts]
        # 12 quotes more of the topic's names ("competitive advantage", "defensible moats")
        # than 16, so it ranks above 16 once both are behind the topic's own episodes.
        assert sorted(order[:2]) == [11, 15] and order[2:] == [12, 16]
        fields = {f.name: f.value for f in topic.fields}
        assert (
            fields["Episodes"]
            == "Ep. 15: Pricing Power\nEp. 11: Data Science: The Great Stagnation"
        )
        assert topic.footer == "2 episodes on this topic · mentioned in 2 more episodes"


async def test_an_excerpt_quotes_what_was_said_not_the_heading_it_is_cited_by(tmp_path, root):
    """The quote was the section's heading (or the episode's title), which its citation names
    already: it told the member nothing of what was said."""
    write_topics(
        root,
        [
            topic("defensible-moats", "Defensible moats", aliases=["moats"]),
            topic("open-source-risk", "The risk of adopting open source", aliases=["vetting"]),
            topic("data-science-as-role-play", "Data science as role play"),
            topic("causal-inference", "Causal inference"),
            topic("docs", "Documentation"),
        ],
    )
    write_episode(
        root,
        Ep(
            15,
            "Dependencies",
            topics=["open-source-risk", "docs"],
            sections=[
                ("Weighing the risk of adopting open source", "Vetting a library takes a day."),
                ("Documentation comes first", "It decides whether newcomers stay."),
            ],
        ),
    )
    write_episode(root, Ep(16, "Pricing Power: Defensible Moats", summary="Margins that last."))
    async with open_app(Settings(db=tmp_path / "quotes.sqlite3", content_dir=root)) as opened:
        catalogue = opened.catalogue
        (risk,) = (await catalogue.answer_topic("The risk of adopting open source")).excerpts
        assert risk.citation.section == "Weighing the risk of adopting open source"
        assert risk.segments == (("Vetting", True), (" a library takes a day.", False))
        (docs,) = (await catalogue.answer_topic("Documentation")).excerpts
        assert docs.citation.section == "Documentation comes first"
        # Only the heading matched: it stays, marked, to show why, and the text follows.
        assert docs.segments == (
            ("Documentation", True),
            (" comes first — It decides whether newcomers stay.", False),
        )
        excerpts = (await catalogue.search("pricing power")).excerpts
        assert [(e.citation.episode_number, e.plain) for e in excerpts] == [
            (16, "Pricing Power: Defensible Moats — Margins that last.")
        ]


async def test_free_text_topic_search_cites_transcripts_with_time(service):
    reply = await service.answer_topic("café experiments")
    assert reply.kind == "search"
    (excerpt,) = [e for e in reply.excerpts if e.citation.episode_number == 12]
    assert excerpt.citation.timestamp == 5.0 and excerpt.citation.section == "Intro"
    assert ("café", True) in excerpt.segments


async def test_free_text_falls_back_to_any_word_then_prefix(service):
    either = await service.search("forecasting xylophone")
    assert [e.citation.episode_number for e in either.excerpts] == [12]
    # Said first, so nobody takes it for coverage of the whole query.
    assert either.text == (
        "Nothing the show said has all of “forecasting xylophone”. "
        "These match some of it: “forecasting”."
    )
    both = await service.search("retail forecasting")
    assert both.excerpts and both.text == ""
    prefix = await service.search("forecas")
    assert [e.citation.episode_number for e in prefix.excerpts] == [12]


async def test_names_in_any_script_match_themselves_and_nothing_else(tmp_path, root):
    """A topic titled without Latin letters once had an empty key, which every query in another
    script (or of emoji) also had: the bot claimed coverage of any of them."""
    write_topics(
        root,
        [
            topic("machine-learning-ja", "機械学習", aliases=["機械学習の話"]),
            topic("fire", "🔥🔥"),
            topic("borscht", "Борщ", aliases=["борщ и данные"]),
            topic("defensible-moats", "Defensible moats", aliases=["moats"]),
            topic("open-source-risk", "The risk of adopting open source"),
            topic("data-science-as-role-play", "Data science as role play"),
            topic("causal-inference", "Causal inference"),
        ],
    )
    write_episode(
        root,
        Ep(
            15,
            "Models in Japan",
            topics=["machine-learning-ja", "fire", "borscht"],
            summary="Hugo talks about ramen and models.",
            sections=[("機械学習の話", "モデルとデータ。"), ("Обсуждение", "Данные и модели.")],
        ),
    )
    async with open_app(Settings(db=tmp_path / "scripts.sqlite3", content_dir=root)) as opened:
        assert opened.sync_report.problems == []
        catalogue = opened.catalogue
        for text in ("ラーメン", "寿司", "Пельмени", "🍜"):
            reply = await catalogue.answer_topic(text)
            assert reply.kind in ("not_found", "error") and not reply.excerpts, (text, reply.title)
        for text, title in (("機械学習", "機械学習"), ("БОРЩ", "Борщ"), ("moats", "Defensible")):
            reply = await catalogue.answer_topic(text)
            assert reply.kind == "topic" and reply.title.startswith(title), (text, reply.title)
        episode = await catalogue.answer_episode("15")
        assert "機械学習の話" in str(episode.fields) or "機械学習の話" in episode.text


async def test_a_transcript_match_is_cited_near_when_it_is_said(tmp_path, root):
    """A passage is ~250 words, minutes of audio: its start can be far from the word."""
    filler = "data team library source answer community production model question "
    lines = [f"[00:{m:02d}:{s:02d}] Hugo: {filler * 3}" for m in range(6) for s in (0, 30)]
    lines[5] = lines[5].replace("answer", "quokka", 1)  # said from 00:02:30 on
    write_transcript(root, "transcripts/015.txt", "\n".join(lines) + "\n")
    write_episode(
        root,
        Ep(
            15,
            "Marsupials",
            transcript="transcripts/015.txt",
            chapters=[("00:00", "Intro"), ("02:00", "Quokkas"), ("04:00", "Wombats")],
        ),
    )
    async with open_app(Settings(db=tmp_path / "cite.sqlite3", content_dir=root)) as opened:
        (excerpt,) = (await opened.catalogue.search("quokka")).excerpts
    assert excerpt.citation.section == "Quokkas"
    assert excerpt.citation.timestamp is not None and 150 <= excerpt.citation.timestamp < 180


async def test_not_covered_says_so_and_invents_nothing(service):
    reply = await service.answer_topic("quantum knitting")
    assert reply.kind == "not_found" and reply.title == "Not covered yet"
    assert "has not covered “quantum knitting” yet" in reply.text
    assert reply.excerpts == () and reply.fields == ()


async def test_not_covered_suggests_close_topics(service):
    reply = await service.answer_topic("defensable moat")
    assert reply.kind in ("not_found", "search")
    if reply.kind == "not_found":
        assert "Defensible moats" in reply.suggestions


@pytest.mark.parametrize("text", ["", "   ", "🤖🚀", "!!!", '"', "\x00\x07"])
async def test_nothing_to_look_for(service, text):
    for answer in (service.answer_episode, service.answer_topic, service.search):
        reply = await answer(text)
        assert reply.kind == "error" and "for example" in reply.text


async def test_autocomplete_is_discord_shaped(service):
    choices = await service.episode_choices("1")
    assert [v for _, v in choices] == ["11", "12", "13"]
    assert await service.episode_choices("sar") == [
        ("#11 · Data Science: The Great Stagnation — Mark Saroufim", "11")
    ]
    assert (await service.topic_choices("comp"))[0] == (
        "Defensible moats (competitive advantage)",
        "defensible-moats",
    )
    for prefix in ("", "a", "x" * 10_000, "🤖"):
        for pairs in (await service.episode_choices(prefix), await service.topic_choices(prefix)):
            assert len(pairs) <= 25
            assert all(0 < len(n) <= 100 and 0 < len(v) <= 100 for n, v in pairs)


async def test_a_sync_by_another_process_is_seen(tmp_path, root, service):
    assert (await service.answer_episode("14")).kind == "not_found"
    write_episode(root, Ep(14, "Fresh From Elsewhere", slug="fresh", topics=["causal-inference"]))
    async with await open_store(tmp_path / "bot.sqlite3") as other:
        await sync_content(other, root)
    assert (await service.answer_episode("14")).title == "Episode 14: Fresh From Elsewhere"
    assert ("#14 · Fresh From Elsewhere", "14") in await service.episode_choices("14")


async def test_topic_answers_notice_a_new_catalogue_version(tmp_path, root, service):
    await service.answer_topic("causal inference")  # the name index is loaded now
    write_episode(root, Ep(14, "Fresh From Elsewhere", slug="fresh", topics=["causal-inference"]))
    async with await open_store(tmp_path / "bot.sqlite3") as other:
        await sync_content(other, root)
    reply = await service.answer_topic("causal inference")
    episodes = {f.name: f.value for f in reply.fields}["Episodes"]
    assert episodes.splitlines()[0] == "Ep. 14: Fresh From Elsewhere"


async def test_autocomplete_rechecks_the_catalogue_every_few_seconds(tmp_path, root):
    now = [1000.0]
    async with await open_store(tmp_path / "bot.sqlite3") as store:
        await sync_content(store, root)
        service = CatalogueService(store, clock=lambda: now[0])
        assert await service.episode_choices("14") == []
        write_episode(root, Ep(14, "Fresh From Elsewhere", slug="fresh"))
        async with await open_store(tmp_path / "bot.sqlite3") as other:
            await sync_content(other, root)
        now[0] += CHOICES_MAX_AGE / 2
        assert await service.episode_choices("14") == []  # trusted, not re-read yet
        now[0] += CHOICES_MAX_AGE
        assert await service.episode_choices("14") == [("#14 · Fresh From Elsewhere", "14")]


async def test_shipped_content_answers(tmp_path, content_root):
    root = tmp_path / "shipped"
    shutil.copytree(content_root, root)
    async with open_app(Settings(db=tmp_path / "bot.sqlite3", content_dir=root)) as opened:
        service: CatalogueService = opened.catalogue
        reply = await service.answer_episode("saroufim")
        assert reply.title == "Episode 11: Data Science: The Great Stagnation"
        topic = await service.answer_topic("moats")
        assert topic.kind == "topic" and topic.excerpts
        assert topic.excerpts[0].citation.episode_number == 11


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=200))
async def test_any_text_gets_a_reply(service, text):
    for answer in (service.answer_episode, service.answer_topic, service.search):
        reply = await answer(text)
        assert reply.title
        if reply.kind == "error":  # only for text without a letter or digit
            assert "for example" in reply.text


async def test_a_topic_with_many_episodes_quotes_its_newest_ones(tmp_path, root):
    from bot.services.catalogue import HITS

    for n in range(20, 20 + HITS + 2):
        sections = [("Notes", "Why causal inference needs a model.")] if n % 2 else []
        summary = "A chat about tooling." if n % 2 else f"Causal inference, take {n}."
        write_episode(
            root,
            Ep(n, f"Episode {n}", topics=["causal-inference"], summary=summary, sections=sections),
        )
    async with open_app(Settings(db=tmp_path / "many.sqlite3", content_dir=root)) as opened:
        reply = await opened.catalogue.answer_topic("causal inference")
    assert reply.kind == "topic"
    newest = list(range(20 + HITS + 1, 20 + HITS + 1 - 5, -1))
    assert [e.citation.episode_number for e in reply.excerpts] == newest
    for e in reply.excerpts:  # each quotes where it says it, the topic's words marked
        n = e.citation.episode_number
        assert e.citation.section == ("Notes" if n % 2 else "show notes")
        assert [t.lower() for t, hit in e.segments if hit] == ["causal inference"]
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Episodes"].splitlines()[0] == f"Ep. {newest[0]}: Episode {newest[0]}"
    # Episode 13 (tagged too) and the transcript of 12 ("causality" is not said there).
    assert reply.footer == f"{HITS + 3} episodes on this topic"


async def test_episodes_sharing_a_number_are_each_reachable(tmp_path, root):
    # A feed with seasons counts from 1 again: two episodes numbered 3. Every autocomplete
    # choice must open the episode it names, and a search must not swap one for the other.
    from datetime import date

    from bot.core.models import Episode
    from bot.store import catalog

    first = Episode(3, "Gradient returns", "gradient-returns", date(2024, 3, 1), guid="s1e3")
    second = Episode(3, "Stagnation ahead", "stagnation-ahead", date(2025, 3, 1), guid="s2e3")
    async with open_app(Settings(db=tmp_path / "bot.sqlite3", content_dir=root)) as app:
        await catalog.upsert_episodes(app.store, [first, second], "https://example.com/feed")
        service = app.catalogue
        choices = await service.episode_choices("3")
        named = {name.split(" · ", 1)[1]: value for name, value in choices}
        assert set(named) == {"Gradient returns", "Stagnation ahead"}
        for title, value in named.items():
            reply = await service.answer_episode(value)
            assert reply.kind == "episode" and reply.title.endswith(title), (value, reply.title)
        # The number alone opens the newest, and names the others.
        both = await service.answer_episode("3")
        assert both.title.endswith("Stagnation ahead")
        assert both.footer == "Also numbered 3: Gradient returns"
        # Stemmed words go through the search index: "returning" is only in the first title.
        found = await service.answer_episode("returning")
        assert found.kind == "episode" and found.title.endswith("Gradient returns"), found.title


def test_an_unknown_number_in_a_feed_without_numbers_names_no_latest(tmp_path, capsys):
    # A real feed whose items carry no episode numbers (Podverse's test feed): the answer to
    # `episode 3` said "The latest is episode None."
    from bot.cli import main

    content = tmp_path / "content"
    (content / "episodes").mkdir(parents=True)
    (content / "topics.yaml").write_text("topics: []\n")
    feed = Path(__file__).parents[1] / "feeds" / "fixtures" / "live-item.xml"
    args = ["--db", str(tmp_path / "db.sqlite3"), "--content", str(content)]
    assert main([*args, "import-feed", str(feed), "--no-progress"]) == 0
    capsys.readouterr()
    assert main([*args, "episode", "3"]) == 1
    out = capsys.readouterr().out
    assert "There is no episode 3 in the catalogue.\n" in out and "None" not in out
    assert "Podcasting 2.0 Dev Meeting for May 28 2022" in out  # still suggested

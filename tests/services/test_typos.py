"""Typos in autocomplete and "did you mean", over the shipped content/ and a synthetic
catalogue beside it: a close spelling is offered as a choice, never answered as if asked."""

from __future__ import annotations

import random
import shutil

import pytest
import yaml

from bot.app import open_app
from bot.settings import Settings
from tests.store.files import Ep, topic, write_episode, write_topics

WORDS = (
    "data science model learning pipeline forecasting bayesian causal inference notebook "
    "python pandas tooling evaluation drift retraining embedding retrieval agents privacy "
    "fairness hiring career education dashboard marketing streaming latency"
).split()
FIRST = "Ada Grace Hilary Radia Jeremy Vicki Chip Shreya Hamel Eugene Stefan Hadley Julia".split()
LAST = "Lovelace Hopper Mason Perlman Liskov Wiggins Boykis Huyen Shankar Husain Wickham".split()
KARPATHY = 180  # a synthetic episode; Mark Saroufim (episode 11) is content/'s real guest
MOATS, BOATS = 181, 182  # 'moats' begins a word of the first; 'boats' is one edit away


@pytest.fixture
async def service(tmp_path, content_root):
    root = tmp_path / "content"
    shutil.copytree(content_root, root)
    topics = yaml.safe_load((root / "topics.yaml").read_text())["topics"]
    slugs = [t["slug"] for t in topics]
    write_topics(root, [*topics, topic("stagflation", "Stagflation")])
    rng = random.Random(5)
    for n in range(100, KARPATHY):
        guest = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        title = " ".join(rng.sample(WORDS, 3)).title()
        write_episode(root, Ep(n, title, guests=[(guest, "Guest")], topics=rng.sample(slugs, 2)))
    write_episode(
        root,
        Ep(KARPATHY, "Software 2.0", guests=[("Andrej Karpathy", "Researcher")], topics=slugs[:1]),
    )
    write_episode(root, Ep(MOATS, "Moats for Startups"))
    write_episode(root, Ep(BOATS, "Boats, Harbours and Queues"))
    async with open_app(Settings(db=tmp_path / "bot.sqlite3", content_dir=root)) as opened:
        assert opened.sync_report.problems == []
        yield opened.catalogue


@pytest.mark.parametrize("text", ["karpaty", "karpahty", "andrej karpaty", "Karpathi"])
async def test_a_misspelt_guest_is_offered_while_typing(service, text):
    name, value = (await service.episode_choices(text))[0]
    assert name == f"#{KARPATHY} · Software 2.0 — Andrej Karpathy" and value == str(KARPATHY)
    assert (await service.answer_episode(value)).episode_number == KARPATHY


@pytest.mark.parametrize("text", ["sarufim", "saroufin", "mark sarufim", "great stagnaton"])
async def test_content_s_own_guest_and_title_misspelt_are_offered(service, text):
    assert (await service.episode_choices(text))[:1] == [
        ("#11 · Data Science: The Great Stagnation — Mark Saroufim", "11")
    ]


async def test_a_misspelt_topic_is_offered_by_its_title(service):
    assert (await service.topic_choices("moots"))[:1] == [("Defensible moats", "defensible-moats")]
    assert (await service.topic_choices("defensable moats"))[:1] == [
        ("Defensible moats", "defensible-moats")
    ]
    # Found by an alias the title does not show: the alias says why it is offered.
    assert (await service.topic_choices("karpaty"))[:1] == [
        ("Audience and mind share in ML (Karpathy)", "audience-and-mind-share")
    ]


@pytest.mark.parametrize(
    "text", ["xqzvwk", "qwertyuiop", "zzzz zzzz", "x" * 300, "karpaty qqqqqq", "moots zzzzzz"]
)
async def test_nonsense_is_offered_nothing(service, text):
    """Every word must be a name's, as typed or respelt: one word like nothing offers
    nothing, as a prefix that matches nothing does."""
    assert await service.episode_choices(text) == []
    assert await service.topic_choices(text) == []


async def test_prefix_matches_rank_before_close_spellings(service):
    # Episode BOATS is newer, and still comes after what was typed.
    assert [v for _, v in await service.episode_choices("moats")] == [str(MOATS), str(BOATS)]
    assert [v for _, v in await service.topic_choices("stagnation")] == [
        "great-stagnation",
        "stagflation",
    ]


async def test_a_typo_is_never_answered_as_if_asked(service):
    """Autocomplete offers Karpathy's episode for 'karpaty'; sent as typed, /episode says it
    found nothing and asks "did you mean", and /topic does the same for 'moots'."""
    reply = await service.answer_episode("karpaty")
    assert reply.kind == "not_found"
    assert f"#{KARPATHY} · Software 2.0 — Andrej Karpathy" in reply.suggestions
    reply = await service.answer_topic("moots")
    assert reply.kind == "not_found" and reply.excerpts == ()
    assert reply.suggestions[:1] == ("Defensible moats",)


@pytest.mark.parametrize("text", ["mots", "sofware karpaty", "quues", "karpahty"])
async def test_did_you_mean_offers_what_autocomplete_offered(service, text):
    """'mots' offered 'Moats for Startups' in autocomplete, and /episode mots then said it
    found nothing with no suggestion at all (whole-name matching missed it)."""
    offered = [name for name, _ in await service.episode_choices(text)]
    reply = await service.answer_episode(text)
    assert reply.kind == "not_found" and offered
    assert reply.suggestions[:1] == tuple(offered[:1])


async def test_a_word_typed_again_is_respelt_once(service):
    """Each word was respelt and intersected once per time it was typed: 'karpaty' four
    times offered nothing (a fourth word is not respelt), and a pasted 's s s …' cost
    ~40 ms per keystroke at 10,000 episodes. A repeated word asks nothing more."""
    text = "karpaty " * 4
    assert await service.episode_choices(text) == await service.episode_choices("karpaty")
    assert await service.topic_choices(text) == await service.topic_choices("karpaty")
    reply = await service.answer_episode(text)
    assert f"#{KARPATHY} · Software 2.0 — Andrej Karpathy" in reply.suggestions

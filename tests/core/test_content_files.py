"""The shipped content/ folder: it loads cleanly and says what the seed facts say."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pytest

from bot.core.content import MAX_QUESTIONS, MIN_QUESTIONS, load_dir
from bot.core.models import Catalog, Episode, Person

# Topics the show notes of episode 11 promise (the content brief); more may be added.
EPISODE_11_TOPICS = {
    "open-source-documentation",
    "open-source-risk",
    "game-development-lessons",
    "ml-cult-leaders",
    "ml-tool-marketing",
    "developer-marketing",
    "audience-and-mind-share",
    "data-science-as-role-play",
    "defensible-moats",
    "great-stagnation",
    "pytorch-linux-foundation",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    # Loaded once: every test here only reads it.
    return load_dir(Path(__file__).resolve().parents[2] / "content")


@pytest.fixture(scope="module")
def episode_11(catalog: Catalog) -> Episode:
    [episode] = [e for e in catalog.episodes if e.number == 11]
    return episode


def test_shipped_content_loads_with_no_problems(catalog: Catalog):
    assert [str(p) for p in catalog.problems] == []
    assert catalog.episodes and catalog.topics


def test_every_episode_file_was_loaded(content_root: Path, catalog: Catalog):
    files = sorted(f"episodes/{p.name}" for p in (content_root / "episodes").glob("*.md"))
    assert sorted(e.source for e in catalog.episodes) == files


def test_episode_11_has_the_published_facts(episode_11: Episode):
    assert episode_11.title == "Data Science: The Great Stagnation"
    assert episode_11.slug == "great-stagnation"
    assert episode_11.source == "episodes/011-great-stagnation.md"
    assert episode_11.released == date(2022, 9, 15)
    assert episode_11.hosts == (Person("Hugo Bowne-Anderson", "host"),)
    assert episode_11.guests == (
        Person("Mark Saroufim", "guest", affiliation="Applied AI Engineer at Meta (PyTorch)"),
    )
    assert episode_11.link("episode") == "https://vanishinggradients.fireside.fm/11"
    assert episode_11.link("audio") is None  # not known: never invented


def test_episode_11_invents_no_timestamps(episode_11: Episode):
    # The seed notes have no chapters and there is no transcript: shipping either would be made up.
    assert episode_11.chapters == ()
    assert episode_11.transcript == ()


def test_episode_11_covers_what_the_conversation_covered(episode_11: Episode):
    assert EPISODE_11_TOPICS <= set(episode_11.topics)
    assert len(episode_11.sections) >= 8
    notes = " ".join([episode_11.summary] + [s.body for s in episode_11.sections])
    assert all("\n" not in para for para in episode_11.summary.split("\n\n"))  # unwrapped
    for fact in (
        "PyTorch",
        "Hugging Face",
        "Karpathy",
        "Linux Foundation",
        "moat",
        "documentation",
    ):
        assert fact in notes


def _runs(text: str) -> set[str]:
    """Each run of 8 words, hashed: the seed's runs are kept that way (seed_runs.txt), not as
    its text, so the check runs in any clone."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {
        hashlib.sha256(" ".join(words[i : i + 8]).encode()).hexdigest()[:16]
        for i in range(len(words) - 7)
    }


SEED_RUNS = Path(__file__).with_name("seed_runs.txt")


def test_episode_11_notes_are_our_own_words(episode_11: Episode):
    seed_runs = {
        line for line in SEED_RUNS.read_text().splitlines() if line and not line.startswith("#")
    }
    assert len(seed_runs) > 300  # the whole page, not a stub
    ours = _runs(" ".join([episode_11.summary] + [s.body for s in episode_11.sections]))
    assert ours & seed_runs == set()


def test_the_seed_runs_are_the_seeds(repo_root: Path):
    seed = repo_root.parent / "shared" / "seeds" / "000_68648ea3ff5ca93e.txt"
    if seed.is_file():  # beside the team's checkout; a lone clone has only the hashes
        kept = {line for line in SEED_RUNS.read_text().splitlines() if not line.startswith("#")}
        assert kept - {""} == _runs(seed.read_text(encoding="utf-8"))
    # A copied sentence is caught: the first 8 words of the seed's first paragraph.
    assert _runs("Hugo speaks with Mark Saroufim, an Applied AI Engineer") <= {
        line for line in SEED_RUNS.read_text().splitlines()
    }


def test_every_topic_an_episode_names_exists(catalog: Catalog):
    slugs = {t.slug for t in catalog.topics}
    for episode in catalog.episodes:
        assert set(episode.topics) <= slugs, episode.source


def test_every_topic_is_covered_by_an_episode(catalog: Catalog):
    covered = {slug for e in catalog.episodes for slug in e.topics}
    assert [t.slug for t in catalog.topics if t.slug not in covered] == []


def test_every_topic_is_ready_for_prompts_and_lookup(catalog: Catalog):
    slugs = {t.slug for t in catalog.topics}
    for topic in catalog.topics:
        assert topic.description, topic.slug
        assert topic.aliases, topic.slug
        assert topic.related and set(topic.related) <= slugs - {topic.slug}, topic.slug
        assert MIN_QUESTIONS <= len(topic.questions) <= MAX_QUESTIONS, topic.slug
        assert all(q.endswith("?") for q in topic.questions), topic.slug


def test_the_promised_aliases_find_their_topics(catalog: Catalog):
    aliases = {a.casefold(): t.slug for t in catalog.topics for a in t.aliases}
    assert aliases["moats"] == aliases["competitive advantage"] == "defensible-moats"
    assert aliases["larp"] == aliases["simulation"] == "data-science-as-role-play"


def test_the_format_is_documented_next_to_the_content(content_root: Path):
    readme = (content_root / "README.md").read_text(encoding="utf-8")
    for term in ("NNN-slug.md", "topics.yaml", "questions", "chapters", "transcript", "MiB"):
        assert term in readme

"""Replies built from plain data: what each reply says, cites and suggests."""

from __future__ import annotations

from datetime import date

from bot.core.answers import (
    MARK_END,
    MARK_START,
    MAX_EXCERPTS,
    EpisodeRef,
    Hit,
    chapter_at,
    citation,
    empty_query_reply,
    episode_reply,
    not_found_reply,
    search_reply,
    segments,
    topic_reply,
)
from bot.core.models import Chapter, Episode, Link, Person, Section, Topic

A, B = MARK_START, MARK_END
EP11 = EpisodeRef(11, "Data Science: The Great Stagnation", "https://vg.example/11")
EP12 = EpisodeRef(12, "Retail Forecasting", "https://vg.example/12")
MOATS = Topic("defensible-moats", "Defensible moats", "Lasting business advantage.", ("moats",))


def _hit(ep: EpisodeRef | None, text: str, **kw) -> Hit:
    return Hit(kind=kw.pop("kind", "section"), marked=text, score=-1.0, episode=ep, **kw)


def test_segments_split_marked_words_and_collapse_space():
    assert segments(f"a  {A}moats{B}\nand {A}moat{B}") == (
        ("a ", False),
        ("moats", True),
        (" and ", False),
        ("moat", True),
    )
    assert segments("") == ()
    assert segments(f"{A}{B}plain") == (("plain", False),)
    assert segments(f"{B}stray {A}x") == (("stray ", False), ("x", True))


def test_passage_citation_names_the_chapter_and_time():
    chapters = (Chapter(0, "Intro"), Chapter(90, "Moats in retail"))
    hit = _hit(EP12, "x", kind="passage", start=100.0, chapters=chapters)
    c = citation(hit)
    assert (c.section, c.timestamp, c.url) == ("Moats in retail", 100.0, EP12.url)
    assert c.label() == "Ep. 12: Retail Forecasting · Moats in retail · 1:40"
    no_chapters = citation(_hit(EP12, "x", kind="passage", start=5.0))
    assert no_chapters.section == "transcript"
    assert chapter_at(chapters, -1) is None


def test_section_and_notes_citations():
    assert citation(_hit(EP11, "x", heading="Defensible moats")).section == "Defensible moats"
    notes = citation(_hit(EP11, "x", kind="episode"))
    assert (notes.section, notes.timestamp) == ("show notes", None)


def _episode() -> Episode:
    return Episode(
        number=11,
        title="Data Science: The Great Stagnation",
        slug="great-stagnation",
        released=date(2022, 9, 15),
        people=(
            Person("Hugo Bowne-Anderson", "host"),
            Person("Mark Saroufim", "guest", "Applied AI Engineer at Meta (PyTorch)"),
        ),
        topics=("defensible-moats", "unknown-slug"),
        summary="Mark and Hugo talk open source.",
        sections=tuple(Section(f"Part {i}", "body", f"part-{i}") for i in range(15)),
        chapters=(Chapter(0, "Intro"), Chapter(3725, "Moats")),
        links=(Link("episode", "https://vg.example/11"), Link("audio", "https://a.example/11.mp3")),
    )


def test_episode_reply_has_every_fact_from_the_notes():
    reply = episode_reply(_episode(), {"defensible-moats": "Defensible moats"})
    assert reply.kind == "episode" and reply.found
    assert reply.title == "Episode 11: Data Science: The Great Stagnation"
    assert reply.text == "Mark and Hugo talk open source."
    assert reply.episode_number == 11 and reply.url == "https://vg.example/11"
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Released"] == "15 September 2022"
    assert fields["Host"] == "Hugo Bowne-Anderson"
    assert fields["Guest"] == "Mark Saroufim — Applied AI Engineer at Meta (PyTorch)"
    assert fields["Topics"] == "Defensible moats, unknown-slug"
    assert fields["Chapters"] == "0:00 Intro\n1:02:05 Moats"
    assert fields["Sections"].splitlines()[0] == "• Part 0"
    assert fields["Sections"].endswith("… and 3 more")
    assert [(lk.label, lk.url) for lk in reply.links] == [
        ("Episode page", "https://vg.example/11"),
        ("Listen", "https://a.example/11.mp3"),
    ]


def test_episode_reply_without_optional_parts():
    bare = Episode(number=None, title="Bonus", slug="bonus", released=None)
    reply = episode_reply(bare)
    assert reply.title == "Bonus" and reply.fields == () and reply.url is None


def test_topic_reply_lists_own_episodes_and_cites_excerpts_in_order():
    hits = [
        _hit(EP11, f"a defensible {A}moat{B}", own=True, heading="Defensible moats"),
        _hit(EP12, f"retail {A}moats{B}", kind="passage", start=95.0),
    ]
    reply = topic_reply(MOATS, [EP11], hits, [Topic("open-source-risk", "Open source risk")])
    assert (reply.kind, reply.title, reply.text) == ("topic", "Defensible moats", MOATS.description)
    assert [e.citation.episode_number for e in reply.excerpts] == [11, 12]
    assert reply.excerpts[0].segments == (("a defensible ", False), ("moat", True))
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Episodes"] == "Ep. 11: Data Science: The Great Stagnation"
    assert fields["Related topics"] == "Open source risk"
    assert reply.footer == "1 episode on this topic · mentioned in 1 more episode"
    assert reply.suggestions == ()  # related topics are a field, not a "did you mean"


def test_topic_no_episode_covers_is_not_found_and_says_so():
    reply = topic_reply(MOATS, [], [])
    assert reply.kind == "not_found" and not reply.found
    assert "no episode covers it yet" in reply.text


def test_excerpts_are_capped_and_topic_entries_are_not_quoted():
    hits = [_hit(None, "topic entry", kind="topic", topic_slug="x", topic_title="X")] + [
        _hit(EpisodeRef(i, f"E{i}"), f"{A}moats{B} {i}") for i in range(10)
    ]
    reply = search_reply("moats", hits, [MOATS])
    assert len(reply.excerpts) == MAX_EXCERPTS
    assert all(e.citation.episode_number is not None for e in reply.excerpts)
    assert reply.kind == "search" and reply.suggestions == ("Defensible moats",)
    assert reply.footer == "10 episodes with matches, best first"


def test_not_found_never_invents_and_offers_suggestions():
    reply = not_found_reply("quantum knitting", ["Defensible moats"])
    assert reply.kind == "not_found" and reply.title == "Not covered yet"
    assert "has not covered “quantum knitting” yet" in reply.text
    assert reply.suggestions == ("Defensible moats",)
    assert reply.excerpts == () and reply.fields == ()
    assert not_found_reply("x", message="No episode 99.").text == "No episode 99."


def test_empty_query_reply_shows_an_example():
    reply = empty_query_reply("/topic moats")
    assert reply.kind == "error" and "/topic moats" in reply.text


def test_topic_reply_lists_the_newest_episodes_then_how_many_more():
    many = [EpisodeRef(n, f"Episode {n}") for n in range(300, 0, -1)]
    reply = topic_reply(MOATS, many, [])
    lines = {f.name: f.value for f in reply.fields}["Episodes"].splitlines()
    assert lines[0] == "Ep. 300: Episode 300" and lines[11] == "Ep. 289: Episode 289"
    assert lines[12:] == ["… and 288 more"]
    assert reply.footer == "300 episodes on this topic"


def test_echoed_user_text_is_short_escaped_and_inert():
    from bot.core.answers import echo, not_found_reply

    reply = not_found_reply("**bold** [x](https://evil.example) @everyone " + "z" * 10_000)
    assert "\\*\\*bold\\*\\*" in reply.text and "\\[x\\]" in reply.text
    assert "@everyone" not in reply.text
    assert len(echo("w " * 5_000)) <= 100

"""The shipped templates in prompts/: they load, pass the check against the shipped content and
against sparse and rich content, stay within Discord's limits for any text, and are documented."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.content import load_dir
from bot.core.models import Catalog, Chapter, Episode, Link, Person, Topic
from bot.core.render import (
    FILTERS,
    KINDS,
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    Context,
    Prompts,
    check_templates,
)
from bot.feeds.parse import parse_feed

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "prompts"
CONTENT = REPO / "content"
WHEN = datetime(2024, 1, 9, 17, 0, tzinfo=UTC)

SHIPPED = Prompts.load(PROMPTS)  # reads files only; the module-level load keeps params cheap
STYLES = [(kind, style) for kind in KINDS for style in SHIPPED.styles(kind)]

SPARSE_TOPIC = Topic(slug="x", title="X")  # no description, no questions
LONG_TOPIC = Topic(
    slug="long",
    title="Evaluating large language model applications in regulated industries",
    description="A long description. " * 60,
    questions=("A question that goes on for a while, as real ones sometimes do? " * 3,) * 4,
)
SPARSE_EPISODE = Episode(number=None, title="Bonus", slug="bonus", released=None)
RICH_EPISODE = Episode(
    number=250,
    title="A very long episode title about evaluation, agents and everything in between",
    slug="rich",
    released=date(2030, 12, 31),
    people=(Person("Hugo Bowne-Anderson", "host"), Person("Co Host", "host"))
    + tuple(
        Person(f"Guest {i}", "guest", "Principal Somebody at Some Company " * 3) for i in range(6)
    ),
    summary="One sentence that runs on and on " * 30 + ". Another.",
    chapters=tuple(Chapter(60.0 * i, f"Chapter {i} " * 8) for i in range(40)),
    links=(Link("audio", "https://example.org/a.mp3"), Link("episode", "https://example.org/250")),
)
EDGE_CATALOG = Catalog(episodes=(SPARSE_EPISODE, RICH_EPISODE), topics=(SPARSE_TOPIC, LONG_TOPIC))


def test_shipped_templates_load_cleanly_with_enough_styles_for_variety() -> None:
    assert SHIPPED.problems == ()
    assert len(SHIPPED.styles("weekly")) >= 3
    assert len(SHIPPED.styles("thread")) >= 2
    assert len(SHIPPED.styles("announce")) >= 1


def test_every_shipped_template_passes_the_check_against_the_shipped_content() -> None:
    catalog = load_dir(CONTENT)
    assert catalog.topics and catalog.episodes  # the check renders real content, not samples
    assert check_templates(PROMPTS, catalog) == []


def test_every_shipped_template_passes_the_check_against_sparse_and_rich_content() -> None:
    assert check_templates(PROMPTS, EDGE_CATALOG) == []


@pytest.mark.parametrize(("kind", "style"), STYLES)
def test_every_style_renders_for_every_shipped_topic(kind: str, style: str) -> None:
    catalog = load_dir(CONTENT)
    for topic in catalog.topics:
        covering: list[Episode | None] = [e for e in catalog.episodes if topic.slug in e.topics]
        for episode in covering[:1] + ([None] if kind != "announce" else []):
            context = Context(when=WHEN, guild_name="VG", topic=topic, episode=episode)
            rendered = SHIPPED.render(kind, style, context, strict=True)
            assert rendered.title and "\n" not in rendered.title
            subject = topic.title if episode is None or kind != "announce" else episode.title
            assert subject in rendered.title + rendered.body


def test_every_shipped_template_says_what_it_is_for() -> None:
    # `about:` is what moderators see when they list or pick styles.
    assert [(k, s) for k, s in STYLES if not SHIPPED.about(k, s)] == []


def test_the_readme_documents_every_filter_and_every_name() -> None:
    readme = (PROMPTS / "README.md").read_text(encoding="utf-8")
    variables = Context(when=WHEN, guild_name="g").variables()
    assert [f for f in FILTERS if f"`{f}`" not in readme] == []
    assert [v for v in variables if f"`{v}`" not in readme] == []


texts = st.text(st.characters(codec="utf-8"), max_size=3000)
titles = st.text(st.characters(codec="utf-8"), min_size=1, max_size=300).filter(str.strip)


@settings(max_examples=100, deadline=None)
@given(
    title=titles,
    description=texts,
    questions=st.lists(texts, max_size=5).map(tuple),
    episode_title=titles,
    summary=texts,
)
def test_any_content_renders_within_discords_limits(
    title: str,
    description: str,
    questions: tuple[str, ...],
    episode_title: str,
    summary: str,
) -> None:
    topic = Topic(slug="t", title=title, description=description, questions=questions)
    episode = Episode(
        number=1,
        title=episode_title,
        slug="e",
        released=date(2024, 1, 1),
        people=(Person(title, "guest", description[:200]),),
        summary=summary,
    )
    for kind, style in STYLES:
        for maybe in (episode, None) if kind != "announce" else (episode,):
            context = Context(when=WHEN, guild_name="g", topic=topic, episode=maybe)
            rendered = SHIPPED.render(kind, style, context)
            assert 0 < len(rendered.title) <= TITLE_LIMIT and "\n" not in rendered.title
            assert 0 < len(rendered.body) <= MESSAGE_LIMIT


def test_release_announcements_quote_a_real_feeds_first_sentence_whole() -> None:
    # Two real items: "Dr. Richard Engler" was cut to "…sat down with Dr.", and a paragraph
    # without a full stop ran on into the next ("…Sandi Toksvig Visit nosuchthingasafish.com").
    feed = parse_feed((REPO / "tests/feeds/fixtures/first-sentences.xml").read_bytes())
    bodies = [
        SHIPPED.render("announce", "new-episode", Context(WHEN, "g", episode=i.episode)).body
        for i in feed.items
    ]
    assert (
        "\n\nThis week, I sat down with Dr. Richard Engler, our Director of Chemistry, to "
        "discuss Confidential Business Information (CBI).\n\n" in bodies[0]
    )
    assert (
        "\n\nAn all-new bumper compilation of silliness with Dan, Anna, James, Andy, Jenny Ryan, "
        "Tom Scott, Rhys Derby, Alan Davies and Sandi Toksvig\n\n" in bodies[1]
    )


def test_notes_opening_with_a_heading_announce_the_feeds_description() -> None:
    # A real Podlove item: its notes open with a heading, so the episode had no summary and
    # its announcement no line about it, though the feed's description is one.
    (item,) = parse_feed(
        (REPO / "tests/feeds/fixtures/notes-open-with-a-heading.xml").read_bytes()
    ).items
    assert [s.heading for s in item.episode.sections] == ["Vorstellung Gast", "Feedback"]
    body = SHIPPED.render("announce", "new-episode", Context(WHEN, "g", episode=item.episode)).body
    assert "\n\nWir sprechen mit Dennis über die Zukunft von WordPress aus Entwicklersicht," in body

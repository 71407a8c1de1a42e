"""Templates in real tmp folders: loading, rendering, Discord limits and the checker's reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.core.models import Catalog, Chapter, Episode, Link, Person, Topic
from bot.core.render import (
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    Context,
    Prompts,
    Rendered,
    RenderError,
    bullets,
    check_templates,
    clock,
    episode_name,
    first_sentence,
    longdate,
    names,
    numbered,
    quote,
    timestamp,
    truncate_words,
)

WHEN = datetime(2024, 1, 2, 17, 0, tzinfo=UTC)  # a Tuesday

OPEN_SOURCE = Topic(
    slug="open-source",
    title="Open source",
    description="Who builds the tools we depend on.\nAnd who pays for them.",
    aliases=("oss",),
    questions=("Which library could you not live without?", "Who should fund it?"),
)
BARE_TOPIC = Topic(slug="docs", title="Documentation")  # no description, no questions
EP11 = Episode(
    number=11,
    title="Data Science: The Great Stagnation",
    slug="great-stagnation",
    released=date(2022, 9, 15),
    people=(
        Person("Hugo Bowne-Anderson", "host"),
        Person("Mark Saroufim", "guest", "Applied AI Engineer at Meta (PyTorch)"),
    ),
    topics=("open-source",),
    summary="Hugo and Mark talk open source. Then video games.",
    chapters=(Chapter(0, "Intro"), Chapter(3725.0, "Cult leaders")),
    links=(Link("episode", "https://vanishinggradients.fireside.fm/11"),),
)
UNNUMBERED = Episode(number=None, title="Bonus: live Q&A", slug="bonus-live", released=None)
CATALOG = Catalog(episodes=(EP11, UNNUMBERED), topics=(OPEN_SOURCE, BARE_TOPIC))

# One working template per kind: each broken case adds or replaces one file.
BASE = {
    "weekly/ok.j2": "{# title: Weekly: {{ topic.title }} #}\nTalk about {{ topic.title }}.\n",
    "thread/ok.j2": "Thread on {{ topic.title }}\n",
    "announce/ok.j2": "New: {{ episode | episode_name }}\n",
}


def make_prompts(root: Path, files: dict[str, str | bytes | None] | None = None) -> Path:
    """A prompts folder with BASE plus `files` (None removes a BASE file)."""
    folder = root / "prompts"
    for rel, content in {**BASE, **(files or {})}.items():
        if content is None:
            continue
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for kind in ("weekly", "thread", "announce"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    return folder


def context(**changes: object) -> Context:
    base: dict[str, object] = {
        "when": WHEN,
        "guild_name": "Vanishing Gradients",
        "topic": OPEN_SOURCE,
        "episode": EP11,
    }
    return Context(**{**base, **changes})  # type: ignore[arg-type]


def test_the_base_folder_has_no_problems(tmp_path: Path) -> None:
    assert check_templates(make_prompts(tmp_path), CATALOG) == []


# ---- the checker: one broken thing each, reported with file, line and a useful message ----

BROKEN = [
    pytest.param(
        {"weekly/bad.j2": "Hello\n\n{{ topic.title }\n"},
        "prompts/weekly/bad.j2",
        3,
        "syntax error: unexpected '}'",
        id="syntax-error",
    ),
    pytest.param(
        {"weekly/bad.j2": "Hello\n{% for q in questions %}\n{{ q }}\n"},
        "prompts/weekly/bad.j2",
        3,  # jinja2 reports the end of the file, naming the block left open
        "syntax error: Unexpected end of template",
        id="unclosed-block",
    ),
    pytest.param(
        {"thread/bad.j2": "Hi\nthere\n{{ guest_name }}\n"},
        "prompts/thread/bad.j2",
        3,
        "'guest_name' is undefined",
        id="undefined-name",
    ),
    pytest.param(
        {"weekly/bad.j2": "Hi\n{{ topic.speaker }}\n"},
        "prompts/weekly/bad.j2",
        2,
        "Topic has no field 'speaker'",
        id="undefined-field",
    ),
    pytest.param(
        {"weekly/bad.j2": "Hi\n{{ episode.title }}\n"},
        "prompts/weekly/bad.j2",
        2,
        "cannot read '.title' of None",
        id="episode-not-guarded",
    ),
    pytest.param(
        {"announce/bad.j2": "{{ episode.title }}\n{{ topic.title }}\n"},
        "prompts/announce/bad.j2",
        2,
        "cannot read '.title' of None",
        id="announce-topic-not-guarded",
    ),
    pytest.param(
        {"thread/bad.j2": "Hi\n{{ ''.__class__.__mro__ }}\n"},
        "prompts/thread/bad.j2",
        2,
        "not allowed in templates: access to attribute '__class__'",
        id="sandbox-dunder",
    ),
    pytest.param(
        {"weekly/bad.j2": "{{ topic.title }}\n{% set seen = [] %}\n{{ seen.append(1) }}\n"},
        "prompts/weekly/bad.j2",
        3,
        "not allowed in templates: access to attribute 'append'",
        id="sandbox-mutation",
    ),
    pytest.param(
        {"weekly/bad.j2": "x\n{{ 'spam ' * 10**7 }}\n"},
        "prompts/weekly/bad.j2",
        2,
        "not allowed in templates: repeating beyond",
        id="sandbox-runaway",
    ),
    pytest.param(
        {"weekly/bad.j2": "x\n{% for i in range(400) %}\nall work and no play \n{% endfor %}\n"},
        "prompts/weekly/bad.j2",
        None,
        "the message is 8401 characters; Discord allows 2000",
        id="over-limit-body",
    ),
    pytest.param(
        {"weekly/bad.j2": "{#\nabout: long\ntitle: {{ topic.title * 30 }}\n#}\nx\n"},
        "prompts/weekly/bad.j2",
        3,
        "characters; Discord allows 100",
        id="over-limit-title",
    ),
    pytest.param(
        {"thread/bad.j2": "{% if false %}\nnever\n{% endif %}\n   \n"},
        "prompts/thread/bad.j2",
        None,
        "the message renders empty",
        id="empty-body",
    ),
    pytest.param(
        {"thread/bad.j2": "{#\ntitle: {{ '' }}\n#}\nbody\n"},
        "prompts/thread/bad.j2",
        2,
        "the title renders empty",
        id="empty-title",
    ),
    pytest.param(
        {"weekly/bad.j2": "{#\n\ntitle: {{ topic.title\n#}\nbody\n"},
        "prompts/weekly/bad.j2",
        3,
        "syntax error",
        id="title-syntax-error",
    ),
    pytest.param(
        {"weekly/bad.j2": "{#\nabout: x\ntitle: {{ topic.name }}\n#}\nbody\n"},
        "prompts/weekly/bad.j2",
        3,
        "Topic has no field 'name'",
        id="title-undefined",
    ),
    pytest.param(
        {"weekly/bad.j2": "{#\ntitel: {{ topic.title }}\n#}\nbody\n"},
        "prompts/weekly/bad.j2",
        2,
        "unknown header key 'titel'",
        id="header-typo",
    ),
    pytest.param(
        {"weekly/bad.j2": "{#\ntitle: A\nwritten by Alice\n#}\nbody\n"},
        "prompts/weekly/bad.j2",
        3,
        "header line is not 'key: value'",
        id="header-free-text",
    ),
    pytest.param(
        {"weekly/bad.j2": "{#\ntitle: A\ntitle: B\n#}\nbody\n"},
        "prompts/weekly/bad.j2",
        3,
        "header key 'title' appears twice",
        id="header-duplicate",
    ),
    pytest.param(
        {"weekly/bad.j2": "x\n{{ when.replace(tzinfo=none) | timestamp }}\n"},
        "prompts/weekly/bad.j2",
        2,
        "ValueError: timestamp needs a time-zone-aware datetime",
        id="filter-misuse",
    ),
    pytest.param(
        {"weekly/bad.j2": "x\n{% include 'weekly/nope.j2' %}\n"},
        "prompts/weekly/bad.j2",
        2,
        "no such template: weekly/nope.j2",
        id="include-missing",
    ),
    pytest.param(
        {"weekly/bad.j2": b"caf\xe9 {{ topic.title }}\n"},
        "prompts/weekly/bad.j2",
        None,
        "not UTF-8 text",
        id="not-utf8",
    ),
    pytest.param(
        {"weekly/hot-take.jinja": "x\n"},
        "prompts/weekly/hot-take.jinja",
        None,
        "not a template (templates end in .j2)",
        id="wrong-extension",
    ),
    pytest.param(
        {"weekly/Hot Take.j2": "x\n"},
        "prompts/weekly/Hot Take.j2",
        None,
        "style name 'Hot Take' is not allowed",
        id="bad-style-name",
    ),
    pytest.param(
        {"weeky/new.j2": "x\n"},
        "prompts/weeky",
        None,
        "unknown folder 'weeky'",
        id="unknown-folder",
    ),
    pytest.param(
        {"announce/ok.j2": None},
        "prompts/announce",
        None,
        "no usable 'announce' template",
        id="kind-without-templates",
    ),
]


@pytest.mark.parametrize(("files", "path", "line", "fragment"), BROKEN)
def test_checker_reports_the_broken_template(
    tmp_path: Path,
    files: dict[str, str | bytes | None],
    path: str,
    line: int | None,
    fragment: str,
) -> None:
    problems = check_templates(make_prompts(tmp_path, files), CATALOG)

    assert len(problems) == 1, problems
    (problem,) = problems
    assert (problem.path, problem.line) == (path, line)
    assert fragment in problem.message
    assert problem.hint  # every report says how to fix it


def test_one_mistake_in_many_renders_is_reported_once_with_where_it_was_seen(
    tmp_path: Path,
) -> None:
    folder = make_prompts(tmp_path, {"weekly/bad.j2": "{{ episode.title }}"})
    problems = check_templates(folder, CATALOG)

    # 2 topics x (the episode each is paired with + no episode) = 4 renders; only the 2
    # without an episode fail.
    assert [str(p).split(" (fix:")[0] for p in problems] == [
        "prompts/weekly/bad.j2:1: cannot read '.title' of None (no episode, or no topic, in this"
        " post?) (first with topic 'open-source' and no episode; fails in 2 of 4 renders)"
    ]
    assert "{% if episode %}" in problems[0].hint


def test_the_check_renders_the_pairs_posts_meet_not_every_topic_with_every_episode(
    tmp_path: Path,
) -> None:
    """A topic with each of its episodes, an episode with each of its topics: linear in the
    catalogue. Every topic with every episode took 22 s a reload at 300 episodes and 100
    topics."""
    topics = tuple(Topic(f"t{i}", f"Topic {i}") for i in range(100))
    episodes = tuple(
        dataclasses.replace(EP11, number=n, slug=f"ep-{n}", topics=(f"t{n % 100}",))
        for n in range(300)
    )
    folder = make_prompts(tmp_path, {"weekly/bad.j2": "{{ episode.title }}"})
    (problem,) = check_templates(folder, Catalog(episodes=episodes, topics=topics))
    # 100 topics x (their 3 episodes + no episode): 400 renders, 100 of them without one.
    assert "fails in 100 of 400 renders" in problem.message


def test_undefined_field_hint_lists_the_fields_that_exist(tmp_path: Path) -> None:
    (problem,) = check_templates(
        make_prompts(tmp_path, {"announce/bad.j2": "{{ episode.guest_names }}"}), CATALOG
    )
    assert problem.message.startswith("Episode has no field 'guest_names'")
    assert "guests" in problem.hint and "link" in problem.hint and "summary" in problem.hint


def test_missing_prompts_folder_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problems = check_templates(tmp_path / "prompts", CATALOG)
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [
        ("prompts", "prompts folder not found")
    ]


def test_an_empty_catalogue_still_renders_every_template(tmp_path: Path) -> None:
    folder = make_prompts(tmp_path, {"announce/bad.j2": "{{ episode.nope }}"})
    (problem,) = check_templates(folder, Catalog())
    assert (problem.path, problem.line) == ("prompts/announce/bad.j2", 1)


# ---- loading: broken files are left out, the rest keep working ----


def test_a_broken_file_is_left_out_and_the_others_still_render(tmp_path: Path) -> None:
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/broken.j2": "{% if %}"}))

    assert prompts.styles("weekly") == ["ok"]
    assert [(p.path, p.line) for p in prompts.problems] == [("prompts/weekly/broken.j2", 1)]
    assert prompts.render("weekly", "ok", context()).body == "Talk about Open source."


def test_a_moderators_new_file_becomes_a_style(tmp_path: Path) -> None:
    folder = make_prompts(tmp_path)
    (folder / "weekly" / "quick-poll.j2").write_text(
        "{#\ntitle: Poll: {{ topic.title }}\nabout: a two-option poll\n#}\n"
        "📊 {{ questions[0] }}\nReact 👍 or 👎\n",
        encoding="utf-8",
    )

    prompts = Prompts.load(folder)

    assert prompts.styles("weekly") == ["ok", "quick-poll"]
    assert prompts.about("weekly", "quick-poll") == "a two-option poll"
    assert prompts.render("weekly", "quick-poll", context()) == Rendered(
        title="Poll: Open source",
        body="📊 Which library could you not live without?\nReact 👍 or 👎",
    )
    assert check_templates(folder, CATALOG) == []


def test_hidden_files_and_the_readme_are_ignored(tmp_path: Path) -> None:
    folder = make_prompts(tmp_path, {"weekly/.ok.j2.swp": "junk", ".git/x.j2": "junk"})
    (folder / "README.md").write_text("# notes\n", encoding="utf-8")
    assert Prompts.load(folder).problems == ()


def test_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kinds are weekly, thread, announce"):
        Prompts.load(make_prompts(tmp_path)).styles("daily")


# ---- rendering ----

EXACT = """\
{#
title: {{ topic.title }} · {{ when | timestamp("d") }}
about: every filter, for the exact-render test
#}
{{ topic.title }} in {{ guild_name }}, {{ when | timestamp("R") }}
{% if episode %}
{{ episode | episode_name }} ({{ episode.released | longdate }}) with {{ episode.guests | names }}
{{ episode.summary | first_sentence | quote }}
{% for chapter in episode.chapters %}
- {{ chapter.start | clock }} {{ chapter.title }}
{% endfor %}
{{ episode_url }}
{% endif %}


{{ topic.description | quote }}
{{ questions | numbered }}
{{ topic.aliases | bullets("*") }}
{{ "one two three four five" | truncate_words(3) }}
Title again: {{ thread_title }}
"""


def test_exact_render_of_one_template(tmp_path: Path) -> None:
    prompts = Prompts.load(make_prompts(tmp_path, {"thread/exact.j2": EXACT}))

    rendered = prompts.render("thread", "exact", context())

    assert rendered.title == "Open source · <t:1704214800:d>"
    assert rendered.body == (
        "Open source in Vanishing Gradients, <t:1704214800:R>\n"
        "Episode 11: Data Science: The Great Stagnation (15 September 2022) with Mark Saroufim\n"
        "> Hugo and Mark talk open source.\n"
        "- 0:00 Intro\n"
        "- 1:02:05 Cult leaders\n"
        "https://vanishinggradients.fireside.fm/11\n"
        "\n"
        "> Who builds the tools we depend on.\n"
        "> And who pays for them.\n"
        "1. Which library could you not live without?\n"
        "2. Who should fund it?\n"
        "* oss\n"
        "one two three…\n"
        "Title again: Open source · <t:1704214800:d>"
    )


def test_everyone_in_a_template_or_in_content_passes_through_verbatim(tmp_path: Path) -> None:
    # Pinging is prevented where the message is sent (allowed_mentions none), not by rewriting.
    topic = Topic(slug="t", title="Ping", description="hey @everyone and @here")
    prompts = Prompts.load(
        make_prompts(tmp_path, {"weekly/ping.j2": "@everyone: {{ topic.description }}"})
    )
    body = prompts.render("weekly", "ping", context(topic=topic)).body
    assert body == "@everyone: hey @everyone and @here"


def test_a_moderators_thread_title_wins_and_the_body_sees_it(tmp_path: Path) -> None:
    prompts = Prompts.load(
        make_prompts(tmp_path, {"thread/t.j2": "{# title: Auto #}\nIn: {{ thread_title }}"})
    )
    rendered = prompts.render("thread", "t", context(thread_title="  AMA\nprep  "))
    assert rendered == Rendered(title="AMA prep", body="In: AMA prep")


def test_production_cuts_over_long_output_cleanly(tmp_path: Path) -> None:
    long_topic = Topic(slug="t", title="word " * 40, description="A sentence here. " * 200)
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/long.j2": "{{ topic.description }}"}))

    rendered = prompts.render("weekly", "long", context(topic=long_topic))

    assert len(rendered.title) <= TITLE_LIMIT and rendered.title.endswith("word…")
    assert len(rendered.body) <= MESSAGE_LIMIT and rendered.body.endswith("here.…")
    with pytest.raises(RenderError) as caught:
        prompts.render("weekly", "long", context(topic=long_topic), strict=True)
    assert caught.value.reason == "title-too-long"


def test_runtime_errors_name_file_and_line(tmp_path: Path) -> None:
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/zero.j2": "a\nb\n{{ 1 / 0 }}"}))
    with pytest.raises(RenderError) as caught:
        prompts.render("weekly", "zero", context())
    assert str(caught.value).startswith(
        "prompts/weekly/zero.j2:3: error while rendering: ZeroDivisionError: division by zero"
    )


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        ("weekly", {"topic": None}, "weekly posts need a topic"),
        ("thread", {"topic": None}, "thread posts need a topic"),
        ("announce", {"episode": None}, "announcements need an episode"),
    ],
)
def test_a_post_without_what_its_kind_needs_is_refused(
    tmp_path: Path, kind: str, changes: dict[str, object], message: str
) -> None:
    prompts = Prompts.load(make_prompts(tmp_path))
    with pytest.raises(RenderError, match=message):
        prompts.render(kind, "ok", context(**changes))


def test_an_unknown_style_names_the_available_ones(tmp_path: Path) -> None:
    prompts = Prompts.load(make_prompts(tmp_path))
    with pytest.raises(RenderError) as caught:
        prompts.render("weekly", "hot-take", context())
    assert caught.value.problem.hint == "available: ok"


def test_questions_come_from_the_context_then_the_topic_then_generic_ones(
    tmp_path: Path,
) -> None:
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/q.j2": "{{ questions | numbered }}"}))

    chosen = prompts.render("weekly", "q", context(questions=("Only this?",))).body
    own = prompts.render("weekly", "q", context()).body
    generic = prompts.render("weekly", "q", context(topic=BARE_TOPIC)).body

    assert chosen == "1. Only this?"
    assert own.startswith("1. Which library could you not live without?")
    assert generic.count("Documentation") == 3 and generic.startswith("1. What")


def test_context_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="time-zone-aware"):
        Context(when=datetime(2024, 1, 2, 17, 0), guild_name="g")


# ---- filters ----


def test_timestamp_uses_discord_markup_in_every_zone() -> None:
    berlin = timezone(timedelta(hours=1))
    assert timestamp(datetime(2024, 1, 2, 18, 0, tzinfo=berlin)) == "<t:1704214800:F>"
    assert timestamp(WHEN, "R") == "<t:1704214800:R>"
    assert timestamp(date(2022, 9, 15), "D") == "<t:1663243200:D>"  # noon UTC that day
    with pytest.raises(ValueError, match="style must be one of"):
        timestamp(WHEN, "x")
    with pytest.raises(ValueError, match="style must be one of"):
        timestamp(WHEN, "FR")


def test_text_filters() -> None:
    assert names([]) == ""
    assert names(["A"]) == "A"
    assert names([Person("A", "guest"), "B"]) == "A and B"
    assert names(["A", "B", "C"]) == "A, B and C"
    assert truncate_words("one two three", 3) == "one two three"
    assert truncate_words("one, two, three", 2) == "one, two…"
    assert bullets(["a", " ", "b "]) == "- a\n- b"
    assert numbered(["", "a", "b"]) == "1. a\n2. b"
    assert quote("a\n\nb\n") == "> a\n>\n> b"
    assert first_sentence("Hi there. Next one.") == "Hi there."
    assert first_sentence("Uses v1.2 and more. Then") == "Uses v1.2 and more."
    assert first_sentence("No full stop\n at all") == "No full stop at all"
    # "no" ends a sentence: the abbreviation "No." comes before a number, never a sentence.
    assert first_sentence("The answer was no. Then we talked.") == "The answer was no."
    assert longdate(date(2022, 9, 5)) == "5 September 2022"
    assert clock(65) == "1:05" and clock(3725.9) == "1:02:05"
    assert episode_name(EP11) == "Episode 11: Data Science: The Great Stagnation"
    assert episode_name(UNNUMBERED) == "Bonus: live Q&A"


# ---- bounded work and size: a template can neither hang the bot nor fill its memory ----

# 10 million loop passes: about a second before the budget, now stopped within the first pass.
SPIN = "{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}hi"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SPIN, id="nested-ranges"),
        pytest.param(
            "{% for a in 'x' * 2000 %}{% for b in 'x' * 2000 %}{% endfor %}{% endfor %}hi",
            id="nested-strings",
        ),
        pytest.param(
            "{% for a in range(10000) | map('string') %}{% for b in range(100) | select %}"
            "{% endfor %}{% endfor %}hi",
            id="generators",
        ),
        pytest.param(
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(14) }}hi",
            id="macro-fan-out",
        ),
        pytest.param(
            "{% for a in range(20) recursive %}{{ loop(range(20)) if loop.depth < 4 }}"
            "{% endfor %}hi",
            id="recursive-loop",
        ),
        pytest.param(
            "{% set big = range(100000) | list %}{% for i in range(100) %}{{ big | sum }}"
            "{% endfor %}hi",
            id="filter-over-a-big-list",
        ),
    ],
)
def test_the_checker_stops_a_template_that_does_too_much_work(tmp_path: Path, body: str) -> None:
    problems = check_templates(make_prompts(tmp_path, {"weekly/spin.j2": body}), CATALOG)

    assert problems, "the template should have been refused"
    assert {(p.path, p.line) for p in problems} == {("prompts/weekly/spin.j2", 1)}
    assert all("this template does too much work" in p.message for p in problems)
    assert all("loop over fewer things" in (p.hint or "") for p in problems)


def test_a_template_that_spins_only_at_posting_time_is_stopped_there_too(tmp_path: Path) -> None:
    sneaky = "{% if when.year != 2024 %}" + SPIN + "{% endif %}Talk about {{ topic.title }}."
    folder = make_prompts(tmp_path, {"weekly/sneaky.j2": sneaky})
    assert check_templates(folder, CATALOG) == []  # the check renders at a time in 2024
    prompts = Prompts.load(folder)

    with pytest.raises(RenderError) as caught:
        prompts.render("weekly", "sneaky", context(when=datetime(2025, 1, 7, 17, tzinfo=UTC)))

    assert caught.value.reason == "too-much-work"
    assert str(caught.value).startswith("prompts/weekly/sneaky.j2:1: this template does too much")


def test_loops_within_the_budget_still_render(tmp_path: Path) -> None:
    body = "{% for i in range(20000) %}{% endfor %}{% for q in questions %}{{ q }} {% endfor %}"
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/busy.j2": body}))

    rendered = prompts.render("weekly", "busy", context())

    assert rendered.body == "Which library could you not live without? Who should fund it?"


BIG = 3_000_000  # far over the 100,000-character limit, small enough for the old code to build


@pytest.mark.parametrize(
    "expression",
    [
        f"'x'.ljust({BIG})",
        f"'x'.rjust({BIG})",
        f"'x'.center({BIG})",
        f"'x'.zfill({BIG})",
        f"('\\t' * 100).expandtabs({BIG // 100})",
        f"'{{:>{BIG}}}'.format('x')",
        f"'{{:>{{w}}}}'.format('x', w={BIG})",
        f"'{{a:.{BIG}f}}'.format_map({{'a': 1.5}})",
        "('{0:>90000}' * 3).format('x')",
        f"'%{BIG}s' % 'x'",
        f"'%*s' % ({BIG}, 'x')",
        f"'%{BIG}s' | format('x')",
        f"'x' | center({BIG})",
        "('\\n' * 1000) | indent(3000)",
        "('x' * 2000) | replace('x', 'y' * 2000)",
        "('x' * 2000).replace('x', 'y' * 2000)",
        "(['x' * 2000] * 2000) | join",
        "''.join(['x' * 2000] * 2000)",
        "'x'.ljust(60000) ~ 'x'.ljust(60000)",
    ],
)
def test_the_checker_refuses_text_too_big_to_build(tmp_path: Path, expression: str) -> None:
    body = f"{{{{ ({expression}) | length }}}} and more"
    folder = make_prompts(tmp_path, {"weekly/bomb.j2": body})

    problems = check_templates(folder, CATALOG)

    assert problems, f"{expression} should have been refused"
    (problem,) = {(p.path, p.line, p.message.split(" (first with")[0]) for p in problems}
    assert problem[:2] == ("prompts/weekly/bomb.j2", 1)
    assert "too big:" in problem[2] and "at most 100,000 at once" in problem[2]


@pytest.mark.parametrize(
    "body",
    [
        "{{ [['x' * 10000] * 10000] }}",
        "{{ 'a' ~ [['x' * 10000] * 10000] }}",
        "{{ ([['x' * 10000] * 10000]) | string | length }}",
        "{{ ([['x' * 10000] * 10000]) | pprint | length }}",
        "{{ ([['x' * 10000] * 10000]) | tojson | length }}",
        "{{ {'a': [['x' * 10000] * 10000]} }}",
        "{{ {'a': [['x' * 10000] * 10000]}.values() }}",
        "{{ {'a': [['x' * 10000] * 10000]}.items() }}",
        "{{ [['x' * 10000] * 10000] | safe }}",
        "{{ [['x' * 10000] * 10000] | upper | length }}",
        "{{ [['x' * 10000] * 10000] | wordcount }}",
        "{% set ns = namespace(a=[['x' * 10000] * 10000]) %}{{ ns }}",
        "{{ [((2 ** 64) ** 64) ** 3] * 3600 }}",
        "{{ [[['x' * 10000] * 10000]] | join }}",
        "{{ [['x' * 10000] * 10000] | indent(2) }}",
    ],
)
def test_a_container_that_would_print_huge_is_refused_before_it_is_printed(
    tmp_path: Path, body: str
) -> None:
    """Tiny to hold (a list repeated holds one list many times), huge to print."""
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/printed.j2": body + " more"}))

    with pytest.raises(RenderError) as caught:
        prompts.render("weekly", "printed", context())

    assert caught.value.reason == "too-big"


def test_other_things_templates_print_are_not_mistaken_for_huge(tmp_path: Path) -> None:
    body = "{% macro m() %}x{% endmacro %}[{{ m }}] [{{ self }}] {{ when.year }}"
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/other.j2": body}))
    rendered = prompts.render("weekly", "other", context())
    assert rendered.body.startswith("[<Macro 'm'>] [<TemplateReference") and "2024" in rendered.body


def test_small_containers_print_as_before(tmp_path: Path) -> None:
    body = "{{ [1, 'a'] }} {{ 'x' ~ [2] }} {{ {'k': 'v'} | tojson }} {{ (3, 4) | string }}"
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/small.j2": body}))
    rendered = prompts.render("weekly", "small", context())
    assert rendered.body == '[1, \'a\'] x[2] {"k": "v"} (3, 4)'


@pytest.mark.parametrize(
    "body",
    [
        "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s | length }}{% endif %}"
        "{% endmacro %}{{ d('x', 24) }}",
        "{% macro d(s, n) %}{% if n %}{{ d(s + s, n - 1) }}{% else %}{{ s | length }}{% endif %}"
        "{% endmacro %}{{ d('x', 24) }}",
        "{% set ns = namespace(v=10 ** 64) %}{% for i in range(12) %}{% set ns.v = ns.v * ns.v %}"
        "{% endfor %}{{ ns.v > 0 }}",
    ],
    ids=["doubling-with-tilde", "doubling-with-plus", "squaring-a-number"],
)
def test_values_that_double_each_step_are_stopped(tmp_path: Path, body: str) -> None:
    prompts = Prompts.load(make_prompts(tmp_path, {"weekly/doubling.j2": body}))

    with pytest.raises(RenderError) as caught:
        prompts.render("weekly", "doubling", context())

    assert caught.value.reason == "too-big"


def test_lipsum_is_not_a_name_templates_can_use(tmp_path: Path) -> None:
    folder = make_prompts(tmp_path, {"weekly/lorem.j2": "{{ lipsum(n=20000) | length }}"})

    (problem,) = check_templates(folder, CATALOG)

    assert "'lipsum' is undefined" in problem.message


def test_a_template_saved_with_a_bom_keeps_its_header(tmp_path: Path) -> None:
    source = "{#\r\ntitle: Hi {{ topic.title }}\r\n#}\r\nHello {{ topic.title }}\r\n"
    folder = make_prompts(tmp_path, {"weekly/bom.j2": b"\xef\xbb\xbf" + source.encode()})

    rendered = Prompts.load(folder).render("weekly", "bom", context())

    assert rendered == Rendered(title="Hi Open source", body="Hello Open source")


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ("{{ topic.title | shortn(20) }}", "unknown filter 'shortn'", "did you mean 'shorten'?"),
        ("{{ topic.title | nosuchfilter }}", "unknown filter 'nosuchfilter'", "episode_name"),
        ("{{ 'x' if topic is definedd }}", "unknown test 'definedd'", "did you mean 'defined'?"),
    ],
)
def test_an_unknown_filter_or_test_names_the_ones_that_exist(
    tmp_path: Path, body: str, message: str, hint: str
) -> None:
    # An unknown filter is found when loading; an unknown test in a condition, when rendering.
    (problem,) = check_templates(make_prompts(tmp_path, {"weekly/typo.j2": body}), CATALOG)

    assert (problem.path, problem.line) == ("prompts/weekly/typo.j2", 1)
    assert problem.message.split(" (first with")[0] == message
    assert hint in (problem.hint or "") and "endif" not in (problem.hint or "")


def test_editor_backups_are_ignored_and_a_copy_of_a_template_is_not_told_to_replace_it(
    tmp_path: Path,
) -> None:
    # Emacs keeps 'ok.j2~' after each save and '#ok.j2#' while editing; vim probes with '4913'.
    folder = make_prompts(
        tmp_path,
        {
            "weekly/ok.j2~": "old",
            "weekly/#ok.j2#": "draft",
            "weekly/4913": "",
            "weekly/ok.j2.orig": "x",
        },
    )
    [problem] = Prompts.load(folder).problems
    assert (problem.path, problem.message) == (
        "prompts/weekly/ok.j2.orig",
        "not a template (templates end in .j2)",
    )
    assert "rename" not in problem.hint and "move it out of prompts/weekly" in problem.hint


def test_an_unknown_name_is_reported_even_where_the_check_renders_never_reach(
    tmp_path: Path,
) -> None:
    # The check renders on a Tuesday, so the other days' branch is never rendered by it.
    body = (
        "{#\ntitle: {{ topic.title if when.weekday() == 1 else topic_titel }}\n#}\n"
        "{% macro ask(q) %}{{ q }}?{% endmacro %}\n"
        '{{ "Hot take Tuesday" if when.weekday() == 1 else hot_take }}: {{ ask(topic.title) }}\n'
        "{% for q in questions %}{{ loop.index }}. {{ q }}{% endfor %}\n"
        "{% if episode and episode.number > 500 %}{{ guild_nam }}{% endif %}\n"
        "{% if mood is defined %}{{ mood }}{% endif %}{{ tone | default('calm') }}\n"  # optional
    )
    folder = make_prompts(tmp_path, {"weekly/tuesday.j2": body})

    problems = check_templates(folder, CATALOG)

    assert [(p.path, p.line, p.message.split(" (")[0]) for p in problems] == [
        ("prompts/weekly/tuesday.j2", 2, "'topic_titel' is undefined"),
        ("prompts/weekly/tuesday.j2", 5, "'hot_take' is undefined"),
        ("prompts/weekly/tuesday.j2", 7, "'guild_nam' is undefined"),
    ]
    assert "did you mean 'guild_name'?" in problems[2].hint

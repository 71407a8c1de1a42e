"""Feed episodes → content/ files: every written file loads with zero problems, nothing is
invented, nothing curated is overwritten; and the `vgbot import-feed` command end to end."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.core.content import load_dir, parse_episode
from bot.core.models import Chapter, Episode, Link, Passage, Person, Problem, Section
from bot.feeds.export import Document, episode_document, write_content
from tests.feeds.feedgen import Show, episode, feed_xml

HOST = Person("Hugo Bowne-Anderson", "host")


def ep(**changes: object) -> Episode:
    base = Episode(
        number=12,
        title="Feature stores: honestly",
        slug="feature-stores-honestly",
        released=date(2024, 2, 20),
        people=(HOST, Person("Priya Anand", "guest", "ML lead at Example")),
        summary="Priya joins to talk about feature stores.",
        sections=(Section("What we covered", "- models\n- data", "what-we-covered"),),
        links=(Link("episode page", "https://show.example.org/12"),),
    )
    return Episode(**{**vars(base), **changes})


def document(episode_: Episode) -> Document:
    doc = episode_document(episode_)
    assert isinstance(doc, Document), doc
    return doc


def test_a_document_loads_back_as_the_same_episode():
    doc = document(ep(chapters=(Chapter(0, "Intro"), Chapter(330.25, "Stores"))))
    assert doc.path == "episodes/012-feature-stores-honestly.md"
    loaded, problems = parse_episode(doc.path, doc.text.encode())
    assert problems == [] and loaded is not None
    assert (loaded.number, loaded.title, loaded.released) == (12, ep().title, ep().released)
    assert [p.name for p in loaded.hosts] == ["Hugo Bowne-Anderson"]
    assert [(p.name, p.affiliation) for p in loaded.guests] == [
        ("Priya Anand", "ML lead at Example")
    ]
    assert loaded.link("episode") == "https://show.example.org/12"
    assert [(c.start, c.title) for c in loaded.chapters] == [(0, "Intro"), (330.25, "Stores")]
    assert [s.heading for s in loaded.sections] == ["What we covered"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"number": None}, "no episode number"),
        ({"released": None}, "no release date"),
        ({"people": (Person("Priya Anand", "guest"),)}, "names no host"),
    ],
)
def test_missing_facts_are_reported_never_invented(changes, words):
    problem = episode_document(ep(**changes))
    assert isinstance(problem, Problem) and words in problem.message and problem.hint


def test_what_the_content_format_refuses_is_mended_or_left_out():
    doc = document(
        ep(
            summary="",
            sections=(
                Section("Links", "one", "links"),
                Section("Links", "two", "links-2"),
                Section("Empty", "", "empty"),
            ),
            chapters=(Chapter(5, "B"), Chapter(5, "B again"), Chapter(2, "Earlier")),
            links=(Link("audio", "not a url"), Link("episode page", "javascript:alert(1)")),
        )
    )
    loaded, problems = parse_episode(doc.path, doc.text.encode())
    assert problems == [] and loaded is not None
    assert "no show notes" in loaded.summary
    assert [s.heading for s in loaded.sections] == ["Links", "Links (2)"]
    assert [c.title for c in loaded.chapters] == ["B"]
    assert loaded.links == ()


def test_transcripts_are_written_with_their_timestamps(tmp_path):
    passages = (Passage("First words here.", 0.0), Passage("Later words.", 3725.0))
    report = write_content(tmp_path, [ep(transcript=passages)])
    assert report.written == ["episodes/012-feature-stores-honestly.md"]
    catalog = load_dir(tmp_path)
    assert catalog.problems == ()
    (loaded,) = catalog.episodes
    (passage,) = loaded.transcript  # short cues merge into one passage of a few hundred words
    assert passage.start == 0.0 and passage.text == "First words here. Later words."
    assert "[01:02:05] Later words." in (tmp_path / "transcripts/012.txt").read_text()


def test_existing_files_and_numbers_are_never_overwritten(tmp_path):
    (tmp_path / "episodes").mkdir()
    curated = tmp_path / "episodes" / "012-my-own-slug.md"
    curated.write_text("curated by hand")
    report = write_content(tmp_path, [ep(), ep(number=13, slug="feature-stores-honestly")])
    assert report.kept == ["episodes/012-my-own-slug.md"]
    assert report.written == ["episodes/013-feature-stores-honestly.md"]
    assert curated.read_text() == "curated by hand"
    assert (tmp_path / "topics.yaml").read_text() == "topics: []\n"


def test_two_episodes_with_one_number_in_one_run_are_reported_as_a_clash(tmp_path):
    season_two = ep(title="Agents in production", slug="agents-in-production")
    report = write_content(tmp_path, [season_two, ep()])  # both number 12
    assert report.written == ["episodes/012-agents-in-production.md"]
    assert report.kept == []  # not "already there": it was not
    [problem] = report.problems
    assert "'Feature stores: honestly'" in problem.message
    assert "'Agents in production'" in problem.message and "012-agents" in problem.message
    assert "<itunes:episode>" in problem.hint


names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    title=names,
    summary=st.text(max_size=200),
    heading=names,
    body=st.text(max_size=200),
    guest=names,
    number=st.integers(0, 99999),
    start=st.floats(0, 100000, allow_nan=False),
)
def test_any_episode_gives_a_loadable_file_or_a_clear_problem(
    title, summary, heading, body, guest, number, start
):
    episode_ = ep(
        number=number,
        title=title,
        slug=title,
        summary=summary,
        sections=(Section(heading, body, "x"),),
        people=(HOST, Person(guest, "guest")),
        chapters=(Chapter(start, heading),),
    )
    doc = episode_document(episode_)
    if isinstance(doc, Problem):
        assert "not written" in doc.message
        return
    loaded, problems = parse_episode(doc.path, doc.text.encode())
    assert problems == [] and loaded is not None and loaded.number == number


# ---- the command ----


def test_import_feed_command_imports_writes_content_and_is_idempotent(tmp_path, capsys):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(feed_xml(Show(items=(episode(12), episode(13, published=None)))))
    content = tmp_path / "content"
    (content / "episodes").mkdir(parents=True)
    (content / "topics.yaml").write_text("topics: []\n")
    args = ["--db", str(tmp_path / "db.sqlite3"), "--content", str(content), "import-feed"]

    assert main([*args, str(feed), "--write-content", str(tmp_path / "out"), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "2 items" in out and "2 added" in out and "1 file written" in out
    assert (out + err).count("no release date") == 1  # said once, not logged as well
    assert load_dir(tmp_path / "out").problems == ()

    assert main([*args, str(feed), "--no-progress"]) == 0
    assert "0 added, 0 changed, 2 unchanged" in capsys.readouterr().out

    assert main([*args, str(tmp_path / "missing.xml"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("no such file") == 1 and "next in" not in err  # a one-off: no next attempt


def test_import_feed_command_reports_an_unusable_database(tmp_path, capsys):
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    feed = tmp_path / "feed.xml"
    feed.write_bytes(feed_xml(Show(items=(episode(1),))))
    code = main(["--db", str(bad), "--content", str(tmp_path), "import-feed", str(feed)])
    assert code == 2 and "not a usable SQLite database" in capsys.readouterr().err


def test_progress_goes_to_stderr_in_plain_lines_off_a_terminal(tmp_path, capsys):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(feed_xml(Show(items=(episode(1),))))
    (tmp_path / "content").mkdir()
    main(
        [
            "--db",
            str(tmp_path / "db"),
            "--content",
            str(tmp_path / "content"),
            "import-feed",
            str(feed),
        ]
    )
    captured = capsys.readouterr()
    assert "parse: 1/1" in captured.err and "store: 1/1" in captured.err
    assert "parse:" not in captured.out


def test_a_relative_path_names_the_same_feed_from_anywhere(tmp_path, monkeypatch, capsys):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(feed_xml(Show(items=(episode(1),))))
    args = ["--db", str(tmp_path / "db"), "--content", str(tmp_path), "import-feed"]
    monkeypatch.chdir(tmp_path)
    main([*args, "feed.xml", "--no-progress"])
    monkeypatch.chdir(Path("/"))
    main([*args, str(feed), "--no-progress"])
    assert "0 added, 0 changed, 1 unchanged" in capsys.readouterr().out

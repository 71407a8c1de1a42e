"""/about's text, exactly, with `now` given."""

from __future__ import annotations

import pytest

from bot.ops.about import About, FeedPoll, about_text, format_span, last_feed_poll, version
from bot.ops.reload import ReloadResult
from bot.store.db import open_store

T0 = 1_760_000_000.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (60, "1m"), (3 * 3600 + 5 * 60 + 9, "3h 5m"), (2 * 86400, "2d")],
)
def test_spans(seconds, text):
    assert format_span(seconds) == text


def test_about_says_version_uptime_catalogue_reload_and_feed():
    reload = ReloadResult(
        at=T0 + 60, trigger="start", applied=True, episodes=1, topics=12, templates=8
    )
    about = About("0.1.0", T0, 1, 12, reload, None)
    assert about_text(about, T0 + 3 * 3600 + 120, name="VG Bot") == "\n".join(
        [
            "**VG Bot** 0.1.0 · up 3h 2m",
            "**Catalogue**: 1 episode, 12 topics",
            f"**Last content reload**: <t:{int(T0) + 60}:R> (at start): loaded 1 episode, "
            "12 topics, 8 templates",
            "**Feed**: no feed configured",
        ]
    )


def test_a_load_that_left_files_out_says_so_and_shows_them():
    loaded = ReloadResult(
        at=T0,
        trigger="start",
        applied=True,
        episodes=1,
        topics=2,
        templates=8,
        problems=("episodes/0011-copy.md: episode number 11 is also used by episodes/011-a.md",),
    )
    text = about_text(About("0.1.0", T0, 1, 2, loaded, None), T0)
    assert "; 1 problem, their files left as they were" in text
    assert "episodes/0011-copy.md: episode number 11" in text and "kept their previous" not in text


def test_about_shows_a_refused_reload_and_a_failing_feed():
    refused = ReloadResult(at=T0, trigger="change", applied=False, problems=("a:1: x",))
    feed = FeedPoll("https://example.com/rss", T0 - 30, error="timed out after 20 s")
    text = about_text(About("0.1.0", T0, 0, 0, refused, feed), T0)
    assert "(change): refused: 1 problem; the previous version keeps serving" in text
    assert "\n```\na:1: x\n```\n" in text
    assert f"**Last feed poll**: <t:{int(T0) - 30}:R> (failed: timed out after 20 s)" in text
    waiting = about_text(About("0.1.0", T0, 0, 0, None, FeedPoll("u", None)), T0)
    assert "**Feed**: not polled yet" in waiting and "none yet" in waiting


async def test_the_feed_poll_comes_from_the_store(tmp_path):
    async with await open_store(tmp_path / "bot.sqlite3") as store:
        assert await last_feed_poll(store, "") is None
        assert await last_feed_poll(store, "https://x/rss") == FeedPoll("https://x/rss", None)


def test_the_version_is_the_projects(repo_root):
    import tomllib

    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    assert version() == project["project"]["version"]


def test_a_refused_reload_names_who_asked_and_the_first_problems_with_file_and_line():
    problems = tuple(
        f"content/episodes/{n:03}-x.md:4: field 'released': bad date" for n in range(5)
    )
    refused = ReloadResult(
        at=T0, trigger="/reload by Ada_Lovelace @everyone", applied=False, problems=problems
    )
    lines = about_text(About("0.1.0", T0, 1, 12, refused, None), T0).splitlines()
    assert lines[2] == (
        f"**Last content reload**: <t:{int(T0)}:R> (/reload by Ada\\_Lovelace @\u200beveryone): "
        "refused: 5 problems; the previous version keeps serving"
    )
    assert lines[3:8] == [
        "```",
        "content/episodes/000-x.md:4: field 'released': bad date",
        "content/episodes/001-x.md:4: field 'released': bad date",
        "content/episodes/002-x.md:4: field 'released': bad date",
        "```",
    ]
    assert lines[8] == "… and 2 more: /reload shows them, `vgbot content check` lists all"


def test_a_private_feeds_key_in_an_error_is_not_shown_to_members():
    # Private feeds (Patreon, Supercast) carry their key in the URL; /about is for everyone.
    error = "HTTP 401 Unauthorized from https://www.patreon.com/rss/vg?auth=S3CRET"
    feed = FeedPoll("https://www.patreon.com/rss/vg?auth=S3CRET", T0 - 30, error=error)
    text = about_text(About("0.1.0", T0, 0, 0, None, feed), T0)
    assert "S3CRET" not in text
    assert "HTTP 401 Unauthorized from https://www.patreon.com/rss/vg?auth=…" in text

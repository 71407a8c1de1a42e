"""Per-guild settings: parsing what admins type, showing current values, storing them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ops.guild_settings import (
    MAX_GRACE,
    ConfigError,
    Defaults,
    describe,
    format_duration,
    parse_duration,
    parse_timezone,
    shown,
)
from bot.store.db import open_store
from bot.store.guild_config import GuildConfig, GuildConfigStore


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6h", 6 * 3600),
        ("90m", 90 * 60),
        ("1d", 86400),
        ("1d 6h", 86400 + 6 * 3600),
        ("2h30m", 2.5 * 3600),
        ("45 minutes", 45 * 60),
        ("1.5 hours", 5400),
        (" 3 HOURS ", 3 * 3600),
        ("0", 0),
        ("off", 0),
        ("7d", MAX_GRACE),
    ],
)
def test_durations_people_type(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("6", "give a unit with the number: 6h, 6m or 6d"),
        ("6 parsecs", "unknown unit 'parsecs'"),
        ("soon", "is not a duration"),
        ("6h and then some", "is not a duration"),
        ("8d", "longer than the 7 days"),
        ("9" * 50, "too long"),
        ("", "is not a duration"),
    ],
)
def test_durations_that_do_not_work_say_what_would(text, says):
    with pytest.raises(ConfigError, match=says):
        parse_duration(text)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, int(MAX_GRACE)))
def test_a_shown_duration_reads_back_as_itself(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_a_duration_in_range_or_a_clear_refusal(text):
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert 0 <= seconds <= MAX_GRACE


def test_time_zones_are_canonical_or_refused_with_a_hint():
    assert parse_timezone("europe/london") == "Europe/London"
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Base'"):
        parse_timezone("Mars/Base")


def test_current_values_show_their_defaults():
    defaults = Defaults(timezone="UTC", grace_window=6 * 3600, announce_role=None)
    blank = GuildConfig(1)
    assert describe(blank, defaults) == [
        "**Discussion channel**: not set",
        "**Announcement channel**: not set",
        "**Announcement role**: none: announcements mention nobody",
        "**Time zone**: UTC (default)",
        "**Grace window**: 6h (default)",
    ]
    set_ = GuildConfig(1, 10, 11, 12, "Europe/Paris", 0.0)
    assert describe(set_, defaults) == [
        "**Discussion channel**: <#10>",
        "**Announcement channel**: <#11>",
        "**Announcement role**: <@&12>",
        "**Time zone**: Europe/Paris",
        "**Grace window**: 0 (missed posts are never posted late)",
    ]
    assert shown("announce_role", blank, Defaults(announce_role=5)) == "<@&5> (bot default)"


async def test_the_store_keeps_one_row_per_guild_and_resets_to_default(tmp_path):
    async with await open_store(tmp_path / "bot.sqlite3") as store:
        configs = GuildConfigStore(store)
        assert await configs.get(7) == GuildConfig(7)
        await configs.set(7, "timezone", "Europe/Paris", by=1, now=100.0)
        after = await configs.set(7, "grace_window", 5400.0, by=2, now=200.0)
        assert (after.timezone, after.grace_window, after.updated_by) == ("Europe/Paris", 5400, 2)
        reset = await configs.set(7, "timezone", None, by=3, now=300.0)
        assert reset.timezone is None and reset.grace_window == 5400
        await configs.set(8, "announce_channel", 99, by=1, now=1.0)
        assert [c.guild_id for c in await configs.all()] == [7, 8]
        with pytest.raises(KeyError, match="unknown guild setting 'nope'"):
            await configs.set(7, "nope", 1, by=1, now=1.0)

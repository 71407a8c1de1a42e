"""Moderator time input with a fixed `now`: exact results, precise errors, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.when import (
    MAX_AHEAD,
    WhenError,
    known_timezone,
    offered_zones,
    parse_time_of_day,
    parse_weekday,
    parse_when,
    validate_timezone,
)

# Wednesday; London is on GMT (= UTC) until 2026-03-29, New York on EST until 2026-03-08.
NOW = datetime(2026, 3, 4, 12, 0, 30, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


LONDON_GOOD = [
    ("2026-12-04 18:00", utc(2026, 12, 4, 18)),
    ("2026-12-04T18:00", utc(2026, 12, 4, 18)),
    ("2026-12-04 18:00:30", utc(2026, 12, 4, 18, 0, 30)),
    ("2026-12-04T18:00Z", utc(2026, 12, 4, 18)),
    ("2026-12-04T18:00+01:00", utc(2026, 12, 4, 17)),
    ("2026-12-04 18:00 -0500", utc(2026, 12, 4, 23)),
    ("2026-06-04 18:00", utc(2026, 6, 4, 17)),  # BST
    ("2026-06-04 6pm", utc(2026, 6, 4, 17)),
    ("friday 18:00", utc(2026, 3, 6, 18)),
    ("fri 6pm", utc(2026, 3, 6, 18)),
    ("friday at 6:30 pm", utc(2026, 3, 6, 18, 30)),
    ("Friday, 6:30 P.M.", utc(2026, 3, 6, 18, 30)),
    ("on friday at 18:00", utc(2026, 3, 6, 18)),
    ("6pm friday", utc(2026, 3, 6, 18)),
    ("next friday 18:00", utc(2026, 3, 6, 18)),
    ("this friday 18:00", utc(2026, 3, 6, 18)),
    ("thurs 9am", utc(2026, 3, 5, 9)),
    ("tomorrow 09:00", utc(2026, 3, 5, 9)),
    ("today 21:00", utc(2026, 3, 4, 21)),
    ("tonight 9pm", utc(2026, 3, 4, 21)),
    ("wednesday 13:00", utc(2026, 3, 4, 13)),  # today's weekday, still ahead: today
    ("wednesday 11:00", utc(2026, 3, 11, 11)),  # today's weekday, passed: next week
    ("in 2 hours", utc(2026, 3, 4, 14)),  # from now truncated to the minute
    ("in 90 minutes", utc(2026, 3, 4, 13, 30)),
    ("in 3 days", utc(2026, 3, 7, 12)),
    ("in 1h30m", utc(2026, 3, 4, 13, 30)),
    ("in 1 hour and 30 minutes", utc(2026, 3, 4, 13, 30)),
    ("in an hour", utc(2026, 3, 4, 13)),
    ("in 2 weeks", utc(2026, 3, 18, 12)),
    ("18:00", utc(2026, 3, 4, 18)),  # a time alone: today if still ahead
    ("09:00", utc(2026, 3, 5, 9)),  # ... else tomorrow
    ("6:30pm", utc(2026, 3, 4, 18, 30)),
    ("18.30", utc(2026, 3, 4, 18, 30)),
    ("noon", utc(2026, 3, 5, 12)),  # 12:00 is just past
    ("12pm", utc(2026, 3, 5, 12)),
    ("midnight", utc(2026, 3, 5, 0)),
    ("friday midnight", utc(2026, 3, 6, 0)),  # the start of Friday
    ("12am saturday", utc(2026, 3, 7, 0)),
    ("ＦＲＩＤＡＹ　１８:００", utc(2026, 3, 6, 18)),  # full-width input
    ("friday 18:00 America/New_York", utc(2026, 3, 6, 23)),  # a trailing zone wins
    ("friday 18:00 utc", utc(2026, 3, 6, 18)),
    ("2026-03-29 02:30", utc(2026, 3, 29, 1, 30)),  # just after the spring gap
    ("2026-10-25 01:30", utc(2026, 10, 25, 0, 30)),  # repeated hour: the first (BST)
    ("2027-03-04 12:00", utc(2027, 3, 4, 12)),  # 365 days ahead is fine
]


@pytest.mark.parametrize(("text", "expected"), LONDON_GOOD)
def test_good_inputs_in_london(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, "Europe/London") == expected


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("friday 18:00", "America/New_York", utc(2026, 3, 6, 23)),
        ("today 09:00", "America/New_York", utc(2026, 3, 4, 14)),  # it is 07:00 there
        ("sunday 03:00", "America/New_York", utc(2026, 3, 8, 7)),  # EDT from 03:00
        ("2026-11-01 01:30", "America/New_York", utc(2026, 11, 1, 5, 30)),  # first: EDT
        ("friday 18:00", "Asia/Kolkata", utc(2026, 3, 6, 12, 30)),
        ("friday 18:00", "Australia/Sydney", utc(2026, 3, 6, 7)),  # AEDT, +11
        ("friday 18:00", "utc", utc(2026, 3, 6, 18)),
        ("in 2 hours", "Asia/Kolkata", utc(2026, 3, 4, 14)),  # durations ignore the zone
    ],
)
def test_good_inputs_in_other_zones(text: str, tz: str, expected: datetime) -> None:
    assert parse_when(text, NOW, tz) == expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["no time given", "friday 18:00"]),
        ("   ", ["no time given"]),
        ("x" * 10_000, ["too long (10000 characters, at most 100)"]),
        ("25:00", ["no hour 25", "0-23"]),
        ("friday 25:00", ["no hour 25"]),
        ("18:60", ["no minute 60", "00-59"]),
        ("18:00:61", ["no second 61"]),
        ("24:00", ["24:00 is not accepted", "midnight"]),
        ("friday 18", ["'18' is ambiguous", "18:00", "6pm"]),
        ("next blursday", ["unknown day 'blursday'", "thursday"]),
        ("blursday 18:00", ["unknown word 'blursday'", "friday 18:00"]),
        ("banana", ["unknown word 'banana'"]),
        ("yesterday 10:00", ["'yesterday' points to the past", "tomorrow 9am"]),
        ("last friday 18:00", ["'last' points to the past"]),
        ("2 hours ago", ["'ago' points to the past"]),
        ("today 09:00", ["already passed", "Wed 2026-03-04 09:00 in Europe/London", "tomorrow"]),
        ("2026-03-04 12:00", ["already passed"]),
        ("1999-01-01 10:00", ["already passed"]),
        ("0001-01-01 00:00+01:00", ["already passed"]),
        ("2026-12-04", ["needs a time of day", "2026-12-04 18:00"]),
        ("friday", ["needs a time of day", "friday 18:00"]),
        ("2027-03-05 12:01", ["more than a year ahead"]),
        ("2099-01-01 12:00", ["more than a year ahead"]),
        ("9999-12-31 23:59-01:00", ["more than a year ahead"]),
        ("in 400 days", ["more than a year ahead"]),
        ("in 99999999999999999999 days", ["more than a year ahead"]),
        ("2026-03-29 01:30", ["01:30 on Sun 2026-03-29 does not exist in Europe/London", "02:30"]),
        ("13pm", ["12- and 24-hour", "6pm"]),
        ("0am", ["12- and 24-hour"]),
        ("6:5pm", ["two digits"]),
        ("12/04 18:00", ["ambiguous", "YYYY-MM-DD"]),
        ("04.12.2026 18:00", ["ambiguous", "YYYY-MM-DD"]),
        ("2026-02-30 10:00", ["no day 30"]),
        ("2026-13-01 10:00", ["no month 13"]),
        ("0000-01-01 00:00", ["there is no year 0 in '0000-01-01'"]),  # read 'no day 1'
        ("2026-12-04 18:00+25:00", ["not a UTC offset"]),
        ("in", ["needs an amount"]),
        ("in 2", ["needs a unit", "in 2 hours"]),
        ("in 1.5 hours", ["whole numbers", "1h30m"]),
        ("in 0 minutes", ["positive"]),
        ("in -2 hours", ["positive"]),
        ("in 2 fortnights", ["could not read 'in 2 fortnights'"]),
        ("next week", ["'next week' is not a day"]),
        ("next", ["needs a weekday"]),
        ("friday 2026-12-04 10:00", ["one day only"]),
        ("tomorrow friday 10:00", ["one day only"]),
        ("friday 6 30 pm", ["could not read '6 30 pm' as a time of day"]),
        # A trailing word that looks like a zone is read as one, and its error is the zone's.
        ("friday 18:00 Europe/Londn", ["unknown time zone 'Europe/Londn'", "'Europe/London'"]),
        ("friday 18:00 PST", ["'PST' is an abbreviation", "'America/Los_Angeles'"]),
        ("friday 18:00 london", ["unknown time zone 'london'", "did you mean 'Europe/London'"]),
        ("friday 18:00 New York", ["unknown time zone 'New York'", "'America/New_York'"]),
        ("friday 18:00 Berln", ["did you mean 'Europe/Berlin'"]),
        ("friday 18:00 UTC+2", ["'UTC+2' is not a place", "fixed offset"]),
        ("friday 18:00 Mars/Base", ["unknown time zone 'Mars/Base'"]),
    ],
)
def test_bad_inputs_say_what_is_wrong(text: str, fragments: list[str]) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text, NOW, "Europe/London")
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert len(message) < 400


def test_gap_error_on_a_weekday_suggests_the_shifted_time() -> None:
    with pytest.raises(WhenError, match=r"02:30 on Sun 2026-03-08 does not exist.*03:30"):
        parse_when("sunday 2:30am", NOW, "America/New_York")


def test_new_years_eve_reaches_into_the_year_after_next() -> None:
    # 366 days from 31 December 2000 end in January 2002; a year-number check refused them.
    eve = datetime(2000, 12, 31, 16, 0, tzinfo=UTC)
    assert parse_when("2002-01-01 00:00", eve, "UTC") == datetime(2002, 1, 1, tzinfo=UTC)
    with pytest.raises(WhenError, match="more than a year ahead"):
        parse_when("2002-01-01 16:01", eve, "UTC")
    with pytest.raises(WhenError, match="more than a year ahead"):
        parse_when("2003-01-01 00:00", eve, "UTC")


def test_bad_zone_gets_a_suggestion() -> None:
    with pytest.raises(WhenError, match="did you mean 'Europe/London'"):
        parse_when("friday 18:00", NOW, "Europe/Lodnon")


def test_naive_now_is_a_programming_error_not_a_user_error() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware") as caught:
        parse_when("friday 18:00", datetime(2026, 3, 4, 12), "UTC")
    assert not isinstance(caught.value, WhenError)


# ---- the building blocks ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/London", "Europe/London"),
        ("europe/london", "Europe/London"),
        ("  America/New York ", "America/New_York"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("Etc/UTC", "UTC"),  # UTC's other names are kept under one
        ("UCT", "UTC"),
        ("zulu", "UTC"),
        ("US/Eastern", "US/Eastern"),  # an old name, but of a place: it follows its clocks
    ],
)
def test_validate_timezone_gives_the_canonical_name(text: str, expected: str) -> None:
    assert validate_timezone(text) == expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("Europe/Lodnon", ["unknown time zone 'Europe/Lodnon'", "did you mean 'Europe/London'"]),
        ("london", ["did you mean 'Europe/London'"]),
        ("new york", ["did you mean 'America/New_York'"]),
        ("+02:00", ["fixed offset", "name a place"]),
        ("", ["no time zone given", "Europe/London"]),
        ("../../etc/passwd", ["unknown time zone"]),
        ("Nowhere/Atlantis", ["unknown time zone 'Nowhere/Atlantis'", "IANA name"]),
        ("A" * 500, ["too long"]),
    ],
)
def test_validate_timezone_errors(text: str, fragments: list[str]) -> None:
    with pytest.raises(WhenError) as caught:
        validate_timezone(text)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("EST", ["'EST' is an abbreviation", "'America/New_York'"]),
        ("edt", ["'America/New_York'"]),
        ("PST", ["'America/Los_Angeles'"]),
        ("MST", ["'America/Denver'", "'America/Phoenix' (Arizona, no daylight saving)"]),
        ("CST", ["'America/Chicago'", "'Asia/Shanghai' (China Standard Time)"]),
        ("HST", ["'Pacific/Honolulu'"]),
        ("EST5EDT", ["abbreviation", "'America/New_York'"]),
        ("PST8PDT", ["'America/Los_Angeles'"]),
        ("BST", ["'Europe/London'"]),
        ("CEST", ["'Europe/Paris'", "'Europe/Berlin'"]),
        ("IST", ["'Asia/Kolkata' (India)", "'Europe/Dublin' (Ireland)"]),
        ("JST", ["'Asia/Tokyo'"]),
        ("AEST", ["'Australia/Sydney'"]),
        ("GMT", ["all year", "'Europe/London'", "'UTC'"]),
        ("GMT0", ["all year", "'Europe/London'"]),
        ("Etc/GMT+5", ["fixed offset", "UTC-05:00 all year", "inverted", "name a place"]),
        ("etc/gmt-3", ["UTC+03:00 all year"]),
        ("UTC+2", ["fixed offset", "name a place"]),
        ("Factory", ["'Factory' is not a place's time zone"]),
        ("localtime", ["not a place's time zone"]),
    ],
)
def test_zones_that_do_not_follow_a_place_are_refused_naming_the_place(
    text: str, fragments: list[str]
) -> None:
    with pytest.raises(WhenError) as caught:
        validate_timezone(text)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert "did you mean" not in message  # once 'MST', 'HST' or 'EST' for 'PST'


def test_every_zone_offered_is_accepted_as_it_is() -> None:
    offered = offered_zones()
    assert "UTC" in offered and "Europe/London" in offered
    assert not {"EST", "Etc/GMT+5", "Factory", "UCT", "GMT", "CET"} & set(offered)
    assert all(validate_timezone(name) == name for name in offered)


def test_a_trailing_abbreviation_in_when_is_refused_naming_the_place() -> None:
    # In July, EST (UTC-5) is an hour off New York's clocks (EDT): never read it as EST.
    with pytest.raises(WhenError, match="'America/New_York'"):
        parse_when("2026-07-07 18:00 EST", NOW, "Europe/London")
    with pytest.raises(WhenError, match="UTC-05:00 all year"):
        parse_when("friday 18:00 Etc/GMT+5", NOW, "Europe/London")
    assert parse_when("friday 18:00 Etc/UTC", NOW, "Europe/London") == utc(2026, 3, 6, 18)


def test_a_zone_saved_before_it_was_refused_still_reads_times() -> None:
    # The server's zone comes from the database (an older version accepted 'EST').
    assert parse_when("friday 18:00", NOW, "EST") == utc(2026, 3, 6, 23)
    assert known_timezone("est") == "EST"
    with pytest.raises(WhenError, match="unknown time zone 'Mars/Base'"):
        known_timezone("Mars/Base")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday", 0),
        ("Mon", 0),
        ("tue", 1),
        ("tues", 1),
        ("wed", 2),
        ("weds", 2),
        ("Thursday", 3),
        ("thu", 3),
        ("thurs", 3),
        ("FRI", 4),
        ("fridays", 4),
        ("sat", 5),
        (" sunday ", 6),
    ],
)
def test_parse_weekday(text: str, expected: int) -> None:
    assert parse_weekday(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("t", "unknown day 't'"), ("blursday", "did you mean 'thursday'"), ("", "no day given")],
)
def test_parse_weekday_errors(text: str, fragment: str) -> None:
    with pytest.raises(WhenError, match=fragment):
        parse_weekday(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18:00", time(18, 0)),
        ("7:05", time(7, 5)),
        ("18:00:30", time(18, 0, 30)),
        ("6pm", time(18, 0)),
        ("6 PM", time(18, 0)),
        ("6:30pm", time(18, 30)),
        ("6.30 p.m.", time(18, 30)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("12:15 am", time(0, 15)),
        ("noon", time(12, 0)),
        ("Midnight", time(0, 0)),
    ],
)
def test_parse_time_of_day(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


# ---- properties ----

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
TOKENS = [
    *("in", "next", "this", "at", "on", "a", "an", "and", "t", "z", "-", "+", ":", ".", ","),
    *("friday", "fri", "tomorrow", "today", "midnight", "noon", "pm", "a.m.", "week"),
    *("hour", "hours", "minutes", "days", "h", "30m", "1h30m", "2", "0", "18", "1.5"),
    *("18:00", "6pm", "25:00", "18:60", "24:00", "6:5pm", "13pm", "12/04", "99999999999"),
    *("2026-12-04", "2026-02-30", "2026-03-29", "01:30", "+01:00", "+25:00", "utc"),
    *("europe/london", "america/new_york", "blursday", "ＦＲＩ", "١٨:٠٠", "\x00", "🕕"),
    *("pst", "london", "new", "york", "etc/gmt+5", "berln"),
]
WORDY = st.lists(st.sampled_from(TOKENS), max_size=6).map(" ".join)
ANY_NOW = st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC))


def _parse_or_error(text: str, now: datetime, tz: str) -> None:
    try:
        result = parse_when(text, now, tz)
    except WhenError as exc:
        assert str(exc)
        return
    assert result.tzinfo is UTC
    assert now < result <= now + MAX_AHEAD


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=120), WORDY), now=ANY_NOW, tz=st.sampled_from(ZONES))
def test_any_text_gives_a_datetime_or_a_when_error(text: str, now: datetime, tz: str) -> None:
    _parse_or_error(text, now, tz)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=80))
def test_any_text_as_a_part_gives_a_value_or_a_when_error(text: str) -> None:
    for parse in (validate_timezone, parse_weekday, parse_time_of_day):
        try:
            parse(text)
        except WhenError as exc:
            assert str(exc)


@settings(max_examples=150, deadline=None)
@given(
    now=ANY_NOW,
    minutes=st.integers(1, int(MAX_AHEAD / timedelta(minutes=1))),
    tz=st.sampled_from(ZONES),
)
def test_a_local_iso_time_reads_back_as_the_same_instant(
    now: datetime, minutes: int, tz: str
) -> None:
    target = now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    local = target.astimezone(ZoneInfo(tz))
    if local.fold:  # the second of a repeated hour reads as the first one, by design
        return
    assert parse_when(f"{local:%Y-%m-%d %H:%M}", now, tz) == target
    assert parse_when(f"in {minutes} minutes", now, tz) == target
    if target - now < timedelta(days=6):
        assert parse_when(f"{local:%A} {local:%H:%M}", now, tz) == target

"""Schedule decisions checked against a brute-force oracle over the odd zones.

The oracle does not use `datetime(..., fold=...)`: it cuts UTC time into the zone's
constant-offset segments (found by sampling and bisection) and solves wall = u + offset
in each. A wall time with solutions fires at the earliest (fall-back: the first); one with
none (spring-forward, or a whole skipped day) fires at wall - the offset before the gap,
"as if the clock had not changed yet" (bot/core/schedule.py's documented policy).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.schedule import WeeklyRule, due, next_occurrence, occurrences_between
from bot.core.when import WhenError, parse_when

ODD_ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kathmandu",  # +5:45 (+5:30 before 1986)
    "America/Santiago",  # changes at midnight: some days have no 00:00
    "America/Havana",  # the same
    "Asia/Beirut",  # the same
    "America/Asuncion",
    "Africa/Casablanca",  # DST suspended for Ramadan, two extra changes a year
    "Europe/Dublin",  # negative DST in tzdata
    "Pacific/Apia",  # skipped 2011-12-30
    "Pacific/Kiritimati",  # skipped 1994-12-31
    "Pacific/Kwajalein",  # skipped 1993-08-21
    "America/St_Johns",  # -3:30, changed at 00:01 until 2011
    "Antarctica/Troll",  # +00 / +02: a two-hour jump
    "Asia/Tehran",
    "America/Caracas",  # -4:30 and back
]
SAMPLE = timedelta(minutes=20)  # shorter than any stretch between two clock changes
SECOND = timedelta(seconds=1)


def _offset(tz: ZoneInfo, u: datetime) -> timedelta:
    found = u.astimezone(tz).utcoffset()
    assert found is not None
    return found


def segments(tz: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, timedelta]]:
    """(start, offset) of each constant-offset stretch of UTC time covering [lo, hi]."""
    found = [(lo, _offset(tz, lo))]
    u = lo
    while u < hi:
        nxt = u + SAMPLE
        if _offset(tz, nxt) != found[-1][1]:
            a, b = u, nxt  # offset(a) is the old one, offset(b) the new one
            while b - a > SECOND:
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if mid <= a:
                    break
                if _offset(tz, mid) == found[-1][1]:
                    a = mid
                else:
                    b = mid
            found.append((b, _offset(tz, b)))
        u = nxt
    return found


def oracle_fire(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant wall time `at` on `day` fires at, by the documented policy."""
    wall = datetime.combine(day, at).replace(tzinfo=UTC)  # the wall time read as if UTC
    segs = segments(tz, wall - timedelta(hours=40), wall + timedelta(hours=40))
    ends = [s for s, _ in segs[1:]] + [wall + timedelta(hours=41)]
    solutions = [
        wall - off
        for (start, off), end in zip(segs, ends, strict=True)
        if start <= wall - off < end
    ]
    if solutions:
        return min(solutions)
    gaps = [
        wall - before
        for (_, before), (start, after) in zip(segs, segs[1:], strict=False)
        if wall - before >= start and wall - after < start
    ]
    assert len(gaps) == 1, (day, at, tz, segs)
    return gaps[0]


def oracle_exists(day: date, at: time, tz: ZoneInfo) -> bool:
    u = oracle_fire(day, at, tz)
    return u.astimezone(tz).replace(tzinfo=None) == datetime.combine(day, at)


def oracle_next(rule: WeeklyRule, after: datetime) -> datetime:
    """The first firing after `after`, trying every rule date from two days before."""
    tz = ZoneInfo(rule.tz)
    local = after.astimezone(tz).date() - timedelta(days=2)
    first = local + timedelta(days=(rule.weekday - local.weekday()) % 7)
    fired = [oracle_fire(first + timedelta(weeks=w), rule.at, tz) for w in range(3)]
    return min(f for f in fired if f > after)


WEEKDAYS = st.integers(0, 6)
# Whole minutes mostly, some with seconds and microseconds.
WALL = st.one_of(
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.times(),
)
INSTANTS = st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))


# Every documented odd day, aimed at directly (hypothesis would rarely land on them).
@example(4, time(18), "Pacific/Apia", datetime(2011, 12, 27, tzinfo=UTC))
@example(5, time(0, 30), "Pacific/Kiritimati", datetime(1994, 12, 27, tzinfo=UTC))
@example(5, time(12), "Pacific/Kwajalein", datetime(1993, 8, 17, tzinfo=UTC))
@example(6, time(0, 0), "America/Santiago", datetime(2024, 9, 1, 2, tzinfo=UTC))
@example(6, time(0, 30), "America/Havana", datetime(2024, 3, 9, tzinfo=UTC))
@example(6, time(0, 15), "Asia/Beirut", datetime(2024, 3, 30, tzinfo=UTC))
@example(6, time(2, 15), "Australia/Lord_Howe", datetime(2024, 10, 1, tzinfo=UTC))
@example(6, time(1, 45), "Australia/Lord_Howe", datetime(2024, 4, 1, tzinfo=UTC))
@example(6, time(3, 0), "Pacific/Chatham", datetime(2024, 9, 25, tzinfo=UTC))
@example(6, time(2, 0), "Africa/Casablanca", datetime(2024, 3, 5, tzinfo=UTC))
@example(6, time(2, 30), "Africa/Casablanca", datetime(2024, 4, 10, tzinfo=UTC))
@example(6, time(1, 30), "Europe/Dublin", datetime(2024, 10, 22, tzinfo=UTC))
@example(6, time(2, 0), "Antarctica/Troll", datetime(2024, 3, 28, tzinfo=UTC))
@example(6, time(0, 30), "America/St_Johns", datetime(2008, 11, 1, tzinfo=UTC))
@settings(max_examples=300, deadline=None)
@given(weekday=WEEKDAYS, at=WALL, tz=st.sampled_from(ODD_ZONES), after=INSTANTS)
def test_next_occurrence_is_the_oracles_first_firing_after(
    weekday: int, at: time, tz: str, after: datetime
) -> None:
    rule = WeeklyRule(weekday, at, tz)
    assert next_occurrence(rule, after) == oracle_next(rule, after)


@example(4, time(18), "Pacific/Apia", datetime(2011, 11, 1, tzinfo=UTC))
@example(5, time(0, 30), "Pacific/Kiritimati", datetime(1994, 11, 1, tzinfo=UTC))
@example(6, time(0, 0), "America/Santiago", datetime(2024, 8, 1, tzinfo=UTC))
@example(6, time(1, 45), "Australia/Lord_Howe", datetime(2024, 3, 1, tzinfo=UTC))
@example(6, time(1, 30), "Europe/Dublin", datetime(2024, 9, 1, tzinfo=UTC))
@settings(max_examples=60, deadline=None)
@given(weekday=WEEKDAYS, at=WALL, tz=st.sampled_from(ODD_ZONES), after=INSTANTS)
def test_twenty_weeks_fire_once_per_rule_date_in_order(
    weekday: int, at: time, tz: str, after: datetime
) -> None:
    # Each local week's rule date fires exactly once, and the firings only go forward: no
    # week posts twice (fall-back) and none is skipped (spring-forward, a skipped day).
    rule = WeeklyRule(weekday, at, tz)
    zone = ZoneInfo(tz)
    end = after + timedelta(weeks=20)
    fired = occurrences_between(rule, after, end)
    assert all(a < b for a, b in zip(fired, fired[1:], strict=False))
    first = fired[0]
    rule_day = next(
        first.astimezone(zone).date() - timedelta(days=back)
        for back in (0, 1)
        if (first.astimezone(zone).date() - timedelta(days=back)).weekday() == weekday
        and oracle_fire(first.astimezone(zone).date() - timedelta(days=back), at, zone) == first
    )
    expected = [oracle_fire(rule_day + timedelta(weeks=w), at, zone) for w in range(22)]
    assert fired == [e for e in expected if after < e <= end]


@settings(max_examples=150, deadline=None)
@given(
    weekday=WEEKDAYS,
    at=WALL,
    tz=st.sampled_from(ODD_ZONES),
    created=INSTANTS,
    gaps=st.lists(st.integers(1, 30 * 24 * 60), min_size=1, max_size=12),
    grace_minutes=st.integers(0, 8 * 24 * 60),
)
def test_catch_up_reports_every_occurrence_once_and_posts_only_the_newest_in_grace(
    weekday: int,
    at: time,
    tz: str,
    created: datetime,
    gaps: list[int],
    grace_minutes: int,
) -> None:
    # Ticks at random intervals (minutes to a month of downtime), each from the last one.
    rule = WeeklyRule(weekday, at, tz)
    grace = timedelta(minutes=grace_minutes)
    last: datetime | None = None
    now = created
    posted: list[datetime] = []
    seen: list[datetime] = []
    for minutes in gaps:
        now += timedelta(minutes=minutes)
        decision = due(rule, last, created, now, grace)
        missed = occurrences_between(rule, last or created, now)
        assert sorted(decision.post + decision.skipped) == missed
        assert len(decision.post) <= 1
        if decision.post:
            assert decision.post[0] == missed[-1] and now - missed[-1] <= grace
        elif missed:
            assert now - missed[-1] > grace
        assert decision.next_run == oracle_next(rule, now)
        posted += decision.post
        seen += missed
        last = now
    assert seen == occurrences_between(rule, created, now)  # each exactly once, in order
    assert len(set(posted)) == len(posted)


# ---- a moderator's "friday 18:00" against the oracle ----

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NOWS = st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC))


@example(6, time(0, 0), "America/Santiago", datetime(2024, 9, 6, tzinfo=UTC))
@example(6, time(0, 30), "America/Havana", datetime(2024, 3, 9, tzinfo=UTC))
@example(6, time(2, 15), "Australia/Lord_Howe", datetime(2024, 10, 1, tzinfo=UTC))
@example(6, time(1, 45), "Australia/Lord_Howe", datetime(2024, 4, 5, tzinfo=UTC))
@example(6, time(2, 50), "Pacific/Chatham", datetime(2024, 9, 25, tzinfo=UTC))
@example(6, time(1, 0), "Antarctica/Troll", datetime(2024, 3, 28, tzinfo=UTC))
@settings(max_examples=200, deadline=None)
@given(
    weekday=WEEKDAYS,
    at=st.builds(time, st.integers(0, 23), st.integers(0, 59)),
    tz=st.sampled_from(ODD_ZONES),
    now=NOWS,
)
def test_a_weekday_and_time_is_its_next_showing_or_a_gap_error_whose_fix_works(
    weekday: int, at: time, tz: str, now: datetime
) -> None:
    zone = ZoneInfo(tz)
    text = f"{DAY_NAMES[weekday]} {at:%H:%M}"
    today = now.astimezone(zone).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    if oracle_fire(day, at, zone) <= now:
        day += timedelta(weeks=1)
    if oracle_exists(day, at, zone):
        assert parse_when(text, now, tz) == oracle_fire(day, at, zone)
        return
    with pytest.raises(WhenError, match="does not exist") as caught:
        parse_when(text, now, tz)
    # The error suggests a time to type instead: it must read as the instant the wall time
    # was shifted to, so the moderator who copies it gets what the message promised.
    suggestion = str(caught.value).rsplit("Write e.g. '", 1)[1].rstrip("'")
    assert parse_when(suggestion, now, tz) == oracle_fire(day, at, zone)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("25:00", "no hour 25"),
        ("sunday 24:00", "24:00 is not accepted"),
        ("feb 30", "unknown word 'feb'"),
        ("2026-02-30 18:00", "that month has no day 30"),
        ("every 2 weeks", "unknown word 'every'"),
        ("friday 18:00 london", "Europe/London"),
        ("friday 18:00 PST", "America/Los_Angeles"),
    ],
)
def test_words_a_moderator_might_type_are_refused_with_the_fix(text: str, fragment: str) -> None:
    with pytest.raises(WhenError, match=fragment):
        parse_when(text, datetime(2026, 3, 3, 12, tzinfo=UTC), "Europe/London")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("friday 18:00", datetime(2026, 3, 6, 18, tzinfo=UTC)),
        ("tomorrow 9am", datetime(2026, 3, 4, 9, tzinfo=UTC)),
        ("monday 0:00", datetime(2026, 3, 9, 0, tzinfo=UTC)),
        ("2026-12-31 23:59 Europe/London", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("2026-07-31 23:59 Europe/London", datetime(2026, 7, 31, 22, 59, tzinfo=UTC)),
    ],
)
def test_words_a_moderator_might_type_are_read_in_the_zone(text: str, expected: datetime) -> None:
    assert parse_when(text, datetime(2026, 3, 3, 12, tzinfo=UTC), "Europe/London") == expected

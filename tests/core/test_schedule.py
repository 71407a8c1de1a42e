"""Schedule decisions with an injected clock: exact UTC instants across DST, catch-up, rotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.schedule import (
    Due,
    OneOff,
    ScheduleError,
    WeeklyRule,
    describe,
    due,
    format_discord_timestamp,
    local_to_utc,
    next_occurrence,
    next_topic,
    occurrence_key,
    occurrences_between,
    pick_style,
    upcoming_topics,
    wall_time_exists,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


# ---- weekly rules across DST: exact instants ----


@pytest.mark.parametrize(
    ("rule", "start", "end", "expected"),
    [
        pytest.param(
            WeeklyRule(SUN, time(1, 30), "Europe/London"),
            utc(2024, 3, 20),
            utc(2024, 4, 10),
            # 01:30 does not exist on 2024-03-31: fires at 02:30 BST, i.e. 01:30 UTC.
            [utc(2024, 3, 24, 1, 30), utc(2024, 3, 31, 1, 30), utc(2024, 4, 7, 0, 30)],
            id="london-2024-spring-gap",
        ),
        pytest.param(
            WeeklyRule(SUN, time(1, 30), "Europe/London"),
            utc(2024, 10, 15),
            utc(2024, 11, 5),
            # 01:30 happens twice on 2024-10-27: fires once, at the BST one.
            [utc(2024, 10, 20, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 11, 3, 1, 30)],
            id="london-2024-autumn-repeat",
        ),
        pytest.param(
            WeeklyRule(SUN, time(1, 30), "Europe/London"),
            utc(2025, 3, 25),
            utc(2025, 4, 3),
            [utc(2025, 3, 30, 1, 30)],
            id="london-2025-spring-gap",
        ),
        pytest.param(
            WeeklyRule(SUN, time(1, 30), "Europe/London"),
            utc(2025, 10, 20),
            utc(2025, 11, 3),
            [utc(2025, 10, 26, 0, 30), utc(2025, 11, 2, 1, 30)],
            id="london-2025-autumn-repeat",
        ),
        pytest.param(
            WeeklyRule(SUN, time(2, 30), "America/New_York"),
            utc(2024, 3, 1),
            utc(2024, 3, 20),
            # 02:30 does not exist on 2024-03-10: fires at 03:30 EDT = 07:30 UTC.
            [utc(2024, 3, 3, 7, 30), utc(2024, 3, 10, 7, 30), utc(2024, 3, 17, 6, 30)],
            id="new-york-2024-spring-gap",
        ),
        pytest.param(
            WeeklyRule(SUN, time(1, 30), "America/New_York"),
            utc(2024, 10, 30),
            utc(2024, 11, 12),
            # 01:30 EDT (05:30 UTC), not 01:30 EST (06:30 UTC).
            [utc(2024, 11, 3, 5, 30), utc(2024, 11, 10, 6, 30)],
            id="new-york-2024-autumn-repeat",
        ),
        pytest.param(
            WeeklyRule(SUN, time(2, 30), "America/New_York"),
            utc(2025, 3, 5),
            utc(2025, 3, 12),
            [utc(2025, 3, 9, 7, 30)],
            id="new-york-2025-spring-gap",
        ),
        pytest.param(
            WeeklyRule(SUN, time(1, 30), "America/New_York"),
            utc(2025, 10, 30),
            utc(2025, 11, 12),
            [utc(2025, 11, 2, 5, 30), utc(2025, 11, 9, 6, 30)],
            id="new-york-2025-autumn-repeat",
        ),
        pytest.param(
            WeeklyRule(FRI, time(18, 0), "Asia/Kolkata"),
            utc(2024, 3, 1),
            utc(2024, 3, 16),
            [utc(2024, 3, 1, 12, 30), utc(2024, 3, 8, 12, 30), utc(2024, 3, 15, 12, 30)],
            id="kolkata-half-hour-offset",
        ),
        pytest.param(
            WeeklyRule(SUN, time(2, 30), "Australia/Sydney"),
            utc(2024, 4, 1),
            utc(2024, 4, 14),
            # Southern autumn: 02:30 repeats on 2024-04-07; the first is AEDT (+11).
            [utc(2024, 4, 6, 15, 30), utc(2024, 4, 13, 16, 30)],
            id="sydney-2024-april-repeat",
        ),
        pytest.param(
            WeeklyRule(SUN, time(2, 30), "Australia/Sydney"),
            utc(2024, 9, 28),
            utc(2024, 10, 13),
            # Southern spring: 02:30 does not exist on 2024-10-06; fires at 03:30 AEDT.
            [utc(2024, 9, 28, 16, 30), utc(2024, 10, 5, 16, 30), utc(2024, 10, 12, 15, 30)],
            id="sydney-2024-october-gap",
        ),
    ],
)
def test_weekly_occurrences_are_exact_across_dst(
    rule: WeeklyRule, start: datetime, end: datetime, expected: list[datetime]
) -> None:
    assert occurrences_between(rule, start, end) == expected


def test_gap_occurrence_shows_the_shifted_wall_time() -> None:
    london = ZoneInfo("Europe/London")
    fired = next_occurrence(WeeklyRule(SUN, time(1, 30), "Europe/London"), utc(2024, 3, 30))
    assert fired is not None
    assert fired.astimezone(london).strftime("%Y-%m-%d %H:%M %Z") == "2024-03-31 02:30 BST"
    assert not wall_time_exists(date(2024, 3, 31), time(1, 30), london)
    assert wall_time_exists(date(2024, 3, 31), time(2, 30), london)


ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]


@pytest.mark.parametrize("tz", ZONES)
def test_exactly_one_occurrence_per_local_week_for_every_half_hour(tz: str) -> None:
    # Every wall time of the day, over two years holding four DST changes in each DST zone.
    zone = ZoneInfo(tz)
    for half_hours in range(48):
        rule = WeeklyRule(SUN, time(half_hours // 2, 30 * (half_hours % 2)), tz)
        # 104 local weeks: Monday 2024-01-01 to Monday 2025-12-29, local midnights.
        start = datetime(2024, 1, 1, tzinfo=zone) - timedelta(microseconds=1)
        end = datetime(2025, 12, 29, tzinfo=zone) - timedelta(microseconds=1)
        found = occurrences_between(rule, start, end)
        weeks = [d.astimezone(zone).isocalendar()[:2] for d in found]
        assert len(weeks) == len(set(weeks)) == 104, rule
        gaps = {b - a for a, b in zip(found, found[1:], strict=False)}
        assert gaps <= {timedelta(days=7), timedelta(days=7, hours=1), timedelta(days=6, hours=23)}


def test_next_occurrence_is_strictly_after() -> None:
    rule = WeeklyRule(FRI, time(18, 0), "Europe/London")
    first = utc(2024, 6, 7, 17, 0)  # 18:00 BST
    assert next_occurrence(rule, first - timedelta(microseconds=1)) == first
    assert next_occurrence(rule, first) == first + timedelta(days=7)
    # `after` in another zone means the same instant.
    assert next_occurrence(rule, first.astimezone(ZoneInfo("Asia/Tokyo"))) == utc(2024, 6, 14, 17)


def test_a_weekly_rule_with_a_start_never_fires_before_it() -> None:
    # Asked on Fri 2027-11-19 for "2027-12-04 18:00", weekly: not Sat 20 or 27 November.
    start = utc(2027, 12, 4, 18)
    rule = WeeklyRule(SAT, time(18), "Europe/London", starts=start)
    assert next_occurrence(rule, utc(2027, 11, 19, 12)) == start
    assert next_occurrence(rule, start - timedelta(microseconds=1)) == start
    assert next_occurrence(rule, start) == utc(2027, 12, 11, 18)
    assert occurrences_between(rule, utc(2027, 11, 19), utc(2027, 12, 12)) == [
        start,
        utc(2027, 12, 11, 18),
    ]
    quiet = due(rule, utc(2027, 11, 27, 17), utc(2027, 11, 19), utc(2027, 11, 27, 19), HOUR)
    assert quiet == Due(post=(), skipped=(), next_run=start)
    # The start may be given in any zone: it is the same instant.
    assert rule == WeeklyRule(
        SAT, time(18), "Europe/London", starts=start.astimezone(ZoneInfo("Asia/Tokyo"))
    )


def test_one_off_fires_once() -> None:
    rule = OneOff(datetime(2024, 6, 7, 19, 0, tzinfo=ZoneInfo("Europe/Paris")))
    assert rule.at_utc == utc(2024, 6, 7, 17, 0)
    assert rule == OneOff(utc(2024, 6, 7, 17, 0))
    assert next_occurrence(rule, utc(2024, 6, 1)) == utc(2024, 6, 7, 17)
    assert next_occurrence(rule, utc(2024, 6, 7, 17)) is None
    assert occurrences_between(rule, utc(2024, 6, 1), utc(2024, 6, 7, 17)) == [utc(2024, 6, 7, 17)]
    assert occurrences_between(rule, utc(2024, 6, 7, 17), utc(2024, 7, 1)) == []


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: WeeklyRule(7, time(18), "UTC"), "weekday must be 0-6"),
        (lambda: WeeklyRule(True, time(18), "UTC"), "weekday must be an int"),
        (lambda: WeeklyRule(FRI, "18:00", "UTC"), "at must be a datetime.time"),  # type: ignore[arg-type]
        (lambda: WeeklyRule(FRI, time(18, tzinfo=UTC), "UTC"), "without tzinfo"),
        (lambda: WeeklyRule(FRI, time(18), "Europe/Lodnon"), "unknown time zone 'Europe/Lodnon'"),
        (lambda: WeeklyRule(FRI, time(18), "../../etc/passwd"), "unknown time zone"),
        (lambda: WeeklyRule(FRI, time(18), "Europe"), "unknown time zone"),
        (lambda: WeeklyRule(FRI, time(18), "x" * 5000), "xxx…"),
        (lambda: OneOff(datetime(2024, 1, 1)), "OneOff.at_utc must be timezone-aware"),
        (
            lambda: WeeklyRule(FRI, time(18), "UTC", starts=datetime(2024, 1, 1)),
            "WeeklyRule.starts must be timezone-aware",
        ),
        (lambda: next_occurrence(OneOff(utc(2024, 1, 1)), datetime(2024, 1, 1)), "after must be"),
        (lambda: occurrence_key("weekly:x", 1, utc(2024, 1, 1)), "kind must be"),
        (lambda: occurrence_key("weekly", "", utc(2024, 1, 1)), "schedule_id must be"),
        (lambda: occurrence_key("weekly", 1, datetime(2024, 1, 1)), "when_utc must be"),
        (lambda: format_discord_timestamp(utc(2024, 1, 1), "X"), "unknown timestamp style 'X'"),
        (lambda: format_discord_timestamp(datetime(2024, 1, 1)), "dt must be timezone-aware"),
        (lambda: pick_style([], 3), "no prompt styles"),
        (lambda: next_topic([], ["a"]), "no topics"),
    ],
)
def test_bad_arguments_raise_clear_errors(make: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        make()
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 400


def test_describe() -> None:
    assert describe(WeeklyRule(FRI, time(18), "Europe/London")) == (
        "every Friday at 18:00 (Europe/London)"
    )
    assert describe(OneOff(utc(2024, 6, 7, 17))) == "once at 2024-06-07 17:00 UTC"
    later = WeeklyRule(SAT, time(1), "America/New_York", starts=utc(2027, 12, 4, 6))
    assert describe(later) == "every Saturday at 01:00 (America/New_York) from Sat 2027-12-04"


# ---- occurrence keys ----


def test_occurrence_key_is_stable_and_zone_independent() -> None:
    when = utc(2024, 3, 31, 0, 30)
    assert occurrence_key("weekly", 42, when) == "weekly:42:2024-03-31T00:30Z"
    same_instant = when.astimezone(ZoneInfo("America/New_York"))
    assert occurrence_key("weekly", "42", same_instant) == "weekly:42:2024-03-31T00:30Z"
    assert occurrence_key("thread", 7, utc(2024, 3, 31, 0, 30, 15)) == (
        "thread:7:2024-03-31T00:30:15Z"
    )


# ---- catch-up after downtime ----

FRIDAY_6PM = WeeklyRule(FRI, time(18, 0), "UTC")
CREATED = utc(2024, 1, 1)
HOUR = timedelta(hours=1)


def test_on_time_tick_posts_the_occurrence() -> None:
    occ = utc(2024, 6, 7, 18)
    decision = due(FRIDAY_6PM, occ - timedelta(minutes=1), CREATED, occ, HOUR)
    assert decision == Due(post=(occ,), skipped=(), next_run=occ + timedelta(days=7))


def test_missed_within_grace_is_posted_late_once() -> None:
    occ = utc(2024, 6, 7, 18)
    now = occ + timedelta(minutes=45)
    decision = due(FRIDAY_6PM, utc(2024, 6, 7, 9), CREATED, now, HOUR)
    assert decision.post == (occ,)
    assert decision.skipped == ()
    # The next tick starts from this one: nothing is due twice.
    assert due(FRIDAY_6PM, now, CREATED, now + timedelta(minutes=1), HOUR).post == ()


def test_grace_boundary_is_inclusive() -> None:
    occ = utc(2024, 6, 7, 18)
    assert due(FRIDAY_6PM, occ - HOUR, CREATED, occ + HOUR, HOUR).post == (occ,)
    late = occ + HOUR + timedelta(seconds=1)
    assert due(FRIDAY_6PM, occ - HOUR, CREATED, late, HOUR) == Due(
        post=(), skipped=(occ,), next_run=occ + timedelta(days=7)
    )


def test_missed_twice_within_grace_posts_only_the_latest() -> None:
    last_run = utc(2024, 6, 1)
    now = utc(2024, 6, 14, 19)
    decision = due(FRIDAY_6PM, last_run, CREATED, now, timedelta(days=10))
    assert decision.post == (utc(2024, 6, 14, 18),)
    assert decision.skipped == (utc(2024, 6, 7, 18),)


def test_long_downtime_skips_everything_outside_grace() -> None:
    decision = due(FRIDAY_6PM, utc(2024, 5, 1), CREATED, utc(2024, 5, 26), HOUR)
    assert decision.post == ()
    assert decision.skipped == tuple(utc(2024, 5, d, 18) for d in (3, 10, 17, 24))


def test_occurrences_before_creation_never_fire() -> None:
    created = utc(2024, 6, 7, 18, 30)  # just after Friday's occurrence
    decision = due(FRIDAY_6PM, None, created, utc(2024, 6, 7, 18, 40), timedelta(days=1))
    assert decision == Due(post=(), skipped=(), next_run=utc(2024, 6, 14, 18))
    # An old last run does not reach back past creation either.
    old = due(FRIDAY_6PM, utc(2024, 1, 2), created, utc(2024, 6, 7, 18, 40), timedelta(days=30))
    assert old.post == old.skipped == ()


def test_one_off_catch_up_and_clock_behind() -> None:
    rule = OneOff(utc(2024, 6, 7, 18))
    assert due(rule, None, CREATED, utc(2024, 6, 7, 18, 5), HOUR) == Due(
        post=(utc(2024, 6, 7, 18),), skipped=(), next_run=None
    )
    # A clock that went backwards since the last run decides nothing.
    behind = due(rule, utc(2024, 6, 8), CREATED, utc(2024, 6, 7, 23), HOUR)
    assert behind == Due(post=(), skipped=(), next_run=None)


def test_negative_grace_is_refused() -> None:
    with pytest.raises(ScheduleError, match="grace must not be negative"):
        due(FRIDAY_6PM, None, CREATED, utc(2024, 6, 7), -HOUR)


# ---- topic rotation ----

TOPICS = ["evals", "agents", "rag", "mlops"]


def test_rotation_follows_the_list_then_restarts() -> None:
    assert upcoming_topics(TOPICS, [], 9) == [*TOPICS, *TOPICS, "evals"]


def test_no_repeat_until_all_had_a_turn() -> None:
    assert next_topic(TOPICS, ["evals", "agents", "rag"]) == "mlops"
    assert next_topic(TOPICS, ["mlops", "rag", "evals"]) == "agents"
    planned = upcoming_topics(TOPICS, ["rag"], 3)
    assert sorted(["rag", *planned]) == sorted(TOPICS)


def test_same_history_gives_same_answer_after_restart() -> None:
    history = ["rag", "evals", "mlops", "agents", "rag"]
    answers = {next_topic(list(TOPICS), list(history)) for _ in range(3)}
    assert answers == {"evals"}


def test_favoured_topics_go_first_within_a_cycle() -> None:
    assert next_topic(TOPICS, [], favoured=["rag"]) == "rag"
    assert upcoming_topics(TOPICS, [], 4, favoured=["mlops", "rag"]) == [
        "mlops",
        "rag",
        "evals",
        "agents",
    ]
    # Already had its turn this cycle: it waits, then leads the next cycle.
    assert upcoming_topics(TOPICS, ["rag"], 4, favoured=["rag"]) == [
        "evals",
        "agents",
        "mlops",
        "rag",
    ]
    # Favoured names that are not topics are ignored.
    assert next_topic(TOPICS, [], favoured=["llm-ops"]) == "evals"


def test_topic_added_mid_cycle_gets_its_turn_in_that_cycle() -> None:
    history = ["evals", "agents"]
    assert upcoming_topics([*TOPICS, "privacy"], history, 3) == ["rag", "mlops", "privacy"]


def test_topic_removed_drops_out() -> None:
    history = ["evals", "agents", "rag", "mlops", "evals"]
    assert upcoming_topics(["evals", "rag", "mlops"], history, 3) == ["rag", "mlops", "evals"]
    # Only removed topics in the history: a fresh cycle.
    assert next_topic(["rag", "mlops"], ["evals", "agents"]) == "rag"


def test_a_repeat_in_history_starts_a_new_cycle() -> None:
    # "evals" came up again, so the list was shorter then: a new cycle began there.
    history = ["evals", "agents", "rag", "evals"]
    assert next_topic([*TOPICS, "privacy"], history) == "agents"


def test_duplicate_topics_count_once() -> None:
    assert upcoming_topics(["a", "b", "a"], [], 4) == ["a", "b", "a", "b"]


@pytest.mark.parametrize("topics", [1, 3, 5, 7, 12, 13])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_every_topic_meets_every_style_though_both_rotate(topics: int, count: int) -> None:
    styles = [f"s{i}" for i in range(count)]
    seen: dict[int, set[str]] = {}
    for week in range(topics * count):  # topics rotate one a week, as next_topic does
        seen.setdefault(week % topics, set()).add(pick_style(styles, week, topics=topics))
    assert all(got == set(styles) for got in seen.values())


def test_pick_style_alternates() -> None:
    styles = ["question", "quote", "poll"]
    assert [pick_style(styles, n) for n in range(7)] == [*styles, *styles, "question"]


# ---- Discord timestamps ----


def test_format_discord_timestamp() -> None:
    moment = datetime.fromtimestamp(1_700_000_000, UTC)
    assert format_discord_timestamp(moment) == "<t:1700000000:F>"
    assert format_discord_timestamp(moment, "R") == "<t:1700000000:R>"
    tokyo = moment.astimezone(ZoneInfo("Asia/Tokyo")) + timedelta(microseconds=999_999)
    assert format_discord_timestamp(tokyo, "t") == "<t:1700000000:t>"


# ---- properties ----

ALL_ZONES = sorted(
    ["UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
    + ["Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago", "Asia/Kathmandu"]
    + ["Africa/Casablanca", "America/St_Johns", "Pacific/Apia", "Europe/Dublin"]
)


@settings(max_examples=200, deadline=None)
@given(
    weekday=st.integers(0, 6),
    at=st.times(),
    tz=st.sampled_from(ALL_ZONES),
    after=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_next_occurrence_properties(weekday: int, at: time, tz: str, after: datetime) -> None:
    rule = WeeklyRule(weekday, at, tz)
    fired = next_occurrence(rule, after)
    assert fired is not None
    assert after < fired <= after + timedelta(days=8)
    local = fired.astimezone(ZoneInfo(tz))
    wall = datetime.combine(local.date(), at)
    if local.replace(tzinfo=None) == wall:
        assert local.weekday() == weekday
    else:
        # DST gap: the rule's wall time never showed that day; fired later the same
        # instant-wise as "the clock not changed yet" (at most a day later for Apia 2011).
        day = local.date()
        candidates = [day, day - timedelta(days=1)]
        gap_day = next(d for d in candidates if not wall_time_exists(d, at, ZoneInfo(tz)))
        assert gap_day.weekday() == weekday
        assert local_to_utc(gap_day, at, ZoneInfo(tz)) == fired
        assert local.replace(tzinfo=None) > datetime.combine(gap_day, at)
    assert occurrences_between(rule, after, fired) == [fired]


# (zone, day the clocks spring forward, first missing wall time, minutes skipped)
SPRING_GAPS = [
    ("Europe/London", date(2024, 3, 31), time(1, 0), 60),
    ("Europe/London", date(2025, 3, 30), time(1, 0), 60),
    ("America/New_York", date(2024, 3, 10), time(2, 0), 60),
    ("America/New_York", date(2025, 3, 9), time(2, 0), 60),
    ("Australia/Sydney", date(2024, 10, 6), time(2, 0), 60),
    ("Australia/Lord_Howe", date(2024, 10, 6), time(2, 0), 30),
]


@settings(max_examples=100, deadline=None)
@given(
    gap=st.sampled_from(SPRING_GAPS),
    into=st.integers(0, 10**6 - 1),
    days_before=st.integers(0, 6),
)
def test_wall_time_in_a_gap_fires_shifted_forward_by_the_gap(
    gap: tuple[str, date, time, int], into: int, days_before: int
) -> None:
    tz, day, gap_start, minutes = gap
    zone = ZoneInfo(tz)
    start = datetime.combine(day, gap_start)
    wall = start + timedelta(minutes=minutes) * into / 10**6  # anywhere inside the gap
    rule = WeeklyRule(day.weekday(), wall.time(), tz)
    after = datetime.combine(day - timedelta(days=days_before), time(0), tzinfo=zone)
    fired = next_occurrence(rule, after)
    assert fired is not None
    shown = fired.astimezone(zone).replace(tzinfo=None)
    assert shown - wall == timedelta(minutes=minutes)

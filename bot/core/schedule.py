"""Pure schedule decisions: when a rule fires, what is due after downtime, which topic is next.

No I/O and no clock: every function takes the instants it needs. Every datetime crossing this
API is timezone-aware; results are in UTC.

Rules
-----
- `WeeklyRule(weekday, at, tz, starts=None)`: every week on `weekday` (0 = Monday) at
  wall-clock time `at` in the IANA zone `tz`; with `starts`, no occurrence before that instant
  (a weekly schedule asked for from a date weeks ahead first fires on that date).
- `OneOff(at_utc)`: once, at an instant.

Daylight-saving policy (exactly one occurrence per local calendar week, always)
---------------------------------------------------------------------------------
- A wall time that does not exist (clocks spring forward over it) fires shifted forward by the
  length of the gap, as if the clock had not been changed yet: 01:30 on 2024-03-31 in
  Europe/London fires at 02:30 BST (01:30 UTC); 02:30 on 2024-03-10 in America/New_York fires
  at 03:30 EDT (07:30 UTC).
- A wall time that happens twice (clocks fall back) fires once, at the first (earlier) instant:
  01:30 on 2024-11-03 in America/New_York fires at 01:30 EDT (05:30 UTC), not at 01:30 EST.
Both are what `datetime(..., fold=0)` means (PEP 495), so `local_to_utc` is the one place
that applies the policy.

Catch-up after downtime (`due`)
-------------------------------
Occurrences missed while the bot was down are looked at in (last run, now]. Only the NEWEST
one is posted, and only if it is at most `grace` old; every other occurrence is skipped. A
weekly prompt missed twice within the grace window therefore posts once, the latest: two
prompts back to back would be noise, and the newer one supersedes the older.

Topic rotation (`next_topic`)
-----------------------------
Topics take turns in cycles: no topic repeats until every current topic has had a turn. The
cycle is rebuilt from the history each time (pure, so a restart gives the same answer).
Within a cycle, favoured topics (e.g. the newest episode's) go first, then the list order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.text import quote

log = logging.getLogger(__name__)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DISCORD_TIMESTAMP_STYLES = "tTdDfFR"


class ScheduleError(ValueError):
    """A rule or an argument that cannot be scheduled; the message says how to fix it."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` exactly as spelled; ScheduleError if it is unknown or missing."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # ValueError: malformed keys ("../x", NUL); OSError: directories, over-long names.
        raise ScheduleError(
            f"unknown time zone {quote(name)}: use an IANA name such as 'Europe/London', "
            "'America/New_York' or 'UTC' (if the name is right, the system time zone "
            "database is missing: install the 'tzdata' package)"
        ) from exc


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters for quoting in an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def require_aware(dt: datetime, what: str) -> datetime:
    """`dt` converted to UTC; ScheduleError if it has no time zone."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ScheduleError(f"{what} must be timezone-aware (got naive {dt.isoformat()})")
    return dt.astimezone(UTC)


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `tz`, by the module's DST policy."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).replace(fold=0).astimezone(UTC)


def wall_time_exists(day: date, at: time, tz: ZoneInfo) -> bool:
    """False when clocks spring forward over `at` on `day` (the wall time never shows)."""
    naive = datetime.combine(day, at.replace(tzinfo=None))
    back = local_to_utc(day, at, tz).astimezone(tz).replace(tzinfo=None)
    return back == naive


@dataclass(frozen=True)
class WeeklyRule:
    weekday: int  # 0 = Monday ... 6 = Sunday
    at: time  # wall-clock time, naive
    tz: str  # IANA zone name, e.g. "Europe/London"
    starts: datetime | None = None  # occurrences before this instant never happen

    def __post_init__(self) -> None:
        if isinstance(self.weekday, bool) or not isinstance(self.weekday, int):
            raise ScheduleError(f"weekday must be an int 0-6 (0 = Monday), got {self.weekday!r}")
        if not 0 <= self.weekday <= 6:
            raise ScheduleError(f"weekday must be 0-6 (0 = Monday), got {self.weekday}")
        if not isinstance(self.at, time):
            raise ScheduleError(f"at must be a datetime.time, got {self.at!r}")
        if self.at.tzinfo is not None:
            raise ScheduleError("at must be a wall-clock time without tzinfo; the zone is tz")
        zone(self.tz)
        if self.starts is not None:
            object.__setattr__(self, "starts", require_aware(self.starts, "WeeklyRule.starts"))


@dataclass(frozen=True)
class OneOff:
    at_utc: datetime

    def __post_init__(self) -> None:
        # Normalise to UTC so equal instants give equal rules and equal occurrence keys.
        object.__setattr__(self, "at_utc", require_aware(self.at_utc, "OneOff.at_utc"))


Recurrence = WeeklyRule | OneOff


def describe(rule: Recurrence) -> str:
    """Human text for confirmations: 'every Friday at 18:00 (Europe/London)'."""
    if isinstance(rule, OneOff):
        return f"once at {rule.at_utc:%Y-%m-%d %H:%M} UTC"
    at = rule.at.strftime("%H:%M:%S" if rule.at.second else "%H:%M")
    text = f"every {WEEKDAY_NAMES[rule.weekday]} at {at} ({rule.tz})"
    if rule.starts is not None:
        text += f" from {rule.starts.astimezone(zone(rule.tz)):%a %Y-%m-%d}"
    return text


def next_occurrence(rule: Recurrence, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, in UTC; None when there is none."""
    after_utc = require_aware(after, "after")
    if isinstance(rule, OneOff):
        return rule.at_utc if rule.at_utc > after_utc else None
    if rule.starts is not None and after_utc < rule.starts:
        # Strictly after one microsecond earlier (datetime's step) is at or after `starts`.
        after_utc = rule.starts - timedelta(microseconds=1)
    tz = zone(rule.tz)
    today = after_utc.astimezone(tz).date()
    # Local offsets are under a day, so the answer's local date is within [today-1, today+7];
    # the DST policy is monotonic in the date, so the first candidate past `after` is it.
    start = today - timedelta(days=1)
    first = start + timedelta(days=(rule.weekday - start.weekday()) % 7)
    for weeks in range(3):
        when = local_to_utc(first + timedelta(weeks=weeks), rule.at, tz)
        if when > after_utc:
            return when
    raise AssertionError("unreachable: a weekly rule fires within 8 days")  # pragma: no cover


def occurrences_between(rule: Recurrence, start: datetime, end: datetime) -> list[datetime]:
    """All occurrences in the half-open window (start, end], oldest first, in UTC."""
    end_utc = require_aware(end, "end")
    found: list[datetime] = []
    cursor = next_occurrence(rule, start)
    while cursor is not None and cursor <= end_utc:
        found.append(cursor)
        cursor = next_occurrence(rule, cursor)
    return found


def occurrence_key(kind: str, schedule_id: str | int, when_utc: datetime) -> str:
    """A stable outbox key such as 'weekly:42:2024-03-31T00:30Z'.

    Minute precision (seconds only when non-zero) keeps keys readable; the same instant
    always gives the same key, whatever zone `when_utc` was expressed in.
    """
    if not kind or ":" in kind:
        raise ScheduleError(f"kind must be a non-empty word without ':', got {kind!r}")
    sid = str(schedule_id)
    if not sid or ":" in sid:
        raise ScheduleError(f"schedule_id must be non-empty and without ':', got {sid!r}")
    when = require_aware(when_utc, "when_utc")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S" if when.second else "%Y-%m-%dT%H:%M")
    return f"{kind}:{sid}:{stamp}Z"


@dataclass(frozen=True)
class Due:
    """What a tick should do for one schedule.

    post: at most one occurrence (the newest within grace) to post now, late if need be.
    skipped: occurrences not to post: older than grace, or superseded by a newer one.
    next_run: the first occurrence after `now`, for sleeping until then (None: never again).
    """

    post: tuple[datetime, ...]
    skipped: tuple[datetime, ...]
    next_run: datetime | None


def due(
    rule: Recurrence,
    last_run_utc: datetime | None,
    created_utc: datetime,
    now: datetime,
    grace: timedelta,
) -> Due:
    """Decide what is due in (last run or creation, now]; see the module docstring.

    `last_run_utc` is the `now` of the last tick that handled this schedule (None if never);
    occurrences before the rule was created never fire, even if `last_run_utc` is older.
    """
    if grace < timedelta(0):
        raise ScheduleError(f"grace must not be negative, got {grace}")
    now_utc = require_aware(now, "now")
    start = require_aware(created_utc, "created_utc")
    if last_run_utc is not None:
        start = max(start, require_aware(last_run_utc, "last_run_utc"))
    missed = occurrences_between(rule, start, now_utc) if start < now_utc else []
    post: tuple[datetime, ...] = ()
    skipped = tuple(missed)
    if missed and now_utc - missed[-1] <= grace:
        post, skipped = (missed[-1],), tuple(missed[:-1])
    return Due(post=post, skipped=skipped, next_run=next_occurrence(rule, now_utc))


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def next_topic(topics: Sequence[str], history: Sequence[str], favoured: Sequence[str] = ()) -> str:
    """The next topic to discuss; deterministic for the same arguments.

    `topics` is the current list (its order is the default turn order); `history` the topics
    already used, most recent last. History is replayed against the current list: names no
    longer in it are ignored; a cycle ends when every current topic has had a turn, or
    earlier, where a topic comes up again (the list was shorter then). A topic added
    mid-cycle gets its turn in that cycle; a removed one simply drops out.
    """
    current = _unique(topics)
    if not current:
        raise ScheduleError("no topics to rotate through: add topics to topics.yaml")
    known = set(current)
    used: set[str] = set()
    for name in history:
        if name not in known:
            continue
        if name in used:
            used = set()
        used.add(name)
        if used == known:
            used = set()
    waiting = [t for t in current if t not in used]
    for name in favoured:
        if name in waiting:
            return name
    return waiting[0]


def upcoming_topics(
    topics: Sequence[str], history: Sequence[str], n: int, favoured: Sequence[str] = ()
) -> list[str]:
    """The next `n` topics in order, as `next_topic` would give them; for previews."""
    planned = list(history)
    for _ in range(n):
        planned.append(next_topic(topics, planned, favoured))
    return planned[len(history) :]


def pick_style(styles: Sequence[str], n: int, topics: int = 0) -> str:
    """Style number `n` (e.g. the count of prompts posted so far), cycling through `styles`.
    Topics rotate too, one a week: with 12 topics and 4 styles in step, each topic would
    always get the same style. So the topic's place in its round plus the round's number
    picks it: each topic moves on by one style every round, whatever the two counts."""
    if not styles:
        raise ScheduleError("no prompt styles to pick from: add a template under prompts/")
    if topics <= 0:
        return styles[n % len(styles)]
    return styles[(n % topics + n // topics) % len(styles)]


def format_discord_timestamp(dt: datetime, style: str = "F") -> str:
    """Discord's markup that each reader sees in their own zone: '<t:1700000000:F>'.

    Styles: t/T short/long time, d/D short/long date, f/F date and time, R relative.
    """
    if len(style) != 1 or style not in DISCORD_TIMESTAMP_STYLES:
        raise ScheduleError(
            f"unknown timestamp style {style!r}: use one of {', '.join(DISCORD_TIMESTAMP_STYLES)}"
        )
    seconds = math.floor(require_aware(dt, "dt").timestamp())
    return f"<t:{seconds}:{style}>"

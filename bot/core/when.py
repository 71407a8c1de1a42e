"""Moderator time input → an aware UTC datetime, or a WhenError that says how to fix it.

`parse_when(text, now, tz)` reads what a moderator types into a command option. `now` is
passed in (never read from the clock); `tz` is the guild's IANA zone, used for every input
that has no explicit offset. Accepted forms:

- ISO: "2026-12-04 18:00", "2026-12-04T18:00:30"; an explicit offset or "Z" is honoured
  ("2026-12-04T18:00+01:00", "2026-12-04 17:00Z") and then `tz` is not used.
- A day and a time in either order, with optional "at"/"on": "friday 18:00", "fri 6pm",
  "friday at 6:30 pm", "tomorrow 09:00", "today 21:00", "2026-12-04 6pm", "6pm friday".
  Days: today, tonight (= today), tomorrow, weekday names or abbreviations (mon, tue,
  tues, ...), optionally after "next" or "this", which mean the same as the bare weekday.
- A time alone: "18:00", "6pm", "6:30pm", "noon", "midnight".
- A duration: "in 2 hours", "in 90 minutes", "in 3 days", "in 1h30m", "in an hour".

Decisions where intuition differs:
- A weekday, or a time without a day, means the NEXT time the clock shows it: today if that
  is still ahead, otherwise next week's weekday / tomorrow (like Unix `at 18:00`). With an
  explicit day ("today", "tomorrow", a date) a time already past is an error.
- "midnight" is 00:00 at the START of the named day ("friday midnight" = Thursday night's end).
- Durations are elapsed time from `now` truncated to the minute: "in 3 days" is 72 hours
  later even across a DST change.
- A local time that does not exist (clocks spring forward) is an error that suggests the
  shifted time. A local time that happens twice (clocks fall back) silently means the first
  one, as the schedule's DST policy does; the confirmation shows the instant anyway.
- A trailing IANA zone name ("friday 18:00 america/new_york", "... utc") overrides `tz`. A
  trailing word that looks like a zone (has a '/', is an abbreviation such as 'pst', or is
  close to a city: 'london', 'berln') gets the zone's own error, as in `validate_timezone`.
- Anything more than 366 days ahead is refused, and so is input over 100 characters.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from bot.core.schedule import ScheduleError, local_to_utc, require_aware, shorten, zone
from bot.core.text import quote

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 100
MAX_ZONE_CHARS = 64
MAX_AHEAD = timedelta(days=366)
EXAMPLES = "for example 'friday 18:00', 'tomorrow 9am', 'in 2 hours' or '2026-12-04 18:00'"
ZONE_EXAMPLES = "an IANA name such as 'Europe/London', 'America/New_York' or 'UTC'"

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1}
_TIME_WORDS = {"am", "pm", "noon", "midnight"}
_UNIT_MINUTES = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 1),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 60),
    **dict.fromkeys(("d", "day", "days"), 24 * 60),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * 24 * 60),
}
# Words the parser reads itself: never taken for a time zone at the end of a text.
_PARSER_WORDS = frozenset(
    ("at", "on", "in", "and", "an", "a", "next", "this", "yesterday", "ago", "last")
    + (*_TIME_WORDS, *_RELATIVE_DAYS, *_UNIT_MINUTES)
)

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_OTHER_DATE = re.compile(r"\d{1,4}/\d{1,2}(?:/\d{1,4})?|\d{1,2}\.\d{1,2}\.\d{2,4}", re.ASCII)
_ISO_WITH_OFFSET = re.compile(
    r"(\d{4}-\d{1,2}-\d{1,2}) (\d{1,2}:\d{2}(?::\d{2})?) ?(z|utc|[+-]\d{2}(?::?\d{2})?)",
    re.ASCII,
)
_CLOCK_24 = re.compile(r"(\d{1,2})[:.](\d{2})(?::(\d{2}))?", re.ASCII)
_CLOCK_12 = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?([ap])\.?m\.?", re.ASCII)
_ONE_DIGIT_MINUTES = re.compile(r"\d{1,2}[:.]\d(?:[ap]\.?m\.?)?", re.ASCII)
_DURATION_PART = re.compile(
    r"(?<![0-9])(\d+|(?<![a-z])an?) ?("
    + "|".join(sorted(_UNIT_MINUTES, key=len, reverse=True))
    + r")(?![a-z])"
)
_ISO_T = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", re.ASCII)


class WhenError(ValueError):
    """Input that is not a usable time; the message says what is wrong and gives an example."""


def _normalise(text: str) -> str:
    # NFKC folds full-width digits and letters to ASCII so the regexes (ASCII only) see them.
    folded = unicodedata.normalize("NFKC", text).lower()
    return " ".join(folded.split())


def _cap(text: str, what: str, limit: int, example: str) -> None:
    # Checked before any other work, so a pasted essay costs nothing.
    if len(text) > limit:
        raise WhenError(
            f"that {what} is too long ({len(text)} characters, at most {limit}): "
            f"write it briefly, {example}"
        )


# ---- time zones ----

# Names UTC goes by: a moderator who types one means UTC, kept under one name.
_UTC_ALIASES = frozenset(
    ("utc", "etc/utc", "uct", "etc/uct", "universal", "etc/universal", "zulu", "etc/zulu")
)
# GMT is UK winter time to most people, but these names stay on it all summer.
_GMT_NAMES = frozenset(
    ("gmt", "gmt0", "gmt+0", "gmt-0", "greenwich")
    + ("etc/gmt", "etc/gmt0", "etc/gmt+0", "etc/gmt-0", "etc/greenwich")
)
_PACIFIC = (("America/Los_Angeles", ""),)
_MOUNTAIN = (("America/Denver", ""), ("America/Phoenix", "Arizona, no daylight saving"))
_CENTRAL = (("America/Chicago", ""), ("Asia/Shanghai", "China Standard Time"))
_EASTERN = (("America/New_York", ""),)
_CENTRAL_EUROPE = (("Europe/Paris", ""), ("Europe/Berlin", ""))
# Abbreviations name one side of a clock change (and places share them), not a place's rules:
# refused, with the place zones people most likely mean (zone, what it is if ambiguous).
_ABBREVIATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    **dict.fromkeys(("pst", "pdt", "pt"), _PACIFIC),
    **dict.fromkeys(("mst", "mdt", "mt"), _MOUNTAIN),
    **dict.fromkeys(("cst", "cdt", "ct"), _CENTRAL),
    **dict.fromkeys(("est", "edt", "et"), _EASTERN),
    **dict.fromkeys(("akst", "akdt"), (("America/Anchorage", ""),)),
    **dict.fromkeys(("hst", "hdt"), (("Pacific/Honolulu", ""),)),
    **dict.fromkeys(("ast", "adt"), (("America/Halifax", ""),)),
    **dict.fromkeys(("nst", "ndt"), (("America/St_Johns", ""),)),
    "bst": (("Europe/London", ""),),
    **dict.fromkeys(("wet", "west"), (("Europe/Lisbon", ""),)),
    **dict.fromkeys(("cet", "cest", "met", "mest"), _CENTRAL_EUROPE),
    **dict.fromkeys(("eet", "eest"), (("Europe/Athens", ""), ("Europe/Helsinki", ""))),
    "msk": (("Europe/Moscow", ""),),
    "ist": (
        ("Asia/Kolkata", "India"),
        ("Europe/Dublin", "Ireland"),
        ("Asia/Jerusalem", "Israel"),
    ),
    "pkt": (("Asia/Karachi", ""),),
    "ict": (("Asia/Bangkok", ""),),
    "wib": (("Asia/Jakarta", ""),),
    "sgt": (("Asia/Singapore", ""),),
    "hkt": (("Asia/Hong_Kong", ""),),
    "jst": (("Asia/Tokyo", ""),),
    "kst": (("Asia/Seoul", ""),),
    "awst": (("Australia/Perth", ""),),
    **dict.fromkeys(("acst", "acdt"), (("Australia/Adelaide", ""),)),
    **dict.fromkeys(
        ("aest", "aedt"),
        (("Australia/Sydney", ""), ("Australia/Brisbane", "Queensland, no daylight saving")),
    ),
    **dict.fromkeys(("nzst", "nzdt"), (("Pacific/Auckland", ""),)),
    "sast": (("Africa/Johannesburg", ""),),
    "wat": (("Africa/Lagos", ""),),
    "cat": (("Africa/Maputo", ""),),
    "eat": (("Africa/Nairobi", ""),),
    "brt": (("America/Sao_Paulo", ""),),
    "art": (("America/Argentina/Buenos_Aires", ""),),
}
_POSIX_RULE = re.compile(r"([a-z]{3,4})\d{1,2}(?:[a-z]{3,4})?", re.ASCII)  # "est5edt"
_ETC_OFFSET = re.compile(r"etc/gmt([+-])(\d{1,2})", re.ASCII)
_FIXED_OFFSET = re.compile(r"(?:utc|gmt)?[+-]\d{1,2}(?::?\d{2})?", re.ASCII)


@functools.lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Lower-cased name → canonical IANA name; read once, on first use (not at import)."""
    names = {name.lower(): name for name in zoneinfo.available_timezones()}
    names.setdefault("utc", "UTC")
    return names


@functools.lru_cache(maxsize=1)
def offered_zones() -> tuple[str, ...]:
    """The zone names a moderator may pick (UTC and the places), sorted: for autocomplete."""
    names = _zone_names().values()
    return tuple(
        sorted(
            n
            for n in names
            if n == "UTC" or (n.lower() not in _UTC_ALIASES and _refusal(n.lower(), n) is None)
        )
    )


def abbreviation_zones(word: str) -> tuple[str, ...]:
    """The place zones an abbreviation such as 'PST' most likely means; () if it is none."""
    return tuple(name for name, _ in _abbreviation(word.strip().lower()))


def validate_timezone(name: str) -> str:
    """The canonical IANA name of the zone a moderator typed (case-insensitive, spaces as '_'),
    or WhenError. Only places (and UTC) are accepted: an abbreviation, a fixed offset or an
    Etc/ zone would not follow the place's daylight saving time, so it is refused with the
    place zones meant."""
    wanted, key = _zone_key(name)
    if key in _UTC_ALIASES:
        return "UTC"
    refusal = _refusal(key, wanted)
    if refusal is not None:
        raise WhenError(refusal)
    return _lookup(wanted, key)


def known_timezone(name: str) -> str:
    """The canonical IANA name of any zone the database knows, or WhenError: for a zone already
    saved (an older version accepted 'EST'), which keeps working as it did."""
    wanted, key = _zone_key(name)
    return _lookup(wanted, key)


def _zone_key(name: str) -> tuple[str, str]:
    wanted = " ".join(name.split())
    if not wanted:
        raise WhenError(f"no time zone given: use {ZONE_EXAMPLES}")
    _cap(wanted, "time zone", MAX_ZONE_CHARS, f"use {ZONE_EXAMPLES}")
    return wanted, wanted.lower().replace(" ", "_")


def _lookup(wanted: str, key: str) -> str:
    names = _zone_names()
    canonical = names.get(key)
    if canonical is not None:
        try:
            zone(canonical)
        except ScheduleError as exc:
            raise WhenError(str(exc)) from exc
        return canonical
    raise WhenError(
        f"unknown time zone {quote(wanted)}{_zone_hint(key, names)}: use {ZONE_EXAMPLES}"
    )


def _abbreviation(key: str) -> tuple[tuple[str, str], ...]:
    if key in _ABBREVIATIONS:
        return _ABBREVIATIONS[key]
    m = _POSIX_RULE.fullmatch(key)
    return _ABBREVIATIONS.get(m[1], ()) if m else ()


def _refusal(key: str, shown: str) -> str | None:
    """Why the zone `key` (lower-cased) is not taken from a moderator, or None if it is."""
    shown = repr(shorten(shown))
    if key in _GMT_NAMES:
        return (
            f"{shown} stays on GMT all year (no summer time): use 'Europe/London' for UK time "
            "(GMT in winter, BST in summer), or 'UTC'"
        )
    places = _abbreviation(key)
    if places:
        named = [f"{name!r} ({what})" if what else repr(name) for name, what in places]
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]
        return (
            f"{shown} is an abbreviation, not a place: name the place whose clocks you mean, so "
            f"its daylight saving time is followed: {listed}"
        )
    if m := _ETC_OFFSET.fullmatch(key):
        # POSIX sign convention: Etc/GMT+5 is five hours BEHIND UTC.
        sign = "-" if m[1] == "+" else "+"
        return (
            f"{shown} is a fixed offset, UTC{sign}{int(m[2]):02}:00 all year (the sign in Etc/GMT "
            f"names is inverted), so it ignores daylight saving time: name a place, "
            f"{ZONE_EXAMPLES}"
        )
    if _FIXED_OFFSET.fullmatch(key):
        return (
            f"{shown} is not a place: a fixed offset does not follow daylight saving time, so "
            f"name a place, {ZONE_EXAMPLES}"
        )
    if key.startswith("etc/") or key in ("factory", "localtime"):
        return f"{shown} is not a place's time zone: use {ZONE_EXAMPLES}"
    return None


def _zone_hint(key: str, names: dict[str, str]) -> str:
    if not names or names.keys() == {"utc"}:
        return " (no time zone database on this system: install the 'tzdata' package)"
    offered = {name.lower(): name for name in offered_zones()}
    close = difflib.get_close_matches(key, offered.keys(), n=3, cutoff=0.6)
    # "london", "new york" or "berln" alone: suggest zones whose city part matches.
    cities = difflib.get_close_matches(key, _city_names(), n=3, cutoff=0.8)
    close += [
        lower for lower in offered if lower.rsplit("/", 1)[-1] in cities and lower not in close
    ]
    if not close:
        return ""
    shown = [repr(offered[c]) for c in close[:3]]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    return f" (did you mean {listed}?)"


# ---- days and times of day ----


def _weekday_or_none(word: str) -> int | None:
    if word in _DAY_ALIASES:
        return _DAY_ALIASES[word]
    if word.endswith("s") and word[:-1] in _DAY_NAMES:  # "fridays"
        return _DAY_NAMES.index(word[:-1])
    if len(word) < 2:
        return None
    matches = [i for i, day in enumerate(_DAY_NAMES) if day.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def _unknown_day(word: str, what: str = "unknown day") -> WhenError:
    close = difflib.get_close_matches(word, [*_DAY_NAMES, "today", "tomorrow"], n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return WhenError(
        f"{what} {quote(word)}{hint}: use a weekday ('friday' or 'fri'), 'today', "
        f"'tomorrow' or a date like 2026-12-04, {EXAMPLES}"
    )


def parse_weekday(text: str) -> int:
    """0 (Monday) to 6 (Sunday) from a name, an abbreviation ('fri', 'thurs') or a plural."""
    _cap(text, "day", MAX_INPUT_CHARS, "e.g. 'friday'")
    word = _normalise(text)
    if not word:
        raise WhenError("no day given: write a weekday such as 'friday' or 'fri'")
    found = _weekday_or_none(word)
    if found is None:
        raise _unknown_day(word)
    return found


def parse_time_of_day(text: str) -> time:
    """A wall-clock time from '18:00', '18.30', '18:00:30', '6pm', '6:30 pm', 'noon', 'midnight'."""
    _cap(text, "time", MAX_INPUT_CHARS, "e.g. 18:00 or 6pm")
    shown = _normalise(text)
    compact = shown.replace(" ", "")
    if not compact:
        raise WhenError("no time given: write a time such as 18:00, 6pm, noon or midnight")
    if compact == "noon":
        return time(12, 0)
    if compact == "midnight":
        return time(0, 0)
    if m := _CLOCK_24.fullmatch(compact):
        hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
        if hour == 24 and minute == 0 and second == 0:
            raise WhenError(
                "24:00 is not accepted: write 'midnight' or 00:00 (the start of a day), "
                "e.g. 'saturday 00:00'"
            )
        _check_clock(shown, hour, 23, minute, second)
        return time(hour, minute, second)
    if m := _CLOCK_12.fullmatch(compact):
        hour, minute = int(m[1]), int(m[2] or 0)
        if not 1 <= hour <= 12:
            raise WhenError(
                f"{shown!r} mixes the 12- and 24-hour clocks: with am/pm the hour is 1-12, "
                "e.g. '6pm' or 18:00"
            )
        _check_clock(shown, hour, 12, minute, 0)
        return time(hour % 12 + (12 if m[3] == "p" else 0), minute)
    if compact.isdigit() and compact.isascii():
        raise WhenError(
            f"{quote(shown)} is ambiguous as a time: write hours and minutes (18:00) or am/pm (6pm)"
        )
    if _ONE_DIGIT_MINUTES.fullmatch(compact):
        raise WhenError(f"write minutes with two digits in {shown!r}, e.g. 18:05 or 6:05pm")
    raise WhenError(
        f"could not read {quote(shown)} as a time of day: write 18:00, 6pm, 6:30pm, "
        "noon or midnight"
    )


def _check_clock(shown: str, hour: int, max_hour: int, minute: int, second: int) -> None:
    if hour > max_hour:
        raise WhenError(f"there is no hour {hour} in {shown!r}: hours go 0-23, e.g. 18:00")
    if minute > 59:
        raise WhenError(f"there is no minute {minute} in {shown!r}: minutes go 00-59, e.g. 18:30")
    if second > 59:
        raise WhenError(f"there is no second {second} in {shown!r}: seconds go 00-59")


def _parse_date(token: str) -> date:
    m = _ISO_DATE.fullmatch(token)
    if m is None:
        raise WhenError(f"could not read {quote(token)} as a date: write YYYY-MM-DD")
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if not 1 <= month <= 12:
        raise WhenError(f"{token!r} has no month {month}: write YYYY-MM-DD, e.g. 2026-12-04")
    if year == 0:  # four digits, and the calendar starts at year 1
        raise WhenError(f"there is no year 0 in {token!r}: write YYYY-MM-DD, e.g. 2026-12-04")
    try:
        return date(year, month, day)
    except ValueError:
        raise WhenError(
            f"{token!r} is not a date: that month has no day {day} (write YYYY-MM-DD)"
        ) from None


# ---- whole inputs ----


def _within_reach(day: date, now_utc: datetime) -> date:
    """`day`, or WhenError if it is years off (also keeps far dates from overflowing). Only a
    coarse guard: the exact limits are checked on the instant (parse_when). It allows the year
    after next, since from 31 December the next 366 days reach into its January."""
    if day.year < now_utc.year - 1:
        raise WhenError(f"that time has already passed: {day} is in the past; {EXAMPLES}")
    if day.year > now_utc.year + 2:
        raise WhenError(f"{day} is more than a year ahead: schedule within {MAX_AHEAD.days} days")
    return day


@dataclass(frozen=True)
class _Day:
    weekday: int | None = None  # the next such day (today if the time is still ahead)
    offset: int | None = None  # days from today, strict: a past time is an error
    exact: date | None = None  # a calendar date, strict


def _day_token(token: str) -> _Day | None:
    if token in _RELATIVE_DAYS:
        return _Day(offset=_RELATIVE_DAYS[token])
    if _ISO_DATE.fullmatch(token):
        return _Day(exact=_parse_date(token))
    if _OTHER_DATE.fullmatch(token):
        raise WhenError(
            f"{token!r} is ambiguous (day/month or month/day?): write dates as YYYY-MM-DD, "
            "e.g. '2026-12-04 18:00'"
        )
    if token.isalpha():
        weekday = _weekday_or_none(token)
        if weekday is not None:
            return _Day(weekday=weekday)
    return None


def parse_when(text: str, now: datetime, tz: str) -> datetime:
    """The instant `text` means, in UTC, strictly after `now` and at most 366 days ahead."""
    return parse_when_with_zone(text, now, tz)[0]


def parse_when_with_zone(text: str, now: datetime, tz: str) -> tuple[datetime, str]:
    """`parse_when`'s instant, and the zone it was read in: a zone at the end of `text`
    (canonical, validated as typed), else `tz`."""
    _cap(text, "time", MAX_INPUT_CHARS, EXAMPLES)
    zone_name = known_timezone(tz)  # the server's saved zone, not typed here: never refused
    now_utc = require_aware(now, "now")
    s = _ISO_T.sub(r"\1 ", _normalise(text).rstrip(".!?").strip())
    if not s:
        raise WhenError(f"no time given: write when, {EXAMPLES}")
    words = s.split(" ")
    count = _trailing_zone(words)
    if count:  # "friday 18:00 america/new_york" overrides `tz`; a misspelt zone is named so
        typed = unicodedata.normalize("NFKC", text).rstrip(".!?").split()[-count:]
        shown = " ".join(typed) if " ".join(typed).lower() == " ".join(words[-count:]) else ""
        zone_name = validate_timezone(shown or " ".join(words[-count:]))
        s = " ".join(words[:-count])
    tzinfo = zone(zone_name)
    if s == "in" or s.startswith("in "):
        result = _relative(s, now_utc)
    elif m := _ISO_WITH_OFFSET.fullmatch(s):
        result = _absolute_with_offset(m, s, now_utc)
    else:
        result = _day_and_time(s, now_utc, tzinfo, zone_name)
    if result <= now_utc:
        local = result.astimezone(tzinfo)
        raise WhenError(
            f"that time has already passed: {local:%a %Y-%m-%d %H:%M} in {zone_name} is not "
            f"after now ({now_utc.astimezone(tzinfo):%a %Y-%m-%d %H:%M}); give a future time, "
            f"e.g. 'tomorrow {local:%H:%M}'"
        )
    if result - now_utc > MAX_AHEAD:
        raise WhenError(
            f"{result.astimezone(tzinfo):%Y-%m-%d %H:%M} is more than a year ahead: schedule "
            f"within the next {MAX_AHEAD.days} days"
        )
    return result, zone_name


def _trailing_zone(words: list[str]) -> int:
    """How many of the last `words` (0, 1 or 2) look like a time zone, well typed or not."""
    if len(words) < 2:
        return 0
    if _zone_like(words[-1]):
        return 1
    if len(words) > 2 and f"{words[-2]}_{words[-1]}" in _city_names():  # "new york"
        return 2
    return 0


def _zone_like(word: str) -> bool:
    if word in _PARSER_WORDS or (word.isalpha() and _weekday_or_none(word) is not None):
        return False
    if word in _zone_names() or word in _UTC_ALIASES or word in _GMT_NAMES or _abbreviation(word):
        return True
    if "/" in word and re.search("[a-z]", word):  # "europe/londn"; "12/04" is a date
        return True
    if word.startswith(("utc", "gmt")) and _FIXED_OFFSET.fullmatch(word):  # "utc+2", "gmt-5"
        return True
    # A city alone or misspelt ("london", "berln"); short words match too much by chance.
    return (
        word.isalpha()
        and len(word) >= 4
        and bool(difflib.get_close_matches(word, _city_names(), n=1, cutoff=0.8))
    )


@functools.lru_cache(maxsize=1)
def _city_names() -> frozenset[str]:
    """The last part of each offered zone, lower-cased: 'london', 'new_york'."""
    return frozenset(name.lower().rsplit("/", 1)[-1] for name in offered_zones())


def _relative(s: str, now_utc: datetime) -> datetime:
    body = re.sub(r"\band\b|,", " ", s[2:]).strip()
    example = "e.g. 'in 90 minutes', 'in 2 hours', 'in 1h30m' or 'in 3 days'"
    if not body:
        raise WhenError(f"'in' needs an amount of time, {example}")
    if "-" in body:
        raise WhenError(f"give a positive amount of time, {example}")
    if re.search(r"\d[.,]\d", body):
        raise WhenError(f"use whole numbers, {example} (1.5 hours = 'in 1h30m')")
    if body.isdigit():
        raise WhenError(f"'in {body}' needs a unit (minutes, hours, days or weeks), {example}")
    parts = list(_DURATION_PART.finditer(body))
    if not parts or _DURATION_PART.sub("", body).strip():
        raise WhenError(f"could not read {quote('in ' + body)} as an amount of time, {example}")
    too_far = f"that is more than a year ahead: schedule within {MAX_AHEAD.days} days"
    minutes = 0
    for part in parts:
        if len(part[1]) > 9:  # a year is 527,040 minutes; don't build giant numbers
            raise WhenError(too_far)
        amount = 1 if part[1] in ("a", "an") else int(part[1])
        minutes += amount * _UNIT_MINUTES[part[2]]
    if minutes == 0:
        raise WhenError(f"give a positive amount of time, {example}")
    if minutes > MAX_AHEAD / timedelta(minutes=1):
        raise WhenError(too_far)
    return now_utc.replace(second=0, microsecond=0) + timedelta(minutes=minutes)


def _absolute_with_offset(m: re.Match[str], s: str, now_utc: datetime) -> datetime:
    day = _within_reach(_parse_date(m[1]), now_utc)
    at = parse_time_of_day(m[2])
    offset = m[3]
    if offset in ("z", "utc"):
        tzinfo: timezone = UTC
    else:
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise WhenError(f"{offset!r} in {s!r} is not a UTC offset: write e.g. +01:00 or Z")
        sign = -1 if offset[0] == "-" else 1
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime.combine(day, at, tzinfo=tzinfo).astimezone(UTC)


def _day_and_time(s: str, now_utc: datetime, tzinfo: zoneinfo.ZoneInfo, zone_name: str) -> datetime:
    tokens = [t for t in s.replace(",", " ").split() if t not in ("at", "on")]
    past = next((t for t in tokens if t in ("yesterday", "ago", "last")), None)
    if past is not None:
        raise WhenError(
            f"{past!r} points to the past: schedule a time still to come, "
            "e.g. 'today 18:00', 'tomorrow 9am' or 'friday 18:00'"
        )
    day: _Day | None = None
    time_tokens: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        found: _Day | None
        if token in ("next", "this"):
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if following == "week":
                raise WhenError(f"'{token} week' is not a day: name one, e.g. 'next monday 18:00'")
            weekday = _weekday_or_none(following) if following.isalpha() else None
            if weekday is None:
                if not following:
                    raise WhenError(
                        f"'{token}' needs a weekday after it, e.g. '{token} friday 18:00'"
                    )
                raise _unknown_day(following)
            found, i = _Day(weekday=weekday), i + 2
        else:
            found, i = _day_token(token), i + 1
            if found is None:
                if token.isalpha() and token not in _TIME_WORDS:
                    raise _unknown_day(token, "unknown word")
                time_tokens.append(token)
                continue
        if day is not None:
            raise WhenError(f"give one day only (a weekday, 'tomorrow' or a date), {EXAMPLES}")
        day = found
    if not time_tokens:
        raise WhenError(
            f"{quote(s)} needs a time of day too, e.g. {quote(shorten(s, 30) + ' 18:00')}"
        )
    at = parse_time_of_day(" ".join(time_tokens))
    today = now_utc.astimezone(tzinfo).date()
    if day is None or day.weekday is not None:
        # The next time the clock shows it: today if still ahead, else a day / week later.
        ahead = 0 if day is None or day.weekday is None else (day.weekday - today.weekday()) % 7
        target = today + timedelta(days=ahead)
        if local_to_utc(target, at, tzinfo) <= now_utc:
            target += timedelta(days=1 if day is None else 7)
    elif day.exact is not None:
        target = _within_reach(day.exact, now_utc)
    else:
        target = today + timedelta(days=day.offset or 0)
    return _resolve_local(target, at, tzinfo, zone_name)


def _resolve_local(target: date, at: time, tzinfo: zoneinfo.ZoneInfo, zone_name: str) -> datetime:
    instant = local_to_utc(target, at, tzinfo)
    shown = instant.astimezone(tzinfo)
    if shown.replace(tzinfo=None) != datetime.combine(target, at):
        raise WhenError(
            f"{at:%H:%M} on {target:%a %Y-%m-%d} does not exist in {zone_name}: the clocks "
            f"go forward then; did you mean {shown:%H:%M}? Write e.g. "
            f"'{target:%Y-%m-%d} {shown:%H:%M}'"
        )
    return instant

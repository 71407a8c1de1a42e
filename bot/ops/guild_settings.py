"""Per-guild settings as people read and type them: names, parsing, validation, display.

Pure: no Discord, no database. /config (bot/chat/admin_cog.py) parses with these before storing
(bot/store/guild_config.py) and shows the current values with these.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container

from bot.core.text import quote
from bot.core.when import WhenError, validate_timezone
from bot.store.guild_config import COLUMNS, GuildConfig
from bot.store.guild_config import Defaults as Defaults  # where it lived before

log = logging.getLogger(__name__)

LABELS = {
    "discussion_channel": "Discussion channel",
    "announce_channel": "Announcement channel",
    "announce_role": "Announcement role",
    "timezone": "Time zone",
    "grace_window": "Grace window",
}
assert LABELS.keys() == COLUMNS.keys()

MAX_GRACE = 7 * 24 * 3600.0  # a missed post more than a week late is news to nobody
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_WORDS = {
    "day": "d",
    "days": "d",
    "hour": "h",
    "hours": "h",
    "hr": "h",
    "hrs": "h",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
DURATION_EXAMPLES = "e.g. 6h, 90m, 1d or 2h30m"


class ConfigError(ValueError):
    """A value /config cannot take; the message says what would work."""


def parse_duration(text: str) -> float:
    """'6h', '90m', '1d 6h', '2h30m', '45 minutes', '0' → seconds, within 0..7 days."""
    s = " ".join(text.lower().split())
    if len(s) > 40:
        raise ConfigError(f"that is too long for a duration: give one {DURATION_EXAMPLES}")
    if s in ("0", "none", "off"):
        return 0.0
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        raise ConfigError(f"give a unit with the number: {s}h, {s}m or {s}d ({DURATION_EXAMPLES})")
    total, end = 0.0, 0
    for m in _PART.finditer(s):
        if s[end : m.start()].strip(" ,"):
            break
        unit = _UNIT_WORDS.get(m[2], m[2])
        if unit not in _UNITS:
            raise ConfigError(f"unknown unit {quote(m[2])}: use d, h, m or s ({DURATION_EXAMPLES})")
        total += float(m[1]) * _UNITS[unit]
        end = m.end()
    if end == 0 or s[end:].strip(" ,"):
        raise ConfigError(f"{quote(text.strip())} is not a duration: give one {DURATION_EXAMPLES}")
    if total > MAX_GRACE:
        raise ConfigError(
            f"{format_duration(total)} is longer than the 7 days a grace window may be"
        )
    return total


def format_duration(seconds: float) -> str:
    if seconds <= 0:
        return "0"
    parts, rest = [], int(round(seconds))
    for unit, size in _UNITS.items():
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts)


def parse_timezone(text: str) -> str:
    try:
        return validate_timezone(text)
    except WhenError as exc:
        raise ConfigError(str(exc)) from None


def shown(
    name: str, config: GuildConfig, defaults: Defaults, roles: Container[int] | None = None
) -> str:
    """One setting's current value as the /config replies show it (mentions never ping: the
    replies are sent with no allowed mentions). `roles`: the ids of the server's roles, when
    known: the bot-wide announcement role is one server's, and left out elsewhere."""
    value = getattr(config, name)
    if name in ("discussion_channel", "announce_channel"):
        return f"<#{value}>" if value else "not set"
    if name == "announce_role":
        if value:
            return f"<@&{value}>"
        default = defaults.announce_role
        if default and (roles is None or default in roles):
            return f"<@&{default}> (bot default)"
        if default:
            # Discord would show its mention as '@deleted-role'; the announcement omits it.
            return (
                "none: announcements mention nobody here (the bot's default role is another "
                "server's): pick one of this server's roles with `/config role`"
            )
        return "none: announcements mention nobody"
    if name == "timezone":
        return value or f"{defaults.timezone} (default)"
    if name == "grace_window":
        if value is None:
            return f"{format_duration(defaults.grace_window)} (default)"
        return format_duration(value) + (
            " (missed posts are never posted late)" if not value else ""
        )
    raise KeyError(name)


def describe(
    config: GuildConfig, defaults: Defaults, roles: Container[int] | None = None
) -> list[str]:
    return [f"**{LABELS[name]}**: {shown(name, config, defaults, roles)}" for name in LABELS]

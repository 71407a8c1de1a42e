"""Render Discord message JSON readably at the sandbox prompt. Pure: dicts in, text out."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

EPHEMERAL = 1 << 6
WIDTH = 88


_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_CHANNEL = re.compile(r"<#(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_USER = re.compile(r"<@!?(\d+)>")


def humanize(
    text: str,
    channels: Mapping[str, str] | None = None,
    now: datetime | None = None,
    *,
    roles: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
) -> str:
    """What a Discord client shows for timestamps, channel links and mentions (times in UTC
    here; the relative style, `<t:…:R>`, counted from `now` when given). `channels`, `roles`
    and `users` map ids to names: names repeat (each week's thread on a topic has the same)."""
    names = channels or {}
    role_names = {k: v.removeprefix("@") for k, v in (roles or {}).items()}
    user_names = users or {}

    def stamp(m: re.Match[str]) -> str:
        when = datetime.fromtimestamp(int(m[1]), UTC)
        if m[2] == "R" and now is not None:
            return relative(when, now)
        return when.strftime("%a %d %b %Y %H:%M UTC")

    text = _TIMESTAMP.sub(stamp, text)
    # Unknown mentions read as Discord's client shows them.
    text = _ROLE.sub(lambda m: f"@{role_names.get(m[1], 'deleted-role')}", text)
    text = _USER.sub(lambda m: f"@{user_names.get(m[1], 'unknown-user')}", text)
    return _CHANNEL.sub(lambda m: f"#{names.get(m[1], m[1])}", text)


# (limit in seconds, what to say, unit in seconds or 0 for the phrase as it is): the
# thresholds of moment.js, whose wording Discord's client uses ("in 3 days", "an hour ago").
_RELATIVE = (
    (45, "a few seconds", 0),
    (90, "a minute", 0),
    (45 * 60, "{} minutes", 60),
    (90 * 60, "an hour", 0),
    (22 * 3600, "{} hours", 3600),
    (36 * 3600, "a day", 0),
    (26 * 86400, "{} days", 86400),
    (45 * 86400, "a month", 0),
    (320 * 86400, "{} months", 30.44 * 86400),
    (548 * 86400, "a year", 0),
)


def relative(when: datetime, now: datetime) -> str:
    """'in 3 days', '2 hours ago': `when` seen from `now`, as Discord's client says it."""
    seconds = (when - now).total_seconds()
    span = abs(seconds)
    for limit, words, unit in _RELATIVE:
        if span < limit:
            phrase = words.format(round(span / unit)) if unit else words
            break
    else:
        phrase = f"{round(span / (365.25 * 86400))} years"
    return f"in {phrase}" if seconds >= 0 else f"{phrase} ago"


def _wrap(text: str, indent: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        out += textwrap.wrap(line, WIDTH, initial_indent=indent, subsequent_indent=indent) or [
            indent.rstrip()
        ]
    return out


def render_message(
    message: dict[str, Any],
    *,
    where: str = "",
    channels: Mapping[str, str] | None = None,
    now: datetime | None = None,
    roles: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
) -> str:
    return humanize(_render(message, where), channels, now, roles=roles, users=users)


def _render(message: dict[str, Any], where: str) -> str:
    flags = int(message.get("flags") or 0)
    head = "bot"
    if where:
        head += f" in {where}"
    if flags & EPHEMERAL:
        head += " (only you can see this)"
    lines = [f"── {head} ──"]
    if message.get("content"):
        lines += _wrap(message["content"], "  ")
    for embed in message.get("embeds") or []:
        if embed.get("title"):
            lines.append(f"  ┃ {embed['title']}")
        if embed.get("url"):
            lines.append(f"  ┃ <{embed['url']}>")
        if embed.get("description"):
            lines += _wrap(embed["description"], "  ┃ ")
        for f in embed.get("fields") or []:
            lines.append(f"  ┃ {f.get('name', '')}:")
            lines += _wrap(f.get("value", ""), "  ┃   ")
        if (embed.get("footer") or {}).get("text"):
            lines.append(f"  ┃ ({embed['footer']['text']})")
    for row in message.get("components") or []:
        for item in row.get("components") or []:
            if item.get("url"):
                lines.append(f"  [{item.get('label', 'link')}] → {item['url']}")
            elif item.get("label"):
                lines.append(f"  [{item['label']}]")
    return "\n".join(lines)

"""What /about tells everyone: version, uptime, what is loaded, the last reload, the feed.

`gather` reads the few numbers from the store; `about_text` is pure formatting with `now`
passed in, so the text is tested exactly.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass

from bot.core.text import counted, escape_markdown, escape_mentions, truncate
from bot.core.urls import without_secrets
from bot.ops.reload import ReloadResult
from bot.store.db import Store

log = logging.getLogger(__name__)

PROBLEMS_SHOWN = 3  # of a refused reload: enough to act on; /reload shows up to 15
PROBLEM_CHARS = 300  # each, so the whole text stays well within a message


@dataclass(frozen=True)
class FeedPoll:
    url: str
    last_fetch_at: float | None  # None: not polled yet
    error: str = ""


@dataclass(frozen=True)
class About:
    version: str
    started: float  # epoch seconds
    episodes: int
    topics: int
    last_reload: ReloadResult | None
    feed: FeedPoll | None  # None: no feed configured


def version() -> str:
    try:
        return importlib.metadata.version("vgbot")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def format_span(seconds: float) -> str:
    """'45s', '12m', '3h 5m', '2d 4h': the two largest units."""
    s = max(int(seconds), 0)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (s, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n}{unit}" for i, (n, unit) in enumerate(parts[:2]) if n or i == 0)


def _when(epoch: float) -> str:
    return f"<t:{int(epoch)}:R>"  # each reader's own "5 minutes ago"


def about_text(about: About, now: float, *, name: str = "VG Bot") -> str:
    lines = [
        f"**{name}** {about.version} · up {format_span(now - about.started)}",
        f"**Catalogue**: {counted(about.episodes, 'episode')}, {counted(about.topics, 'topic')}",
    ]
    r = about.last_reload
    if r is None:
        lines.append("**Last content reload**: none yet")
    else:
        # The trigger may hold a member's display name: shown as written, never as markup.
        how = "at start" if r.trigger == "start" else escape_mentions(escape_markdown(r.trigger))
        what = r.summary()
        if r.applied and r.problems:
            # Such files kept their previous version, or were left out if they had none.
            what += f"; {counted(len(r.problems), 'problem')}, their files left as they were"
        lines.append(f"**Last content reload**: {_when(r.at)} ({how}): {what}")
        if r.problems:
            lines += _problems(r.problems)
    if about.feed is None:
        lines.append("**Feed**: no feed configured")
    elif about.feed.last_fetch_at is None:
        lines.append("**Feed**: not polled yet")
    else:
        # The error quotes the feed's server (its status line, a redirect): text, not Markdown.
        error = escape_mentions(escape_markdown(without_secrets(about.feed.error)))
        state = f"failed: {error}" if about.feed.error else "ok"
        lines.append(f"**Last feed poll**: {_when(about.feed.last_fetch_at)} ({state})")
    return "\n".join(lines)


def _problems(problems: tuple[str, ...]) -> list[str]:
    """The first problems of a refused reload, with file and line, as /reload shows them."""
    shown = [truncate(p, PROBLEM_CHARS).replace("```", "'''") for p in problems[:PROBLEMS_SHOWN]]
    lines = ["```", *shown, "```"]
    more = len(problems) - len(shown)
    if more:
        lines.append(f"… and {more} more: /reload shows them, `vgbot content check` lists all")
    return lines


async def catalogue_counts(store: Store) -> tuple[int, int]:
    row = await store.fetchone(
        "SELECT (SELECT count(*) FROM episodes), (SELECT count(*) FROM topics)"
    )
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


async def last_feed_poll(store: Store, feed_url: str) -> FeedPoll | None:
    """The most recent poll of any feed the bot watches; None when no feed is configured."""
    has_table = await store.fetchone(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'feeds'"
    )
    row = None
    if has_table is not None:
        row = await store.fetchone(
            "SELECT url, last_fetch_at, last_error FROM feeds"
            " WHERE last_fetch_at IS NOT NULL ORDER BY last_fetch_at DESC LIMIT 1"
        )
    if row is not None:
        return FeedPoll(str(row["url"]), float(row["last_fetch_at"]), str(row["last_error"] or ""))
    return FeedPoll(feed_url, None) if feed_url else None

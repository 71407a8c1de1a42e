"""Lay a Reply out as a Discord embed (plain dict) within Discord's limits. Pure, no discord import.

The chat layer turns the dict into `discord.Embed.from_dict`; the limits live here so they are
tested without Discord. Order of sacrifice when an answer is too long: excerpts past the
description limit, then trailing fields, then the footer; whatever is cut points to the
reply's URL ("Read more") when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core import text as t
from bot.core.models import Excerpt, Reply
from bot.core.urls import BUTTON_URL_MAX, web_url

COLOURS = {"episode": 0x5865F2, "topic": 0x2D9C8F, "search": 0x2D9C8F}
NOT_FOUND_COLOUR = 0x99AAB5
MAX_EXCERPTS = 8
MAX_BUTTONS = 5  # one action row of link buttons
BUTTON_LABEL = 80


@dataclass(frozen=True)
class Button:
    label: str
    url: str


def excerpt_markdown(excerpt: Excerpt) -> str:
    """Excerpt text escaped for Discord with the matched words in bold."""
    body = "".join(
        f"**{t.escape_markdown(s)}**" if hit and s.strip() else t.escape_markdown(s)
        for s, hit in excerpt.segments
    )
    cite = t.escape_markdown(excerpt.citation.label())
    if excerpt.citation.url:
        cite = f"[{cite}]({excerpt.citation.url})"
    return f"> {' '.join(body.split())}\n— *{cite}*"


def _more(url: str | None) -> str:
    return f"[Read more]({url})" if url else "…"


def _cut_off(text: str, url: str | None, limit: int) -> str:
    """`text` cut to fit `limit`: '…' where a sentence is cut, and the link to the rest on a
    line of its own (never "here.… [Read more]")."""
    if url is None:
        return t.truncate(text, limit)
    link = f"\n\n{_more(url)}"
    body = t.truncate(text, limit - len(link) - 1, suffix="")
    if not body.rstrip("*_~|`)\"'”’").endswith((".", "!", "?", "…")):
        body += "…"
    return body + link


def _description(reply: Reply) -> str:
    parts = [reply.text.strip()] if reply.text.strip() else []
    limit = t.EMBED_DESCRIPTION
    head = "\n\n".join(parts)
    if len(head) > limit:
        return _cut_off(head, reply.url, limit)
    if reply.suggestions and not reply.found:
        suggestion = "Did you mean: " + ", ".join(f"`{s}`" for s in reply.suggestions[:10])
        head = f"{head}\n\n{suggestion}" if head else suggestion
    for excerpt in reply.excerpts[:MAX_EXCERPTS]:
        block = excerpt_markdown(excerpt)
        candidate = f"{head}\n\n{block}" if head else block
        if len(candidate) > limit - len(_more(reply.url)) - 2:
            return f"{head}\n\n{_more(reply.url)}"
        head = candidate
    return t.truncate(head, limit)


def embed_dict(reply: Reply) -> dict[str, Any]:
    title = t.escape_mentions(reply.title) or "Vanishing Gradients"
    embed: dict[str, Any] = {
        "title": t.truncate(title, t.EMBED_TITLE),
        "description": t.escape_mentions(_description(reply)),
        "color": COLOURS.get(reply.kind, NOT_FOUND_COLOUR),
    }
    if reply.url:
        embed["url"] = reply.url
    fields = []
    for f in reply.fields[: t.EMBED_FIELDS]:
        name = t.truncate(t.escape_mentions(f.name), t.FIELD_NAME) or "\u200b"
        value = t.truncate(t.escape_mentions(f.value), t.FIELD_VALUE) or "\u200b"
        fields.append({"name": name, "value": value, "inline": f.inline})
    embed["fields"] = fields
    if reply.footer:
        embed["footer"] = {"text": t.truncate(t.escape_mentions(reply.footer), t.EMBED_FOOTER)}
    while embed_length(embed) > t.EMBED_TOTAL and embed["fields"]:
        embed["fields"].pop()
    if embed_length(embed) > t.EMBED_TOTAL:
        embed.pop("footer", None)
        room = t.EMBED_TOTAL - embed_length({**embed, "description": ""})
        embed["description"] = t.truncate(embed["description"], room)
    return embed


def embed_length(embed: dict[str, Any]) -> int:
    """Characters Discord counts toward the 6,000 total."""
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    n += len(embed.get("footer", {}).get("text", ""))
    n += len(embed.get("author", {}).get("name", ""))
    return n + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def buttons(reply: Reply) -> list[Button]:
    seen: set[str] = set()
    out = []
    for link in reply.links:
        url = web_url(link.url, limit=BUTTON_URL_MAX)
        if url is None or url in seen:
            continue
        seen.add(url)
        out.append(Button(t.truncate(link.label.capitalize(), BUTTON_LABEL), url))
    return out[:MAX_BUTTONS]

"""Render a Reply for a person at a terminal, or as JSON for scripts. Pure: returns strings."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bot.core.models import Excerpt, Reply

BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def _marked(excerpt: Excerpt, color: bool) -> str:
    # Matched words stand out: bold on a colour terminal, [brackets] elsewhere.
    on, off = (BOLD, RESET) if color else ("[", "]")
    return "".join(f"{on}{text}{off}" if hit else text for text, hit in excerpt.segments)


def render_reply(reply: Reply, *, color: bool = False) -> str:
    b, d, r = (BOLD, DIM, RESET) if color else ("", "", "")
    lines = [f"{b}{reply.title}{r}"]
    if reply.url:
        lines.append(f"{d}{reply.url}{r}")
    if reply.text:
        lines += ["", reply.text]
    for f in reply.fields:
        lines += ["", f"{b}{f.name}{r}", f.value]
    if reply.excerpts:
        lines += ["", f"{b}What the show said{r}"]
        for ex in reply.excerpts:
            lines.append(f"  • {_marked(ex, color)}")
            lines.append(f"    {d}— {ex.citation.label()}{r}")
    if reply.suggestions and not reply.found:
        # As on Discord (bot.core.layout): a search that found something lists its topics
        # already, under "Topics".
        lines += ["", "Did you mean: " + ", ".join(reply.suggestions)]
    if reply.links:
        lines += [""] + [f"{lk.label}: {lk.url}" for lk in reply.links]
    if reply.footer:
        lines += ["", f"{d}{reply.footer}{r}"]
    return "\n".join(lines)


def reply_to_json(reply: Reply) -> str:
    data: dict[str, Any] = dataclasses.asdict(reply)
    data["found"] = reply.found
    data["excerpts"] = [
        {
            "text": ex.plain,
            "segments": [{"text": t, "match": m} for t, m in ex.segments],
            "citation": {**dataclasses.asdict(ex.citation), "label": ex.citation.label()},
        }
        for ex in reply.excerpts
    ]
    return json.dumps(data, ensure_ascii=False, indent=2)

"""Which environment variable names the bot reads, so a deploy file cannot misspell one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields

from bot.settings import Settings

# Discord's conventional names, read besides VGBOT_TOKEN, VGBOT_API_BASE, VGBOT_GATEWAY_URL.
DISCORD_NAMES = {"DISCORD_TOKEN", "DISCORD_API_BASE", "DISCORD_GATEWAY_URL"}
# Names whose value is a secret: a deploy file may point at one, never hold one.
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE", re.IGNORECASE)


def known_names() -> set[str]:
    return {f"VGBOT_{f.name.upper()}" for f in fields(Settings)} | {"VGBOT_CONFIG"} | DISCORD_NAMES


def unknown_settings(names: Iterable[str]) -> list[str]:
    """VGBOT_* / DISCORD_* names the bot would silently ignore."""
    known = known_names()
    return sorted(n for n in names if n.startswith(("VGBOT_", "DISCORD_")) and n not in known)


def holds_secret(name: str, value: str) -> bool:
    """A secret-named variable with a value (VGBOT_TOKEN_FILE, a path to one, is fine)."""
    return bool(SECRET.search(name)) and not name.endswith("_FILE") and bool(value.strip())

"""One frozen Settings object from VGBOT_* env vars and an optional YAML file.

Built in `main`, never at import. Precedence: command-line flag > env var > YAML file > default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

DISCORD_API_BASE = "https://discord.com/api/v10"


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it and how to fix it."""


@dataclass(frozen=True)
class Settings:
    db: Path = Path("data/vgbot.sqlite3")
    content_dir: Path = Path("content")
    prompts_dir: Path = Path("prompts")
    token: str = dataclasses.field(default="", repr=False)  # never printed or logged
    token_file: Path | None = None
    api_base: str = DISCORD_API_BASE
    gateway_url: str = ""  # empty: ask Discord (GET /gateway/bot)
    dev_guild_id: int | None = None
    log_format: str = "text"  # "text" or "json"
    log_level: str = "INFO"
    feed_url: str = ""
    feed_interval: float = 900.0  # seconds between feed polls
    grace_window: float = 6 * 3600.0  # seconds: a missed post later than this is skipped
    nonce_window: float = 120.0  # seconds: resend with the same nonce (Discord dedupes) within it
    cooldown_rate: int = 5  # public commands per user...
    cooldown_per: float = 30.0  # ...per this many seconds
    announce_role_id: int | None = None  # the one role a post may mention, when set
    health_file: Path | None = None
    tick_interval: float = 30.0  # seconds between checks for due posts
    clock_offset_file: Path | None = None  # sandbox/tests only: see bot/clock.py

    @property
    def has_token(self) -> bool:
        return bool(self.token)


# Env var names: VGBOT_<FIELD>, plus Discord's conventional names for the three that have them.
_ENV_ALIASES = {
    "token": ("DISCORD_TOKEN",),
    "api_base": ("DISCORD_API_BASE",),
    "gateway_url": ("DISCORD_GATEWAY_URL",),
}


def _env_names(name: str) -> tuple[str, ...]:
    return (*_ENV_ALIASES.get(name, ()), f"VGBOT_{name.upper()}")


def unknown_env_vars(env: Mapping[str, str]) -> list[str]:
    """VGBOT_* names that are no setting, each with the setting likely meant: unlike a YAML
    key, an env var nobody reads would otherwise be ignored without a word."""
    known = {n for f in fields(Settings) for n in _env_names(f.name)} | {"VGBOT_CONFIG"}
    found = []
    for name in sorted(env):
        if name.startswith("VGBOT_") and name not in known:
            meant = _meant(name, sorted(n for n in known if n.startswith("VGBOT_")))
            found.append(f"{name} is no setting" + (f" (did you mean {meant}?)" if meant else ""))
    return found


def _meant(name: str, candidates: list[str]) -> str | None:
    # An abbreviation or a spelt-out name first (VGBOT_DATABASE: VGBOT_DB), which
    # similarity alone gets wrong; then the most similar name.
    def within(short: str, long: str) -> bool:
        rest = iter(long)
        return all(c in rest for c in short)

    # Compared without the shared VGBOT_, which would make any two names look alike.
    short = {c.removeprefix("VGBOT_"): c for c in candidates}
    asked = name.removeprefix("VGBOT_")
    spelt = [c for s, c in short.items() if within(s, asked) or within(asked, s)]
    if len(spelt) == 1:
        return spelt[0]
    close = difflib.get_close_matches(asked, list(short), n=1)
    return short[close[0]] if close else None


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    text = str(raw).strip()
    kind_s = str(kind)
    try:
        if "Path" in kind_s:
            return Path(text) if text else None
        if "int" in kind_s:
            return int(text) if text else None
        if "float" in kind_s:
            return float(text)
    except ValueError:
        expected = "a whole number" if "int" in kind_s else "a number"
        raise SettingsError(f"setting {name!r} must be {expected}, got {text!r}") from None
    return text


def load_settings(
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    layer: dict[str, int] = {}  # which source gave each value: 0 the file, 1 env, 2 flags
    config_file = config_file or (Path(env["VGBOT_CONFIG"]) if env.get("VGBOT_CONFIG") else None)
    known = {f.name: f for f in fields(Settings)}
    if config_file is not None:
        try:
            data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"cannot read config file {config_file}: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"config file {config_file} must be a mapping of setting: value")
        for key, raw in data.items():
            if key not in known:
                raise SettingsError(
                    f"config file {config_file}: unknown setting {key!r}; "
                    f"known: {', '.join(sorted(known))}"
                )
            if raw is None:
                continue  # `key:` with no value: unset, as an empty env var is
            values[key] = _coerce(key, known[key].type, raw)
            layer[key] = 0
    for name, f in known.items():
        for env_name in _env_names(name):
            if env.get(env_name) not in (None, ""):
                values[name] = _coerce(name, f.type, env[env_name])
                layer[name] = 1
                break
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _coerce(key, known[key].type, raw)
            layer[key] = 2
    # The token and its file are one setting given two ways: the later source wins.
    if "token_file" in values and layer["token_file"] > layer.get("token", -1):
        values.pop("token", None)
    settings = Settings(**values)
    if not settings.token and settings.token_file is not None:
        try:
            # utf-8-sig: a byte order mark (Windows editors write one) is not part of the token.
            token = settings.token_file.read_text(encoding="utf-8-sig").strip()
        except OSError as exc:
            raise SettingsError(f"cannot read token file {settings.token_file}: {exc}") from None
        settings = dataclasses.replace(settings, token=token)
    if settings.log_format not in ("text", "json"):
        raise SettingsError("setting 'log_format' must be 'text' or 'json'")
    # Checked here: logging itself would stop the program with a traceback on an unknown name.
    level = settings.log_level.upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(
            f"setting 'log_level' must be one of {', '.join(_LOG_LEVELS)}, "
            f"got {settings.log_level!r}"
        )
    for name, low, strict in _LIMITS:
        value = getattr(settings, name)
        # Written so that NaN, which compares false with everything, is refused too.
        if not ((low < value) if strict else (low <= value)) or value == math.inf:
            what = f"more than {low:g}" if strict else f"at least {low:g}" if low else "0 or more"
            raise SettingsError(f"setting {name!r} must be {what}, got {value:g}")
    return dataclasses.replace(settings, log_level=level)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Numbers outside these break the bot quietly: a cooldown rate of 0 refuses every command,
# an interval of 0 spins. A cooldown_per of 0 turns the cooldown off, which is allowed.
_LIMITS = (  # (setting, lowest, must be above it)
    ("cooldown_rate", 1, False),
    ("cooldown_per", 0, False),
    ("tick_interval", 0, True),
    ("feed_interval", 0, True),
    ("grace_window", 0, False),
    ("nonce_window", 0, False),
)

"""Parse what a person types at the sandbox prompt into a slash-command invocation. Pure.

`/episode 11`                       → episode, {query: "11"}  (a lone required option
                                                               takes the rest)
`/topic "defensible moats"`         → topic, {query: "defensible moats"}
`/schedule thread topic:moats when:"friday 18:00" repeat:weekly`
                                    → schedule thread, {topic: ..., when: ..., repeat: ...}
The option names and types come from the commands the bot synced, as Discord would know them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10


_NAME = re.compile(r"[a-z][a-z0-9_-]*")  # what a Discord option name looks like


class CommandLineError(ValueError):
    """What is wrong with the typed command, and what would work."""


@dataclass(frozen=True)
class Invocation:
    name: str  # top-level command
    path: tuple[str, ...] = ()  # subcommand group / subcommand names
    options: dict[str, Any] = field(default_factory=dict)
    # With a cursor (`:complete`): the option being typed, its text as typed so far (in
    # `options`, unconverted) and its synced definition (choices, autocomplete).
    focused: str | None = None
    focused_option: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def qualified(self) -> str:
        return " ".join((self.name, *self.path))


def _usage(spec: dict[str, Any], prefix: str) -> str:
    subs = [o for o in spec.get("options", []) if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
    if subs:
        return " | ".join(f"{prefix} {o['name']}" for o in subs)
    parts = []
    for o in spec.get("options", []):
        piece = f"{o['name']}:…"
        parts.append(piece if o.get("required") else f"[{piece}]")
    return " ".join([prefix, *parts])


def _choice(option: dict[str, Any], raw: str) -> Any:
    """A fixed choice by its name, as Discord's client shows it, or by its value."""
    choices = option["choices"]
    for choice in choices:
        if str(choice["value"]) == raw:
            return choice["value"]
    for choice in choices:
        if raw.casefold() in (str(choice["name"]).casefold(), str(choice["value"]).casefold()):
            return choice["value"]
    names = [str(c["name"]) for c in choices]
    quoted = [f'"{n}"' if " " in n else n for n in names]
    raise CommandLineError(
        f"option '{option['name']}' must be one of: {', '.join(quoted)} "
        f"(e.g. {option['name']}:{quoted[0]})"
    )


def _convert(option: dict[str, Any], raw: str, channels: dict[str, str]) -> Any:
    kind = option["type"]
    name = option["name"]
    if option.get("choices"):
        return _choice(option, raw)
    if kind == INTEGER:
        try:
            return int(raw)
        except ValueError:
            raise CommandLineError(f"option '{name}' takes a whole number, not {raw!r}") from None
    if kind == NUMBER:
        try:
            return float(raw)
        except ValueError:
            raise CommandLineError(f"option '{name}' takes a number, not {raw!r}") from None
    if kind == BOOLEAN:
        if raw.lower() in ("true", "yes", "on", "1"):
            return True
        if raw.lower() in ("false", "no", "off", "0"):
            return False
        raise CommandLineError(f"option '{name}' takes true or false, not {raw!r}")
    if kind == CHANNEL:
        mention = re.fullmatch(r"<#(\d+)>", raw.strip())
        key = mention[1] if mention else raw.strip().lstrip("#")
        if key in channels:
            return channels[key]
        if key.isdigit():
            return key
        known = ", ".join(f"#{c}" for c in sorted(channels))
        raise CommandLineError(f"no channel {raw!r}; channels here: {known}")
    return raw


def parse_command_line(
    text: str,
    commands: list[dict[str, Any]],
    channels: dict[str, str] | None = None,
    *,
    cursor: str | None = None,
) -> Invocation:
    """`cursor`: a marker somewhere in `text` (where `:complete` was asked): the option it is
    in is left as typed (without the marker) and named `focused`, and nothing is missing yet."""
    channels = channels or {}
    text = text.strip()
    if not text.startswith("/"):
        raise CommandLineError("slash commands start with '/', e.g. /episode 11")
    try:
        words = shlex.split(text[1:])
    except ValueError as exc:
        hint = 'close the quote, e.g. /topic "defensible moats"'
        raise CommandLineError(f"{exc}: {hint}") from None
    if not words:
        raise CommandLineError("type a command after '/', e.g. /episode 11")
    by_name = {c["name"]: c for c in commands}
    name, rest = words[0].lower(), words[1:]
    if name not in by_name:
        known = ", ".join(f"/{n}" for n in sorted(by_name))
        raise CommandLineError(f"no command /{name}; the bot has: {known}")
    spec, path = by_name[name], list[str]()
    while True:
        subs = {
            o["name"]: o
            for o in spec.get("options", [])
            if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
        }
        if not subs:
            break
        if not rest or rest[0].lower() not in subs:
            raise CommandLineError(f"usage: {_usage(spec, '/' + ' '.join([name, *path]))}")
        spec = subs[rest[0].lower()]
        path.append(spec["name"])
        rest = rest[1:]
    params = {o["name"]: o for o in spec.get("options", [])}
    command = "/" + " ".join([name, *path])
    usage = _usage(spec, command)
    options: dict[str, Any] = {}
    positional: list[str] = []
    focused: str | None = None

    def give(option: dict[str, Any], raw: str) -> None:
        nonlocal focused
        if cursor and cursor in raw:
            focused = option["name"]
            options[focused] = raw.replace(cursor, "")
        else:
            options[option["name"]] = _convert(option, raw, channels)

    for word in rest:
        key, sep, value = word.partition(":")
        if sep and key in params:
            give(params[key], value)
        elif sep and len(params) > 1 and _NAME.fullmatch(key) and not value.startswith("//"):
            # 'tz:…' where the option is called something else: say which names there are.
            # (A lone option takes free text, where 'word:word' is just text.)
            raise CommandLineError(f"{command} has no option '{key}': {usage}")
        else:
            positional.append(word)
    if cursor and not params:
        raise CommandLineError(f"nothing to complete: {command} takes no options")
    if positional:
        # Unnamed words fill the required options in order: one option takes them all, or
        # one word each when the counts match; anything else must be named.
        required = [o for o in params.values() if o.get("required") and o["name"] not in options]
        # While completing, the words typed so far fill the first ones.
        fits = len(required) == len(positional) or (cursor and len(positional) < len(required))
        if len(required) == 1:
            give(required[0], " ".join(positional))
        elif required and fits:
            for option, word in zip(required, positional, strict=False):
                give(option, word)
        else:
            raise CommandLineError(f"name the options, e.g. {usage}")
    if cursor:
        if focused is None:
            raise CommandLineError(f"nothing to complete here: {usage}")
        return Invocation(name, tuple(path), options, focused, params[focused])
    missing = [o["name"] for o in params.values() if o.get("required") and o["name"] not in options]
    if missing:
        raise CommandLineError(f"missing {', '.join(missing)}: {usage}")
    return Invocation(name, tuple(path), options)

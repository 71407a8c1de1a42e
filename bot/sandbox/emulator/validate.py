"""Discord's documented limits on what a bot sends, as 400 Invalid Form Body problems.

Pure functions over JSON bodies. Each returns a list of (dotted path, Discord error code,
message) so the caller can raise one `form_error` listing everything wrong at once.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Problem = tuple[str, str, str]

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
_EMBED_TEXT_LIMITS = {
    "title": 256,
    "description": 4096,
}
FIELDS_MAX = 25
NONCE_MAX = 25
CHOICES_MAX = 25
OPTIONS_MAX = 25
COMMAND_NAME = re.compile(r"[-_'\w]{1,32}")
_URL_SCHEMES = ("http://", "https://", "attachment://")
URL_MAX = 2048  # links in embeds
ROWS_MAX = 5  # action rows in a message without the IS_COMPONENTS_V2 flag
ROW_CHILDREN_MAX = 5  # buttons in an action row
BUTTON_LABEL_MAX = 80
CHOICE_VALUE_MAX = 100  # "Value for the choice, up to 100 characters if string"
STRING_LENGTH_MAX = 6000  # min_length 0..6000, max_length 1..6000
BUTTON_URL_MAX = 512  # "URL for link-style buttons; max 512 characters"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _too_long(path: str, limit: int) -> Problem:
    return (path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _required(path: str) -> Problem:
    return (path, "BASE_TYPE_REQUIRED", "This field is required")


def _well_formed(url: str) -> bool:
    """As Discord judges a web link: a host, and no whitespace or other raw control character."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


def _check_url(path: str, value: Any, problems: list[Problem], limit: int = URL_MAX) -> None:
    if value is None:
        return
    # Discord rejects relative or scheme-less links, and ones with spaces or no host.
    if (
        not isinstance(value, str)
        or not value.startswith(_URL_SCHEMES)
        or (not value.startswith("attachment://") and not _well_formed(value))
    ):
        problems.append((path, "URL_TYPE_INVALID_URL", "Not a well formed URL."))
    elif len(value) > limit:
        problems.append(_too_long(path, limit))


def _embed_problems(i: int, embed: Any) -> tuple[list[Problem], int]:
    """Problems of one embed, and its character count toward the 6000 total."""
    base = f"embeds.{i}"
    if not isinstance(embed, dict):
        return [(base, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")], 0
    problems: list[Problem] = []
    size = 0
    for key, limit in _EMBED_TEXT_LIMITS.items():
        value = embed.get(key)
        if value is None:
            continue
        text = str(value)
        size += len(text)
        if len(text) > limit:
            problems.append(_too_long(f"{base}.{key}", limit))
    _check_url(f"{base}.url", embed.get("url"), problems)
    for part in ("image", "thumbnail"):
        if isinstance(embed.get(part), dict):
            _check_url(f"{base}.{part}.url", embed[part].get("url"), problems)
    footer = embed.get("footer")
    if isinstance(footer, dict):
        footer_text = str(footer.get("text") or "")
        size += len(footer_text)
        if len(footer_text) > 2048:
            problems.append(_too_long(f"{base}.footer.text", 2048))
    author = embed.get("author")
    if isinstance(author, dict):
        name = str(author.get("name") or "")
        size += len(name)
        if len(name) > 256:
            problems.append(_too_long(f"{base}.author.name", 256))
        _check_url(f"{base}.author.url", author.get("url"), problems)
    fields = embed.get("fields") or []
    if len(fields) > FIELDS_MAX:
        problems.append(_too_long(f"{base}.fields", FIELDS_MAX))
    for j, fld in enumerate(fields):
        fpath = f"{base}.fields.{j}"
        if not isinstance(fld, dict):
            problems.append((fpath, "MODEL_TYPE_CONVERT", "Only dictionaries may be used"))
            continue
        for key, limit in (("name", 256), ("value", 1024)):
            raw = fld.get(key)
            value = "" if raw is None else str(raw)
            if not value:
                problems.append(_required(f"{fpath}.{key}"))
                continue
            size += len(value)
            if len(value) > limit:
                problems.append(_too_long(f"{fpath}.{key}", limit))
    return problems, size


def message_problems(body: dict[str, Any], *, has_files: bool = False) -> list[Problem]:
    """Everything wrong with a create/edit message body (empty-message is checked separately)."""
    problems: list[Problem] = []
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            problems.append(("content", "BASE_TYPE_BAD_TYPE", "Must be a string."))
        elif len(content) > CONTENT_MAX:
            problems.append(_too_long("content", CONTENT_MAX))
    embeds = body.get("embeds")
    if embeds is not None:
        if not isinstance(embeds, list):
            problems.append(("embeds", "BASE_TYPE_BAD_TYPE", "Must be an array."))
        else:
            if len(embeds) > EMBEDS_MAX:
                problems.append(_too_long("embeds", EMBEDS_MAX))
            total = 0
            for i, embed in enumerate(embeds):
                found, size = _embed_problems(i, embed)
                problems.extend(found)
                total += size
            if total > EMBED_TOTAL_MAX:
                problems.append(
                    ("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
                )
    nonce = body.get("nonce")
    if nonce is not None:
        if isinstance(nonce, bool) or not isinstance(nonce, str | int):
            problems.append(("nonce", "BASE_TYPE_BAD_TYPE", "Must be a string or an integer."))
        elif isinstance(nonce, str) and len(nonce) > NONCE_MAX:
            problems.append(_too_long("nonce", NONCE_MAX))
    problems.extend(_allowed_mentions_problems(body.get("allowed_mentions")))
    problems.extend(_component_problems(body.get("components")))
    return problems


def is_empty_message(body: dict[str, Any], *, has_files: bool = False) -> bool:
    return not (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or body.get("attachments")
        or has_files
    )


def _allowed_mentions_problems(am: Any) -> list[Problem]:
    if am is None:
        return []
    if not isinstance(am, dict):
        return [("allowed_mentions", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")]
    problems: list[Problem] = []
    parse = am.get("parse", [])
    for i, kind in enumerate(parse or []):
        if kind not in ("users", "roles", "everyone"):
            problems.append(
                (
                    f"allowed_mentions.parse.{i}",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {'users', 'roles', 'everyone'}.",
                )
            )
    for kind in ("users", "roles"):
        ids = am.get(kind)
        if ids and kind in (parse or []):
            problems.append(
                (
                    "allowed_mentions",
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )
            )
        if ids and len(ids) > 100:
            problems.append(_too_long(f"allowed_mentions.{kind}", 100))
    return problems


def _component_problems(components: Any) -> list[Problem]:
    if not components:
        return []
    if not isinstance(components, list):
        return [("components", "BASE_TYPE_BAD_TYPE", "Must be an array.")]
    problems: list[Problem] = []
    legacy = all(isinstance(row, dict) and row.get("type") == 1 for row in components)
    if legacy and len(components) > ROWS_MAX:
        problems.append(_too_long("components", ROWS_MAX))
    for i, row in enumerate(components):
        if not isinstance(row, dict):
            problems.append(
                (f"components.{i}", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")
            )
            continue
        if row.get("type") != 1:
            continue  # components v2 layouts: accepted as-is
        children = row.get("components") or []
        if not 1 <= len(children) <= ROW_CHILDREN_MAX:
            problems.append(
                (
                    f"components.{i}.components",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {ROW_CHILDREN_MAX} in length.",
                )
            )
        for j, child in enumerate(children):
            path = f"components.{i}.components.{j}"
            if not isinstance(child, dict):
                continue
            label = child.get("label")
            if child.get("type") == 2 and label is not None and len(str(label)) > BUTTON_LABEL_MAX:
                problems.append(_too_long(f"{path}.label", BUTTON_LABEL_MAX))
            custom_id = child.get("custom_id")
            is_link = child.get("type") == 2 and child.get("style") == 5
            if is_link:
                _check_url(f"{path}.url", child.get("url"), problems, BUTTON_URL_MAX)
                if child.get("url") is None:
                    problems.append(_required(f"{path}.url"))
            elif child.get("type") == 2 and child.get("style") == 6:
                continue  # premium buttons carry a sku_id instead
            elif not custom_id:
                problems.append(_required(f"{path}.custom_id"))
            elif len(str(custom_id)) > 100:
                problems.append(_too_long(f"{path}.custom_id", 100))
    return problems


def _option_problems(path: str, option: Any) -> list[Problem]:
    if not isinstance(option, dict):
        return [(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used")]
    problems: list[Problem] = []
    name = option.get("name")
    if not isinstance(name, str) or not COMMAND_NAME.fullmatch(name) or name != name.lower():
        problems.append(
            (f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        )
    desc = option.get("description")
    if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
        problems.append(
            (f"{path}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        )
    kind = option.get("type")
    if not isinstance(kind, int) or not 1 <= kind <= 11:
        problems.append((f"{path}.type", "BASE_TYPE_CHOICES", "Value must be one of 1..11."))
    choices = option.get("choices") or []
    if len(choices) > CHOICES_MAX:
        problems.append(_too_long(f"{path}.choices", CHOICES_MAX))
    if choices and option.get("autocomplete"):
        problems.append(
            (
                f"{path}.autocomplete",
                "AUTOCOMPLETE_CHOICES_EXCLUSIVE",
                "Autocomplete cannot be enabled on options that have choices.",
            )
        )
    for k, choice in enumerate(choices):
        cname = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(cname, str) or not 1 <= len(cname) <= 100:
            problems.append(
                (
                    f"{path}.choices.{k}.name",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            )
        cvalue = choice.get("value") if isinstance(choice, dict) else None
        if kind == 3 and isinstance(cvalue, str) and len(cvalue) > CHOICE_VALUE_MAX:
            problems.append(_too_long(f"{path}.choices.{k}.value", CHOICE_VALUE_MAX))
    for key, low in (("min_length", 0), ("max_length", 1)):
        bound = option.get(key)
        if bound is not None and (
            isinstance(bound, bool)
            or not isinstance(bound, int)
            or not low <= bound <= STRING_LENGTH_MAX
        ):
            problems.append(
                (
                    f"{path}.{key}",
                    "NUMBER_TYPE_MAX",
                    f"int value should be between {low} and {STRING_LENGTH_MAX}.",
                )
            )
    problems.extend(_options_list_problems(path, option.get("options")))
    return problems


def _options_list_problems(path: str, options: Any) -> list[Problem]:
    if not options:
        return []
    if not isinstance(options, list):
        return [(_join(path, "options"), "BASE_TYPE_BAD_TYPE", "Must be an array.")]
    problems: list[Problem] = []
    if len(options) > OPTIONS_MAX:
        problems.append(_too_long(_join(path, "options"), OPTIONS_MAX))
    seen: set[str] = set()
    optional_seen = False
    for i, option in enumerate(options):
        opath = _join(path, f"options.{i}")
        problems.extend(_option_problems(opath, option))
        if not isinstance(option, dict):
            continue
        name = option.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    (
                        opath,
                        "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                        "Option names must be unique",
                    )
                )
            seen.add(name)
        if option.get("type") in (1, 2):
            continue
        if option.get("required"):
            if optional_seen:
                problems.append(
                    (
                        opath,
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            optional_seen = True
    return problems


def commands_problems(commands: Any) -> list[Problem]:
    """Validate a bulk-overwrite body: a list of application command definitions."""
    if not isinstance(commands, list):
        return [("_root", "BASE_TYPE_BAD_TYPE", "Must be an array.")]
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        problems.extend(command_problems(command, prefix=str(i)))
        if isinstance(command, dict):
            key = (int(command.get("type", 1) or 1), str(command.get("name")))
            if key in seen:
                problems.append(
                    (
                        str(i),
                        "APPLICATION_COMMANDS_DUPLICATE_NAME",
                        f"Application command names must be unique: {key[1]!r}",
                    )
                )
            seen.add(key)
    chat_input = sum(1 for c in commands if isinstance(c, dict) and c.get("type", 1) == 1)
    if chat_input > 100:
        problems.append(_too_long("_root", 100))
    return problems


def command_problems(command: Any, *, prefix: str = "") -> list[Problem]:
    if not isinstance(command, dict):
        return [(prefix or "_root", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")]
    problems: list[Problem] = []
    kind = command.get("type", 1) or 1
    name = command.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        problems.append(
            (_join(prefix, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        )
    elif kind == 1 and (not COMMAND_NAME.fullmatch(name) or name != name.lower()):
        problems.append(
            (_join(prefix, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        )
    desc = command.get("description", "")
    if kind == 1 and (not isinstance(desc, str) or not 1 <= len(desc) <= 100):
        problems.append(
            (
                _join(prefix, "description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        )
    problems.extend(_options_list_problems(prefix, command.get("options")))
    return problems


def choices_problems(choices: Any, option_type: int | None) -> list[Problem]:
    """Validate an autocomplete result (callback type 8) against the focused option's type."""
    if not isinstance(choices, list):
        return [("data.choices", "BASE_TYPE_BAD_TYPE", "Must be an array.")]
    problems: list[Problem] = []
    if len(choices) > CHOICES_MAX:
        problems.append(_too_long("data.choices", CHOICES_MAX))
    for i, choice in enumerate(choices):
        path = f"data.choices.{i}"
        if not isinstance(choice, dict):
            problems.append((path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used"))
            continue
        name = choice.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            problems.append(
                (f"{path}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            )
        value = choice.get("value")
        if option_type == 3:
            if not isinstance(value, str):
                problems.append((f"{path}.value", "BASE_TYPE_BAD_TYPE", "Must be a string."))
            elif len(value) > 100:
                problems.append(_too_long(f"{path}.value", 100))
        elif option_type in (4, 10):
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append((f"{path}.value", "NUMBER_TYPE_COERCE", "Value is not a number."))
    return problems

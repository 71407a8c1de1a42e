"""Interactions: building INTERACTION_CREATE payloads from the commands the bot synced, and the
life of each interaction (callback within 3 s, @original, follow-ups for 15 minutes).

Pure logic over `World`; `now` comes from the emulator's clock.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import errors as E
from . import payloads as P
from . import validate
from .errors import ApiError, EmulatorError
from .state import FLAG_EPHEMERAL, FLAG_LOADING, Attachment, Command, Message, World

log = logging.getLogger(__name__)

ACK_WINDOW = 3.0  # seconds to send the initial response
TOKEN_TTL = 15 * 60.0  # seconds the interaction token accepts follow-ups and edits

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

_ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
}

_OPTION_TYPE_NAMES = {
    3: "string",
    4: "integer",
    5: "boolean",
    6: "user",
    7: "channel",
    8: "role",
    9: "mentionable",
    10: "number",
    11: "attachment",
}


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    guild_id: int | None  # None in a DM with the bot
    channel_id: int
    user_id: int
    created_at: float
    data: dict[str, Any]
    message_id: int | None = None  # component/modal interactions: the message they came from
    focused_type: int | None = None  # autocomplete: the focused option's type
    callback_type: int | None = None
    original_id: int | None = None
    ephemeral: bool = False
    deferred: bool = False
    followup_ids: list[int] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    settled: bool = False  # the user-visible answer exists (message sent, edited, or choices)


# ---- building command data from the synced definitions ----


def command_data(
    world: World,
    command: Command,
    guild_id: int | None,
    options: Mapping[str, Any] | Sequence[Any] | None,
    *,
    subcommand: str | None = None,
    focused: str | None = None,
) -> tuple[dict[str, Any], int | None]:
    """The `data` of a type-2 (or type-4 when focused) interaction, and the focused option type."""
    definition = command.definition
    path = subcommand.split() if subcommand else []
    level_options: list[dict[str, Any]] = list(definition.get("options") or [])
    has_subs = any(o.get("type") in (1, 2) for o in level_options)
    if has_subs and not path:
        names = _sub_names(level_options)
        raise EmulatorError(f"/{command.name} has subcommands {names}; pass subcommand='<name>'")
    if path and not has_subs:
        raise EmulatorError(
            f"/{command.name} has no subcommands, but subcommand={subcommand!r} was given"
        )
    chain: list[dict[str, Any]] = []
    for part in path:
        sub = next(
            (o for o in level_options if o.get("name") == part and o.get("type") in (1, 2)), None
        )
        if sub is None:
            raise EmulatorError(
                f"/{command.name}: no subcommand {part!r}; known: {_sub_names(level_options)}"
            )
        chain.append(sub)
        level_options = list(sub.get("options") or [])
    if chain and chain[-1].get("type") == 2:
        raise EmulatorError(
            f"/{command.name} {subcommand}: a group cannot be invoked; "
            f"known: {_sub_names(level_options)}"
        )
    resolved: dict[str, dict[str, Any]] = {}
    built, focused_type = _build_options(
        world,
        guild_id,
        level_options,
        options,
        resolved,
        focused,
        f"/{command.name} {subcommand or ''}".strip(),
    )
    for sub in reversed(chain):
        built = [{"name": sub["name"], "type": sub["type"], "options": built}]
    data: dict[str, Any] = {
        "id": str(command.id),
        "name": command.name,
        "type": command.type,
        "options": built,
    }
    if resolved:
        data["resolved"] = resolved
    if command.guild_id is not None:
        data["guild_id"] = str(command.guild_id)
    return data, focused_type


def _sub_names(options: list[dict[str, Any]]) -> list[str]:
    return [o["name"] for o in options if o.get("type") in (1, 2)]


def _build_options(
    world: World,
    guild_id: int | None,
    definitions: list[dict[str, Any]],
    given: Mapping[str, Any] | Sequence[Any] | None,
    resolved: dict[str, dict[str, Any]],
    focused: str | None,
    where: str,
) -> tuple[list[dict[str, Any]], int | None]:
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        # A list is sent verbatim: the escape hatch for malformed or unusual payloads.
        raw = [dict(o) for o in given]
        ftype = next((o.get("type") for o in raw if o.get("focused")), None)
        return raw, ftype
    by_name = {o["name"]: o for o in definitions}
    unknown = [n for n in given if n not in by_name]
    if unknown:
        raise EmulatorError(
            f"{where}: unknown option(s) {unknown}; "
            f"the synced command has {list(by_name) or 'no options'}"
        )
    if focused is not None and focused not in by_name:
        raise EmulatorError(f"{where}: focused option {focused!r} is not one of {list(by_name)}")
    if focused is not None and not by_name[focused].get("autocomplete"):
        # Discord sends autocomplete only for options synced with autocomplete: true; a bot
        # would never answer one for another option (discord.py logs an error instead).
        choices = by_name[focused].get("choices")
        shown = f"; its choices are static: {[c.get('name') for c in choices]}" if choices else ""
        raise EmulatorError(
            f"{where}: option {focused!r} has no autocomplete, so Discord sends no autocomplete "
            f"interaction for it{shown}"
        )
    built: list[dict[str, Any]] = []
    focused_type = None
    for definition in definitions:  # Discord sends options in the command's declared order
        name = definition["name"]
        otype = int(definition["type"])
        if name == focused:
            focused_type = otype
            value = given.get(name, "")
            built.append({"name": name, "type": otype, "value": str(value), "focused": True})
            continue
        if name not in given:
            if definition.get("required") and focused is None:
                raise EmulatorError(f"{where}: required option {name!r} is missing")
            continue
        value = _convert(
            world, guild_id, definition, given[name], resolved, where, strict=focused is None
        )
        built.append({"name": name, "type": otype, "value": value})
    return built, focused_type


def _convert(
    world: World,
    guild_id: int | None,
    definition: dict[str, Any],
    value: Any,
    resolved: dict[str, dict[str, Any]],
    where: str,
    *,
    strict: bool,
) -> Any:
    name = definition["name"]
    otype = int(definition["type"])
    kind = _OPTION_TYPE_NAMES.get(otype, str(otype))

    def wrong(expected: str) -> EmulatorError:
        return EmulatorError(
            f"{where}: option {name!r} is a {kind}; expected {expected}, got {value!r}"
        )

    if otype == 3:
        if not isinstance(value, str):
            raise wrong("a str")
        lo, hi = definition.get("min_length"), definition.get("max_length")
        if strict and (
            (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi)
        ):
            raise EmulatorError(f"{where}: option {name!r} must be {lo}..{hi} characters long")
        out: Any = value
    elif otype == 4:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an int")
        out = value
    elif otype == 10:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong("a number")
        out = value
    elif otype == 5:
        if not isinstance(value, bool):
            raise wrong("True or False")
        out = value
    elif otype in (6, 9) and _find_user(world, value) is not None:
        user = _find_user(world, value)
        assert user is not None
        resolved.setdefault("users", {})[str(user.id)] = P.user(user)
        mem = None if guild_id is None else world.members.get((guild_id, user.id))
        if mem is not None and guild_id is not None:
            resolved.setdefault("members", {})[str(user.id)] = {
                **P.member(world, mem, with_user=False),
                "permissions": str(world.guild_permissions(guild_id, user.id)),
            }
        out = str(user.id)
    elif otype in (8, 9) and _find_role(world, guild_id, value) is not None:
        role = _find_role(world, guild_id, value)
        assert role is not None
        resolved.setdefault("roles", {})[str(role.id)] = P.role(role)
        out = str(role.id)
    elif otype == 7:
        ch = _find_channel(world, guild_id, value)
        if ch is None:
            raise wrong("a channel in this guild: #name, <#id> or its id")
        allowed = definition.get("channel_types")
        if allowed and ch.type not in allowed:
            raise EmulatorError(
                f"{where}: option {name!r} accepts channel types {allowed}, not {ch.type}"
            )
        resolved.setdefault("channels", {})[str(ch.id)] = {
            "id": str(ch.id),
            "name": ch.name,
            "type": ch.type,
            "permissions": str(world.permissions(world.bot.id, ch.id)),
            "parent_id": P.sid(ch.parent_id),
            **({"thread_metadata": P.channel(ch)["thread_metadata"]} if ch.is_thread else {}),
        }
        out = str(ch.id)
    elif otype in (6, 8, 9):
        what = {6: "member", 8: "role", 9: "member or role"}[otype]
        example = {6: "@alice or <@id>", 8: "@Moderator or <@&id>", 9: "@name or <@id>"}[otype]
        raise EmulatorError(
            f"{where}: option {name!r} takes a {what}: no {what} {value!r} here; known: "
            f"{_known(world, guild_id, otype)} (write it as {example})"
        )
    else:
        raise EmulatorError(
            f"{where}: option {name!r} of type {kind} cannot be sent by the emulator; "
            "pass a raw options list"
        )
    choices = definition.get("choices")
    if strict and choices and out not in [c.get("value") for c in choices]:
        raise EmulatorError(
            f"{where}: option {name!r} must be one of "
            f"{[c.get('value') for c in choices]}, got {value!r}"
        )
    lo, hi = definition.get("min_value"), definition.get("max_value")
    if (
        strict
        and otype in (4, 10)
        and ((lo is not None and out < lo) or (hi is not None and out > hi))
    ):
        raise EmulatorError(
            f"{where}: option {name!r} must be between {lo} and {hi}, got {value!r}"
        )
    return out


# What a person writes for a user, role or channel in Discord: a mention, an id, or a name
# with or without its sign ('@alice', '<@123>', '@Moderator', '<@&456>', '#general', '<#789>').
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")


def _find_user(world: World, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return world.users.get(value)
    if isinstance(value, str):
        text = value.strip()
        if m := _USER_MENTION.fullmatch(text):
            text = m[1]
        if text.isdigit():
            return world.users.get(int(text))
        name = text.removeprefix("@").casefold()
        return next((u for u in world.users.values() if u.username.casefold() == name), None)
    return world.users.get(getattr(value, "id", -1))


def _find_role(world: World, guild_id: int | None, value: Any) -> Any:
    roles = world.guild_roles(guild_id)
    if isinstance(value, int) and not isinstance(value, bool):
        return next((r for r in roles if r.id == value), None)
    if isinstance(value, str):
        text = value.strip()
        if m := _ROLE_MENTION.fullmatch(text):
            text = m[1]
        name = text.removeprefix("@").casefold()  # '@everyone' is named with its sign
        return next(
            (r for r in roles if str(r.id) == text or r.name.removeprefix("@").casefold() == name),
            None,
        )
    return next((r for r in roles if r.id == getattr(value, "id", -1)), None)


def _find_channel(world: World, guild_id: int | None, value: Any) -> Any:
    chans = [c for c in world.channels.values() if c.guild_id == guild_id]
    if isinstance(value, int) and not isinstance(value, bool):
        return next((c for c in chans if c.id == value), None)
    if isinstance(value, str):
        text = value.strip()
        if m := _CHANNEL_MENTION.fullmatch(text):
            text = m[1]
        return next((c for c in chans if c.name == text.lstrip("#") or str(c.id) == text), None)
    return next((c for c in chans if c.id == getattr(value, "id", -1)), None)


def _known(world: World, guild_id: int | None, otype: int) -> str:
    """The names a user/role option would accept here, for the error that says none matched."""
    names = []
    if otype in (6, 9):
        members = world.guild_members(guild_id)
        names += [
            f"@{world.users[m.user_id].username}" for m in members if m.user_id in world.users
        ]
    if otype in (8, 9):
        names += [f"@{r.name.removeprefix('@')}" for r in world.guild_roles(guild_id)]
    return ", ".join(names) or "none"


# ---- the gateway payload ----


def integration_owners(rec: InteractionRecord) -> dict[str, str]:
    """The app is installed to guilds only: the guild's id, or "0" in a DM with the bot."""
    return {"0": str(rec.guild_id or 0)}


def interaction_payload(world: World, rec: InteractionRecord) -> dict[str, Any]:
    ch = world.channel(rec.channel_id)
    user_perms = str(world.permissions(rec.user_id, ch.id))
    payload: dict[str, Any] = {
        "id": str(rec.id),
        "application_id": str(world.application_id),
        "type": rec.type,
        "data": rec.data,
        "channel_id": str(ch.id),
        "channel": {**P.channel(ch, world), "permissions": user_perms},
        "token": rec.token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": integration_owners(rec),
        "attachment_size_limit": P.ATTACHMENT_SIZE_LIMIT,
    }
    if rec.guild_id is None:  # a DM with the bot: `user` instead of `member`, no guild
        payload["user"] = P.user(world.user(rec.user_id))
        payload["app_permissions"] = str(world.permissions(world.bot.id, ch.id))
        payload["context"] = 1
    else:
        mem = world.member(rec.guild_id, rec.user_id)
        payload["guild_id"] = str(rec.guild_id)
        payload["guild"] = {"id": str(rec.guild_id), "locale": "en-US", "features": []}
        payload["member"] = {**P.member(world, mem), "permissions": user_perms}
        # Without its bot user in the guild (applications.commands scope only) the app has no
        # member of its own there: what @everyone may do in the channel.
        app_perms = (
            world.permissions(world.bot.id, ch.id)
            if world.has_bot(rec.guild_id)
            else world.everyone_permissions(ch.id)
        )
        payload["app_permissions"] = str(app_perms)
        payload["guild_locale"] = "en-US"
        payload["context"] = 0
    if rec.message_id is not None and rec.message_id in world.messages:
        payload["message"] = P.message(world, world.messages[rec.message_id])
    return payload


# ---- the registry: callbacks and webhook calls on interaction tokens ----


class Interactions:
    def __init__(self, world: World) -> None:
        self.world = world
        self.by_id: dict[int, InteractionRecord] = {}
        self.by_token: dict[str, InteractionRecord] = {}

    def create(
        self,
        *,
        type: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        now: float,
        message_id: int | None = None,
        focused_type: int | None = None,
    ) -> InteractionRecord:
        rec = InteractionRecord(
            id=self.world.ids.next(),
            token=f"emu{secrets.token_urlsafe(48)}",
            type=type,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            created_at=now,
            data=data,
            message_id=message_id,
            focused_type=focused_type,
        )
        self._forget_expired(now)
        self.by_id[rec.id] = rec
        self.by_token[rec.token] = rec
        return rec

    def _forget_expired(self, now: float) -> None:
        # Oldest first (insertion order), stopping at the first still alive: a scan of every
        # record per interaction made a long session's interactions ever slower. A record a
        # clock step left behind is still refused when used (the TTL is checked there too).
        while self.by_id:
            rec = next(iter(self.by_id.values()))
            if now - rec.created_at <= TOKEN_TTL:
                return
            del self.by_id[rec.id]
            del self.by_token[rec.token]

    def callback(
        self,
        interaction_id: int,
        token: str,
        body: Any,
        attachments: list[Attachment],
        *,
        now: float,
    ) -> tuple[InteractionRecord, dict[str, Any]]:
        """POST /interactions/{id}/{token}/callback: the record and the with_response body."""
        rec = self.by_id.get(interaction_id)
        if rec is None or rec.token != token or now - rec.created_at > ACK_WINDOW:
            raise E.not_found(E.UNKNOWN_INTERACTION, "interaction")
        if rec.callback_type is not None:
            raise ApiError(
                400, E.INTERACTION_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        if not isinstance(body, dict) or not isinstance(body.get("type"), int):
            raise E.form_error([("type", "BASE_TYPE_REQUIRED", "This field is required")])
        ctype = body["type"]
        if ctype not in _ALLOWED_CALLBACKS.get(rec.type, set()):
            raise E.form_error(
                [
                    (
                        "type",
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Interaction response type {ctype} is not valid "
                        f"for interaction type {rec.type}",
                    )
                ]
            )
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise E.form_error([("data", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")])
        resource: dict[str, Any] = {"type": ctype}
        if ctype == CHANNEL_MESSAGE:
            msg = self._respond_message(rec, data, attachments, loading=False)
            resource["message"] = P.message(self.world, msg)
        elif ctype == DEFERRED_CHANNEL_MESSAGE:
            msg = self._respond_message(rec, data, [], loading=True)
            rec.deferred = True
            resource["message"] = P.message(self.world, msg)
        elif ctype == DEFERRED_UPDATE:
            rec.original_id = rec.message_id
            rec.deferred = True
        elif ctype == UPDATE_MESSAGE:
            msg = self._component_message(rec)
            self.world.edit_message(msg, data, editor_id=self.world.bot.id)
            rec.original_id = msg.id
            rec.settled = True
            resource["message"] = P.message(self.world, msg)
        elif ctype == AUTOCOMPLETE_RESULT:
            choices = data.get("choices", [])
            problems = validate.choices_problems(choices, rec.focused_type)
            if problems:
                raise E.form_error(problems)
            rec.choices = list(choices)
            rec.settled = True
        elif ctype == MODAL:
            self._check_modal(data)
            rec.modal = data
            rec.settled = True
        rec.callback_type = ctype
        response: dict[str, Any] = {
            "interaction": {
                "id": str(rec.id),
                "type": rec.type,
                "response_message_loading": ctype == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": rec.ephemeral,
            },
        }
        if rec.original_id is not None:
            response["interaction"]["response_message_id"] = str(rec.original_id)
        if ctype in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, UPDATE_MESSAGE):
            response["resource"] = resource
        return rec, response

    def _component_message(self, rec: InteractionRecord) -> Message:
        if rec.message_id is None or rec.message_id not in self.world.messages:
            raise E.form_error(
                [
                    (
                        "type",
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "This interaction has no message to update",
                    )
                ]
            )
        return self.world.messages[rec.message_id]

    def _respond_message(
        self,
        rec: InteractionRecord,
        data: dict[str, Any],
        attachments: list[Attachment],
        *,
        loading: bool,
    ) -> Message:
        flags = int(data.get("flags") or 0)
        rec.ephemeral = bool(flags & FLAG_EPHEMERAL)
        body = dict(data)
        if loading:
            body = {"flags": flags}
        msg = self._post(rec, body, attachments, loading=loading, followup=False)
        rec.original_id = msg.id
        rec.settled = not loading
        return msg

    def _post(
        self,
        rec: InteractionRecord,
        body: dict[str, Any],
        attachments: list[Attachment],
        *,
        loading: bool,
        followup: bool,
    ) -> Message:
        flags = int(body.get("flags") or 0)
        ephemeral = bool(flags & FLAG_EPHEMERAL)
        if loading:
            flags |= FLAG_LOADING
        body = {k: v for k, v in body.items() if k not in ("nonce", "enforce_nonce")}
        body["flags"] = flags
        user = self.world.users[rec.user_id]
        msg, _ = self.world.create_message(
            rec.channel_id,
            self.world.bot.id,
            body,
            attachments=attachments,
            check_permissions=False,  # interaction replies need no channel permission
            message_type=0 if followup or rec.type != APPLICATION_COMMAND else 20,
            visible=not ephemeral,
            allow_empty=loading,
            extra={
                "webhook_id": self.world.application_id,
                "application_id": self.world.application_id,
                "interaction_metadata": {
                    "id": str(rec.id),
                    "type": rec.type,
                    "user": P.user(user),
                    "authorizing_integration_owners": integration_owners(rec),
                    **({"name": rec.data.get("name")} if rec.type == APPLICATION_COMMAND else {}),
                },
            },
        )
        return msg

    def _check_modal(self, data: dict[str, Any]) -> None:
        problems = []
        if not data.get("custom_id"):
            problems.append(("data.custom_id", "BASE_TYPE_REQUIRED", "This field is required"))
        title = data.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= 45:
            problems.append(
                ("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
            )
        comps = data.get("components")
        if not isinstance(comps, list) or not 1 <= len(comps) <= 5:
            problems.append(
                ("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            )
        if problems:
            raise E.form_error(problems)

    # ---- webhook endpoints on the interaction token ----

    def by_webhook(self, application_id: int, token: str, *, now: float) -> InteractionRecord:
        rec = self.by_token.get(token)
        if rec is None or application_id != self.world.application_id:
            raise E.not_found(E.UNKNOWN_WEBHOOK, "Webhook")
        if now - rec.created_at > TOKEN_TTL:
            raise ApiError(401, E.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        return rec

    def message_of(self, rec: InteractionRecord, message_id: str) -> Message:
        if message_id == "@original":
            mid = rec.original_id
        else:
            mid = int(message_id) if message_id.isdigit() else None
            if mid not in rec.followup_ids and mid != rec.original_id:
                mid = None
        if mid is None or mid not in self.world.messages:
            raise E.not_found(E.UNKNOWN_MESSAGE, "Message")
        return self.world.messages[mid]

    def edit(self, rec: InteractionRecord, message_id: str, body: Any) -> Message:
        if not isinstance(body, dict):
            raise E.form_error([("_root", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")])
        msg = self.message_of(rec, message_id)
        body = {k: v for k, v in body.items() if k != "flags"}  # ephemerality is fixed at creation
        self.world.edit_message(msg, body, editor_id=self.world.bot.id)
        if msg.id == rec.original_id:
            rec.settled = True
        return msg

    def delete(self, rec: InteractionRecord, message_id: str) -> None:
        msg = self.message_of(rec, message_id)
        self.world.delete_message(msg, deleter_id=self.world.bot.id, check=False)

    def followup(self, rec: InteractionRecord, body: Any, attachments: list[Attachment]) -> Message:
        if rec.callback_type is None:
            raise E.not_found(E.UNKNOWN_WEBHOOK, "Webhook")
        if not isinstance(body, dict):
            raise E.form_error([("_root", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")])
        original = self.world.messages.get(rec.original_id) if rec.original_id else None
        if (
            rec.callback_type == DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.flags & FLAG_LOADING
        ):
            # The first follow-up after a "thinking" deferral replaces the loading message and
            # keeps the deferral's ephemerality.
            body = {k: v for k, v in body.items() if k != "flags"}
            self.world.edit_message(original, body, editor_id=self.world.bot.id)
            original.edited_at = None
            rec.settled = True
            return original
        msg = self._post(rec, body, attachments, loading=False, followup=True)
        rec.followup_ids.append(msg.id)
        return msg

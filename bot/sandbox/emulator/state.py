"""The fake Discord's world: users, guilds, roles, members, channels, threads, messages, commands.

Pure in-memory logic; time comes from the injected clock. Every mutation that Discord would
announce on the gateway appends a `GatewayEvent` to `World.outbox`; the server drains it and
dispatches, so no REST handler can forget an event. Errors are `ApiError`s shaped like Discord's.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import errors as E
from . import payloads as P
from . import validate
from .errors import ApiError, EmulatorError
from .perms import (
    DEFAULT_BOT,
    DEFAULT_EVERYONE,
    DM_PERMISSIONS,
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    Overwrite,
    Perm,
    base_permissions,
    channel_permissions,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]

DISCORD_EPOCH_MS = 1420070400000

TEXT, DM, VOICE, CATEGORY, ANNOUNCEMENT = 0, 1, 2, 4, 5
ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD = 10, 11, 12
STAGE, FORUM, MEDIA = 13, 15, 16
THREAD_TYPES = (ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD)
CHANNEL_TYPES = {
    "text": TEXT,
    "voice": VOICE,
    "category": CATEGORY,
    "announcement": ANNOUNCEMENT,
    "news": ANNOUNCEMENT,
    "stage": STAGE,
    "forum": FORUM,
    "media": MEDIA,
}

# Gateway intents (docs: topics/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15

# Message flags used here.
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None
    mentionable: bool = False


@dataclass
class Member:
    guild_id: int
    user_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: float = 0.0
    nick: str | None = None


@dataclass
class Channel:
    id: int
    type: int
    guild_id: int | None  # None for a DM
    name: str
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    nsfw: bool = False
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    flags: int = 0
    available_tags: list[dict[str, Any]] = field(default_factory=list)
    # threads only
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    created_at: float | None = None
    archive_timestamp: float | None = None
    message_count: int = 0
    total_message_sent: int = 0
    applied_tags: list[int] = field(default_factory=list)
    invitable: bool = True
    member_ids: list[int] = field(default_factory=list)
    recipient_ids: list[int] = field(default_factory=list)  # DMs only: the user (not the bot)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    created_at: float
    unavailable: bool = False  # an outage on Discord's side (the bot is still a member)
    # The app was added with the applications.commands scope alone: its commands are there, its
    # bot user is not. Kicking the bot removes the whole app, commands too.
    commands_only: bool = False


@dataclass
class Attachment:
    id: int
    filename: str
    size: int
    content_type: str | None = None
    description: str | None = None


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    created_at: float
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    edited_at: float | None = None
    nonce: str | int | None = None
    tts: bool = False
    mention_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    reference: dict[str, Any] | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    thread_id: int | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)
    pinned: bool = False
    visible: bool = True  # ephemeral replies are seen only by their user, not in the channel
    allowed_mentions: dict[str, Any] | None = None


@dataclass
class Command:
    id: int
    application_id: int
    guild_id: int | None
    version: int
    definition: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.definition.get("name"))

    @property
    def type(self) -> int:
        return int(self.definition.get("type", 1) or 1)


@dataclass(frozen=True)
class GatewayEvent:
    name: str
    data: dict[str, Any]
    intent: int  # the intent a session needs to receive it; 0 = always
    guild_id: int | None = None


class Snowflakes:
    """Discord-shaped ids from the emulator's clock, strictly increasing even if the clock isn't."""

    def __init__(self, clock: Clock, last: int = 0) -> None:
        self._clock = clock
        self.last = last

    def next(self) -> int:
        ms = max(int(self._clock() * 1000) - DISCORD_EPOCH_MS, 0)
        self.last = max(self.last + 1, ms << 22)
        return self.last


def snowflake_time(snowflake: int) -> float:
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


class World:
    def __init__(
        self,
        *,
        clock: Clock,
        bot_name: str = "VG Bot",
        token: str | None = None,
    ) -> None:
        self.clock = clock
        self.ids = Snowflakes(clock)
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.roles: dict[int, Role] = {}
        self.members: dict[tuple[int, int], Member] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.commands: dict[int | None, list[Command]] = {}
        self.command_syncs = 0
        self.nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        self.outbox: list[GatewayEvent] = []
        self.base_url = "http://127.0.0.1"  # where attachment URLs point; set by the server
        bot_id = self.ids.next()
        self.bot = User(bot_id, bot_name, bot=True)
        self.users[bot_id] = self.bot
        self.application_id = bot_id  # Discord gives a bot user the application's id
        self.token = token or make_token(bot_id)

    # ---- lookups ----

    def user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise E.not_found(E.UNKNOWN_USER, "User") from None

    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise E.not_found(E.UNKNOWN_GUILD, "Guild") from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise E.not_found(E.UNKNOWN_CHANNEL, "Channel") from None

    def member(self, guild_id: int, user_id: int) -> Member:
        try:
            return self.members[(guild_id, user_id)]
        except KeyError:
            raise E.not_found(E.UNKNOWN_MEMBER, "Member") from None

    def message(self, channel_id: int, message_id: int) -> Message:
        msg = self.messages.get(message_id)
        if msg is None or msg.channel_id != channel_id or not msg.visible:
            raise E.not_found(E.UNKNOWN_MESSAGE, "Message")
        return msg

    def guild_channels(self, guild_id: int) -> list[Channel]:
        return [c for c in self.channels.values() if c.guild_id == guild_id and not c.is_thread]

    def guild_threads(self, guild_id: int) -> list[Channel]:
        return [c for c in self.channels.values() if c.guild_id == guild_id and c.is_thread]

    def guild_roles(self, guild_id: int | None) -> list[Role]:
        return sorted(
            (r for r in self.roles.values() if r.guild_id == guild_id), key=lambda r: r.position
        )

    def guild_members(self, guild_id: int | None) -> list[Member]:
        return [m for (g, _), m in self.members.items() if g == guild_id]

    def find_user(self, name: str) -> User | None:
        return next((u for u in self.users.values() if u.username == name), None)

    def iso(self, t: float | None = None) -> str:
        return P.iso(self.clock() if t is None else t)

    # ---- building the world (driver side) ----

    def add_user(self, username: str, *, bot: bool = False) -> User:
        if not username or len(username) > 32:
            raise EmulatorError(f"username must be 1-32 characters, got {username!r}")
        if self.find_user(username) is not None:
            raise EmulatorError(f"a user named {username!r} already exists; pick another name")
        user = User(self.ids.next(), username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str, *, bot_permissions: int = DEFAULT_BOT, with_bot: bool = True
    ) -> Guild:
        """A guild with the app installed; `with_bot=False`: with the applications.commands
        scope only (the commands are there, the bot user is not)."""
        if not 2 <= len(name) <= 100:
            raise EmulatorError(f"guild name must be 2-100 characters, got {name!r}")
        owner = self.add_user(f"{name[:20]}-owner".replace(" ", "_").lower())
        gid = self.ids.next()
        guild = Guild(gid, name, owner.id, self.clock())
        self.guilds[gid] = guild
        self.roles[gid] = Role(gid, gid, "@everyone", int(DEFAULT_EVERYONE), position=0)
        self.members[(gid, owner.id)] = Member(gid, owner.id, [], self.clock())
        if with_bot:
            self.add_bot(gid, bot_permissions=bot_permissions)
        else:
            guild.commands_only = True
        return guild

    def has_bot(self, guild_id: int) -> bool:
        """Whether the bot user is a member (not kicked, not a commands-only install)."""
        return (guild_id, self.bot.id) in self.members

    def has_commands(self, guild_id: int) -> bool:
        """Whether the app's commands can be used in the guild: its bot is in it, or the app
        was added with the applications.commands scope alone."""
        return self.has_bot(guild_id) or self.guild(guild_id).commands_only

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int,
        *,
        managed_by: int | None = None,
        mentionable: bool = False,
    ) -> Role:
        self.guild(guild_id)
        position = 1 + max((r.position for r in self.guild_roles(guild_id)), default=0)
        role = Role(
            self.ids.next(),
            guild_id,
            name,
            int(permissions),
            position=position,
            managed=managed_by is not None,
            bot_id=managed_by,
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        if not self._building(guild_id):
            self.outbox.append(
                GatewayEvent(
                    "GUILD_ROLE_CREATE",
                    {"guild_id": str(guild_id), "role": P.role(role)},
                    GUILDS,
                    guild_id,
                )
            )
        return role

    def remove_bot(self, guild_id: int) -> None:
        """The bot kicked (or its app removed): its member, managed role and commands go, and
        it gets GUILD_DELETE without `unavailable`; from then on the guild's channels answer it
        403 Missing Access and its events no longer reach it."""
        guild = self.guild(guild_id)
        if not self.has_bot(guild_id):
            raise EmulatorError(f"the bot is not in guild {guild_id}; add it back with add_bot")
        del self.members[(guild_id, self.bot.id)]
        for role in [r for r in self.guild_roles(guild_id) if r.bot_id == self.bot.id]:
            del self.roles[role.id]
        for ch in self.guild_threads(guild_id):  # leaving the guild leaves its threads too
            if self.bot.id in ch.member_ids:
                ch.member_ids.remove(self.bot.id)
        guild.unavailable = guild.commands_only = False
        self.outbox.append(GatewayEvent("GUILD_DELETE", {"id": str(guild_id)}, GUILDS, guild_id))

    def add_bot(self, guild_id: int, *, bot_permissions: int = DEFAULT_BOT) -> None:
        """The bot invited with the `bot` scope (again, or where only its commands were added):
        a new managed role, and GUILD_CREATE as for a guild joined while connected."""
        self.guild(guild_id)
        if self.has_bot(guild_id):
            raise EmulatorError(f"the bot is already in guild {guild_id}")
        bot_role = self.add_role(
            guild_id, self.bot.username, bot_permissions, managed_by=self.bot.id
        )
        self.members[(guild_id, self.bot.id)] = Member(
            guild_id, self.bot.id, [bot_role.id], self.clock()
        )
        # Rendered per session by the gateway: members depend on the session's intents.
        self.outbox.append(GatewayEvent("GUILD_CREATE", {"id": str(guild_id)}, GUILDS, guild_id))

    def set_available(self, guild_id: int, available: bool) -> None:
        """A guild outage on Discord's side begins (GUILD_DELETE with unavailable: true) or
        ends (GUILD_CREATE with unavailable: false). Meanwhile its events are not sent."""
        guild = self.guild(guild_id)
        if not self.has_bot(guild_id):
            raise EmulatorError(f"the bot is not in guild {guild_id}")
        if guild.unavailable == (not available):
            return
        guild.unavailable = not available
        data: dict[str, Any] = {"id": str(guild_id), "unavailable": not available}
        name = "GUILD_CREATE" if available else "GUILD_DELETE"
        self.outbox.append(GatewayEvent(name, data, GUILDS, guild_id))

    def bot_guilds(self) -> list[int]:
        """The guilds the bot is in (READY lists them)."""
        return [g for g in self.guilds if self.has_bot(g)]

    def _building(self, guild_id: int) -> bool:
        # No events while a guild is being assembled before anyone could see it.
        return not self.has_bot(guild_id)

    def add_member(self, guild_id: int, user_id: int, roles: Iterable[int] = ()) -> Member:
        self.guild(guild_id)
        role_ids = list(roles)
        for rid in role_ids:
            if rid not in self.roles or self.roles[rid].guild_id != guild_id:
                raise EmulatorError(f"role {rid} is not a role of guild {guild_id}")
        member = Member(guild_id, user_id, role_ids, self.clock())
        self.members[(guild_id, user_id)] = member
        self.outbox.append(
            GatewayEvent(
                "GUILD_MEMBER_ADD",
                {**P.member(self, member), "guild_id": str(guild_id)},
                GUILD_MEMBERS,
                guild_id,
            )
        )
        return member

    def add_channel(
        self,
        guild_id: int,
        name: str,
        type: int = TEXT,
        *,
        parent_id: int | None = None,
        topic: str | None = None,
        tags: Iterable[str] = (),
        require_tag: bool = False,
        moderated_tags: Iterable[str] = (),
    ) -> Channel:
        self.guild(guild_id)
        moderated = set(moderated_tags)
        if type in THREAD_TYPES:
            raise EmulatorError("threads are created from messages or channels, not added")
        if not 1 <= len(name) <= 100:
            raise EmulatorError(f"channel name must be 1-100 characters, got {name!r}")
        if parent_id is not None and self.channel(parent_id).type != CATEGORY:
            raise EmulatorError(f"parent {parent_id} is not a category channel")
        position = len(self.guild_channels(guild_id))
        ch = Channel(
            self.ids.next(), type, guild_id, name, position, parent_id=parent_id, topic=topic
        )
        if type in (FORUM, MEDIA):
            ch.available_tags = [
                {
                    "id": str(self.ids.next()),
                    "name": t,
                    "moderated": t in moderated,
                    "emoji_id": None,
                    "emoji_name": None,
                }
                for t in tags
            ]
            if require_tag:
                ch.flags |= 1 << 4  # REQUIRE_TAG
        elif tags:
            raise EmulatorError("tags are only for forum or media channels")
        self.channels[ch.id] = ch
        self.channel_messages[ch.id] = []
        self.outbox.append(GatewayEvent("CHANNEL_CREATE", P.channel(ch), GUILDS, guild_id))
        return ch

    def set_overwrite(
        self, channel_id: int, target_id: int, kind: int, *, allow: int = 0, deny: int = 0
    ) -> None:
        ch = self.channel(channel_id)
        ch.overwrites = [o for o in ch.overwrites if not (o.id == target_id and o.type == kind)]
        if allow or deny:
            ch.overwrites.append(Overwrite(target_id, kind, int(allow), int(deny)))
        self.outbox.append(GatewayEvent("CHANNEL_UPDATE", P.channel(ch), GUILDS, ch.guild_id))

    def set_role_permissions(self, role_id: int, permissions: int) -> None:
        role = self.roles[role_id]
        role.permissions = int(permissions)
        self.outbox.append(
            GatewayEvent(
                "GUILD_ROLE_UPDATE",
                {"guild_id": str(role.guild_id), "role": P.role(role)},
                GUILDS,
                role.guild_id,
            )
        )

    # ---- permissions ----

    def permissions(self, user_id: int, channel_id: int) -> int:
        """The user's permissions in a channel; threads use their parent's, as on Discord."""
        ch = self.channel(channel_id)
        if ch.guild_id is None:
            return int(DM_PERMISSIONS) if user_id in (*ch.recipient_ids, self.bot.id) else 0
        target = self.channel(ch.parent_id) if ch.is_thread and ch.parent_id else ch
        return self._channel_perms(ch.guild_id, user_id, target.overwrites)

    def everyone_permissions(self, channel_id: int) -> int:
        """What @everyone may do in a channel (no member roles, no member overwrite)."""
        ch = self.channel(channel_id)
        if ch.guild_id is None:
            return int(DM_PERMISSIONS)
        target = self.channel(ch.parent_id) if ch.is_thread and ch.parent_id else ch
        gid = ch.guild_id
        role_perms = {r.id: r.permissions for r in self.guild_roles(gid)}
        base = base_permissions(
            guild_id=gid, owner_id=-1, user_id=0, member_roles=[], role_perms=role_perms
        )
        return channel_permissions(
            base, guild_id=gid, user_id=0, member_roles=[], overwrites=target.overwrites
        )

    def dm_channel(self, user_id: int) -> Channel:
        """The DM channel between a user and the bot (opened on first use, as by the client)."""
        self.user(user_id)
        for ch in self.channels.values():
            if ch.type == DM and ch.recipient_ids == [user_id]:
                return ch
        ch = Channel(self.ids.next(), DM, None, "", recipient_ids=[user_id])
        self.channels[ch.id] = ch
        self.channel_messages[ch.id] = []
        return ch

    def guild_permissions(self, guild_id: int, user_id: int) -> int:
        return self._channel_perms(guild_id, user_id, None)

    def _channel_perms(
        self, guild_id: int, user_id: int, overwrites: list[Overwrite] | None
    ) -> int:
        guild = self.guild(guild_id)
        member = self.members.get((guild_id, user_id))
        if member is None:
            return 0
        role_perms = {r.id: r.permissions for r in self.guild_roles(guild_id)}
        base = base_permissions(
            guild_id=guild_id,
            owner_id=guild.owner_id,
            user_id=user_id,
            member_roles=member.roles,
            role_perms=role_perms,
        )
        if overwrites is None:
            return base
        return channel_permissions(
            base,
            guild_id=guild_id,
            user_id=user_id,
            member_roles=member.roles,
            overwrites=overwrites,
        )

    def require(self, user_id: int, channel_id: int, needed: int) -> None:
        perms = self.permissions(user_id, channel_id)
        if not perms & Perm.VIEW_CHANNEL:
            raise E.missing_access()
        if perms & needed != needed:
            raise E.missing_permissions()

    # ---- messages ----

    def create_message(
        self,
        channel_id: int,
        author_id: int,
        body: dict[str, Any],
        *,
        attachments: list[Attachment] | None = None,
        nonce_window: float = 300.0,
        check_permissions: bool = True,
        message_type: int = 0,
        visible: bool = True,
        allow_empty: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        """Post a message; returns (message, created). created=False when a nonce matched."""
        ch = self.channel(channel_id)
        if ch.type in (CATEGORY, FORUM, MEDIA):
            raise ApiError(400, E.NON_TEXT_CHANNEL, "Cannot send messages in a non-text channel")
        files = attachments or []
        if check_permissions:
            needed = Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES
            if files:
                needed |= Perm.ATTACH_FILES
            self.require(author_id, channel_id, int(needed))
        problems = validate.message_problems(body, has_files=bool(files))
        if problems:
            raise E.form_error(problems)
        if not allow_empty and validate.is_empty_message(body, has_files=bool(files)):
            raise ApiError(400, E.EMPTY_MESSAGE, "Cannot send an empty message")
        if ch.is_thread:
            self._reopen_thread_for_post(ch, author_id)
        now = self.clock()
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            key = (channel_id, author_id, str(nonce))
            seen = self.nonces.get(key)
            if seen is not None and now - seen[1] < nonce_window and seen[0] in self.messages:
                return self.messages[seen[0]], False
        reference = self._reference(ch, body.get("message_reference"))
        msg = Message(
            id=self.ids.next(),
            channel_id=channel_id,
            guild_id=ch.guild_id,
            author_id=author_id,
            created_at=now,
            content=body.get("content") or "",
            embeds=[_normalise_embed(e) for e in body.get("embeds") or []],
            components=list(body.get("components") or []),
            attachments=files,
            flags=int(body.get("flags") or 0),
            type=19 if reference and message_type == 0 else message_type,
            nonce=nonce,
            tts=bool(body.get("tts")),
            reference=reference,
            visible=visible,
            allowed_mentions=body.get("allowed_mentions"),
        )
        for attr, value in (extra or {}).items():
            setattr(msg, attr, value)
        self._resolve_mentions(msg)
        self.messages[msg.id] = msg
        if nonce is not None and body.get("enforce_nonce"):
            self._forget_old_nonces(now, nonce_window)
            self.nonces[(channel_id, author_id, str(nonce))] = (msg.id, now)
        if visible:
            self._append_to_channel(ch, msg)
        return msg, True

    def _forget_old_nonces(self, now: float, window: float) -> None:
        expired = [key for key, (_, t) in self.nonces.items() if now - t >= window]
        for key in expired:
            del self.nonces[key]

    def _append_to_channel(self, ch: Channel, msg: Message) -> None:
        self.channel_messages.setdefault(ch.id, []).append(msg.id)
        ch.last_message_id = msg.id
        if ch.is_thread:
            ch.message_count += 1
            ch.total_message_sent += 1
        intent = GUILD_MESSAGES if ch.guild_id is not None else DIRECT_MESSAGES
        self.outbox.append(
            GatewayEvent("MESSAGE_CREATE", P.message(self, msg, gateway=True), intent, ch.guild_id)
        )

    def _reopen_thread_for_post(self, ch: Channel, author_id: int) -> None:
        if ch.locked and not self.permissions(author_id, ch.id) & Perm.MANAGE_THREADS:
            raise ApiError(400, E.ARCHIVED_THREAD, "Thread is locked")
        if ch.archived:  # posting in an archived, unlocked thread unarchives it
            ch.archived = False
            ch.archive_timestamp = self.clock()
            self.outbox.append(GatewayEvent("THREAD_UPDATE", P.channel(ch), GUILDS, ch.guild_id))

    def _reference(self, ch: Channel, ref: Any) -> dict[str, Any] | None:
        if not ref:
            return None
        if not isinstance(ref, dict) or "message_id" not in ref:
            raise E.form_error(
                [("message_reference.message_id", "BASE_TYPE_REQUIRED", "This field is required")]
            )
        target_channel = int(ref.get("channel_id") or ch.id)
        try:
            target = self.message(target_channel, int(ref["message_id"]))
        except (ApiError, ValueError):
            if ref.get("fail_if_not_exists", True):
                raise E.form_error(
                    [("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")]
                ) from None
            return None
        return {
            "type": 0,
            "message_id": str(target.id),
            "channel_id": str(target.channel_id),
            "guild_id": str(ch.guild_id),
        }

    def _resolve_mentions(self, msg: Message) -> None:
        """Who the message pings, honouring allowed_mentions as Discord does."""
        am = msg.allowed_mentions
        parse = {"users", "roles", "everyone"} if am is None else set(am.get("parse") or [])
        allowed_users = {int(u) for u in (am or {}).get("users") or []}
        allowed_roles = {int(r) for r in (am or {}).get("roles") or []}
        text = msg.content
        users: list[int] = []
        for raw in _USER_MENTION.findall(text):
            uid = int(raw)
            if (
                uid in self.users
                and ("users" in parse or uid in allowed_users)
                and uid not in users
            ):
                users.append(uid)
        if msg.reference and (am is None or am.get("replied_user", True)):
            replied = self.messages.get(int(msg.reference["message_id"]))
            if replied is not None and replied.author_id not in users:
                users.append(replied.author_id)
        roles: list[int] = []
        for raw in _ROLE_MENTION.findall(text):
            rid = int(raw)
            if (
                rid in self.roles
                and ("roles" in parse or rid in allowed_roles)
                and rid not in roles
            ):
                roles.append(rid)
        everyone = ("@everyone" in text or "@here" in text) and "everyone" in parse
        if everyone and msg.guild_id is not None and msg.webhook_id is None:
            everyone = bool(self.permissions(msg.author_id, msg.channel_id) & Perm.MENTION_EVERYONE)
        msg.mention_ids, msg.mention_role_ids, msg.mention_everyone = users, roles, everyone

    def edit_message(
        self, msg: Message, body: dict[str, Any], *, editor_id: int, check_author: bool = True
    ) -> Message:
        if check_author and msg.author_id != editor_id:
            changes_content = any(
                k in body for k in ("content", "embeds", "components", "attachments")
            )
            if changes_content:
                raise ApiError(
                    403, E.EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user"
                )
        problems = validate.message_problems(body)
        if problems:
            raise E.form_error(problems)
        home = self.channels.get(msg.channel_id)
        if home is not None and home.is_thread and home.archived:
            raise ApiError(400, E.ARCHIVED_THREAD, "Thread is archived")
        content = (body["content"] or "") if "content" in body else msg.content
        embeds = (
            [_normalise_embed(e) for e in body["embeds"] or []] if "embeds" in body else msg.embeds
        )
        components = list(body["components"] or []) if "components" in body else msg.components
        attachments = msg.attachments
        if body.get("attachments") is not None:
            keep = {int(a["id"]) for a in body["attachments"] if str(a.get("id", "")).isdigit()}
            attachments = [a for a in msg.attachments if a.id in keep]
        after = {"content": content, "embeds": embeds, "components": components}
        if validate.is_empty_message(after, has_files=bool(attachments)):
            raise ApiError(400, E.EMPTY_MESSAGE, "Cannot send an empty message")
        msg.content, msg.embeds, msg.components, msg.attachments = (
            content,
            embeds,
            components,
            attachments,
        )
        if body.get("flags") is not None:
            # only SUPPRESS_EMBEDS may be toggled by an edit
            msg.flags = (msg.flags & ~4) | (int(body["flags"]) & 4)
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        msg.flags &= ~FLAG_LOADING
        msg.edited_at = self.clock()
        self._resolve_mentions(msg)
        if msg.visible:
            self.outbox.append(
                GatewayEvent(
                    "MESSAGE_UPDATE",
                    P.message(self, msg, gateway=True),
                    GUILD_MESSAGES,
                    msg.guild_id,
                )
            )
        return msg

    def delete_message(self, msg: Message, *, deleter_id: int, check: bool = True) -> None:
        if check and msg.author_id != deleter_id:
            self.require(deleter_id, msg.channel_id, int(Perm.MANAGE_MESSAGES))
        self.messages.pop(msg.id, None)
        ids = self.channel_messages.get(msg.channel_id, [])
        if msg.id in ids:
            ids.remove(msg.id)
        if msg.visible:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            self.outbox.append(GatewayEvent("MESSAGE_DELETE", data, GUILD_MESSAGES, msg.guild_id))

    def list_messages(
        self,
        channel_id: int,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
    ) -> list[Message]:
        """Newest first, as Discord returns them (also for `after`: the oldest N after it)."""
        ids = sorted(self.channel_messages.get(channel_id, []))
        if around is not None:
            older = [i for i in ids if i < around][-(limit // 2) :] if limit // 2 else []
            newer = [i for i in ids if i >= around][: limit - len(older)]
            chosen = older + newer
        elif after is not None:
            chosen = [i for i in ids if i > after][:limit]
        else:
            if before is not None:
                ids = [i for i in ids if i < before]
            chosen = ids[-limit:] if limit else []
        return [self.messages[i] for i in reversed(chosen)]

    def add_reaction(self, msg: Message, emoji: str, user_id: int) -> bool:
        users = msg.reactions.setdefault(emoji, [])
        if user_id in users:
            return False
        users.append(user_id)
        self.outbox.append(
            GatewayEvent(
                "MESSAGE_REACTION_ADD",
                {
                    "user_id": str(user_id),
                    "channel_id": str(msg.channel_id),
                    "message_id": str(msg.id),
                    "guild_id": str(msg.guild_id),
                    "emoji": P.emoji(emoji),
                    "burst": False,
                    "type": 0,
                },
                GUILD_MESSAGE_REACTIONS,
                msg.guild_id,
            )
        )
        return True

    # ---- threads ----

    def start_thread_from_message(
        self, channel_id: int, message_id: int, user_id: int, body: dict[str, Any]
    ) -> Channel:
        parent = self.channel(channel_id)
        if parent.type not in (TEXT, ANNOUNCEMENT):
            raise ApiError(400, E.WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        msg = self.message(channel_id, message_id)
        self.require(user_id, channel_id, int(Perm.CREATE_PUBLIC_THREADS))
        if msg.thread_id is not None:
            raise ApiError(
                400, E.THREAD_EXISTS, "A thread has already been created for this message"
            )
        kind = ANNOUNCEMENT_THREAD if parent.type == ANNOUNCEMENT else PUBLIC_THREAD
        thread = self._new_thread(parent, user_id, body, kind, thread_id=msg.id)
        msg.thread_id = thread.id
        msg.flags |= FLAG_HAS_THREAD
        self.outbox.append(
            GatewayEvent(
                "MESSAGE_UPDATE", P.message(self, msg, gateway=True), GUILD_MESSAGES, msg.guild_id
            )
        )
        return thread

    def start_thread(
        self,
        channel_id: int,
        user_id: int,
        body: dict[str, Any],
        *,
        attachments: list[Attachment] | None = None,
        nonce_window: float = 300.0,
    ) -> tuple[Channel, Message | None]:
        """POST /channels/{id}/threads: a thread in a text channel, or a post in a forum."""
        parent = self.channel(channel_id)
        if parent.type in (FORUM, MEDIA):
            return self._forum_post(parent, user_id, body, attachments or [], nonce_window)
        if parent.type not in (TEXT, ANNOUNCEMENT):
            raise ApiError(400, E.WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        default = ANNOUNCEMENT_THREAD if parent.type == ANNOUNCEMENT else PRIVATE_THREAD
        kind = int(body.get("type") or default)
        if kind not in THREAD_TYPES:
            raise E.form_error(
                [("type", "BASE_TYPE_CHOICES", "Value must be one of (10, 11, 12).")]
            )
        needed = (
            Perm.CREATE_PRIVATE_THREADS if kind == PRIVATE_THREAD else Perm.CREATE_PUBLIC_THREADS
        )
        self.require(user_id, channel_id, int(needed))
        return self._new_thread(parent, user_id, body, kind), None

    def _forum_post(
        self,
        parent: Channel,
        user_id: int,
        body: dict[str, Any],
        attachments: list[Attachment],
        nonce_window: float,
    ) -> tuple[Channel, Message]:
        message_body = body.get("message")
        if not isinstance(message_body, dict):
            raise E.form_error([("message", "BASE_TYPE_REQUIRED", "This field is required")])
        self.require(user_id, parent.id, int(Perm.SEND_MESSAGES))
        problems = validate.message_problems(message_body)
        if problems:
            raise E.form_error([(f"message.{p}", c, m) for p, c, m in problems])
        if validate.is_empty_message(message_body, has_files=bool(attachments)):
            raise ApiError(400, E.EMPTY_MESSAGE, "Cannot send an empty message")
        tags = [str(t) for t in body.get("applied_tags") or []]
        known = {t["id"] for t in parent.available_tags}
        unknown = [t for t in tags if t not in known]
        if unknown or len(tags) > 5:
            raise E.form_error(
                [
                    (
                        "applied_tags",
                        "BASE_TYPE_CHOICES",
                        f"Unknown or too many tags: {unknown or tags}",
                    )
                ]
            )
        self._check_moderated_tags(parent, tags, user_id)
        if parent.flags & (1 << 4) and not tags:
            raise ApiError(
                400, E.TAG_REQUIRED, "A tag is required to create a forum post in this channel"
            )
        thread_id = self.ids.next()
        thread = self._new_thread(
            parent, user_id, body, PUBLIC_THREAD, thread_id=thread_id, announce=False
        )
        thread.applied_tags = [int(t) for t in tags]
        # The starter message shares the thread's id, as on Discord.
        msg, _ = self.create_message(
            thread.id,
            user_id,
            message_body,
            attachments=attachments,
            nonce_window=nonce_window,
            check_permissions=False,
            extra={"id": thread_id},
        )
        self._announce_thread(thread)
        parent.last_message_id = thread.id
        return thread, msg

    def _new_thread(
        self,
        parent: Channel,
        user_id: int,
        body: dict[str, Any],
        kind: int,
        *,
        thread_id: int | None = None,
        announce: bool = True,
    ) -> Channel:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise E.form_error(
                [("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")]
            )
        duration = int(body.get("auto_archive_duration") or 1440)
        if duration not in (60, 1440, 4320, 10080):
            raise E.form_error(
                [
                    (
                        "auto_archive_duration",
                        "BASE_TYPE_CHOICES",
                        "Value must be one of (60, 1440, 4320, 10080).",
                    )
                ]
            )
        now = self.clock()
        thread = Channel(
            id=thread_id or self.ids.next(),
            type=kind,
            guild_id=parent.guild_id,
            name=name,
            parent_id=parent.id,
            owner_id=user_id,
            auto_archive_duration=duration,
            created_at=now,
            archive_timestamp=now,
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
            invitable=bool(body.get("invitable", True)),
            member_ids=[user_id],
        )
        self.channels[thread.id] = thread
        self.channel_messages[thread.id] = []
        if announce:
            self._announce_thread(thread)
        return thread

    def _announce_thread(self, thread: Channel) -> None:
        data = {**P.channel(thread), "newly_created": True}
        self.outbox.append(GatewayEvent("THREAD_CREATE", data, GUILDS, thread.guild_id))

    def _check_moderated_tags(self, forum: Channel, tags: Iterable[str], user_id: int) -> None:
        """A moderated tag "can only be added to or removed from threads by a member with the
        MANAGE_THREADS permission"."""
        moderated = {t["id"] for t in forum.available_tags if t.get("moderated")}
        if moderated & set(tags) and not self.permissions(user_id, forum.id) & Perm.MANAGE_THREADS:
            raise E.missing_permissions()

    def archive_thread(self, ch: Channel, *, locked: bool = False) -> None:
        ch.archived, ch.locked = True, locked or ch.locked
        ch.archive_timestamp = self.clock()
        self.outbox.append(GatewayEvent("THREAD_UPDATE", P.channel(ch), GUILDS, ch.guild_id))

    def edit_channel(self, ch: Channel, body: dict[str, Any], *, user_id: int) -> Channel:
        if ch.is_thread:
            is_owner = ch.owner_id == user_id
            perms = self.permissions(user_id, ch.id)
            touches_lock = "locked" in body
            if touches_lock or ch.locked or not is_owner:
                if not perms & Perm.MANAGE_THREADS:
                    raise E.missing_permissions()
            # "Requires the thread to have archived set to false or be set to false in the
            # request."
            if ch.archived and body.get("archived") is not False:
                raise ApiError(400, E.ARCHIVED_THREAD, "Thread is archived")
            wanted_tags = [int(t) for t in body.get("applied_tags") or []]
            if "applied_tags" in body and ch.parent_id is not None:
                changed = set(wanted_tags) ^ set(ch.applied_tags)
                forum = self.channel(ch.parent_id)
                self._check_moderated_tags(forum, [str(t) for t in changed], user_id)
            for key in (
                "name",
                "archived",
                "locked",
                "auto_archive_duration",
                "rate_limit_per_user",
                "invitable",
            ):
                if key in body and body[key] is not None:
                    setattr(ch, key, body[key])
            if "archived" in body:
                ch.archive_timestamp = self.clock()
            if "applied_tags" in body:
                ch.applied_tags = wanted_tags
            self.outbox.append(GatewayEvent("THREAD_UPDATE", P.channel(ch), GUILDS, ch.guild_id))
            return ch
        self.require(user_id, ch.id, int(Perm.MANAGE_CHANNELS))
        for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position"):
            if key in body:
                setattr(ch, key, body[key])
        self.outbox.append(GatewayEvent("CHANNEL_UPDATE", P.channel(ch), GUILDS, ch.guild_id))
        return ch

    def delete_channel(self, channel_id: int) -> None:
        """Remove a channel with its threads and messages (CHANNEL_DELETE / THREAD_DELETE)."""
        ch = self.channel(channel_id)
        doomed = [ch, *(c for c in self.channels.values() if c.is_thread and c.parent_id == ch.id)]
        for gone in doomed:
            for mid in self.channel_messages.pop(gone.id, []):
                self.messages.pop(mid, None)
            del self.channels[gone.id]
            if gone.is_thread:
                data = {
                    "id": str(gone.id),
                    "guild_id": str(gone.guild_id),
                    "parent_id": P.sid(gone.parent_id),
                    "type": gone.type,
                }
                self.outbox.append(GatewayEvent("THREAD_DELETE", data, GUILDS, gone.guild_id))
            else:
                self.outbox.append(
                    GatewayEvent("CHANNEL_DELETE", P.channel(gone), GUILDS, gone.guild_id)
                )

    def join_thread(self, thread: Channel, user_id: int) -> None:
        if not thread.is_thread:
            raise ApiError(400, E.WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        if user_id not in thread.member_ids:
            thread.member_ids.append(user_id)

    # ---- application commands ----

    def overwrite_commands(self, guild_id: int | None, definitions: Any) -> list[Command]:
        problems = validate.commands_problems(definitions)
        if problems:
            raise E.form_error(problems)
        old = {(c.type, c.name): c for c in self.commands.get(guild_id, [])}
        fresh: list[Command] = []
        for d in definitions:
            clean = {
                k: v
                for k, v in d.items()
                if k not in ("id", "application_id", "version", "guild_id")
            }
            key = (int(clean.get("type", 1) or 1), str(clean.get("name")))
            prev = old.get(key)
            if prev is not None and prev.definition == clean:
                fresh.append(prev)
            else:
                cid = prev.id if prev is not None else self.ids.next()
                fresh.append(Command(cid, self.application_id, guild_id, self.ids.next(), clean))
        self.commands[guild_id] = fresh
        self.command_syncs += 1
        return fresh

    def upsert_command(self, guild_id: int | None, definition: Any) -> Command:
        current = [c.definition for c in self.commands.get(guild_id, [])]
        name = definition.get("name") if isinstance(definition, dict) else None
        kind = (definition.get("type", 1) or 1) if isinstance(definition, dict) else 1
        current = [
            d for d in current if not (d.get("name") == name and (d.get("type", 1) or 1) == kind)
        ]
        syncs = self.command_syncs
        result = self.overwrite_commands(guild_id, [*current, definition])
        self.command_syncs = syncs + 1
        return next(c for c in result if c.name == name and c.type == kind)

    def delete_command(self, guild_id: int | None, command_id: int) -> None:
        cmds = self.commands.get(guild_id, [])
        if not any(c.id == command_id for c in cmds):
            raise E.not_found(E.UNKNOWN_COMMAND, "application command")
        self.commands[guild_id] = [c for c in cmds if c.id != command_id]

    def find_command(self, guild_id: int | None, name: str, kind: int = 1) -> Command | None:
        for scope in (guild_id, None):
            for c in self.commands.get(scope, []):
                if c.name == name and c.type == kind:
                    return c
        return None

    # ---- persistence ----

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "last_id": self.ids.last,
            "bot_id": self.bot.id,
            "token": self.token,
            "users": [asdict(u) for u in self.users.values()],
            "guilds": [asdict(g) for g in self.guilds.values()],
            "roles": [asdict(r) for r in self.roles.values()],
            "members": [asdict(m) for m in self.members.values()],
            "channels": [asdict(c) for c in self.channels.values()],
            "messages": [asdict(m) for m in self.messages.values()],
            "commands": [asdict(c) for cmds in self.commands.values() for c in cmds],
            "command_syncs": self.command_syncs,
            "nonces": [[c, a, n, mid, t] for (c, a, n), (mid, t) in self.nonces.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, clock: Clock) -> World:
        if data.get("version") != 1:
            raise EmulatorError(
                f"state file version {data.get('version')!r} is not 1; "
                "delete the file to start fresh"
            )
        world = cls.__new__(cls)
        world.clock = clock
        world.ids = Snowflakes(clock, int(data["last_id"]))
        world.users = {u["id"]: User(**u) for u in data["users"]}
        world.bot = world.users[data["bot_id"]]
        world.application_id = world.bot.id
        world.token = data["token"]
        world.guilds = {g["id"]: Guild(**g) for g in data["guilds"]}
        world.roles = {r["id"]: Role(**r) for r in data["roles"]}
        world.members = {(m["guild_id"], m["user_id"]): Member(**m) for m in data["members"]}
        world.channels = {}
        for c in data["channels"]:
            c = dict(c)
            c["overwrites"] = [Overwrite(**o) for o in c["overwrites"]]
            world.channels[c["id"]] = Channel(**c)
        world.messages = {}
        world.channel_messages = {cid: [] for cid in world.channels}
        for m in data["messages"]:
            m = dict(m)
            m["attachments"] = [Attachment(**a) for a in m["attachments"]]
            msg = Message(**m)
            world.messages[msg.id] = msg
            if msg.visible:
                world.channel_messages.setdefault(msg.channel_id, []).append(msg.id)
        for ids in world.channel_messages.values():
            ids.sort()
        world.commands = {}
        for c in data["commands"]:
            world.commands.setdefault(c["guild_id"], []).append(Command(**c))
        world.command_syncs = int(data.get("command_syncs", 0))
        world.nonces = {(c, a, n): (mid, t) for c, a, n, mid, t in data.get("nonces", [])}
        world.outbox = []
        world.base_url = "http://127.0.0.1"
        return world


def _normalise_embed(embed: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in embed.items() if v is not None}
    out.setdefault("type", "rich")
    out.setdefault("content_scan_version", 0)
    return out


def make_token(bot_id: int) -> str:
    import base64

    head = base64.urlsafe_b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.emu.{secrets.token_urlsafe(27)}"


def overwrite_kind(kind: str | int) -> int:
    if kind in ("role", ROLE_OVERWRITE):
        return ROLE_OVERWRITE
    if kind in ("member", MEMBER_OVERWRITE):
        return MEMBER_OVERWRITE
    raise EmulatorError(f"overwrite type must be 'role' or 'member', got {kind!r}")

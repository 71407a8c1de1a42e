"""Discord permission bits and the permission computation Discord documents.

Pure: no I/O. See "Permission Overwrites" in Discord's topics/permissions docs: base permissions
from @everyone and the member's roles, ADMINISTRATOR short-circuits, then channel overwrites in
the order @everyone, roles (deny then allow, aggregated), member.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Perm(enum.IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51


ALL = Perm(0)
for _p in Perm:
    ALL |= _p
del _p

# What a fresh server grants @everyone (close to Discord's defaults, minus mass mentions).
DEFAULT_EVERYONE = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.STREAM
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.USE_VAD
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)

# The bot's own managed role: what the invite link of a typical posting bot asks for.
DEFAULT_BOT = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.USE_APPLICATION_COMMANDS
)

# What anyone may do in a DM with the bot; interactions there report these as app_permissions
# ("ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE ... and additionally USE_EXTERNAL_EMOJIS for
# DMs with the app's bot user").
DM_PERMISSIONS = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.ADD_REACTIONS
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.MENTION_EVERYONE
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
)
MODERATOR = Perm.MANAGE_THREADS | Perm.MANAGE_MESSAGES | Perm.MODERATE_MEMBERS

# Without SEND_MESSAGES in a channel these are implicitly denied too (Discord docs).
_NEEDS_SEND = Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.ATTACH_FILES | Perm.EMBED_LINKS

ROLE_OVERWRITE = 0
MEMBER_OVERWRITE = 1


@dataclass
class Overwrite:
    id: int
    type: int  # ROLE_OVERWRITE or MEMBER_OVERWRITE
    allow: int = 0
    deny: int = 0


def parse_perms(value: int | str | Iterable[str] | Perm) -> int:
    """Accept an int, a decimal string, or permission names ("SEND_MESSAGES", "manage_threads")."""
    if isinstance(value, bool):
        raise ValueError(f"permissions must be an int or names, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"permissions must not be negative: {value}")
        return int(value)
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        value = [value]
    total = 0
    for name in value:
        try:
            total |= Perm[name.upper()]
        except KeyError:
            raise ValueError(
                f"unknown permission {name!r}; use names like SEND_MESSAGES or MANAGE_THREADS"
            ) from None
    return total


# Where the name Discord's client shows (Server Settings → Roles) is not the API's name.
_UI_NAMES = {
    Perm.CREATE_INSTANT_INVITE: "Create Invite",
    Perm.MANAGE_GUILD: "Manage Server",
    Perm.VIEW_CHANNEL: "View Channels",
    Perm.STREAM: "Video",
    Perm.SEND_TTS_MESSAGES: "Send Text-to-Speech Messages",
    Perm.MENTION_EVERYONE: "Mention @everyone, @here, and All Roles",
    Perm.USE_EXTERNAL_EMOJIS: "Use External Emoji",
    Perm.VIEW_GUILD_INSIGHTS: "View Server Insights",
    Perm.USE_VAD: "Use Voice Activity",
    Perm.MANAGE_GUILD_EXPRESSIONS: "Manage Expressions",
    Perm.CREATE_GUILD_EXPRESSIONS: "Create Expressions",
    Perm.REQUEST_TO_SPEAK: "Request to Speak",
    Perm.SEND_MESSAGES_IN_THREADS: "Send Messages in Threads",
    Perm.USE_EMBEDDED_ACTIVITIES: "Use Activities",
    Perm.MODERATE_MEMBERS: "Timeout Members",
    Perm.VIEW_CREATOR_MONETIZATION_ANALYTICS: "View Server Subscription Insights",
    Perm.SEND_POLLS: "Create Polls",
}


def perm_names(flags: int) -> str:
    """'Manage Threads, Manage Server': permissions as Discord's client names them (people
    read these; the API's names, such as MANAGE_GUILD, are not what they see)."""
    names = [
        _UI_NAMES.get(p) or p.name.replace("_", " ").title()
        for p in Perm
        if p.name and flags & p == p
    ]
    unknown = flags & ~sum(Perm)
    if unknown:
        names.append(f"unknown bits {unknown:#x}")
    return ", ".join(names) or "none"


def base_permissions(
    *,
    guild_id: int,
    owner_id: int,
    user_id: int,
    member_roles: Iterable[int],
    role_perms: Mapping[int, int],
) -> int:
    """Guild-level permissions; the @everyone role has the guild's id."""
    if user_id == owner_id:
        return int(ALL)
    perms = role_perms.get(guild_id, 0)
    for role_id in member_roles:
        perms |= role_perms.get(role_id, 0)
    if perms & Perm.ADMINISTRATOR:
        return int(ALL)
    return perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    user_id: int,
    member_roles: Iterable[int],
    overwrites: Iterable[Overwrite],
) -> int:
    """Apply one channel's overwrites to base permissions, in Discord's order."""
    if base & Perm.ADMINISTRATOR:
        return int(ALL)
    by_key = {(o.type, o.id): o for o in overwrites}
    perms = base
    everyone = by_key.get((ROLE_OVERWRITE, guild_id))
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member_roles:
        ow = by_key.get((ROLE_OVERWRITE, role_id))
        if ow is not None:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    member = by_key.get((MEMBER_OVERWRITE, user_id))
    if member is not None:
        perms = (perms & ~member.deny) | member.allow
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    if not perms & Perm.SEND_MESSAGES:
        perms &= ~_NEEDS_SEND
    return perms

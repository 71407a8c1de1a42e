"""Discord's permission arithmetic on REST payloads, for `vgbot doctor` (which has no gateway
cache to ask). Pure: JSON in, bits and names out.

The order is Discord's own (developer docs, "Permissions" → "Permission Overwrites"): the
@everyone role and the member's roles give the base; Administrator or ownership gives all; then
the channel's @everyone overwrite, the member's role overwrites together, the member overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ALL = (1 << 53) - 1
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38

# What the bot needs where it posts, named as Discord's settings show them.
NEEDED_IN_TEXT = (
    ("View Channel", VIEW_CHANNEL),
    ("Send Messages", SEND_MESSAGES),
    ("Create Public Threads", CREATE_PUBLIC_THREADS),
    ("Send Messages in Threads", SEND_MESSAGES_IN_THREADS),
    ("Embed Links", EMBED_LINKS),
    ("Read Message History", READ_MESSAGE_HISTORY),
)
# A forum post is created with Send Messages; Create Public Threads plays no part there.
NEEDED_IN_FORUM = tuple(p for p in NEEDED_IN_TEXT if p[1] != CREATE_PUBLIC_THREADS)

# Discord channel types (developer docs, "Channel Object").
TEXT_TYPES = {0: "text", 5: "announcement"}
FORUM_TYPES = {15: "forum", 16: "media"}
OTHER_TYPES = {2: "voice", 4: "category", 13: "stage", 10: "thread", 11: "thread", 12: "thread"}


def _bits(value: Any) -> int:
    """Discord sends permissions as decimal strings; anything else counts as none."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def channel_permissions(
    *,
    guild_id: int,
    owner_id: int | None,
    roles: Mapping[int, int],
    member_id: int,
    member_roles: Iterable[int],
    overwrites: Sequence[Mapping[str, Any]],
) -> int:
    """The member's permission bits in a channel (`roles`: role id → permission bits)."""
    if owner_id is not None and member_id == owner_id:
        return ALL
    mine = set(member_roles)
    base = roles.get(guild_id, 0)
    for role in mine:
        base |= roles.get(role, 0)
    if base & ADMINISTRATOR:
        return ALL
    by_id = {int(o.get("id", 0)): o for o in overwrites}
    everyone = by_id.get(guild_id)
    if everyone is not None:
        base = (base & ~_bits(everyone.get("deny"))) | _bits(everyone.get("allow"))
    allow = deny = 0
    for o in overwrites:
        if int(o.get("type", -1)) == 0 and int(o.get("id", 0)) in mine:
            allow |= _bits(o.get("allow"))
            deny |= _bits(o.get("deny"))
    base = (base & ~deny) | allow
    member = next(
        (o for o in overwrites if int(o.get("type", -1)) == 1 and int(o.get("id", 0)) == member_id),
        None,
    )
    if member is not None:
        base = (base & ~_bits(member.get("deny"))) | _bits(member.get("allow"))
    if not base & VIEW_CHANNEL:
        return 0  # a channel one cannot see grants nothing
    if not base & SEND_MESSAGES:
        base &= ~EMBED_LINKS  # Discord's implicit rule: no sending, no embeds either
    return base


def role_bits(guild_roles: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    return {int(r["id"]): _bits(r.get("permissions")) for r in guild_roles if "id" in r}


def missing(bits: int, channel_type: int) -> list[str]:
    """Names of the permissions the bot lacks to post in a channel of this type."""
    needed = NEEDED_IN_FORUM if channel_type in FORUM_TYPES else NEEDED_IN_TEXT
    return [name for name, bit in needed if not bits & bit]


def kind_name(channel_type: int) -> str:
    return {**TEXT_TYPES, **FORUM_TYPES, **OTHER_TYPES}.get(channel_type, f"type {channel_type}")


def can_post_in(channel_type: int) -> bool:
    return channel_type in TEXT_TYPES or channel_type in FORUM_TYPES

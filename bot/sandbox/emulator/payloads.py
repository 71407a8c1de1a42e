"""Discord API v10 JSON shapes of the world's records (what REST returns and the gateway sends)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Attachment, Channel, Member, Message, Role, User, World

log = logging.getLogger(__name__)

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def sid(value: int | None) -> str | None:
    return None if value is None else str(value)


def user(u: User) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(u.id),
        "username": u.username,
        "discriminator": "0",
        "global_name": u.global_name,
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "public_flags": 0,
        "flags": 0,
    }
    if u.bot:
        data["bot"] = True
    return data


def me(u: User) -> dict[str, Any]:
    return {**user(u), "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}


def role(r: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(r.id),
        "name": r.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def member(world: World, m: Member, *, with_user: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in m.roles],
        "joined_at": iso(m.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(world.users[m.user_id])
    return data


def overwrites(ch: Channel) -> list[dict[str, Any]]:
    return [
        {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
        for o in ch.overwrites
    ]


def channel(ch: Channel, world: World | None = None) -> dict[str, Any]:
    if ch.guild_id is None:  # a DM with the bot; `world` names its recipient
        return {
            "id": str(ch.id),
            "type": ch.type,
            "last_message_id": sid(ch.last_message_id),
            "flags": 0,
            "recipients": [
                user(world.users[u]) for u in ch.recipient_ids if world and u in world.users
            ],
        }
    data: dict[str, Any] = {
        "id": str(ch.id),
        "type": ch.type,
        "guild_id": str(ch.guild_id),
        "name": ch.name,
        "parent_id": sid(ch.parent_id),
        "last_message_id": sid(ch.last_message_id),
        "rate_limit_per_user": ch.rate_limit_per_user,
        "flags": ch.flags,
    }
    if ch.is_thread:
        data.update(
            {
                "owner_id": sid(ch.owner_id),
                "message_count": ch.message_count,
                "member_count": len(ch.member_ids),
                "total_message_sent": ch.total_message_sent,
                "applied_tags": [str(t) for t in ch.applied_tags],
                "thread_metadata": {
                    "archived": ch.archived,
                    "auto_archive_duration": ch.auto_archive_duration,
                    "archive_timestamp": iso(ch.archive_timestamp or ch.created_at or 0.0),
                    "locked": ch.locked,
                    "create_timestamp": iso(ch.created_at or 0.0),
                    **({"invitable": ch.invitable} if ch.type == 12 else {}),
                },
            }
        )
        return data
    data.update(
        {
            "position": ch.position,
            "permission_overwrites": overwrites(ch),
            "nsfw": ch.nsfw,
            "topic": ch.topic,
            "default_auto_archive_duration": 1440,
            "default_thread_rate_limit_per_user": 0,
        }
    )
    if ch.type in (15, 16):
        data.update(
            {
                "available_tags": list(ch.available_tags),
                "default_reaction_emoji": None,
                "default_sort_order": None,
                "default_forum_layout": 0,
            }
        )
    if ch.type in (2, 13):
        data.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None})
    return data


def thread_member(ch: Channel, user_id: int) -> dict[str, Any]:
    return {
        "id": str(ch.id),
        "user_id": str(user_id),
        "join_timestamp": iso(ch.created_at or 0.0),
        "flags": 0,
    }


def attachment(a: Attachment, base_url: str, channel_id: int) -> dict[str, Any]:
    url = f"{base_url}/attachments/{channel_id}/{a.id}/{a.filename}"
    data: dict[str, Any] = {
        "id": str(a.id),
        "filename": a.filename,
        "size": a.size,
        "url": url,
        "proxy_url": url,
        "content_type": a.content_type,
    }
    if a.description:
        data["description"] = a.description
    return data


def emoji(text: str) -> dict[str, Any]:
    if ":" in text:  # custom emoji "name:id"
        name, _, eid = text.partition(":")
        return {"id": eid, "name": name}
    return {"id": None, "name": text}


def message(world: World, m: Message, *, gateway: bool = False) -> dict[str, Any]:
    author = world.users[m.author_id]
    data: dict[str, Any] = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "type": m.type,
        "author": user(author),
        "content": m.content,
        "timestamp": iso(m.created_at),
        "edited_timestamp": None if m.edited_at is None else iso(m.edited_at),
        "tts": m.tts,
        "mention_everyone": m.mention_everyone,
        "mentions": [user(world.users[u]) for u in m.mention_ids if u in world.users],
        "mention_roles": [str(r) for r in m.mention_role_ids],
        "attachments": [attachment(a, world.base_url, m.channel_id) for a in m.attachments],
        "embeds": list(m.embeds),
        "components": list(m.components),
        "pinned": m.pinned,
        "flags": m.flags,
    }
    if m.nonce is not None:
        data["nonce"] = m.nonce
    if m.webhook_id is not None:
        data["webhook_id"] = str(m.webhook_id)
    if m.application_id is not None:
        data["application_id"] = str(m.application_id)
    if m.interaction_metadata is not None:
        data["interaction_metadata"] = m.interaction_metadata
    if m.reference is not None:
        data["message_reference"] = m.reference
        ref = world.messages.get(int(m.reference["message_id"]))
        data["referenced_message"] = None if ref is None else message(world, ref)
    if m.reactions:
        data["reactions"] = [
            {
                "emoji": emoji(e),
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "me": world.bot.id in users,
                "me_burst": False,
                "burst_colors": [],
            }
            for e, users in m.reactions.items()
            if users
        ]
    if m.thread_id is not None and m.thread_id in world.channels:
        data["thread"] = {**channel(world.channels[m.thread_id]), "guild_id": str(m.guild_id)}
    ch = world.channels.get(m.channel_id)
    if ch is not None and ch.is_thread:
        data["position"] = max(ch.total_message_sent - 1, 0)
    if gateway and m.guild_id is not None:
        data["guild_id"] = str(m.guild_id)
        mem = world.members.get((m.guild_id, m.author_id))
        if mem is not None and m.webhook_id is None:
            data["member"] = member(world, mem, with_user=False)
    return data


def guild(world: World, guild_id: int) -> dict[str, Any]:
    """The guild object of REST GET /guilds/{id}."""
    g = world.guilds[guild_id]
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role(r) for r in world.guild_roles(guild_id)],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_video_channel_users": 25,
        "incidents_data": None,
    }


def guild_create(
    world: World, guild_id: int, *, all_members: bool, newly_joined: bool = False
) -> dict[str, Any]:
    """GUILD_CREATE: the guild plus channels, threads and members (only the bot without the
    GUILD_MEMBERS intent, as Discord does). A guild announced in READY comes back with
    unavailable=false; a guild joined later has no `unavailable` (discord.py: guild_join)."""
    data = guild(world, guild_id)
    members = world.guild_members(guild_id)
    if not all_members:
        members = [m for m in members if m.user_id == world.bot.id]
    bot_member = world.members.get((guild_id, world.bot.id))
    data.update(
        {
            "joined_at": iso(
                bot_member.joined_at if bot_member else world.guilds[guild_id].created_at
            ),
            "large": False,
            "member_count": len(world.guild_members(guild_id)),
            "members": [member(world, m) for m in members],
            "channels": [
                {k: v for k, v in channel(c).items() if k != "guild_id"}
                for c in world.guild_channels(guild_id)
            ],
            "threads": [
                {**channel(t), "member": thread_member(t, world.bot.id)}
                if world.bot.id in t.member_ids
                else channel(t)
                for t in world.guild_threads(guild_id)
                if not t.archived
            ],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
    )
    if not newly_joined:
        data["unavailable"] = False
    return data


def command(c: Any) -> dict[str, Any]:
    """An application command as Discord returns it after a sync."""
    data: dict[str, Any] = {
        "type": 1,
        "description": "",
        "options": [],
        "default_member_permissions": None,
        "nsfw": False,
        "contexts": None,
        "integration_types": [0],
        **c.definition,
        "id": str(c.id),
        "application_id": str(c.application_id),
        "version": str(c.version),
    }
    if c.guild_id is not None:
        data["guild_id"] = str(c.guild_id)
    return data


def application(world: World) -> dict[str, Any]:
    owner = next(
        (world.users[g.owner_id] for g in world.guilds.values()),
        world.bot,
    )
    return {
        "id": str(world.application_id),
        "name": world.bot.username,
        "icon": None,
        "description": "A bot running against the local Discord emulator",
        "summary": "",
        "type": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": user(owner),
        "team": None,
        "flags": (1 << 13) | (1 << 15) | (1 << 19),  # the three *_LIMITED intent flags: enabled
        "bot": user(world.bot),
        "approximate_guild_count": len(world.guilds),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "tags": [],
    }

"""The publisher's Poster port on discord.py: messages, threads and forum posts, with nonces,
markers, artwork, a link button and forum tags in the first send, no mention but the post's
one role, and Discord's errors turned into PostError (give up, tell moderators)
or PostRetry (try again on the next drain).

The marker is the last line of every post, in Discord's small grey subtext: `-# ref 3kf9a0x2mq`.
It is derived from the outbox key (bot.services.publisher.marker_for), so after a crash the
bot recognises its own post among the channel's recent messages.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import aiohttp
import discord
from discord.ext import commands

from bot.core.text import MESSAGE_CONTENT, truncate
from bot.core.urls import BUTTON_URL_MAX, web_url
from bot.services.publisher import (
    FORUM,
    TEXT,
    Found,
    GuildRetry,
    PostError,
    PostForbidden,
    PostRetry,
)
from bot.store.outbox import Post

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES: Final[Literal[10080]] = 10080  # a week: open until the next one
SEARCH_LIMIT = 500  # messages looked at when searching for a marker
RETRIED_AFTER = 1.0  # seconds: discord.py waits at least this long before retrying a 5xx
CLOCK_SKEW = timedelta(minutes=10)  # between our clock and Discord's snowflakes
MISSING_ACCESS = 50001  # Discord's "Missing Access": the bot may not see the channel at all
ALREADY_HAS_THREAD = 160004  # "A thread has already been created for this message"
TAG_REQUIRED = 40067  # "A tag is required to create a forum post in this channel"
# "Maximum number of active (announcement) threads reached": a server-wide limit.
TOO_MANY_THREADS = (160006, 160007)
PREFERRED_TAGS = ("discussion", "topic", "question", "weekly")
MAX_TAGS = 5  # Discord: at most five tags on a forum post
EMBED_TITLE = 256
LISTEN = "Listen"


def compose(body: str, marker: str) -> str:
    """The message content: the body (cut to fit if need be) and the marker line."""
    suffix = f"\n\n-# {marker}"
    return truncate(body, MESSAGE_CONTENT - len(suffix)) + suffix


def mentions(role_id: int | None) -> discord.AllowedMentions:
    """Nobody is pinged, except the one role given (the guild's announcement role)."""
    if role_id is None:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(role_id)], replied_user=False
    )


def own_role(guild: discord.Guild, body: str, role_id: int | None) -> tuple[str, int | None]:
    """The body and role to mention in `guild`. The bot-wide `announce_role_id` is a role of
    one server: elsewhere '<@&…>' would show as '@deleted-role', so it is left out there."""
    if role_id is None or guild.get_role(role_id) is not None:
        return body, role_id
    return body.removeprefix(f"<@&{role_id}>\n"), None


# Links come from feeds (and rows stored by older versions): one Discord refuses would cost the
# whole post, so a bad artwork or button link is left out instead (bot.core.urls).


def artwork(title: str, image: str | None, url: str | None) -> discord.Embed | None:
    """The artwork as an embed image, titled (and linked) like the post; None without one."""
    image = web_url(image)
    if image is None:
        return None
    embed = discord.Embed(title=title[:EMBED_TITLE] or None, url=web_url(url))
    embed.set_image(url=image)
    return embed


def link_button(label: str, url: str | None) -> discord.ui.View:
    """A view holding one link button (empty without a URL: sending it clears buttons)."""
    view = discord.ui.View(timeout=None)
    url = web_url(url, limit=BUTTON_URL_MAX)
    if url:
        emoji = "🎧" if label == LISTEN else None
        view.add_item(discord.ui.Button(label=label or LISTEN, url=url, emoji=emoji))
    return view


def usable_tags(forum: discord.ForumChannel, *, moderator: bool) -> list[discord.ForumTag]:
    """The tags the bot may apply: a moderated tag needs Manage Threads."""
    return [t for t in forum.available_tags if moderator or not t.moderated]


def named_tags(
    forum: discord.ForumChannel, names: tuple[str, ...], *, moderator: bool
) -> list[discord.ForumTag]:
    """The usable tags named like `names` (case ignored), at most five."""
    wanted = {n.casefold() for n in names}
    usable = usable_tags(forum, moderator=moderator)
    return [t for t in usable if t.name.casefold() in wanted][:MAX_TAGS]


def forum_tags(
    forum: discord.ForumChannel, names: tuple[str, ...], *, moderator: bool
) -> list[discord.ForumTag]:
    """`named_tags`; when none matches and the forum demands a tag: the best-named usable
    one, else the first."""
    tags = named_tags(forum, names, moderator=moderator)
    usable = usable_tags(forum, moderator=moderator)
    if tags or not forum.flags.require_tag or not usable:
        return tags
    by_name = {t.name.lower(): t for t in usable}
    for name in PREFERRED_TAGS:
        if name in by_name:
            return [by_name[name]]
    return [usable[0]]


@contextlib.contextmanager
def translated(what: str, channel_id: int) -> Iterator[None]:
    """discord.py's exceptions as the port's: PostError (permanent) or PostRetry."""
    try:
        yield
    except discord.Forbidden as exc:
        raise PostForbidden(
            f"Discord refused to {what} in <#{channel_id}> "
            f"({exc.status} {exc.text or 'Forbidden'}): check the bot's permissions there"
        ) from None
    except discord.NotFound as exc:
        raise PostError(
            f"cannot {what}: <#{channel_id}> (or the message) no longer exists ({exc.text}); "
            "pick another channel"
        ) from None
    except discord.DiscordServerError as exc:
        raise PostRetry(f"Discord is unavailable ({exc.status})") from None
    except discord.RateLimited as exc:
        raise PostRetry(f"rate limited for {exc.retry_after:.0f} s") from None
    except discord.HTTPException as exc:
        if exc.status == 401:
            # The token, not the post: kept until the operator fixes it (or its grace ends).
            raise PostRetry(
                "Discord refused the bot's token (401 Unauthorized): the operator must set "
                "a valid DISCORD_TOKEN and restart the bot"
            ) from None
        if exc.status == 429 and not _from_discord(exc.response):
            raise PostRetry(
                f"Cloudflare is refusing this host ({exc.status} {exc.text[:80]!r}): too many "
                "invalid requests from its IP (a shared host's neighbours count too); it lifts "
                "by itself, usually within an hour"
            ) from None
        if exc.status >= 500 or exc.status == 429:
            raise PostRetry(f"Discord answered {exc.status}") from None
        if exc.code in TOO_MANY_THREADS:
            raise PostError(
                f"Discord refused to {what} in <#{channel_id}>: {exc.text} in this server; "
                "archive or close some threads"
            ) from None
        raise PostError(
            f"Discord rejected the request to {what} ({exc.status}, code {exc.code}: {exc.text})"
        ) from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise PostRetry(f"network error: {type(exc).__name__}: {exc}") from None


def _from_discord(response: Any) -> bool:
    """Whether an error came from Discord's API, not from Cloudflare in front of it (which
    answers in plain text or HTML, without the "Via" header of Discord's own answers)."""
    headers = getattr(response, "headers", {})
    return "Via" in headers and getattr(response, "content_type", "") == "application/json"


def kind_of(channel: object) -> str:
    if isinstance(channel, discord.ForumChannel):
        return FORUM
    if isinstance(channel, discord.TextChannel):
        return TEXT
    if isinstance(channel, discord.Thread):
        return "thread"
    if isinstance(channel, discord.StageChannel):
        return "stage"
    if isinstance(channel, discord.VoiceChannel):
        return "voice"
    if isinstance(channel, discord.CategoryChannel):
        return "category"
    return "unknown"


def missing_permissions(
    channel: discord.abc.GuildChannel, me: discord.Member, *, open_thread: bool
) -> list[str]:
    """Names (as Discord shows them) of what the bot lacks to post in `channel`."""
    perms = channel.permissions_for(me)
    needed = [
        ("View Channel", perms.view_channel),
        # Also the permission to create a forum post.
        ("Send Messages", perms.send_messages),
        # After a crash the bot looks for its own post among recent messages.
        ("Read Message History", perms.read_message_history),
    ]
    if isinstance(channel, discord.ForumChannel):
        needed.append(("Send Messages in Threads", perms.send_messages_in_threads))
        if channel.flags.require_tag and not usable_tags(channel, moderator=perms.manage_threads):
            # Every tag is moderated, and a post needs one.
            needed.append(("Manage Threads", False))
    elif open_thread:
        needed.append(("Create Public Threads", perms.create_public_threads))
        needed.append(("Send Messages in Threads", perms.send_messages_in_threads))
    return [name for name, ok in needed if not ok]


class DiscordPresence:
    """The publisher's and planner's Presence port: the servers in discord.py's cache. The
    gateway's READY lists every server the bot is in (unavailable until its data follows), and
    a server that removes the bot leaves the cache (GUILD_DELETE without `unavailable`); one
    Discord lost for a while stays in it. Before the first READY nothing is known, so nothing
    is paused."""

    def __init__(self, client: commands.Bot) -> None:
        self.client = client
        self._listed = False
        # discord.py fills its cache from READY's list, then says on_connect; its on_ready
        # comes only after a quiet couple of seconds, which every start would wait out.
        client.add_listener(self._on_connect, "on_connect")

    async def _on_connect(self) -> None:
        self._listed = True

    def guilds(self) -> frozenset[int] | None:
        if not (self._listed or self.client.is_ready()):
            return None
        return frozenset(guild.id for guild in self.client.guilds)


class DiscordPoster:
    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel:
        channel = self.client.get_channel(channel_id)
        if channel is None and not self.client.is_ready():
            # Posting may start as soon as the gateway connects (catching up quickly after a
            # restart); a server whose data has not arrived yet is simply tried again.
            raise PostRetry(f"still connecting: <#{channel_id}> is not known yet")
        if channel is None:
            with translated("find the channel", channel_id):
                try:
                    channel = await self.client.fetch_channel(channel_id)
                except discord.Forbidden as exc:
                    # Every channel of a server the bot is in is known (even hidden ones): an
                    # unknown one Discord will not show is in a server that removed the bot.
                    if exc.code != MISSING_ACCESS:
                        raise
                    raise PostError(
                        f"the bot is not in the server of <#{channel_id}> any more (it was "
                        "removed): its posts there fail until it is invited back"
                    ) from None
        if not isinstance(channel, discord.abc.GuildChannel):
            raise PostError(f"<#{channel_id}> is not a server channel")
        return channel

    def _me(self, channel: discord.abc.GuildChannel) -> discord.Member:
        if channel.guild.unavailable:
            # After a session Discord would not resume, READY lists every server as unavailable
            # and each one's data follows; an outage looks the same. Both pass.
            raise GuildRetry(
                f"the server of <#{channel.id}> is unavailable (loading, or down on Discord's side)"
            )
        me = channel.guild.me
        if me is None:  # the guild is not in the cache: the bot was removed from the server
            raise PostError(f"the bot is not in the server of <#{channel.id}> any more")
        return me

    async def _may_embed(self, channel_id: int, post: Post) -> bool:
        if not post.image:  # nothing to embed: no need to look the channel up
            return True
        channel = await self._channel(channel_id)
        return channel.permissions_for(self._me(channel)).embed_links

    async def channel_kind(self, channel_id: int) -> str:
        return kind_of(await self._channel(channel_id))

    async def check_permissions(self, channel_id: int, *, open_thread: bool) -> list[str]:
        channel = await self._channel(channel_id)
        return missing_permissions(channel, self._me(channel), open_thread=open_thread)

    async def send_message(self, channel_id: int, post: Post, nonce: str, marker: str) -> int:
        target = self.client.get_partial_messageable(channel_id)
        may_embed = await self._may_embed(channel_id, post)
        extras = _extras(post, embed_links=may_embed, channel_id=channel_id)
        body, role = post.body, post.mention_role
        if role is not None:
            channel = await self._channel(channel_id)
            body, role = own_role(self._me(channel).guild, body, role)
        with translated("send the post", channel_id):
            # discord.py sends enforce_nonce=True with every nonce.
            message = await target.send(
                compose(body, marker),
                nonce=nonce,
                allowed_mentions=mentions(role),
                **extras,
            )
        return message.id

    async def create_thread(self, channel_id: int, message_id: int, name: str) -> int:
        channel = await self._channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            raise PostError(f"<#{channel_id}> is not a text channel any more: no thread possible")
        message = channel.get_partial_message(message_id)
        with translated("open the thread", channel_id):
            try:
                thread = await message.create_thread(
                    name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
                )
            except discord.HTTPException as exc:
                if exc.code == ALREADY_HAS_THREAD:
                    return message_id  # a thread started from a message shares its id
                raise
        return thread.id

    async def create_forum_post(self, channel_id: int, post: Post, marker: str) -> tuple[int, int]:
        forum = await self._channel(channel_id)
        if not isinstance(forum, discord.ForumChannel):
            raise PostError(f"<#{channel_id}> is not a forum channel any more")
        me = self._me(forum)
        perms = forum.permissions_for(me)
        extras = _extras(post, embed_links=perms.embed_links, channel_id=channel_id)
        body, role = own_role(forum.guild, post.body, post.mention_role)
        started, since = time.monotonic(), discord.utils.utcnow() - CLOCK_SKEW
        with translated("create the forum post", channel_id):
            created = await forum.create_thread(
                name=post.title,
                content=compose(body, marker),
                allowed_mentions=mentions(role),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                applied_tags=forum_tags(forum, post.tags, moderator=perms.manage_threads),
                **extras,
            )
        if time.monotonic() - started >= RETRIED_AFTER:
            await _drop_copies(forum, me, marker, created.thread, since)
        return created.thread.id, created.message.id

    async def find_marked(self, channel_id: int, marker: str, since: datetime) -> Found | None:
        channel = await self._channel(channel_id)
        me = self._me(channel)
        with translated("look for an earlier post", channel_id):
            if isinstance(channel, discord.ForumChannel):
                return await _find_forum_post(channel, me, marker, since)
            if not isinstance(channel, discord.TextChannel):
                return None
            if not channel.permissions_for(me).read_message_history:
                # Discord answers with no messages, not a 403: "not there" would be a guess.
                raise PostForbidden(
                    f"the bot cannot read the messages of <#{channel_id}>: grant Read Message "
                    "History to the bot's role"
                )
            async for message in channel.history(
                after=since, limit=SEARCH_LIMIT, oldest_first=True
            ):
                if message.author.id == me.id and marker in message.content:
                    thread = message.thread
                    return Found(message.id, thread.id if thread is not None else None)
        return None


async def _marked_posts(
    forum: discord.ForumChannel,
    me: discord.Member,
    marker: str,
    since: datetime,
    *,
    archived: bool,
) -> AsyncIterator[discord.Thread]:
    """The bot's posts in `forum` made since `since` whose first message carries `marker`:
    active ones, and with `archived` the last 50 archived too."""
    active = await forum.guild.active_threads()
    candidates = [t for t in active if t.parent_id == forum.id]
    if archived:
        try:
            async for old in forum.archived_threads(limit=50):
                candidates.append(old)
        except discord.HTTPException as exc:
            # Only a post archived within minutes of its creation would be missed here.
            log.warning("cannot list archived posts of forum %s: %s", forum.id, exc)
    for thread in candidates:
        created = thread.created_at or discord.utils.snowflake_time(thread.id)
        if thread.owner_id != me.id or created < since:
            continue
        try:
            starter = await thread.fetch_message(thread.id)
        except discord.NotFound:
            continue  # the starter message was deleted: not a post we can recognise
        if marker in starter.content:
            yield thread


async def _find_forum_post(
    forum: discord.ForumChannel, me: discord.Member, marker: str, since: datetime
) -> Found | None:
    async for thread in _marked_posts(forum, me, marker, since, archived=True):
        return Found(thread.id, thread.id)  # a post's first message shares its id
    return None


async def _drop_copies(
    forum: discord.ForumChannel,
    me: discord.Member,
    marker: str,
    kept: discord.Thread,
    since: datetime,
) -> None:
    """discord.py retries a request Discord answered with a 5xx, and Discord may have made the
    post before that answer: forum posts take no nonce, so a retry makes a second one. Any
    other post of ours carrying the marker is such a copy: deleted, or if the bot may not
    (Manage Threads), turned into a pointer to the kept one."""
    try:
        async for thread in _marked_posts(forum, me, marker, since, archived=False):
            if thread.id == kept.id:
                continue
            log.warning("forum post %s is a copy of %s (a retried request)", thread.id, kept.id)
            try:
                await thread.delete()
            except discord.Forbidden:
                await thread.get_partial_message(thread.id).edit(
                    content=f"A copy of <#{kept.id}>, posted twice by a retry: continue there.",
                    embed=None,
                    view=None,
                    allowed_mentions=mentions(None),
                )
    except discord.HTTPException as exc:
        log.warning("could not look for or remove copies of forum post %s: %s", kept.id, exc)


def _extras(post: Post, *, embed_links: bool, channel_id: int) -> dict[str, Any]:
    """The artwork embed and the listen button of a post, for a message or a forum post."""
    extras: dict[str, Any] = {}
    embed = artwork(post.title, post.image, post.link_url)
    if embed is not None and not embed_links:
        # Discord would drop it anyway; the post (text and button) matters more.
        log.warning(
            "the bot lacks Embed Links in channel %s: the artwork was left out of %r",
            channel_id,
            post.title,
        )
    elif embed is not None:
        extras["embed"] = embed
    view = link_button(post.link_label, post.link_url)
    if view.children:
        extras["view"] = view
    return extras

"""The Emulator: one local fake Discord (REST + gateway on one aiohttp server) and the test
driver API to build a world, invoke commands as a user, and break things on purpose.

The bot points discord.py at it with
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
(discord.py's non-sharded Client connects to DEFAULT_GATEWAY without asking /gateway/bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from . import payloads as P
from .errors import ApiError, EmulatorError
from .faults import Buckets, Fault, Faults
from .gateway import PRIVILEGED_INTENTS, Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionRecord,
    Interactions,
    command_data,
    interaction_payload,
)
from .perms import (
    DEFAULT_BOT,
    MEMBER_OVERWRITE,
    MODERATOR,
    ROLE_OVERWRITE,
    Perm,
    parse_perms,
    perm_names,
)
from .rest import Recorded, Rest, attachments_from
from .state import (
    CATEGORY,
    CHANNEL_TYPES,
    FORUM,
    MEDIA,
    Attachment,
    Channel,
    GatewayEvent,
    Guild,
    Role,
    User,
    World,
    make_token,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class EmulatorTimeout(EmulatorError, TimeoutError):
    """Waited for something the bot never did."""


class InteractionHandle:
    """What a test holds after invoking a command: the bot's answer as Discord stored it."""

    def __init__(self, emu: Emulator, record: InteractionRecord) -> None:
        self._emu = emu
        self.record = record

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def callback_type(self) -> int | None:
        return self.record.callback_type

    @property
    def ephemeral(self) -> bool:
        return self.record.ephemeral

    @property
    def deferred(self) -> bool:
        return self.record.deferred

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.record.modal

    @property
    def followups(self) -> list[dict[str, Any]]:
        world = self._emu.world
        return [
            P.message(world, world.messages[i])
            for i in self.record.followup_ids
            if i in world.messages
        ]

    def original(self) -> dict[str, Any] | None:
        mid = self.record.original_id
        world = self._emu.world
        return (
            None
            if mid is None or mid not in world.messages
            else P.message(world, world.messages[mid])
        )

    async def acknowledged(self, timeout: float = 5.0) -> int:  # noqa: ASYNC109 (the driver API promises timeout=)
        """Wait for the initial callback; returns its type (4, 5, 6, 7, 8 or 9)."""
        await self._emu.wait_for(
            lambda: self.record.callback_type is not None,
            timeout=timeout,
            what=f"the bot to acknowledge interaction {self.id}",
        )
        assert self.record.callback_type is not None
        return self.record.callback_type

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109 (the driver API promises timeout=)
        """The answer the user sees: the message (after a deferral, once edited or followed up)."""
        await self._emu.wait_for(
            lambda: self.record.settled, timeout=timeout, what=self._waiting_for()
        )
        if self.record.modal is not None:
            raise EmulatorError(
                "the bot answered with a modal; read handle.modal and submit_modal()"
            )
        original = self.original()
        if original is None:
            raise EmulatorError(f"interaction {self.id} has no response message (it was deleted?)")
        return original

    async def wait_followups(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109 (the driver API promises timeout=)
        await self._emu.wait_for(
            lambda: len(self.record.followup_ids) >= count,
            timeout=timeout,
            what=f"{count} follow-up(s) to interaction {self.id}",
        )
        return self.followups

    def _waiting_for(self) -> str:
        rec = self.record
        if rec.callback_type is None:
            return f"the bot to respond to interaction {rec.id} (no callback yet)"
        return (
            f"the bot to finish responding to interaction {rec.id} "
            f"(callback type {rec.callback_type}, not yet edited)"
        )


class Emulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        bot_name: str = "VG Bot",
        heartbeat_interval: float = 41.25,
        clock: Clock = time.time,
        nonce_window: float = 300.0,
        state_path: str | os.PathLike[str] | None = None,
        rate_limit: tuple[int, float] = (50, 1.0),
        enforce_rate_limits: bool = False,
        allowed_intents: int = PRIVILEGED_INTENTS,
        record_limit: int | None = None,
        latency: float = 0.0,
    ) -> None:
        if heartbeat_interval <= 0:
            raise EmulatorError(f"heartbeat_interval must be > 0 seconds, got {heartbeat_interval}")
        if not 0 <= latency <= 10:
            raise EmulatorError(f"latency must be 0 to 10 seconds, got {latency}")
        # Simulated one-way network delay (benchmarks: loopback is not the internet). A REST
        # request waits it out before it is handled and again before its response leaves; a
        # gateway frame leaves that long after it was sent.
        self.latency = latency
        if nonce_window < 0:
            raise EmulatorError(f"nonce_window must be >= 0 seconds, got {nonce_window}")
        self.host = host
        self.port = port
        self.clock = clock
        self.nonce_window = nonce_window
        self.state_path = Path(state_path) if state_path is not None else None
        self.world = self._load_world(token, bot_name)
        self.interactions = Interactions(self.world)
        self.gateway = Gateway(
            self.world,
            heartbeat_interval=heartbeat_interval,
            on_change=self._notify,
            allowed_intents=allowed_intents,
            latency=latency,
        )
        self.faults = Faults()
        self.buckets = Buckets(
            limit=rate_limit[0], window=rate_limit[1], enforce=enforce_rate_limits
        )
        self.requests: list[Recorded] = []
        self.record_limit = record_limit  # a long-running sandbox keeps only the latest ones
        self.blobs: dict[int, bytes] = {}
        self._rest = Rest(self)
        self._runner: web.AppRunner | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def _load_world(self, token: str | None, bot_name: str) -> World:
        clock = self._now
        if self.state_path is not None and self.state_path.exists():
            try:
                data = json.loads(self.state_path.read_text(encoding="utf-8"))
                world = World.from_dict(data, clock=clock)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise EmulatorError(
                    f"cannot read emulator state {self.state_path}: {exc}; fix or delete the file"
                ) from None
            if token is not None and token != world.token:
                raise EmulatorError(
                    f"{self.state_path} holds another bot token; drop --token or the state file"
                )
            log.info("loaded emulator state from %s", self.state_path)
            return world
        return World(clock=clock, bot_name=bot_name, token=token)

    def _now(self) -> float:
        return self.clock()  # late-bound so tests may replace emu.clock

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    # ---- lifecycle ----

    async def start(self) -> Emulator:
        if self._runner is not None:
            raise EmulatorError("the emulator is already running")
        runner = web.AppRunner(self._rest.app(), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.world.base_url = f"http://{self.host}:{self.port}"
        self.gateway.url = self.gateway_url
        log.info("Discord emulator on %s (gateway %s)", self.api_base, self.gateway_url)
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.gateway.close()
        await self._runner.cleanup()
        self._runner = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        self._require_started()
        return f"http://{self.host}:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        self._require_started()
        return f"ws://{self.host}:{self.port}/gateway-ws"

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def bot_user(self) -> User:
        return self.world.bot

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def command_syncs(self) -> int:
        return self.world.command_syncs

    def _require_started(self) -> None:
        if self._runner is None:
            raise EmulatorError("the emulator is not running; await emu.start() first")

    # ---- the hub: every change drains the outbox, persists, and wakes waiters ----

    def _flush(self) -> None:
        outbox, self.world.outbox = self.world.outbox, []
        for event in outbox:
            self.gateway.dispatch(event)
        self._notify()

    def _notify(self) -> None:
        still: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        for predicate, fut in self._waiters:
            if fut.done():
                continue
            try:
                ok = predicate()
            except Exception as exc:  # a broken predicate should fail its waiter, not the server
                fut.set_exception(exc)
                continue
            if ok:
                fut.set_result(None)
            else:
                still.append((predicate, fut))
        self._waiters = still

    def after_request(self, recorded: Recorded, *, mutating: bool) -> None:
        self.requests.append(recorded)
        if self.record_limit is not None and len(self.requests) > self.record_limit:
            del self.requests[: len(self.requests) - self.record_limit]
        if mutating:
            self.save()
        self._flush()

    def _changed(self) -> None:
        self.save()
        self._flush()

    def save(self) -> None:
        if self.state_path is None:
            return
        tmp = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.world.to_dict()), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def store_files(
        self, files: list[tuple[str, bytes, str | None]], body: Any
    ) -> list[Attachment]:
        attachments, blobs = attachments_from(files, body, self.world.ids.next)
        self.blobs.update(blobs)
        return attachments

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (the driver API promises timeout=)
        what: str = "a condition",
    ) -> None:
        """Wait until predicate() holds; re-checked on every request and gateway change."""
        if predicate():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise EmulatorTimeout(f"timed out after {timeout}s waiting for {what}") from None

    # ---- building the world ----

    def add_guild(self, name: str, *, bot_permissions: Any = None, with_bot: bool = True) -> Guild:
        """A guild with the bot in it; `with_bot=False`: the app was added with the
        applications.commands scope only, so its commands are there but not the bot user
        (no GUILD_CREATE, no REST access; `add_bot` invites it later)."""
        perms = DEFAULT_BOT if bot_permissions is None else parse_perms(bot_permissions)
        guild = self.world.add_guild(name, bot_permissions=perms, with_bot=with_bot)
        self._changed()
        return guild

    def add_channel(
        self,
        guild: Guild | int,
        name: str,
        type: str | int = "text",
        *,
        parent: Channel | int | None = None,
        topic: str | None = None,
        tags: Iterable[str] = (),
        require_tag: bool = False,
        moderated_tags: Iterable[str] = (),
    ) -> Channel:
        """A channel; a forum's `tags` (those in `moderated_tags` need Manage Threads)."""
        kind = CHANNEL_TYPES.get(type) if isinstance(type, str) else type
        if kind is None:
            raise EmulatorError(
                f"unknown channel type {type!r}; use one of {sorted(CHANNEL_TYPES)}"
            )
        ch = self.world.add_channel(
            _id(guild),
            name,
            kind,
            parent_id=None if parent is None else _id(parent),
            topic=topic,
            tags=tags,
            require_tag=require_tag,
            moderated_tags=moderated_tags,
        )
        self._changed()
        return ch

    def remove_bot(self, guild: Guild | int) -> None:
        """Kick the bot from the guild: GUILD_DELETE (no `unavailable`), then 403 Missing Access
        on its channels, none of its events and no commands there. `add_bot` invites it again."""
        self.world.remove_bot(_id(guild))
        self._changed()

    def add_bot(self, guild: Guild | int, *, bot_permissions: Any = None) -> None:
        """Invite the bot into a guild it was removed from, or one that added only its commands
        (`add_guild(with_bot=False)`): GUILD_CREATE, a new role."""
        perms = DEFAULT_BOT if bot_permissions is None else parse_perms(bot_permissions)
        self.world.add_bot(_id(guild), bot_permissions=perms)
        self._changed()

    @contextlib.asynccontextmanager
    async def guild_outage(self, guild: Guild | int) -> AsyncIterator[None]:
        """Discord loses the guild for the block: GUILD_DELETE with unavailable: true, none of
        its events meanwhile (a new session's READY lists it, without its GUILD_CREATE), then
        GUILD_CREATE with unavailable: false. REST keeps answering."""
        gid = _id(guild)
        self.world.set_available(gid, False)
        self._changed()
        try:
            yield
        finally:
            self.world.set_available(gid, True)
            self._changed()

    def delete_channel(self, channel: Channel | int) -> None:
        """Delete a channel (and its threads); the bot then gets 404 Unknown Channel there."""
        try:
            self.world.delete_channel(_id(channel))
        except ApiError:
            raise EmulatorError(f"no channel {channel!r} to delete") from None
        self._changed()

    def add_role(
        self, guild: Guild | int, name: str, permissions: Any = 0, *, mentionable: bool = False
    ) -> Role:
        role = self.world.add_role(
            _id(guild), name, parse_perms(permissions), mentionable=mentionable
        )
        self._changed()
        return role

    def add_member(
        self,
        guild: Guild | int,
        name: str,
        permissions: Any = 0,
        *,
        roles: Iterable[Role | int] = (),
    ) -> User:
        """A user in the guild. Non-zero `permissions` come through a role named after them."""
        gid = _id(guild)
        user = self.world.find_user(name) or self.world.add_user(name)
        if (gid, user.id) in self.world.members:
            raise EmulatorError(f"{name!r} is already a member of guild {gid}")
        role_ids = [_id(r) for r in roles]
        perms = parse_perms(permissions)
        if perms:
            role_ids.append(self.world.add_role(gid, f"{name}-perms", perms).id)
        self.world.add_member(gid, user.id, role_ids)
        self._changed()
        return user

    def add_moderator(self, guild: Guild | int, name: str) -> User:
        """A member whose role has MANAGE_THREADS, MANAGE_MESSAGES and MODERATE_MEMBERS."""
        gid = _id(guild)
        role = next(
            (r for r in self.world.guild_roles(gid) if r.name == "Moderator"), None
        ) or self.world.add_role(gid, "Moderator", int(MODERATOR))
        return self.add_member(gid, name, roles=[role])

    def set_bot_permissions(
        self, where: Channel | Guild | int, allow: Any = 0, deny: Any = 0
    ) -> None:
        """On a channel: the bot's member overwrite. On a guild: its managed role's permissions."""
        target = _id(where)
        if target in self.world.guilds:
            if deny:
                raise EmulatorError(
                    "guild-level permissions have no deny; set allow to what remains"
                )
            role = next(r for r in self.world.guild_roles(target) if r.bot_id == self.world.bot.id)
            self.world.set_role_permissions(role.id, parse_perms(allow))
        else:
            self.world.set_overwrite(
                target,
                self.world.bot.id,
                MEMBER_OVERWRITE,
                allow=parse_perms(allow),
                deny=parse_perms(deny),
            )
        self._changed()

    def set_permissions(
        self, channel: Channel | int, target: User | Role | str | int, allow: Any = 0, deny: Any = 0
    ) -> None:
        """A channel overwrite for a user, a role, or "everyone"."""
        ch = self.world.channel(_id(channel))
        if ch.guild_id is None:
            raise EmulatorError("a DM has no permission overwrites")
        if target == "everyone":
            tid, kind = ch.guild_id, ROLE_OVERWRITE
        elif isinstance(target, Role):
            tid, kind = target.id, ROLE_OVERWRITE
        elif isinstance(target, User):
            tid, kind = target.id, MEMBER_OVERWRITE
        elif isinstance(target, int) and target in self.world.roles:
            tid, kind = target, ROLE_OVERWRITE
        elif isinstance(target, int) and target in self.world.users:
            tid, kind = target, MEMBER_OVERWRITE
        else:
            raise EmulatorError(
                f"overwrite target must be a User, a Role or 'everyone', got {target!r}"
            )
        self.world.set_overwrite(ch.id, tid, kind, allow=parse_perms(allow), deny=parse_perms(deny))
        self._changed()

    def archive_thread(
        self, thread: Channel | int | dict[str, Any], *, locked: bool = False
    ) -> None:
        """Archive a thread (or forum post) as Discord does after a week without messages, or
        as a moderator does; `locked`: only members with Manage Threads may reopen it."""
        tid = int(thread["id"]) if isinstance(thread, dict) else _id(thread)
        ch = self.world.channel(tid)
        if not ch.is_thread:
            raise EmulatorError(f"channel {tid} is not a thread")
        self.world.archive_thread(ch, locked=locked)
        self._changed()

    def permissions(self, user: User | int, channel: Channel | int) -> Perm:
        return Perm(self.world.permissions(_id(user), _id(channel)))

    def post_message(
        self, channel: Channel | int, content: str, *, user: User | int | str, **fields: Any
    ) -> dict[str, Any]:
        """A user posts in a channel (the bot sees MESSAGE_CREATE)."""
        author = self._user(user)
        try:
            msg, _ = self.world.create_message(
                _id(channel), author.id, {"content": content, **fields}
            )
        except ApiError as err:
            raise EmulatorError(f"{author.username} cannot post there: {err.message}") from None
        self._changed()
        return P.message(self.world, msg)

    # ---- reading what the bot did ----

    def messages(self, channel: Channel | int) -> list[dict[str, Any]]:
        """The channel's visible messages, oldest first."""
        ids = self.world.channel_messages.get(_id(channel))
        if ids is None:
            raise EmulatorError(f"no channel {_id(channel)}")
        return [P.message(self.world, self.world.messages[i]) for i in sorted(ids)]

    def threads(self, channel: Channel | int) -> list[dict[str, Any]]:
        """Threads (and forum posts) whose parent is this channel, oldest first."""
        parent = _id(channel)
        return [
            P.channel(c)
            for c in sorted(self.world.channels.values(), key=lambda c: c.id)
            if c.is_thread and c.parent_id == parent
        ]

    def commands(self, guild: Guild | int | None = None) -> list[dict[str, Any]]:
        scope = None if guild is None else _id(guild)
        return [P.command(c) for c in self.world.commands.get(scope, [])]

    def dm(self, user: User | int | str) -> Channel:
        """The DM channel between `user` and the bot, for `invoke(..., channel=emu.dm(user))`:
        interactions there carry `user` instead of `member`, no guild, and context 1."""
        ch = self.world.dm_channel(self._user(user).id)
        self._changed()
        return ch

    def channel_named(self, name: str, guild: Guild | int | None = None) -> Channel:
        for ch in self.world.channels.values():
            if ch.name == name.lstrip("#") and (guild is None or ch.guild_id == _id(guild)):
                return ch
        raise EmulatorError(f"no channel named {name!r}")

    # ---- faults ----

    def inject_fault(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        retry_after: float = 0.05,
        scope: str = "user",
        *,
        after: bool = False,
        code: int = 0,
        message: str | None = None,
        cloudflare: bool = False,
    ) -> Fault:
        """The next `count` requests matching method (or "*") and path_regex (searched in the
        path after /api/v10) fail with `status`: 429 with Discord's headers (`cloudflare`:
        Cloudflare's plain-text ban instead), a 5xx, or a 400/401/403/404 refusal with Discord's
        JSON error `code` and `message` (known codes have their message).
        `after` (5xx only): the request is carried out, then answered with the error."""
        return self.faults.add(
            Fault(
                method,
                path_regex,
                status,
                count,
                retry_after,
                scope,
                code=code,
                message=message,
                cloudflare=cloudflare,
                after=after,
            )
        )

    def reset_token(self) -> str:
        """The new token, as after "Reset Token" in the Developer Portal: from now on REST
        answers the old one with 401 and IDENTIFY or RESUME with it closes with 4004. A session
        already connected stays until it reconnects (drop_gateway)."""
        self.world.token = make_token(self.world.bot.id)
        self._changed()
        return self.world.token

    # ---- gateway control ----

    async def wait_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 (the driver API promises timeout=)
        """Until a bot session has identified (or resumed) and got its guilds."""
        await self.wait_for(
            lambda: bool(self.gateway.connected),
            timeout=timeout,
            what="the bot to connect to the gateway and identify",
        )

    async def drop_gateway(self, code: int = 1006) -> int:
        """Cut the bot's websocket (1006: no close frame; 4000 etc.: a close frame). The client
        reconnects and RESUMEs; events emitted meanwhile are replayed."""
        dropped = await self.gateway.drop(code)
        if not dropped:
            raise EmulatorError("no gateway connection to drop; await emu.wait_ready() first")
        return dropped

    @contextlib.asynccontextmanager
    async def gateway_outage(self, code: int = 1006) -> AsyncIterator[None]:
        """Drop the gateway and hold reconnection handshakes until the block ends."""
        self.gateway.hold()
        try:
            await self.drop_gateway(code)
            yield
        finally:
            self.gateway.release()

    @contextlib.asynccontextmanager
    async def guilds_held(self) -> AsyncIterator[None]:
        """Within the block, a bot that identifies gets READY with every guild unavailable and
        no GUILD_CREATE; they arrive when the block ends (Discord streams them after READY)."""
        self.gateway.hold_guilds()
        try:
            yield
        finally:
            self.gateway.release_guilds()

    async def invalidate_session(self, *, resumable: bool = False) -> int:
        """op 9 INVALID_SESSION to connected sessions (d=false: they must IDENTIFY again)."""
        return await self.gateway.invalidate(resumable=resumable)

    async def request_reconnect(self) -> int:
        return await self.gateway.request_reconnect()

    # ---- acting as a user ----

    def _user(self, user: User | int | str) -> User:
        if isinstance(user, User):
            return user
        if isinstance(user, int):
            found = self.world.users.get(user)
        else:
            found = self.world.find_user(user)
        if found is None:
            raise EmulatorError(f"no user {user!r}; create one with emu.add_member(guild, name)")
        return found

    def _channel(self, channel: Channel | int | str) -> Channel:
        if isinstance(channel, str):
            return self.channel_named(channel)
        try:
            return self.world.channel(_id(channel))
        except ApiError:
            raise EmulatorError(f"no channel {channel!r}") from None

    def _require_session(self) -> None:
        if not self.gateway.sessions:
            raise EmulatorError(
                "no bot session to deliver to; start the bot and await emu.wait_ready()"
            )

    def _send_interaction(self, rec: InteractionRecord) -> InteractionHandle:
        self.gateway.dispatch(
            GatewayEvent("INTERACTION_CREATE", interaction_payload(self.world, rec), 0)
        )
        self._notify()
        return InteractionHandle(self, rec)

    def _member_context(
        self, user: User | int | str, channel: Channel | int | str
    ) -> tuple[User, Channel]:
        self._require_session()
        who = self._user(user)
        ch = self._channel(channel)
        if ch.guild_id is None:
            if who.id not in ch.recipient_ids:
                raise EmulatorError(
                    f"{who.username} is not in that DM; use emu.dm({who.username!r})"
                )
            return who, ch
        if (ch.guild_id, who.id) not in self.world.members:
            raise EmulatorError(f"{who.username} is not a member of the guild of #{ch.name}")
        if not self.world.has_commands(ch.guild_id):
            raise EmulatorError(f"the bot is not in the guild of #{ch.name}; emu.add_bot(guild)")
        if not self.world.permissions(who.id, ch.id) & Perm.VIEW_CHANNEL:
            raise EmulatorError(f"{who.username} cannot see #{ch.name}")
        kind = {CATEGORY: "category", FORUM: "forum", MEDIA: "media"}.get(ch.type)
        if kind is not None:  # Discord's client has no message box there
            raise EmulatorError(
                f"#{ch.name} is a {kind} channel: commands are typed in a text channel or a "
                "thread (a forum's posts are threads)"
            )
        return who, ch

    def _command_for(self, name: str, who: User, ch: Channel) -> Any:
        command = self.world.find_command(ch.guild_id, name.lstrip("/"))
        if command is None:
            known = sorted(
                {
                    c.name
                    for scope in (None, ch.guild_id)
                    for c in self.world.commands.get(scope, [])
                }
            )
            raise EmulatorError(
                f"unknown command /{name.lstrip('/')}; synced commands: {known or 'none'} "
                f"(syncs so far: {self.world.command_syncs}; did the bot sync its tree?)"
            )
        if ch.guild_id is None:
            if not _offered_in_bot_dm(command.definition):
                raise EmulatorError(
                    f"Discord does not offer /{command.name} in a DM with the bot: it was synced "
                    "with dm_permission false or contexts without 1 (BOT_DM)"
                )
            return command  # default_member_permissions is a guild setting
        perms = self.world.permissions(who.id, ch.id)
        needed = command.definition.get("default_member_permissions")
        if needed is not None and not perms & Perm.ADMINISTRATOR:
            need = int(needed)
            if need == 0 or perms & need != need:
                needs = perm_names(need) if need else "Administrator (the command is set to 0)"
                raise EmulatorError(
                    f"{who.username} may not use /{command.name}: it needs {needs}, "
                    "which they lack here"
                )
        return command

    def command_for(
        self, name: str, *, user: User | int | str, channel: Channel | int | str
    ) -> dict[str, Any]:
        """The synced definition of /name, when `user` may use it in `channel`; otherwise an
        EmulatorError saying why (Discord's client would not offer the command at all)."""
        who, ch = self._member_context(user, channel)
        return dict(self._command_for(name, who, ch).definition)

    async def invoke(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        user: User | int | str,
        channel: Channel | int | str,
        subcommand: str | None = None,
    ) -> InteractionHandle:
        """A user runs a slash command. Options are typed from the definition the bot synced;
        a list is sent verbatim as raw option payloads."""
        who, ch = self._member_context(user, channel)
        command = self._command_for(name, who, ch)
        data, _ = command_data(self.world, command, ch.guild_id, options, subcommand=subcommand)
        rec = self.interactions.create(
            type=APPLICATION_COMMAND,
            guild_id=ch.guild_id,
            channel_id=ch.id,
            user_id=who.id,
            data=data,
            now=self.clock(),
        )
        return self._send_interaction(rec)

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        focused: str = "query",
        *,
        user: User | int | str,
        channel: Channel | int | str,
        subcommand: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 (the driver API promises timeout=)
    ) -> list[dict[str, Any]]:
        """A user types into an autocomplete option; returns the choices the bot offered."""
        who, ch = self._member_context(user, channel)
        command = self._command_for(name, who, ch)
        data, ftype = command_data(
            self.world,
            command,
            ch.guild_id,
            dict(options or {}),
            subcommand=subcommand,
            focused=focused,
        )
        rec = self.interactions.create(
            type=AUTOCOMPLETE,
            guild_id=ch.guild_id,
            channel_id=ch.id,
            user_id=who.id,
            data=data,
            now=self.clock(),
            focused_type=ftype,
        )
        handle = self._send_interaction(rec)
        await self.wait_for(
            lambda: rec.choices is not None,
            timeout=timeout,
            what=f"autocomplete choices for /{command.name} {focused}",
        )
        assert handle.record.choices is not None
        return handle.record.choices

    async def click(
        self,
        message: Any,
        custom_id: str,
        *,
        user: User | int | str,
        values: Sequence[str] | None = None,
    ) -> InteractionHandle:
        """A user presses a button (or picks `values` in a select menu) on a message
        (a message id, payload dict, or anything with an `.id`)."""
        mid = _id(message)
        msg = self.world.messages.get(mid)
        if msg is None:
            raise EmulatorError(f"no message {mid}")
        component = _find_component(msg.components, custom_id)
        if component is None:
            raise EmulatorError(f"message {mid} has no component with custom_id {custom_id!r}")
        if component.get("disabled"):
            raise EmulatorError(f"component {custom_id!r} is disabled")
        who, ch = self._member_context(user, msg.channel_id)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component.get("type", 2)}
        if values is not None:
            data["values"] = list(values)
        rec = self.interactions.create(
            type=MESSAGE_COMPONENT,
            guild_id=ch.guild_id,
            channel_id=ch.id,
            user_id=who.id,
            data=data,
            now=self.clock(),
            message_id=mid,
        )
        return self._send_interaction(rec)

    async def submit_modal(
        self, handle: InteractionHandle, values: Mapping[str, str]
    ) -> InteractionHandle:
        """The user fills in the modal the bot showed (values by text input custom_id)."""
        modal = handle.record.modal
        if modal is None:
            raise EmulatorError("the bot has not shown a modal for this interaction")
        components = _modal_submission(modal.get("components") or [], values)
        rec0 = handle.record
        rec = self.interactions.create(
            type=MODAL_SUBMIT,
            guild_id=rec0.guild_id,
            channel_id=rec0.channel_id,
            user_id=rec0.user_id,
            data={"custom_id": modal.get("custom_id"), "components": components},
            now=self.clock(),
            message_id=rec0.message_id,
        )
        return self._send_interaction(rec)


def _offered_in_bot_dm(definition: dict[str, Any]) -> bool:
    """Whether a global command can be used in a DM with the bot: `contexts` holds 1 (BOT_DM),
    or, without `contexts`, the deprecated dm_permission is not false."""
    contexts = definition.get("contexts")
    if contexts is not None:
        return 1 in contexts
    return definition.get("dm_permission") is not False


def _id(thing: Any) -> int:
    if isinstance(thing, bool):
        raise EmulatorError(f"expected an id or a record, got {thing!r}")
    if isinstance(thing, int):
        return thing
    value = getattr(thing, "id", None)
    if isinstance(value, int):
        return value
    if isinstance(thing, dict) and str(thing.get("id", "")).isdigit():
        return int(thing["id"])
    raise EmulatorError(f"expected an id or a record with .id, got {thing!r}")


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        for key in ("components",):
            found = _find_component(comp.get(key) or [], custom_id)
            if found is not None:
                return found
        inner = comp.get("component") or comp.get("accessory")
        if isinstance(inner, dict):
            found = _find_component([inner], custom_id)
            if found is not None:
                return found
    return None


def _modal_submission(
    components: list[dict[str, Any]], values: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Mirror the modal's layout with the user's values, as Discord submits it."""
    unknown = set(values)
    out: list[dict[str, Any]] = []
    for comp in components:
        if comp.get("type") == 1:  # action row of text inputs
            row = []
            for child in comp.get("components") or []:
                cid = child.get("custom_id")
                unknown.discard(cid)
                row.append(
                    {"type": child.get("type", 4), "custom_id": cid, "value": values.get(cid, "")}
                )
            out.append({"type": 1, "components": row})
        elif comp.get("type") == 18 and isinstance(comp.get("component"), dict):  # label
            child = comp["component"]
            cid = child.get("custom_id")
            unknown.discard(cid)
            entry: dict[str, Any] = {"type": child.get("type", 4), "custom_id": cid}
            if child.get("type", 4) == 4:
                entry["value"] = values.get(cid, "")
            else:
                raw: Any = values.get(cid, [])
                entry["values"] = list(raw) if not isinstance(raw, str) else [raw]
            out.append({"type": 18, "id": comp.get("id"), "component": entry})
    if unknown:
        raise EmulatorError(f"the modal has no inputs {sorted(unknown)}")
    return out

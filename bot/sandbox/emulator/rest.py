"""The REST API v10 as aiohttp routes: auth, recording, injected faults, rate-limit headers.

Handlers translate HTTP to `World`/`Interactions` calls; after every request the server drains
the world's outbox to the gateway (see `Emulator.after_request`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from . import errors as E
from . import payloads as P
from .errors import ApiError
from .faults import Fault
from .perms import Perm
from .state import Attachment

if TYPE_CHECKING:
    from .server import Emulator

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

Upload = tuple[str, bytes, str | None]  # (filename, bytes, content type)
BODY = web.RequestKey("body", object)
FILES = web.RequestKey("files", list)

# Routes authenticated by the token in their path, not the Authorization header.
_TOKEN_IN_PATH = ("/interactions/", "/webhooks/")


@dataclass(frozen=True)
class Recorded:
    """One request as Discord would have received it (path relative to the API base)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int
    files: tuple[str, ...] = field(default=())
    response_headers: dict[str, str] = field(default_factory=dict)


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", no charset: discord.py compares the header verbatim.
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def _error(err: ApiError) -> web.Response:
    return _json(err.body(), err.status)


def _int(request: web.Request, key: str, code: int, what: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit():
        raise E.not_found(code, what)  # Discord answers bad snowflakes in paths as unknown
    return int(raw)


def _query_int(request: web.Request, key: str, default: int | None = None) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit():
        raise E.form_error([(key, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')])
    return int(raw)


class Rest:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    @property
    def world(self) -> Any:
        return self.emu.world

    # ---- the app ----

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        r = app.router
        a = API_PREFIX
        r.add_get("/gateway-ws", self.emu.gateway.handle)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.attachment)
        r.add_get(f"{a}/gateway", self.gateway)
        r.add_get(f"{a}/gateway/bot", self.gateway_bot)
        r.add_get(f"{a}/users/@me", self.users_me)
        r.add_get(f"{a}/users/{{user_id}}", self.get_user)
        r.add_get(f"{a}/applications/@me", self.application)
        r.add_get(f"{a}/oauth2/applications/@me", self.application)
        for base in (
            f"{a}/applications/{{app_id}}",
            f"{a}/applications/{{app_id}}/guilds/{{guild_id}}",
        ):
            r.add_get(f"{base}/commands", self.list_commands)
            r.add_put(f"{base}/commands", self.put_commands)
            r.add_post(f"{base}/commands", self.post_command)
            r.add_get(f"{base}/commands/{{command_id}}", self.get_command)
            r.add_patch(f"{base}/commands/{{command_id}}", self.patch_command)
            r.add_delete(f"{base}/commands/{{command_id}}", self.delete_command)
        r.add_post(f"{a}/interactions/{{interaction_id}}/{{token}}/callback", self.callback)
        r.add_post(f"{a}/webhooks/{{app_id}}/{{token}}", self.followup)
        wh = f"{a}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}"
        r.add_get(wh, self.webhook_message)
        r.add_patch(wh, self.webhook_edit)
        r.add_delete(wh, self.webhook_delete)
        ch = f"{a}/channels/{{channel_id}}"
        r.add_get(ch, self.get_channel)
        r.add_patch(ch, self.patch_channel)
        r.add_delete(ch, self.delete_channel)
        r.add_get(f"{ch}/messages", self.list_messages)
        r.add_post(f"{ch}/messages", self.create_message)
        r.add_get(f"{ch}/messages/{{message_id}}", self.get_message)
        r.add_patch(f"{ch}/messages/{{message_id}}", self.edit_message)
        r.add_delete(f"{ch}/messages/{{message_id}}", self.delete_message)
        r.add_post(f"{ch}/messages/{{message_id}}/threads", self.thread_from_message)
        r.add_put(f"{ch}/messages/{{message_id}}/reactions/{{emoji}}/@me", self.add_reaction)
        r.add_post(f"{ch}/threads", self.create_thread)
        r.add_put(f"{ch}/thread-members/@me", self.join_thread)
        r.add_post(f"{ch}/typing", self.typing)
        g = f"{a}/guilds/{{guild_id}}"
        r.add_get(g, self.get_guild)
        r.add_get(f"{g}/channels", self.guild_channels)
        r.add_get(f"{g}/roles", self.guild_roles)
        r.add_get(f"{g}/members", self.guild_members)
        r.add_get(f"{g}/members/{{user_id}}", self.guild_member)
        r.add_get(f"{g}/threads/active", self.active_threads)
        return app

    # ---- middleware: parse, fault, auth, handle, headers, record ----

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API_PREFIX + "/"):
            return await handler(request)  # gateway websocket and attachment downloads
        rel = path[len(API_PREFIX) :]
        if self.emu.latency:
            await asyncio.sleep(self.emu.latency)  # the request's trip here
        body: Any = None
        files: list[tuple[str, bytes, str | None]] = []
        response: web.StreamResponse
        fault: Fault | None = None
        try:
            body, files = await _read_body(request)
            request[BODY], request[FILES] = body, files
            fault = self.emu.faults.take(request.method, rel)
            if fault is not None and not fault.after:
                response = self._fault_response(fault, request, rel)
            else:
                response = await self._authorised(request, rel, handler)
                if fault is not None and response.status < 400:
                    response = self._fault_response(fault, request, rel)
        except ApiError as err:
            response = _error(err)
        except web.HTTPException as exc:
            response = _json({"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status)
        except Exception:
            # An emulator bug: say so loudly; 500 is what Discord would answer.
            log.exception("emulator failed on %s %s", request.method, rel)
            response = _json(
                {"message": "500: Internal Server Error (emulator bug)", "code": 0}, 500
            )
        if fault is None or not fault.cloudflare:
            response.headers.setdefault("Via", "1.1 google")  # discord.py trusts 429s with Via
        self.emu.after_request(
            Recorded(
                method=request.method,
                path=rel,
                query=dict(request.query),
                json=body,
                headers=dict(request.headers),
                status=response.status,
                files=tuple(name for name, _, _ in files),
                response_headers=dict(response.headers),
            ),
            mutating=request.method != "GET" and response.status < 400,
        )
        if self.emu.latency:
            await asyncio.sleep(self.emu.latency)  # and the response's trip back
        return response

    def _fault_response(self, fault: Fault, request: web.Request, rel: str) -> web.Response:
        status, headers, body = fault.response(self._bucket_key(request)[0], time.time())
        done = " after carrying it out" if fault.after else ""
        log.info("injected %s for %s %s%s", status, request.method, rel, done)
        if isinstance(body, str):  # Cloudflare's own page, not Discord's JSON
            response = web.Response(text=body, status=status, content_type="text/plain")
        else:
            response = _json(body, status)
        response.headers.update(headers)
        return response

    async def _authorised(
        self, request: web.Request, rel: str, handler: Handler
    ) -> web.StreamResponse:
        needs_auth = not rel.startswith(_TOKEN_IN_PATH) and rel != "/gateway"
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.world.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        key, _ = self._bucket_key(request)
        headers, over = self.emu.buckets.hit(key, self.emu.monotonic(), time.time())
        response: web.StreamResponse
        if over is not None:
            response = _json(
                {"message": "You are being rate limited.", "retry_after": over, "global": False},
                429,
            )
            headers.update(
                {"Retry-After": str(max(1, int(over + 0.999))), "X-RateLimit-Scope": "user"}
            )
        else:
            response = await handler(request)
        response.headers.update(headers)
        return response

    def _bucket_key(self, request: web.Request) -> tuple[str, str]:
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource else request.path
        major = next(
            (info[k] for k in ("channel_id", "guild_id", "interaction_id", "token") if k in info),
            "",
        )
        return f"{request.method} {route}:{major}", major

    # ---- gateway, identity ----

    async def gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.emu.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.emu.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def users_me(self, request: web.Request) -> web.Response:
        return _json(P.me(self.world.bot))

    async def get_user(self, request: web.Request) -> web.Response:
        return _json(P.user(self.world.user(_int(request, "user_id", E.UNKNOWN_USER, "User"))))

    async def application(self, request: web.Request) -> web.Response:
        return _json(P.application(self.world))

    async def attachment(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["attachment_id"]
        blob = self.emu.blobs.get(int(aid)) if aid.isdigit() else None
        if blob is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=blob, content_type="application/octet-stream")

    # ---- application commands ----

    def _scope(self, request: web.Request) -> int | None:
        app_id = request.match_info["app_id"]
        if app_id != str(self.world.application_id):
            raise ApiError(403, E.MISSING_ACCESS, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        gid = _int(request, "guild_id", E.UNKNOWN_GUILD, "Guild")
        self.world.guild(gid)
        return gid

    async def list_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        return _json([P.command(c) for c in self.world.commands.get(scope, [])])

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        commands = self.world.overwrite_commands(scope, request[BODY])
        log.info("commands synced (%s): %s", scope or "global", [c.name for c in commands])
        return _json([P.command(c) for c in commands])

    async def post_command(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        before = {c.id for c in self.world.commands.get(scope, [])}
        command = self.world.upsert_command(scope, request[BODY])
        return _json(P.command(command), 200 if command.id in before else 201)

    def _command(self, request: web.Request) -> Any:
        scope = self._scope(request)
        cid = _int(request, "command_id", E.UNKNOWN_COMMAND, "application command")
        for c in self.world.commands.get(scope, []):
            if c.id == cid:
                return scope, c
        raise E.not_found(E.UNKNOWN_COMMAND, "application command")

    async def get_command(self, request: web.Request) -> web.Response:
        _, command = self._command(request)
        return _json(P.command(command))

    async def patch_command(self, request: web.Request) -> web.Response:
        scope, command = self._command(request)
        body = request[BODY]
        if not isinstance(body, dict):
            raise E.form_error([("_root", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")])
        merged = {**command.definition, **body}
        others = [c.definition for c in self.world.commands.get(scope, []) if c.id != command.id]
        syncs = self.world.command_syncs
        self.world.overwrite_commands(scope, [*others, merged])
        self.world.command_syncs = syncs + 1
        updated = next(c for c in self.world.commands[scope] if c.name == merged.get("name"))
        return _json(P.command(updated))

    async def delete_command(self, request: web.Request) -> web.Response:
        scope, command = self._command(request)
        self.world.delete_command(scope, command.id)
        return web.Response(status=204)

    # ---- interactions ----

    async def callback(self, request: web.Request) -> web.Response:
        iid = _int(request, "interaction_id", E.UNKNOWN_INTERACTION, "interaction")
        attachments = self.emu.store_files(request[FILES], _message_part(request[BODY], "data"))
        _, response = self.emu.interactions.callback(
            iid, request.match_info["token"], request[BODY], attachments, now=self.emu.clock()
        )
        if request.query.get("with_response", "").lower() in ("1", "true"):
            return _json(response)
        return web.Response(status=204)

    def _webhook_record(self, request: web.Request) -> Any:
        app_raw = request.match_info["app_id"]
        app_id = int(app_raw) if app_raw.isdigit() else -1
        return self.emu.interactions.by_webhook(
            app_id, request.match_info["token"], now=self.emu.clock()
        )

    async def followup(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        attachments = self.emu.store_files(request[FILES], request[BODY])
        msg = self.emu.interactions.followup(rec, request[BODY], attachments)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return _json(P.message(self.world, msg))
        return web.Response(status=204)

    async def webhook_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        msg = self.emu.interactions.message_of(rec, request.match_info["message_id"])
        return _json(P.message(self.world, msg))

    async def webhook_edit(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        self.emu.store_files(request[FILES], request[BODY])
        msg = self.emu.interactions.edit(rec, request.match_info["message_id"], request[BODY])
        return _json(P.message(self.world, msg))

    async def webhook_delete(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        self.emu.interactions.delete(rec, request.match_info["message_id"])
        return web.Response(status=204)

    # ---- channels and messages ----

    def _channel(self, request: web.Request, *, view: bool = True) -> Any:
        ch = self.world.channel(_int(request, "channel_id", E.UNKNOWN_CHANNEL, "Channel"))
        if view and not self.world.permissions(self.world.bot.id, ch.id) & Perm.VIEW_CHANNEL:
            raise E.missing_access()
        return ch

    async def get_channel(self, request: web.Request) -> web.Response:
        return _json(P.channel(self._channel(request)))

    async def patch_channel(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        body = _dict_body(request)
        return _json(P.channel(self.world.edit_channel(ch, body, user_id=self.world.bot.id)))

    async def delete_channel(self, request: web.Request) -> web.Response:
        """ "Requires the MANAGE_CHANNELS permission for the guild, or MANAGE_THREADS if the
        channel is a thread"."""
        ch = self._channel(request)
        needed = Perm.MANAGE_THREADS if ch.is_thread else Perm.MANAGE_CHANNELS
        self.world.require(self.world.bot.id, ch.id, int(needed))
        gone = P.channel(ch)
        self.world.delete_channel(ch.id)
        return _json(gone)

    async def list_messages(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        limit = _query_int(request, "limit", 50)
        assert limit is not None
        if not 1 <= limit <= 100:
            raise E.form_error(
                [("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")]
            )
        if not self.world.permissions(self.world.bot.id, ch.id) & Perm.READ_MESSAGE_HISTORY:
            return _json([])
        messages = self.world.list_messages(
            ch.id,
            limit=limit,
            before=_query_int(request, "before"),
            after=_query_int(request, "after"),
            around=_query_int(request, "around"),
        )
        return _json([P.message(self.world, m) for m in messages])

    async def create_message(self, request: web.Request) -> web.Response:
        ch = self._channel(request, view=False)
        body = _dict_body(request)
        attachments = self.emu.store_files(request[FILES], body)
        msg, created = self.world.create_message(
            ch.id,
            self.world.bot.id,
            body,
            attachments=attachments,
            nonce_window=self.emu.nonce_window,
        )
        if not created:
            log.info("nonce %r matched message %s: nothing created", body.get("nonce"), msg.id)
        return _json(P.message(self.world, msg))

    def _message(self, request: web.Request) -> Any:
        ch = self._channel(request)
        mid = _int(request, "message_id", E.UNKNOWN_MESSAGE, "Message")
        return self.world.message(ch.id, mid)

    async def get_message(self, request: web.Request) -> web.Response:
        return _json(P.message(self.world, self._message(request)))

    async def edit_message(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        body = _dict_body(request)
        self.emu.store_files(request[FILES], body)
        return _json(
            P.message(self.world, self.world.edit_message(msg, body, editor_id=self.world.bot.id))
        )

    async def delete_message(self, request: web.Request) -> web.Response:
        self.world.delete_message(self._message(request), deleter_id=self.world.bot.id)
        return web.Response(status=204)

    async def add_reaction(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        self.world.require(
            self.world.bot.id, msg.channel_id, int(Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY)
        )
        self.world.add_reaction(msg, request.match_info["emoji"], self.world.bot.id)
        return web.Response(status=204)

    async def thread_from_message(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        mid = _int(request, "message_id", E.UNKNOWN_MESSAGE, "Message")
        thread = self.world.start_thread_from_message(
            ch.id, mid, self.world.bot.id, _dict_body(request)
        )
        return _json(P.channel(thread), 201)

    async def create_thread(self, request: web.Request) -> web.Response:
        ch = self._channel(request, view=False)
        body = _dict_body(request)
        attachments = self.emu.store_files(request[FILES], _message_part(body, "message"))
        thread, msg = self.world.start_thread(
            ch.id,
            self.world.bot.id,
            body,
            attachments=attachments,
            nonce_window=self.emu.nonce_window,
        )
        data = P.channel(thread)
        data["member"] = P.thread_member(thread, self.world.bot.id)
        if msg is not None:
            data["message"] = P.message(self.world, msg)
        return _json(data, 201)

    async def join_thread(self, request: web.Request) -> web.Response:
        self.world.join_thread(self._channel(request), self.world.bot.id)
        return web.Response(status=204)

    async def typing(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        self.world.require(
            self.world.bot.id,
            ch.id,
            int(Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES),
        )
        return web.Response(status=204)

    # ---- guilds ----

    def _guild(self, request: web.Request) -> int:
        gid = _int(request, "guild_id", E.UNKNOWN_GUILD, "Guild")
        self.world.guild(gid)
        if not self.world.has_bot(gid):
            raise E.missing_access()
        return gid

    async def get_guild(self, request: web.Request) -> web.Response:
        return _json(P.guild(self.world, self._guild(request)))

    async def guild_channels(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        return _json([P.channel(c) for c in self.world.guild_channels(gid)])

    async def guild_roles(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        return _json([P.role(r) for r in self.world.guild_roles(gid)])

    async def guild_members(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        limit = _query_int(request, "limit", 1) or 1
        after = _query_int(request, "after", 0) or 0
        members = sorted(self.world.guild_members(gid), key=lambda m: m.user_id)
        chosen = [m for m in members if m.user_id > after][:limit]
        return _json([P.member(self.world, m) for m in chosen])

    async def guild_member(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        uid = _int(request, "user_id", E.UNKNOWN_MEMBER, "Member")
        return _json(P.member(self.world, self.world.member(gid, uid)))

    async def active_threads(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        threads = [t for t in self.world.guild_threads(gid) if not t.archived]
        members = [
            P.thread_member(t, self.world.bot.id)
            for t in threads
            if self.world.bot.id in t.member_ids
        ]
        return _json({"threads": [P.channel(t) for t in threads], "members": members})


def _dict_body(request: web.Request) -> dict[str, Any]:
    body = request[BODY]
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise E.form_error([("_root", "MODEL_TYPE_CONVERT", "Only dictionaries may be used")])
    return body


def _message_part(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes, str | None]]]:
    """JSON body (or multipart payload_json) and uploaded files as (filename, bytes, type)."""
    if not request.can_read_body:
        return None, []
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        body: Any = None
        files: list[tuple[str, bytes, str | None]] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: no Discord client sends it
            name = part.name
            data = await part.read()
            if name == "payload_json":
                body = _parse_json(bytes(data))
            elif name and name.startswith("file"):
                filename = part.filename or name
                files.append((filename, bytes(data), part.headers.get("Content-Type")))
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    return _parse_json(raw), []


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


def attachments_from(
    files: list[tuple[str, bytes, str | None]], body: Any, new_id: Callable[[], int]
) -> tuple[list[Attachment], dict[int, bytes]]:
    """Pair uploaded files with the body's `attachments` metadata (matched by `id` = index)."""
    meta = {}
    if isinstance(body, dict):
        for item in body.get("attachments") or []:
            if isinstance(item, dict) and str(item.get("id", "")).isdigit():
                meta[int(item["id"])] = item
    attachments: list[Attachment] = []
    blobs: dict[int, bytes] = {}
    for index, (filename, data, ctype) in enumerate(files):
        info = meta.get(index, {})
        att = Attachment(
            id=new_id(),
            filename=str(info.get("filename") or filename),
            size=len(data),
            content_type=ctype,
            description=info.get("description"),
        )
        attachments.append(att)
        blobs[att.id] = data
    return attachments, blobs

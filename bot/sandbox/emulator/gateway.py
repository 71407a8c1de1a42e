"""The gateway: websocket sessions speaking Discord's gateway v10 (JSON; zlib-stream, and
zstd-stream where a zstd module imports).

HELLO, heartbeat/ACK, IDENTIFY → READY + GUILD_CREATE per guild, RESUME with replay of every
event after the client's `seq`, INVALID_SESSION, close codes as Discord uses them. Each
connection has one writer task, so frames (and the shared compression stream) stay in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from . import payloads as P
from .state import GUILD_MEMBERS, GUILDS, MESSAGE_CONTENT, GatewayEvent, World

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    6,
    7,
    8,
    9,
    10,
    11,
)

UNKNOWN_ERROR, UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED = 4000, 4001, 4002, 4003
AUTHENTICATION_FAILED, ALREADY_AUTHENTICATED, INVALID_SEQ = 4004, 4005, 4007
INVALID_API_VERSION, INVALID_INTENTS, DISALLOWED_INTENTS = 4012, 4013, 4014

PRIVILEGED_INTENTS = GUILD_MEMBERS | (1 << 8) | MESSAGE_CONTENT
_MAX_DETACHED_SESSIONS = 8


@dataclass
class _Close:
    code: int
    message: str = ""


@dataclass
class _Late:
    """A frame that leaves once the simulated network latency has passed (loop time)."""

    due: float
    frame: dict[str, Any]


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=2000))
    conn: Connection | None = None
    presence: dict[str, Any] | None = None


def stream_compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """One frame's bytes for a transport-compressed connection (`compress=` of the gateway
    URL), each frame flushed whole as Discord does; None when `kind` cannot be served here.
    discord.py asks for zstd-stream wherever a zstd module imports (Python 3.14's stdlib,
    or the zstandard package), else for zlib-stream."""
    if kind == "zlib-stream":
        deflate = zlib.compressobj()
        return lambda data: deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
    if kind != "zstd-stream":
        return None
    try:
        stdlib = importlib.import_module("compression.zstd")
    except ImportError:
        try:
            zstandard = importlib.import_module("zstandard")
        except ImportError:
            return None
        packer = zstandard.ZstdCompressor().compressobj()
        block = zstandard.COMPRESSOBJ_FLUSH_BLOCK
        return lambda data: packer.compress(data) + packer.flush(block)
    compressor = stdlib.ZstdCompressor()
    return lambda data: compressor.compress(data, mode=stdlib.ZstdCompressor.FLUSH_BLOCK)


COMPRESSIONS = tuple(k for k in ("zlib-stream", "zstd-stream") if stream_compressor(k))


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        compress: str | None,
        latency: float = 0.0,
    ) -> None:
        self.ws = ws
        self.request = request
        self.pack = stream_compressor(compress)
        self.latency = latency
        self.queue: asyncio.Queue[dict[str, Any] | _Late | _Close] = asyncio.Queue()
        self.session: Session | None = None
        self.writer: asyncio.Task[None] | None = None
        self.closing = False
        self.aborted = False

    def send(self, frame: dict[str, Any]) -> None:
        if not self.closing:
            if self.latency:
                due = asyncio.get_running_loop().time() + self.latency
                self.queue.put_nowait(_Late(due, frame))
            else:
                self.queue.put_nowait(frame)

    def close(self, code: int, message: str = "") -> None:
        if not self.closing:
            self.closing = True
            self.queue.put_nowait(_Close(code, message))

    async def write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, _Close):
                if not self.aborted:  # a cut connection has no one to exchange close frames with
                    await self.ws.close(code=item.code, message=item.message.encode())
                return
            if isinstance(item, _Late):  # frames keep their order; each waits out its own trip
                delay = item.due - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
                item = item.frame
            text = json.dumps(item, separators=(",", ":"))
            try:
                if self.pack is not None:
                    await self.ws.send_bytes(self.pack(text.encode()))
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the peer went away; the reader notices and detaches the session


class Gateway:
    def __init__(
        self,
        world: World,
        *,
        heartbeat_interval: float,
        on_change: Callable[[], None],
        allowed_intents: int = PRIVILEGED_INTENTS,
        latency: float = 0.0,
    ) -> None:
        self.world = world
        self.heartbeat_interval = heartbeat_interval
        self.latency = latency  # simulated one-way network delay of every frame sent, seconds
        self.on_change = on_change
        self.allowed_privileged = allowed_intents & PRIVILEGED_INTENTS
        self.url = ""  # set by the server once it has a port
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.identifies = 0
        self.resumes = 0
        self.invalid_sessions = 0
        self.ready_sessions = 0  # sessions that got READY and all their GUILD_CREATEs
        self._open = asyncio.Event()
        self._open.set()
        # While set, GUILD_CREATEs after a new READY wait here (see hold_guilds).
        self._held_guilds: list[tuple[Session, list[dict[str, Any]]]] | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    # ---- outage control (used by the test driver) ----

    def hold(self) -> None:
        """New handshakes wait until `release()`: the gateway is 'down'."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def hold_guilds(self) -> None:
        """A new session gets READY (every guild unavailable) but its GUILD_CREATEs wait until
        `release_guilds()`. On Discord they stream in after READY, sometimes seconds later."""
        if self._held_guilds is None:
            self._held_guilds = []

    def release_guilds(self) -> None:
        held, self._held_guilds = self._held_guilds or [], None
        for session, guilds in held:
            if session.id in self.sessions:
                for data in guilds:
                    self._send_dispatch(session, "GUILD_CREATE", data)
                self.ready_sessions += 1
        self.on_change()

    @property
    def connected(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.conn is not None]

    async def drop(self, code: int = 1006) -> int:
        """Cut every live connection; sessions stay resumable. Returns how many were cut."""
        conns = [c for c in self.connections if not c.closing]
        for conn in conns:
            self._detach(conn)
            if code == 1006:  # abnormal closure has no close frame: cut the TCP connection
                conn.closing = conn.aborted = True
                conn.queue.put_nowait(_Close(code))
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
            else:
                conn.close(code, "dropped by the emulator")
        self.on_change()
        return len(conns)

    async def invalidate(self, *, resumable: bool = False) -> int:
        """Send INVALID_SESSION to every connected session; unless resumable, forget them."""
        count = 0
        for session in list(self.sessions.values()):
            conn = session.conn
            if not resumable:
                self.sessions.pop(session.id, None)
            if conn is not None:
                conn.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None})
                count += 1
        self.invalid_sessions += count
        self.on_change()
        return count

    async def request_reconnect(self) -> int:
        """op 7 RECONNECT: the client should reconnect and resume."""
        conns = [c for c in self.connections if c.session is not None and not c.closing]
        for conn in conns:
            conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})
        return len(conns)

    async def close(self) -> None:
        self.release()
        for conn in list(self.connections):
            self._detach(conn)
            conn.close(WSCloseCode.GOING_AWAY, "emulator stopping")
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout=2)

    # ---- dispatch ----

    def dispatch(self, event: GatewayEvent) -> None:
        for session in list(self.sessions.values()):
            if event.intent and not session.intents & event.intent:
                continue
            if not self._reaches_bot(event):
                continue
            if event.name == "GUILD_CREATE":
                gid = int(event.data["id"])
                if gid not in self.world.guilds:
                    continue
                data = P.guild_create(
                    self.world,
                    gid,
                    all_members=bool(session.intents & GUILD_MEMBERS),
                    # Back from an outage (unavailable: false), else joined just now.
                    newly_joined="unavailable" not in event.data,
                )
            else:
                data = self._gate_content(session, event)
            self._send_dispatch(session, event.name, data)

    def _reaches_bot(self, event: GatewayEvent) -> bool:
        """A guild's events reach the bot only while it is a member (not kicked, not a
        commands-only install) and the guild is up; the GUILD_DELETE that says it left (or
        went down) is the last one."""
        gid = event.guild_id
        if gid is None or event.name == "GUILD_DELETE" or gid not in self.world.guilds:
            return True
        if not self.world.has_bot(gid):
            return False
        return event.name == "GUILD_CREATE" or not self.world.guilds[gid].unavailable

    def _gate_content(self, session: Session, event: GatewayEvent) -> dict[str, Any]:
        """Without MESSAGE_CONTENT, others' messages arrive without content (unless mentioning
        the bot), as on Discord."""
        if (
            event.name not in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
            or session.intents & MESSAGE_CONTENT
        ):
            return event.data
        data = event.data
        bot_id = str(self.world.bot.id)
        if data.get("author", {}).get("id") == bot_id:
            return data
        if any(u.get("id") == bot_id for u in data.get("mentions", [])):
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def _send_dispatch(self, session: Session, name: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": DISPATCH, "t": name, "s": session.seq, "d": data}
        session.buffer.append(frame)
        if session.conn is not None:
            session.conn.send(frame)

    # ---- the websocket handler ----

    async def handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._handle(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await self._open.wait()
        version = request.query.get("v")
        encoding = request.query.get("encoding", "json")
        compress = request.query.get("compress")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, request, compress, self.latency)
        self.connections.add(conn)
        conn.writer = asyncio.create_task(conn.write_loop())
        try:
            if version != "10":
                conn.close(INVALID_API_VERSION, f"Invalid API version {version!r}; use v=10")
            elif encoding != "json":
                conn.close(DECODE_ERROR, f"encoding {encoding!r} is not supported; use json")
            elif compress is not None and compress not in COMPRESSIONS:
                served = " or ".join(COMPRESSIONS)
                conn.close(UNKNOWN_ERROR, f"compress={compress!r} is not supported; use {served}")
            else:
                interval_ms = int(self.heartbeat_interval * 1000)
                conn.send(
                    {"op": HELLO, "d": {"heartbeat_interval": interval_ms}, "s": None, "t": None}
                )
                await self._read_loop(conn)
        finally:
            self._detach(conn, client_close=ws.close_code)
            self.connections.discard(conn)
            conn.close(WSCloseCode.GOING_AWAY)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.writer, timeout=2)
            self.on_change()
        return ws

    async def _read_loop(self, conn: Connection) -> None:
        async for msg in conn.ws:
            if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                break
            try:
                raw = msg.data if isinstance(msg.data, str) else msg.data.decode()
                payload = json.loads(raw)
                op = payload["op"]
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                conn.close(DECODE_ERROR, "Error while decoding payload.")
                return
            if conn.closing:
                return
            self._on_op(conn, op, payload.get("d"))

    def _on_op(self, conn: Connection, op: Any, d: Any) -> None:
        if op == HEARTBEAT:
            conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            self._identify(conn, d)
        elif op == RESUME:
            self._resume(conn, d)
        elif conn.session is None:
            conn.close(NOT_AUTHENTICATED, "Not authenticated.")
        elif op == PRESENCE_UPDATE:
            conn.session.presence = d
        elif op == REQUEST_GUILD_MEMBERS:
            self._members_chunk(conn.session, d)
        elif op == VOICE_STATE:
            pass  # no voice here
        else:
            conn.close(UNKNOWN_OPCODE, f"Unknown opcode {op!r}.")

    def _token_ok(self, d: Any) -> bool:
        token = d.get("token") if isinstance(d, dict) else None
        return isinstance(token, str) and token.removeprefix("Bot ") == self.world.token

    def _identify(self, conn: Connection, d: Any) -> None:
        if conn.session is not None:
            conn.close(ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if not self._token_ok(d):
            conn.close(AUTHENTICATION_FAILED, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0:
            conn.close(INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged:
            conn.close(DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        self.identifies += 1
        session = Session(secrets.token_hex(16), intents, presence=d.get("presence"))
        self._prune_detached()
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        guild_ids = self.world.bot_guilds()
        ready = {
            "v": 10,
            "user": P.me(self.world.bot),
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {
                "id": str(self.world.application_id),
                "flags": P.application(self.world)["flags"],
            },
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "_trace": ["vgbot-emulator"],
        }
        shard = d.get("shard")
        if isinstance(shard, list) and len(shard) == 2:
            ready["shard"] = shard
        self._send_dispatch(session, "READY", ready)
        guilds = [
            P.guild_create(self.world, gid, all_members=bool(intents & GUILD_MEMBERS))
            for gid in (guild_ids if intents & GUILDS else ())
            if not self.world.guilds[gid].unavailable  # comes when the outage ends
        ]
        if self._held_guilds is not None:
            self._held_guilds.append((session, guilds))
        else:
            for data in guilds:
                self._send_dispatch(session, "GUILD_CREATE", data)
            self.ready_sessions += 1
        self.on_change()

    def _resume(self, conn: Connection, d: Any) -> None:
        if conn.session is not None:
            conn.close(ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if not self._token_ok(d):
            conn.close(AUTHENTICATION_FAILED, "Authentication failed.")
            return
        session = self.sessions.get(str(d.get("session_id")))
        seq = d.get("seq")
        if session is None:
            conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            self.invalid_sessions += 1
            self.on_change()
            return
        if not isinstance(seq, int) or seq > session.seq:
            conn.close(INVALID_SEQ, "Invalid seq.")
            return
        if session.conn is not None:
            # The client gave up on a connection we still hold (e.g. missed ACKs): replace it.
            old = session.conn
            self._detach(old)
            old.close(UNKNOWN_ERROR, "session resumed elsewhere")
        missed = [f for f in session.buffer if f["s"] > seq]
        lost = (missed and missed[0]["s"] != seq + 1) or (not missed and seq < session.seq)
        if lost:
            # The events after `seq` are no longer buffered: the session cannot be resumed.
            self.sessions.pop(session.id, None)
            conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            self.invalid_sessions += 1
            self.on_change()
            return
        session.conn = conn
        conn.session = session
        for frame in missed:
            conn.send(frame)
        self._send_dispatch(session, "RESUMED", {"_trace": ["vgbot-emulator"]})
        self.resumes += 1
        self.on_change()

    def _members_chunk(self, session: Session, d: Any) -> None:
        if not isinstance(d, dict) or "guild_id" not in d:
            return
        gid = int(d["guild_id"])
        members = self.world.guild_members(gid)
        query = d.get("query")
        user_ids = d.get("user_ids")
        if user_ids is not None:
            wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m.user_id in wanted]
        elif query:
            q = str(query).lower()
            members = [
                m for m in members if self.world.users[m.user_id].username.lower().startswith(q)
            ]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(gid),
            "members": [P.member(self.world, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    def _detach(self, conn: Connection, client_close: int | None = None) -> None:
        session = conn.session
        if session is None:
            return
        conn.session = None
        if session.conn is conn:
            session.conn = None
        if client_close in (1000, 1001) and not conn.closing:
            # A clean close by the client ends the session, as on Discord.
            self.sessions.pop(session.id, None)

    def _prune_detached(self) -> None:
        detached = [s for s in self.sessions.values() if s.conn is None]
        for session in detached[: max(len(detached) - _MAX_DETACHED_SESSIONS + 1, 0)]:
            self.sessions.pop(session.id, None)

"""The wire protocol seen by a raw client: gateway opcodes and close codes, REST edge cases,
and the emulator running as its own process."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.sandbox.emulator import Emulator, EmulatorError

GUILDS, GUILD_MEMBERS, GUILD_MESSAGES = 1 << 0, 1 << 1, 1 << 9


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(heartbeat_interval=0.5) as emu:
        guild = emu.add_guild("Vanishing Gradients")
        emu.add_channel(guild, "general")
        emu.add_member(guild, "alice")
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class RawGateway:
    """A minimal gateway client: what discord.py does, spelled out."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, compressed: bool) -> None:
        self.ws = ws
        self.inflate = zlib.decompressobj() if compressed else None

    async def recv(self) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive(), 5)
        if msg.type is aiohttp.WSMsgType.BINARY:
            assert self.inflate is not None and msg.data.endswith(b"\x00\x00\xff\xff")
            return json.loads(self.inflate.decompress(msg.data))
        assert msg.type is aiohttp.WSMsgType.TEXT, f"expected a frame, got {msg.type} {msg.extra}"
        return json.loads(msg.data)

    async def send(self, op: int, d: Any) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": d}))

    async def closed_with(self) -> int | None:
        msg = await asyncio.wait_for(self.ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        return self.ws.close_code

    async def until(self, event: str) -> dict[str, Any]:
        while True:
            frame = await self.recv()
            if frame.get("t") == event:
                return frame


async def connect(
    http: aiohttp.ClientSession, emu: Emulator, query: str = "v=10&encoding=json"
) -> RawGateway:
    ws = await http.ws_connect(f"{emu.gateway_url}?{query}")
    gw = RawGateway(ws, "zlib-stream" in query)
    return gw


def identify(emu: Emulator, intents: int = GUILDS | GUILD_MESSAGES) -> dict[str, Any]:
    return {"token": emu.token, "intents": intents, "properties": {"os": "linux"}}


async def test_plain_json_hello_heartbeat_identify(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    gw = await connect(http, emu)
    hello = await gw.recv()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 500
    await gw.send(1, None)
    assert (await gw.recv())["op"] == 11
    await gw.send(2, identify(emu))
    ready = await gw.recv()
    assert (ready["t"], ready["s"]) == ("READY", 1)
    assert ready["d"]["guilds"][0]["unavailable"] is True
    assert ready["d"]["resume_gateway_url"] == emu.gateway_url
    guild = await gw.recv()
    assert (guild["t"], guild["s"]) == ("GUILD_CREATE", 2)
    # Without GUILD_MEMBERS only the bot itself is listed, as on Discord.
    assert [m["user"]["id"] for m in guild["d"]["members"]] == [str(emu.bot_user.id)]
    assert guild["d"]["member_count"] == 3  # owner, bot, alice
    await gw.ws.close()


async def test_zlib_stream_frames_share_one_context(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    gw = await connect(http, emu, "v=10&encoding=json&compress=zlib-stream")
    assert (await gw.recv())["op"] == 10
    await gw.send(2, identify(emu, GUILDS | GUILD_MEMBERS))
    assert (await gw.recv())["t"] == "READY"
    guild = await gw.recv()
    assert len(guild["d"]["members"]) == 3
    await gw.ws.close()


async def test_zstd_stream_is_served_where_a_zstd_module_imports(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """discord.py asks for zstd-stream on Python 3.14 (or with the zstandard package). Where
    this Python has no zstd the emulator cannot either, and says what it serves instead."""
    ws = await http.ws_connect(f"{emu.gateway_url}?v=10&encoding=json&compress=zstd-stream")
    try:
        zstd = importlib.import_module("compression.zstd")
        unpack = zstd.ZstdDecompressor().decompress
    except ImportError:
        try:
            unpack = (
                importlib.import_module("zstandard").ZstdDecompressor().decompressobj().decompress
            )
        except ImportError:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4000
            assert msg.extra == "compress='zstd-stream' is not supported; use zlib-stream"
            return
    hello = await asyncio.wait_for(ws.receive(), 5)
    assert json.loads(unpack(hello.data))["op"] == 10
    await ws.send_str(json.dumps({"op": 2, "d": identify(emu)}))
    ready = json.loads(unpack((await asyncio.wait_for(ws.receive(), 5)).data))
    assert ready["t"] == "READY"
    await ws.close()


@pytest.mark.parametrize(
    ("query", "first_op", "payload", "code"),
    [
        ("v=9&encoding=json", None, None, 4012),
        ("v=10&encoding=etf", None, None, 4002),
        ("v=10&encoding=json", 10, (2, {"token": "wrong", "intents": 1}), 4004),
        ("v=10&encoding=json", 10, (3, {"status": "online"}), 4003),
        ("v=10&encoding=json", 10, (2, {"token": "TOKEN"}), 4013),
        ("v=10&encoding=json", 10, (42, None), 4003),
    ],
)
async def test_close_codes(
    emu: Emulator,
    http: aiohttp.ClientSession,
    query: str,
    first_op: int | None,
    payload: tuple[int, Any] | None,
    code: int,
) -> None:
    gw = await connect(http, emu, query)
    if first_op is not None:
        assert (await gw.recv())["op"] == first_op
    if payload is not None:
        op, d = payload
        if isinstance(d, dict) and d.get("token") == "TOKEN":
            d = {**d, "token": emu.token}
        await gw.send(op, d)
    assert await gw.closed_with() == code


async def test_privileged_intents_must_be_allowed(http: aiohttp.ClientSession) -> None:
    async with Emulator(allowed_intents=0) as emu:
        gw = await connect(http, emu)
        await gw.recv()
        await gw.send(2, identify(emu, GUILDS | GUILD_MEMBERS))
        assert await gw.closed_with() == 4014


async def test_resume_replays_missed_events_in_order(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    gw = await connect(http, emu)
    await gw.recv()
    await gw.send(2, identify(emu))
    ready = await gw.recv()
    session_id = ready["d"]["session_id"]
    await gw.until("GUILD_CREATE")
    await emu.drop_gateway(4000)
    assert await gw.closed_with() == 4000
    general = emu.channel_named("general")
    emu.post_message(general, "while you were away", user="alice")
    emu.post_message(general, "and this too", user="alice")

    again = await connect(http, emu)
    await again.recv()
    await again.send(6, {"token": emu.token, "session_id": session_id, "seq": 2})
    replayed = [await again.recv() for _ in range(3)]
    assert [(f["t"], f["s"]) for f in replayed] == [
        ("MESSAGE_CREATE", 3),
        ("MESSAGE_CREATE", 4),
        ("RESUMED", 5),
    ]
    assert replayed[0]["d"]["content"] == ""  # no MESSAGE_CONTENT intent
    assert emu.gateway.resumes == 1
    await again.ws.close()


async def test_unknown_session_cannot_resume(emu: Emulator, http: aiohttp.ClientSession) -> None:
    gw = await connect(http, emu)
    await gw.recv()
    await gw.send(6, {"token": emu.token, "session_id": "nope", "seq": 1})
    invalid = await gw.recv()
    assert (invalid["op"], invalid["d"]) == (9, False)
    await gw.ws.close()


async def test_clean_client_close_ends_the_session(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    gw = await connect(http, emu)
    await gw.recv()
    await gw.send(2, identify(emu))
    session_id = (await gw.recv())["d"]["session_id"]
    await gw.ws.close(code=1000)
    await emu.wait_for(lambda: session_id not in emu.gateway.sessions, what="the session to end")


# ---- REST edges ----


def auth(emu: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bot {emu.token}"}


async def test_rest_errors_are_discord_json(emu: Emulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{emu.api_base}/users/@me") as r:
        assert (r.status, await r.json()) == (401, {"message": "401: Unauthorized", "code": 0})
    async with http.get(f"{emu.api_base}/channels/123", headers=auth(emu)) as r:
        assert (r.status, (await r.json())["code"]) == (404, 10003)
    async with http.get(f"{emu.api_base}/no/such/route", headers=auth(emu)) as r:
        assert r.status == 404 and (await r.json())["code"] == 0
    general = emu.channel_named("general")
    url = f"{emu.api_base}/channels/{general.id}/messages"
    async with http.post(
        url, data=b"{not json", headers={**auth(emu), "Content-Type": "application/json"}
    ) as r:
        assert (r.status, (await r.json())["code"]) == (400, 50109)
    async with http.get(url, params={"limit": "500"}, headers=auth(emu)) as r:
        assert (r.status, (await r.json())["code"]) == (400, 50035)


async def test_multipart_upload_with_payload_json(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    general = emu.channel_named("general")
    form = aiohttp.FormData(quote_fields=False)
    payload = {"content": "notes attached", "attachments": [{"id": 0, "filename": "notes.md"}]}
    form.add_field("payload_json", json.dumps(payload))
    form.add_field("files[0]", b"# Show notes\n", filename="notes.md", content_type="text/markdown")
    async with http.post(
        f"{emu.api_base}/channels/{general.id}/messages", data=form, headers=auth(emu)
    ) as r:
        assert r.status == 200
        message = await r.json()
    (att,) = message["attachments"]
    assert (att["filename"], att["size"]) == ("notes.md", 13)
    async with http.get(att["url"]) as r:
        assert await r.read() == b"# Show notes\n"
    (recorded,) = [x for x in emu.requests if x.method == "POST"]
    assert recorded.json == payload and recorded.files == ("notes.md",)


async def test_enforced_rate_limit_answers_429(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate_limit=(2, 60.0), enforce_rate_limits=True) as emu:
        statuses = []
        for _ in range(3):
            async with http.get(f"{emu.api_base}/users/@me", headers=auth(emu)) as r:
                statuses.append(r.status)
                last = r
        assert statuses == [200, 200, 429]
        assert last.headers["Via"] and last.headers["X-RateLimit-Scope"] == "user"


# ---- as a separate process ----


def _start_process(state: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.sandbox.emulator",
            "--port",
            "0",
            "--print-url",
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    return proc, lines


def _stop_process(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


async def test_process_prints_urls_and_keeps_state(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    state = tmp_path / "emulator.json"
    proc, (api, gateway, token) = _start_process(state)
    headers = {"Authorization": f"Bot {token}"}
    try:
        assert api.startswith("http://127.0.0.1:") and api.endswith("/api/v10")
        async with http.get(f"{api}/gateway/bot", headers=headers) as r:
            assert (await r.json())["url"] == gateway
    finally:
        _stop_process(proc)
    world = json.loads(state.read_text())
    (guild,) = world["guilds"]
    assert guild["name"] == "Vanishing Gradients"
    assert sorted(c["name"] for c in world["channels"]) == ["discussions", "episodes", "general"]
    assert {"alice", "mod"} <= {u["username"] for u in world["users"]}
    general = next(c["id"] for c in world["channels"] if c["name"] == "general")

    proc, (api, _, same_token) = _start_process(state)
    try:
        assert same_token == token  # the same bot, so a restarted bot keeps working
        async with http.post(
            f"{api}/channels/{general}/messages", json={"content": "kept"}, headers=headers
        ) as r:
            assert r.status == 200
    finally:
        _stop_process(proc)

    proc, (api, _, _) = _start_process(state)
    try:
        async with http.get(f"{api}/channels/{general}/messages", headers=headers) as r:
            assert [m["content"] for m in await r.json()] == ["kept"]
    finally:
        _stop_process(proc)


def test_a_broken_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "emulator.json"
    state.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "bot.sandbox.emulator", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"cannot read emulator state {state}" in result.stderr
    assert "fix or delete the file" in result.stderr and "Traceback" not in result.stderr


def test_the_emulator_knows_nothing_of_discord_py_or_the_bot() -> None:
    code = (
        "import sys, bot.sandbox.emulator, bot.sandbox.emulator.__main__; "
        "bad = [m for m in sys.modules if m == 'discord' or m.startswith(('discord.', "
        "'bot.core', 'bot.store', 'bot.chat'))]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip() == "[]", result.stderr


# ---- where the app is installed: guilds without the bot user, DMs, a kick ----


async def ready_session(http: aiohttp.ClientSession, emu: Emulator) -> tuple[RawGateway, Any]:
    gw = await connect(http, emu)
    await gw.recv()
    await gw.send(2, identify(emu))
    ready = await gw.until("READY")
    return gw, ready


async def sync(http: aiohttp.ClientSession, emu: Emulator, commands: list[Any]) -> None:
    url = f"{emu.api_base}/applications/{emu.application_id}/commands"
    async with http.put(url, json=commands, headers=auth(emu)) as r:
        assert r.status == 200, await r.text()


async def test_a_guild_added_with_commands_only_is_not_the_bots(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """An app authorised with the applications.commands scope alone has its commands in the
    guild but no bot user: READY does not list it, no GUILD_CREATE or other event of it comes,
    REST answers 403 Missing Access there, and interactions from it carry the invoking member
    and what @everyone may do in the channel as app_permissions."""
    await sync(http, emu, [{"name": "ping", "description": "Ping", "type": 1}])
    outside = emu.add_guild("Commands Only", with_bot=False)
    room = emu.add_channel(outside, "room")
    bob = emu.add_member(outside, "bob")
    gw, ready = await ready_session(http, emu)
    home = emu.channel_named("general")
    assert [g["id"] for g in ready["d"]["guilds"]] == [str(home.guild_id)]
    assert (await gw.recv())["d"]["id"] == str(home.guild_id)  # the one GUILD_CREATE
    emu.add_channel(outside, "another")
    await emu.invoke("ping", {}, user=bob, channel=room)
    before = []
    while (frame := await gw.recv()).get("t") != "INTERACTION_CREATE":
        before.append(frame)
    assert not [f for f in before if str(outside.id) in json.dumps(f)], before
    interaction = frame["d"]
    assert interaction["guild_id"] == str(outside.id) and interaction["context"] == 0
    assert interaction["member"]["user"]["id"] == str(bob.id)
    assert interaction["authorizing_integration_owners"] == {"0": str(outside.id)}
    assert int(interaction["app_permissions"]) == int(emu.world.everyone_permissions(room.id))
    async with http.get(f"{emu.api_base}/channels/{room.id}", headers=auth(emu)) as r:
        assert (r.status, (await r.json())["code"]) == (403, 50001)
    emu.add_bot(outside)  # invited with the bot scope after all
    joined = await gw.until("GUILD_CREATE")
    assert joined["d"]["id"] == str(outside.id) and "unavailable" not in joined["d"]
    await gw.ws.close()


async def test_a_kicked_bot_gets_guild_delete_without_unavailable(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """ "If the unavailable field is not set, the user was removed from the guild": then the
    guild's channels are 403 Missing Access and its events stop."""
    gw, _ = await ready_session(http, emu)
    general = emu.channel_named("general")
    await gw.until("GUILD_CREATE")
    emu.remove_bot(general.guild_id)
    gone = await gw.until("GUILD_DELETE")
    assert gone["d"] == {"id": str(general.guild_id)}
    emu.post_message(general, "anyone there?", user="alice")
    async with http.post(
        f"{emu.api_base}/channels/{general.id}/messages", json={"content": "hi"}, headers=auth(emu)
    ) as r:
        assert (r.status, (await r.json())["code"]) == (403, 50001)
    emu.add_bot(general.guild_id)
    assert (await gw.recv())["t"] == "GUILD_CREATE"  # no MESSAGE_CREATE of the kicked time
    await gw.ws.close()


async def test_an_interaction_in_a_dm_with_the_bot_has_a_user_and_no_guild(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """Docs: `user` (not `member`) in a DM; context 1 (BOT_DM); the GUILD_INSTALL owner is "0";
    app_permissions include ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE | USE_EXTERNAL_EMOJIS.
    A command synced with dm_permission false (or contexts without 1) is not offered there."""
    await sync(
        http,
        emu,
        [
            {"name": "ping", "description": "Ping", "type": 1},
            {"name": "mod", "description": "Mods only", "type": 1, "dm_permission": False},
            {"name": "here", "description": "Servers only", "type": 1, "contexts": [0]},
        ],
    )
    gw, _ = await ready_session(http, emu)
    dm = emu.dm("alice")
    await emu.invoke("ping", {}, user="alice", channel=dm)
    interaction = (await gw.until("INTERACTION_CREATE"))["d"]
    assert "guild_id" not in interaction and "member" not in interaction
    assert interaction["user"]["username"] == "alice" and interaction["context"] == 1
    assert interaction["channel"]["type"] == 1 and interaction["channel_id"] == str(dm.id)
    assert interaction["authorizing_integration_owners"] == {"0": "0"}
    wanted = (1 << 15) | (1 << 14) | (1 << 17) | (1 << 18)
    assert int(interaction["app_permissions"]) & wanted == wanted
    for name in ("mod", "here"):
        with pytest.raises(EmulatorError, match=f"does not offer /{name} in a DM"):
            await emu.invoke(name, {}, user="alice", channel=dm)
    await gw.ws.close()

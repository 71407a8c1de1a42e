"""`vgbot health` (Docker's HEALTHCHECK contract) and `vgbot sync-commands`, through main()."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import discord
import pytest
from discord.gateway import DiscordWebSocket

from bot.cli import main
from bot.health import write_heartbeat
from bot.sandbox.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    import os

    for name in list(os.environ):
        if name.startswith(("VGBOT_", "DISCORD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VGBOT_DB", str(tmp_path / "bot.sqlite3"))
    monkeypatch.setenv("VGBOT_CONTENT_DIR", str(REPO / "content"))
    monkeypatch.setenv("VGBOT_PROMPTS_DIR", str(REPO / "prompts"))
    return monkeypatch


def test_health_is_0_for_a_fresh_beat_and_1_for_anything_else(clean_env, tmp_path, capsys):
    beat = tmp_path / "health.json"
    clean_env.setenv("VGBOT_HEALTH_FILE", str(beat))
    assert main(["health"]) == 1
    assert "no heartbeat file at" in capsys.readouterr().out

    write_heartbeat(beat, time.time(), {"guilds": 1})
    assert main(["health"]) == 0
    assert capsys.readouterr().out.startswith("ok: last beat")

    write_heartbeat(beat, time.time() - 600, {})
    assert main(["health"]) == 1
    assert "heartbeat is stale" in capsys.readouterr().out
    assert main(["health", "--max-age", "3600"]) == 0


def test_health_never_answers_2_which_docker_reserves(clean_env, capsys):
    assert main(["health"]) == 1  # no VGBOT_HEALTH_FILE
    assert "no heartbeat file configured" in capsys.readouterr().out
    clean_env.setenv("VGBOT_TICK_INTERVAL", "often")  # a broken setting
    assert main(["health"]) == 1
    assert "tick_interval" in capsys.readouterr().err


async def test_sync_commands_pushes_the_tree_now_even_when_unchanged(clean_env, capsys):
    # The command logs in from its own thread; put the globals it moves back afterwards.
    clean_env.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    clean_env.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    assert await asyncio.to_thread(main, ["sync-commands"]) == 2
    assert "no token" in capsys.readouterr().err
    async with Emulator(heartbeat_interval=5.0) as emu:
        clean_env.setenv("DISCORD_TOKEN", emu.token)
        clean_env.setenv("DISCORD_API_BASE", emu.api_base)
        for n in (1, 2):
            assert await asyncio.to_thread(main, ["sync-commands"]) == 0
            out = capsys.readouterr().out
            assert emu.command_syncs == n
            names = {c["name"] for c in emu.commands()}
            assert {"episode", "topic", "about", "config", "reload"} <= names
            assert f"synced {len(names)} commands for every server" in out
        clean_env.setenv("DISCORD_TOKEN", emu.token[:-3] + "abc")
        assert await asyncio.to_thread(main, ["sync-commands"]) == 2
        assert "Discord refused the token" in capsys.readouterr().err
        # Pasted with the "Bot " of the Authorization header: the message says so.
        clean_env.setenv("DISCORD_TOKEN", "Bot " + emu.token)
        assert await asyncio.to_thread(main, ["sync-commands"]) == 2
        err = capsys.readouterr().err
        assert "the token starts with 'Bot ': leave out the 'Bot ' prefix" in err, err

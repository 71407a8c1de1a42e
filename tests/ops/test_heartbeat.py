"""The heartbeat task writes the health file only while the bot says it is connected."""

from __future__ import annotations

import asyncio
import json

from bot.health import check_heartbeat
from bot.ops.heartbeat import beat


async def test_beats_start_when_connected_and_carry_the_detail(tmp_path):
    path = tmp_path / "run" / "health.json"
    calls, absent_while_down = [], []
    wrote = asyncio.Event()

    def detail():
        calls.append(1)
        if len(calls) <= 3:  # not connected yet
            absent_while_down.append(not path.exists())
            return None
        if len(calls) > 4:
            wrote.set()
        return {"guilds": 2, "latency_ms": 41}

    task = asyncio.create_task(beat(path, clock=lambda: 1_000.0, detail=detail, interval=0.01))
    try:
        await asyncio.wait_for(wrote.wait(), 10)
    finally:
        task.cancel()
    assert absent_while_down == [True, True, True]
    data = json.loads(path.read_text())
    assert data["time"] == 1_000.0 and data["detail"] == {"guilds": 2, "latency_ms": 41}
    assert check_heartbeat(path, 1_010.0, 90)[0]

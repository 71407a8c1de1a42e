"""/episode and /topic end to end: the real bot, database, content and templates against the
emulator; assertions are on what Discord would have received."""

from __future__ import annotations

import re
import sqlite3

from bot.sandbox.emulator import Recorded

from .conftest import BotFactory, BotRun


def _callbacks(run: BotRun) -> list[Recorded]:
    return [r for r in run.emu.requests if re.search(r"/interactions/\d+/[^/]+/callback", r.path)]


def _embed(message: dict) -> dict:
    assert message.get("embeds"), f"no embed in {message}"
    return message["embeds"][0]


async def test_episode_by_number_shows_the_notes_with_a_link_button(running: BotRun):
    w = running.world
    handle = await running.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    message = await handle.response()
    embed = _embed(message)
    assert not handle.ephemeral
    assert "11" in embed["title"] and "Great Stagnation" in embed["title"]
    names = {f["name"] for f in embed["fields"]}
    assert any("Guest" in n for n in names), names
    assert "Mark Saroufim" in str(embed["fields"])
    buttons = [c for row in message.get("components", []) for c in row["components"]]
    assert any(
        b.get("url", "").startswith("https://vanishinggradients.fireside.fm/11") for b in buttons
    )


async def test_episode_by_guest_surname(running: BotRun):
    w = running.world
    handle = await running.emu.invoke(
        "episode", {"query": "saroufim"}, user=w.alice, channel=w.general
    )
    assert "Great Stagnation" in _embed(await handle.response())["title"]


async def test_topic_answers_with_excerpts_and_citations(running: BotRun):
    w = running.world
    handle = await running.emu.invoke(
        "topic", {"query": "defensible moats"}, user=w.alice, channel=w.general
    )
    embed = _embed(await handle.response())
    assert not handle.ephemeral
    assert "moat" in embed["title"].lower()
    assert "Ep. 11" in embed["description"]  # a citation of the episode
    assert "**" in embed["description"]  # matched words marked


async def test_autocomplete_offers_episodes_and_topics(running: BotRun):
    w = running.world
    episodes = await running.emu.autocomplete(
        "episode", {"query": "saro"}, user=w.alice, channel=w.general
    )
    assert episodes and any("Stagnation" in c["name"] for c in episodes)
    assert len(episodes) <= 25 and all(len(c["name"]) <= 100 for c in episodes)
    topics = await running.emu.autocomplete(
        "topic", {"query": "moat"}, user=w.alice, channel=w.general
    )
    assert any("moat" in c["name"].lower() for c in topics), topics


async def test_autocomplete_forgives_a_typo_and_the_typo_itself_is_not_answered(running: BotRun):
    w = running.world
    episodes = await running.emu.autocomplete(
        "episode", {"query": "sarufim"}, user=w.alice, channel=w.general
    )
    assert [c["value"] for c in episodes] == ["11"]
    topics = await running.emu.autocomplete(
        "topic", {"query": "moots"}, user=w.alice, channel=w.general
    )
    assert [(c["name"], c["value"]) for c in topics] == [("Defensible moats", "defensible-moats")]
    # Sent as typed instead of picked: "did you mean", privately, not episode 11's notes.
    handle = await running.emu.invoke(
        "episode", {"query": "sarufim"}, user=w.alice, channel=w.general
    )
    embed = _embed(await handle.response())
    assert handle.ephemeral and "Mark Saroufim" in str(embed)
    assert "Sections" not in str(embed)


async def test_not_covered_is_private_and_suggests(running: BotRun):
    w = running.world
    handle = await running.emu.invoke(
        "topic", {"query": "quantum knitting"}, user=w.alice, channel=w.general
    )
    embed = _embed(await handle.response())
    assert handle.ephemeral
    assert "not covered" in (embed["title"] + embed.get("description", "")).lower()


async def test_slow_answers_are_deferred_then_delivered(running: BotRun):
    w = running.world
    running.bot.defer_after = 0.0  # as if the search took longer than the deferral threshold
    handle = await running.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    message = await handle.response()
    assert handle.deferred
    assert "Great Stagnation" in _embed(message)["title"]


async def test_a_failure_after_a_public_deferral_is_told_privately(bots: BotFactory, caplog):
    run = await bots.start()
    run.bot.defer_after = 0.0
    with sqlite3.connect(run.settings.db) as conn:  # a damaged row: the answer fails (a bug)
        conn.execute("UPDATE episodes SET links = '{'")
    w = run.world
    handle = await run.emu.invoke("topic", {"query": "moats"}, user=w.alice, channel=w.general)
    (note,) = await handle.wait_followups(1)
    assert "Something went wrong" in note["content"] and note["flags"] & 64
    assert handle.deferred and handle.original() is None  # the public "thinking…" is gone
    assert "command /topic failed" in caplog.text


async def test_too_long_answer_is_cut_cleanly_within_discord_limits(bots: BotFactory):
    content = bots.copy_content()
    path = content / "episodes" / "011-great-stagnation.md"
    text = path.read_text()
    head, sep, body = text.partition("\n---\n")
    long_summary = ("Open source documentation matters. " * 400).strip()
    path.write_text(head + sep + long_summary + "\n\n" + body)
    run = await bots.start(content_dir=content)
    w = run.world
    handle = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    embed = _embed(await handle.response())
    assert len(embed["description"]) <= 4096
    assert embed["description"].endswith("[Read more](https://vanishinggradients.fireside.fm/11)")
    total = len(embed["title"]) + len(embed["description"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000


async def test_everyone_in_content_pings_nobody(bots: BotFactory):
    content = bots.copy_content()
    path = content / "episodes" / "011-great-stagnation.md"
    head, sep, body = path.read_text().partition("\n---\n")
    path.write_text(head + sep + "Hey @everyone and @here, listen! " + body)
    run = await bots.start(content_dir=content)
    w = run.world
    handle = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    embed = _embed(await handle.response())
    assert "@everyone" not in embed["description"]  # made inert in the text too
    sent = _callbacks(run)
    assert sent, "no interaction callback was recorded"
    for request in sent:
        body = request.json["data"]
        assert body["allowed_mentions"]["parse"] == []


async def test_cooldown_answers_privately_and_kindly(bots: BotFactory):
    run = await bots.start(cooldown_rate=2, cooldown_per=60.0)
    w = run.world
    for _ in range(2):
        h = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
        assert "embeds" in await h.response()
    h = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    message = await h.response()
    assert h.ephemeral and "ask again in" in message["content"]
    # Someone else is not slowed down by alice.
    h = await run.emu.invoke("episode", {"query": "11"}, user=w.mod, channel=w.general)
    assert "embeds" in await h.response()


async def test_gateway_drop_mid_session_resumes_and_answers(running: BotRun):
    w = running.world
    async with running.emu.gateway_outage():
        handle = await running.emu.invoke(
            "episode", {"query": "11"}, user=w.alice, channel=w.general
        )
    assert "Great Stagnation" in _embed(await handle.response(timeout=15))["title"]


async def test_429_and_500_on_send_are_retried_and_nothing_is_lost(running: BotRun):
    w = running.world
    running.emu.inject_fault("POST", r"/interactions/\d+/[^/]+/callback", 429, retry_after=0.05)
    handle = await running.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    assert "Great Stagnation" in _embed(await handle.response(timeout=10))["title"]
    running.emu.inject_fault("POST", r"/interactions/\d+/[^/]+/callback", 500)
    handle = await running.emu.invoke("topic", {"query": "moats"}, user=w.alice, channel=w.general)
    assert _embed(await handle.response(timeout=10))
    statuses = [r.status for r in _callbacks(running)]
    assert statuses.count(429) == 1 and statuses.count(500) == 1
    assert statuses.count(204) + statuses.count(200) >= 2


async def test_command_sync_is_skipped_when_nothing_changed(bots: BotFactory):
    run = await bots.start()
    assert run.emu.command_syncs == 1
    run = await bots.restart(run)
    assert run.emu.command_syncs == 1, "restart with the same commands must not sync again"
    assert {c["name"] for c in run.emu.commands()} >= {"episode", "topic"}


async def test_every_registered_description_is_whole(running: BotRun):
    """discord.py cuts a description over Discord's 100 characters with "…": write them to fit."""

    def descriptions(items: list) -> list[str]:
        out = []
        for item in items:
            out.append(item["description"])
            out += descriptions(item.get("options", []))
        return out

    found = descriptions(running.emu.commands())
    assert len(found) > 30
    assert [d for d in found if len(d) > 100 or d.endswith("…") or not d] == []


async def test_cooldown_never_says_to_ask_again_in_0_s(bots: BotFactory):
    # At the end of the window less than half a second is left: rounded, that read "in 0 s",
    # and asking at once was refused again.
    run = await bots.start(cooldown_rate=1, cooldown_per=30.0)
    w = run.world
    h = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    assert "embeds" in await h.response()
    w.clock.advance(29.7)
    h = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    assert (await h.response())["content"] == "Easy there! You can ask again in 1 s."

"""Inputs the fuzzer (test_fuzz_commands.py) found mishandled, each pinned down on its own: the
real bot against the emulator, as the member or moderator who typed them would see it."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest

from bot.sandbox.emulator import InteractionHandle

from .conftest import BotRun


async def answered(handle: InteractionHandle) -> str:
    reply = await handle.response(timeout=10)
    assert handle.ephemeral
    return str(reply["content"])


async def moderator(run: BotRun, sub: str, options: Any, name: str = "schedule") -> str:
    w = run.world
    handle = await run.emu.invoke(name, options, user=w.mod, channel=w.general, subcommand=sub)
    return await answered(handle)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_lone_surrogate_in_a_thread_title_is_saved_as_a_replacement_character(
    running: BotRun, caplog: pytest.LogCaptureFixture
):
    # JSON may carry "\ud800" (half of an emoji a client cut in two): SQLite cannot encode it,
    # and the moderator got "Something went wrong".
    told = await moderator(
        running,
        "thread",
        {"topic": "open-source-usability", "when": "in 2 hours", "title": "moats \ud800"},
    )
    assert told.startswith("Scheduled `#1`") and "moats \ufffd" in told, told
    assert errors(caplog) == []
    with sqlite3.connect(running.settings.db) as conn:
        assert conn.execute("SELECT title FROM schedules").fetchall() == [("moats \ufffd",)]


async def test_a_lone_surrogate_in_feed_why_is_looked_for_like_any_text(
    running: BotRun, caplog: pytest.LogCaptureFixture
):
    told = await moderator(running, "why", {"episode": "\udfff"}, name="feed")
    assert "no item matching '\ufffd' was seen" in told, told
    assert errors(caplog) == []


@pytest.mark.parametrize("sub", ["cancel", "run-now"])
async def test_a_schedule_number_beyond_sqlite_is_no_such_schedule(
    running: BotRun, caplog: pytest.LogCaptureFixture, sub: str
):
    # Discord keeps integers within 2**53; anything else sending 2**63 got "Something went
    # wrong" (SQLite's INTEGER ends at 2**63 - 1).
    raw = [{"name": "id", "type": 4, "value": 2**63}]
    told = await moderator(running, sub, raw)
    assert told == (
        f"That didn't work: there is no schedule #{2**63} in this server: see /schedule list"
    )
    assert errors(caplog) == []


async def test_a_channel_the_bot_cannot_resolve_is_refused_in_words(
    running: BotRun, caplog: pytest.LogCaptureFixture
):
    # A channel of another server (or one discord.py cannot find) showed the member
    # "That value doesn't work here: <Object id=… type=<class 'discord.object.Object'>>."
    w = running.world
    elsewhere = w.emu.add_channel(w.emu.add_guild("Elsewhere"), "elsewhere")
    raw = [
        {"name": "weekday", "type": 3, "value": "friday"},
        {"name": "time", "type": 3, "value": "18:00"},
        {"name": "channel", "type": 7, "value": str(elsewhere.id)},
    ]
    told = await moderator(running, "set", raw, name="weekly")
    assert told == (
        "I can't use that channel here: pick a text or forum channel of this server from the "
        "list Discord offers. Nothing was changed."
    )
    assert errors(caplog) == []


async def test_a_value_that_is_not_one_of_the_choices_is_refused_in_words(running: BotRun):
    raw = [
        {"name": "weekday", "type": 3, "value": "<@&123456789012345678> someday"},
        {"name": "time", "type": 3, "value": "18:00"},
    ]
    told = await moderator(running, "set", raw, name="weekly")
    assert told == (
        "That value is not one of the choices: pick one from the list Discord offers. "
        "Nothing was changed."
    )


ROLE, LINK, COMMAND = "<@&123456789012345678>", "[here](https://evil.example/x)", "</reload:12>"
HERE = "#general"


@pytest.mark.parametrize(
    ("name", "sub", "options", "typed"),
    [
        ("weekly", "set", {"weekday": "friday", "time": LINK, "channel": HERE}, "](https"),
        (
            "weekly",
            "set",
            {"weekday": "friday", "time": "6pm", "channel": HERE, "tz": ROLE},
            ROLE,
        ),
        ("schedule", "thread", {"topic": "@everyone", "when": "in 2 hours"}, "@everyone"),
        ("schedule", "thread", {"topic": "moats", "when": f"friday {COMMAND}"}, COMMAND),
        ("schedule", "thread", {"topic": "moats", "when": f"in 2 {LINK}"}, "](https://evil"),
        ("feed", "why", {"episode": ROLE}, ROLE),
        ("config", "grace", {"window": "<#12>"}, "<#12>"),
        ("config", "timezone", {"zone": "@here"}, "@here"),
    ],
)
async def test_text_quoted_back_in_a_refusal_cannot_mention_or_link(
    running: BotRun, name: str, sub: str, options: dict[str, str], typed: str
):
    # The refusals quoted the input as typed: a role, channel, command or @everyone showed as
    # a live mention (allowed_mentions kept them from pinging) and [text](url) as a link.
    w = running.world
    user = w.mod
    if name == "config":
        user = w.emu.add_member(w.guild, "ada", "MANAGE_GUILD")
    handle = await w.emu.invoke(name, options, user=user, channel=w.general, subcommand=sub)
    told = await answered(handle)
    assert typed not in told, told
    refused = ("That didn't work", "Nothing was saved", "No item matching", "No feed is")
    assert told.startswith(refused), told


async def test_a_thread_title_is_shown_inert_in_the_answer_and_the_listing(running: BotRun):
    told = await moderator(
        running,
        "thread",
        {"topic": "open-source-usability", "when": "in 2 hours", "title": f"@everyone {ROLE}"},
    )
    listing = await moderator(running, "list", {})
    for text in (told, listing):
        assert "titled “@\u200beveryone <@&\u200b123456789012345678>”" in text, text

"""Hostile input to every slash command and autocomplete: the real bot (database, content,
templates) against the emulator, driven by hypothesis.

The bot runs on an event loop in a thread of its own so that hypothesis can run (and shrink)
examples synchronously. Every interaction must be answered (no failed interaction), without
"Something went wrong", an ERROR in the log, a mention allowed or a live mention or link made
of the user's text, and the emulator (which checks Discord's limits) must accept every call;
then an ordinary command must still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
from discord.gateway import DiscordWebSocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.emulator import Channel, Emulator, EmulatorError, InteractionHandle, ManualClock

from .conftest import BotFactory, BotRun, World

T = TypeVar("T")
START = 1_790_000_000.0  # a fixed instant (2026-09-21), so relative dates read alike every run

# One of each kind of trouble; hypothesis also glues them together and adds its own text.
HOSTILE = [
    "",
    " ",
    " \t\n ",
    "x" * 10_000,
    "moats " * 40,
    '"',
    "'",
    '"defensible moats',
    "(((",
    "]]",
    "[",
    "`",
    "```",
    "```py\nprint(1)",
    "**bold",
    "||spoiler",
    "~~",
    "> quote",
    "# heading",
    "-# subtext",
    "@everyone",
    "@here",
    "<@&1>",
    "<@1>",
    "<@!1>",
    "<#1>",
    "</episode:1>",
    "<@&123456789012345678>",
    "<#123456789012345678>",
    "</reload:123456789012345678>",
    "<t:0:R>",
    "<:emoji:1>",
    "[click](https://evil.example/x)",
    "[click](<https://evil.example/x>)",
    "https://evil.example/?q=<@1>",
    "\u200b",
    "\u200f",
    "\u202e",
    "\ufeff",
    "e\u0301\u0301\u0301\u0301",
    "😀" * 30,
    "👩‍👩‍👧‍👦",
    "\x00",
    "a\x00b",
    "\x07\x1b[31m\r",
    "\ud800",
    "\udfff",
    "NEAR(a b)",
    "a AND b",
    "a OR",
    "NOT",
    "*",
    "^foo",
    "title:moats",
    'body:"x"',
    "-",
    "+",
    "{",
    "}",
    ".*",
    "(a|b)+$",
    "\\",
    "[a-",
    "%",
    "_",
    "'; DROP TABLE episodes; --",
    "{{ 7*7 }}",
    "{% for x in range(10) %}",
    "{{ config }}",
    "{#",
    "../../etc/passwd",
    "..\\..\\windows",
    "/etc/passwd",
    "file:///etc/passwd",
    "https://example.com",
    "javascript:alert(1)",
    "99999999999999999999",
    "9223372036854775808",
    "-1",
    "0",
    "1e309",
    "1.5",
    "NaN",
    "inf",
    "-0",
    "0x10",
    "#11",
    "s2e3",
    "s99999999999e1",
    "25:00",
    "24:00",
    "23:60",
    "18:00",
    "6pm",
    "13pm",
    "31 February",
    "2026-02-31 18:00",
    "0000-01-01 00:00",
    "9999-12-31 23:59",
    "year 0",
    "yesterday",
    "now",
    "tomorrow 9am",
    "friday 18:00",
    "in 2 hours",
    "in -5 hours",
    "in 0 minutes",
    "in 99999999999 years",
    "in 1e9 days",
    "friday 18:00 Mars/Olympus",
    "friday 18:00 UTC+99",
    "Mars/Olympus",
    "UTC+99",
    "UTC-99:99",
    "Etc/GMT+99",
    "Europe/London",
    "europe/london",
    "Europe/London\n",
    "../../../../etc/localtime",
    "posixrules",
    "UTC",
    "EST",
    "6h",
    "90m",
    "1d",
    "-6h",
    "99999999999d",
    "1e9h",
    "0",
]
WORDS = ["moats", "11", "saroufim", "open-source-usability", "documentation", " ", "friday"]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE + WORDS), min_size=2, max_size=4).map(" ".join),
    st.lists(st.sampled_from(HOSTILE + WORDS), min_size=2, max_size=4).map("".join),
    st.text(max_size=40),
)
hostile_int = st.one_of(
    st.sampled_from([0, -1, 1, 2, 2**31, 2**53, 2**63 - 1, 2**63, 10**30, -(2**63) - 1]),
    st.sampled_from([1.5, 1e300, -0.0]),  # only a sender other than Discord could
    st.integers(),
)


@dataclass(frozen=True)
class Option:
    name: str
    type: int  # Discord's option type: 3 string, 4 integer, 7 channel
    min_length: int = 1
    max_length: int = 6000
    autocomplete: bool = False


@dataclass(frozen=True)
class Command:
    name: str
    sub: str | None
    who: str  # "member", "moderator" or "admin": who may use it
    text: tuple[Option, ...] = ()  # the options fuzzed
    fixed: tuple[tuple[str, Any], ...] = ()  # other options, valid


def s(name: str, hi: int, *, ac: bool = False) -> Option:
    return Option(name, 3, 1, hi, ac)


# Every command, subcommand and option the bot registers (bot/chat/*_cog.py).
COMMANDS = [
    Command("episode", None, "member", (s("query", 200, ac=True),)),
    Command("topic", None, "member", (s("query", 200, ac=True),)),
    Command("about", None, "member"),
    Command(
        "weekly",
        "set",
        "moderator",
        (s("time", 100), s("tz", 64, ac=True)),
        (("weekday", "friday"),),
    ),
    Command("weekly", "show", "moderator"),
    Command("weekly", "off", "moderator"),
    Command("weekly", "preview", "moderator"),
    Command(
        "schedule",
        "thread",
        "moderator",
        (s("topic", 100, ac=True), s("when", 100), s("title", 100)),
    ),
    Command("schedule", "list", "moderator"),
    Command("schedule", "cancel", "moderator", (Option("id", 4),)),
    Command("schedule", "run-now", "moderator", (Option("id", 4),)),
    Command("feed", "status", "moderator"),
    Command("feed", "why", "moderator", (s("episode", 200, ac=True),)),
    Command("config", "show", "admin"),
    Command("config", "timezone", "admin", (s("zone", 64, ac=True),)),
    Command("config", "grace", "admin", (s("window", 40),)),
    Command("config", "reset", "admin", fixed=(("setting", "timezone"),)),
    Command("config", "channel", "admin", (Option("channel", 7),), (("which", "discussion"),)),
    Command("reload", None, "admin"),
]
# Options that must be given, and a harmless value for them when not fuzzed.
REQUIRED = {
    ("weekly", "set"): {"time": "18:00"},
    ("schedule", "thread"): {"topic": "open-source-usability", "when": "in 2 hours"},
}

# What must never reach a channel made of the user's own text (outside code, where it is inert).
LIVE = [
    re.compile(r"@(everyone|here)"),
    re.compile(r"<(@[!&]?|#|/[^>]*:)\d+>"),
    re.compile(r"\]\(<?https?://evil\.example"),
]
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def _texts(message: dict[str, Any]) -> list[str]:
    out = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        out += [embed.get("title") or "", embed.get("description") or ""]
        out += [f.get("name", "") + "\n" + f.get("value", "") for f in embed.get("fields") or []]
        out.append((embed.get("footer") or {}).get("text") or "")
    return out


def _bodies(request: Any) -> list[dict[str, Any]]:
    """The message bodies the bot sent in one request (an interaction callback's data, a
    follow-up, an edit)."""
    body = request.json
    if not isinstance(body, dict):
        return []
    if request.path.endswith("/callback"):
        data = body.get("data")
        return [data] if isinstance(data, dict) and body.get("type") in (4, 7) else []
    if request.path.startswith("/webhooks/") and request.method in ("POST", "PATCH"):
        return [body]
    return []


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LiveBot:
    """The emulator and the bot on a loop in another thread; `call` runs a coroutine there."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = contextlib.AsyncExitStack()
        self.errors = ErrorLog()

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def __enter__(self) -> LiveBot:
        self.base, self.gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        logging.getLogger().addHandler(self.errors)
        self.thread.start()
        try:
            self.call(self._start)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.stack.aclose)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            logging.getLogger().removeHandler(self.errors)
            discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self.base, self.gateway

    async def _start(self) -> None:
        clock = ManualClock(START)
        emu = await self.stack.enter_async_context(
            Emulator(heartbeat_interval=0.5, clock=clock, nonce_window=120)
        )
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        forum = emu.add_channel(guild, "discussions", "forum", tags=["episode", "topic"])
        alice = emu.add_member(guild, "alice")
        mod = emu.add_moderator(guild, "mod")
        admin_role = emu.add_role(guild, "Admin", ["MANAGE_GUILD", "MANAGE_THREADS"])
        self.admin = emu.add_member(guild, "ada", roles=[admin_role])
        other = emu.add_guild("Elsewhere")
        self.foreign: Channel = emu.add_channel(other, "elsewhere")
        self.world = World(emu, clock, guild, general, forum, alice, mod)
        self.factory = BotFactory(self.world, self.tmp_path)
        self.run: BotRun = await self.factory.start(cooldown_rate=1_000_000)
        self.stack.push_async_callback(self.factory.stop, self.run)
        # A discussion channel, so /weekly set and /schedule thread get past choosing one.
        await self.ask(
            Command("config", "channel", "admin"),
            self.admin,
            {"which": "discussion", "channel": f"<#{general.id}>"},
        )
        # Something for /schedule cancel and run-now to find.
        await self.ask(
            Command("schedule", "thread", "moderator"),
            self.world.mod,
            {"topic": "open-source-usability", "when": "in 2 hours"},
        )

    async def ask(
        self, command: Command, user: Any, options: dict[str, Any] | list[dict[str, Any]]
    ) -> tuple[InteractionHandle, list[dict[str, Any]], list[Any]]:
        """Invoke and wait until the bot is done; the messages and requests it made."""
        emu, before = self.world.emu, len(self.world.emu.requests)
        handle = await emu.invoke(
            command.name, options, user=user, channel=self.world.general, subcommand=command.sub
        )
        first = await handle.response(timeout=10)
        working = set(self.run.bot.at_work)
        if working:
            await asyncio.wait(working, timeout=10)
        requests = emu.requests[before:]
        return handle, [first, *handle.followups], requests

    async def complete(self, command: Command, option: str, text: str, user: Any) -> list[Any]:
        given = {} if command.sub != "thread" else {"when": "in 2 hours"}
        return await self.world.emu.autocomplete(
            command.name,
            {**given, option: text},
            focused=option,
            user=user,
            channel=self.world.general,
            subcommand=command.sub,
        )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveBot]:
    with LiveBot(tmp_path) as bot:
        yield bot


def _user(live: LiveBot, who: str) -> Any:
    w = live.world
    return {"member": w.alice, "moderator": w.mod, "admin": live.admin}[who]


def _raw(command: Command, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Options exactly as given, past Discord's own checks (lengths, ranges, resolution)."""
    types = {o.name: o.type for o in command.text} | {n: 3 for n, _ in command.fixed}
    out = []
    for name, value in values.items():
        kind = types.get(name, 3)
        out.append({"name": name, "type": kind, "value": value})
    return out


def _fits(command: Command, values: dict[str, Any]) -> bool:
    """Whether Discord itself would send these values (lengths and ranges)."""
    for option in command.text:
        value = values.get(option.name)
        if value is None:
            continue
        if option.type == 3 and not option.min_length <= len(value) <= option.max_length:
            return False
        if option.type == 4 and (not isinstance(value, int) or not 1 <= value <= 2**53):
            return False
        if option.type == 7:
            return False
    return True


def check_answer(
    live: LiveBot, messages: list[dict[str, Any]], requests: list[Any], typed: str
) -> None:
    refused = [(r.method, r.path, r.status, r.json) for r in requests if r.status >= 400]
    assert not refused, f"Discord refused a call: {refused}"
    bodies = [b for r in requests for b in _bodies(r)]
    for body in bodies:
        if body.get("content") or body.get("embeds"):
            assert body.get("allowed_mentions", {}).get("parse") == [], body
            assert not body["allowed_mentions"].get("roles"), body
            assert not body["allowed_mentions"].get("users"), body
    shown = [t for m in [*messages, *bodies] for t in _texts(m)]
    for text in shown:
        assert "Something went wrong" not in text, text
        assert "Traceback" not in text, text
    plain = "\n".join(CODE.sub("", t) for t in shown)
    for live_syntax in LIVE:
        for found in live_syntax.finditer(typed):
            # The bot's own channel links and timestamps are fine; the user's text is not.
            assert found.group(0) not in plain, f"{found.group(0)!r} echoed live: {plain!r}"
    errors = [r.getMessage() for r in live.errors.records]
    assert not errors, errors


def still_works(live: LiveBot) -> None:
    w = live.world
    _, messages, _ = live.call(
        lambda: live.ask(Command("episode", None, "member"), w.alice, {"query": "11"})
    )
    assert "Great Stagnation" in messages[0]["embeds"][0]["title"]
    _, messages, requests = live.call(
        lambda: live.ask(Command("schedule", "list", "moderator"), w.mod, {})
    )
    check_answer(live, messages, requests, "")


@st.composite
def invocations(draw: st.DrawFn) -> tuple[Command, str, dict[str, Any]]:
    command = draw(st.sampled_from(COMMANDS))
    who = command.who
    if who == "member":
        who = draw(st.sampled_from(["member", "moderator"]))
    values: dict[str, Any] = dict(command.fixed)
    values.update(REQUIRED.get((command.name, command.sub or ""), {}))
    if command.sub == "thread":  # a time of its own, so it is not a copy of an earlier one
        values["when"] = f"in {draw(st.integers(1, 500_000))} minutes"
    for option in command.text:
        if option.type == 3:
            if option.name in values and draw(st.booleans()):
                continue  # a valid value, hostile ones in the others
            if option.name == "title" and draw(st.booleans()):
                continue  # optional
            values[option.name] = draw(hostile_text)
        elif option.type == 4:
            values[option.name] = draw(hostile_int)
        elif option.type == 7:
            values[option.name] = "foreign"
    return command, who, values


FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_hostile_options_are_answered_clearly(live: LiveBot) -> None:
    @FUZZ
    @given(invocations())
    def one(case: tuple[Command, str, dict[str, Any]]) -> None:
        command, who, values = case
        live.errors.records.clear()
        if "channel" in values:  # another server's: known only once the world is built
            values["channel"] = str(live.foreign.id)
        options: dict[str, Any] | list[dict[str, Any]] = (
            values if _fits(command, values) else _raw(command, values)
        )
        _, messages, requests = live.call(lambda: live.ask(command, _user(live, who), options))
        typed = " ".join(str(v) for v in values.values())
        check_answer(live, messages, requests, typed)
        still_works(live)

    one()


AUTOCOMPLETED = [(c, o.name) for c in COMMANDS for o in c.text if o.autocomplete]


def test_hostile_autocomplete_offers_valid_choices(live: LiveBot) -> None:
    @FUZZ
    @given(st.sampled_from(AUTOCOMPLETED), hostile_text)
    def one(where: tuple[Command, str], text: str) -> None:
        command, option = where
        live.errors.records.clear()
        user = _user(live, command.who)
        choices = live.call(lambda: live.complete(command, option, text, user))
        assert len(choices) <= 25
        for choice in choices:
            assert 1 <= len(choice["name"]) <= 100 and 1 <= len(str(choice["value"])) <= 100
        errors = [r.getMessage() for r in live.errors.records]
        assert not errors, errors

    one()


def test_the_emulator_refuses_what_discord_would_not_send(live: LiveBot) -> None:
    """The strict path above really is Discord's: an over-long option never reaches the bot."""
    w = live.world
    with pytest.raises(EmulatorError):
        live.call(
            lambda: live.ask(Command("episode", None, "member"), w.alice, {"query": "x" * 201})
        )

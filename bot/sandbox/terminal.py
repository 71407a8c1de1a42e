"""`vgbot sandbox`: the local Discord emulator, the real bot connected to it, and a prompt.

The bot runs as its own process (`python -m bot run`), configured exactly as it would be for
Discord except that DISCORD_API_BASE points at the emulator: what you see here is what a
Discord server would see. State (the emulated server, the bot's database, the sandbox clock)
lives in data/sandbox/, so a second session continues the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.clock import OffsetFileClock, utc
from bot.sandbox.commandline import CommandLineError, Invocation, parse_command_line
from bot.sandbox.emulator import Emulator, EmulatorError
from bot.sandbox.emulator.__main__ import DEFAULT_GUILD, add_admin, build_default_world
from bot.sandbox.emulator.state import ANNOUNCEMENT, FORUM, TEXT
from bot.sandbox.process import bot_env, spawn_bot
from bot.sandbox.show import render_message
from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

HELP = """\
Type slash commands as Discord members would, e.g.
  /episode 11            /episode saroufim          /topic "defensible moats"
Sandbox commands:
  :as member|moderator|admin   who you are (moderators: /weekly, /schedule, /feed;
                               admins also /config and /reload)
  :in CHANNEL                  where you type (now: #{channel}); :channels lists them
  :complete /episode sar       what autocomplete offers for what you typed so far
  :advance 7d | 3h | 90m       move the sandbox clock forward (scheduled posts happen)
  :log                         the last lines of the bot's log
  :help                        this text;   :quit or Ctrl-D leaves
"""

# `:as` words → the sandbox's users, and how each is named back.
_ROLES = {
    "member": "alice",
    "alice": "alice",
    "moderator": "mod",
    "mod": "mod",
    "admin": "ada",
    "ada": "ada",
}
_ROLE_OF = {"alice": "a member", "mod": "a moderator", "ada": "an admin"}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms])\s*$")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class BotExited(EmulatorError):
    """The bot process is gone: nothing will answer, so nothing is waited for."""


def parse_duration(text: str) -> float:
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"cannot read {text!r} as a duration; try 7d, 3h, 90m or 30s")
    return float(m[1]) * _UNITS[m[2]]


class Sandbox:
    def __init__(self, settings: Settings, folder: Path, out: Any = None) -> None:
        self.settings = settings
        self.folder = folder
        self.out = out or sys.stdout
        self.emu = Emulator(state_path=folder / "discord.json", heartbeat_interval=5.0)
        self.clock = OffsetFileClock(folder / "clock")
        self.emu.clock = self.clock  # the emulated Discord and the bot share one sense of time
        # A second session continues the first: its schedules, settings and moved clock.
        self.resumed = bool(self.emu.world.guilds)
        if not self.resumed:
            build_default_world(self.emu)
        self.guild = next(g for g in self.emu.world.guilds.values() if g.name == DEFAULT_GUILD)
        self.as_user = "alice"
        # Where commands are typed, by id: threads may share a name.
        self.channel_id = self.emu.channel_named("general", self.guild).id
        self.bot: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[None] | None = None  # done when the bot process exits
        self._pidfd: int | None = None
        self._seen: set[int] = set()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def welcome(self) -> str:
        text = f"Connected: the bot is in '{DEFAULT_GUILD}'. Type :help for help."
        if self.resumed:
            # Otherwise old schedules and a clock days ahead (after :advance) look like bugs.
            text += (
                f"\nThis continues the last session (sandbox time is {self._now()}),"
                f"\nkept in {self.folder}/: delete that folder to start afresh."
            )
        return text + "\n"

    # ---- lifetime ----

    async def start(self) -> None:
        await self.emu.start()
        self._seen = {int(m["id"]) for m in self._all_messages()}
        env = bot_env(
            self.emu,
            self.guild.id,
            db=self.folder / "vgbot.sqlite3",
            content_dir=self.settings.content_dir.resolve(),
            prompts_dir=self.settings.prompts_dir.resolve(),
            clock_offset_file=self.folder / "clock",
            base=os.environ,
            tick_interval=1,
            # `:advance 7d` jumps past scheduled times: post them late rather than skip them.
            grace_window=30 * 86400,
        )
        self.bot = spawn_bot(env, self.folder / "bot.log", stop_with_parent=True)
        self._watch_bot()
        try:
            await self._from_bot(
                self.emu.wait_for(
                    lambda: bool(self.emu.gateway.connected) and bool(self._commands()),
                    timeout=60,
                    what="the bot to connect and register its commands",
                )
            )
        except EmulatorError:
            exited = self._exit_status()
            self.say(
                "The bot did not start"
                + (f" (it exited: {exited})" if exited else "")
                + f". Its log ({self.folder / 'bot.log'}) says:"
            )
            self.say(self._log_tail())
            raise

    def _watch_bot(self) -> None:
        """Have `_exited` done as soon as the bot process exits (a pidfd turns readable then),
        so a wait for its answer ends at once rather than at its timeout."""
        assert self.bot is not None
        loop = asyncio.get_running_loop()
        self._exited = loop.create_future()
        try:
            self._pidfd = os.pidfd_open(self.bot.pid)
        except (AttributeError, OSError):
            return  # not Linux: only the check before each command is left
        loop.add_reader(self._pidfd, self._bot_gone)

    def _bot_gone(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(None)

    def _exit_status(self) -> str | None:
        """How the bot process ended, or None while it runs."""
        if self.bot is None or (code := self.bot.poll()) is None:
            return None
        how = f"exit code {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                how += f": killed by {signal.Signals(-code).name}"
        return how

    def _check_bot(self) -> None:
        how = self._exit_status()
        if how is None:
            return
        raise BotExited(
            f"the bot process has exited ({how}); the last lines of its log "
            f"({self.folder / 'bot.log'}):\n{self._log_tail()}\n"
            ":quit, fix what the log shows, and start the sandbox again"
        )

    def _check_connected(self) -> None:
        """Before a command: the bot is there, and if cut off (alive, so it resumes and then
        answers) the person is told why the answer is slow."""
        self._check_bot()
        if not self.emu.gateway.connected:
            self.say(
                "  (the bot is not connected to the emulator just now: waiting for it to "
                "reconnect; :log shows its log)"
            )

    async def _from_bot(self, waiting: Awaitable[T]) -> T:
        """`waiting` (for the bot's answer), or BotExited as soon as the bot process is gone."""
        task = asyncio.ensure_future(waiting)
        try:
            self._check_bot()
            if self._exited is not None:
                either: set[asyncio.Future[Any]] = {task, self._exited}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                self._check_bot()
            return await task
        finally:
            task.cancel()

    async def stop(self) -> None:
        self._bot_gone()
        if self.bot is not None and self.bot.poll() is None:
            self.bot.terminate()
            try:
                await asyncio.to_thread(self.bot.wait, 15)
            except subprocess.TimeoutExpired:
                self.bot.kill()
        await self.emu.stop()
        self.emu.save()

    # ---- helpers ----

    def _commands(self) -> list[dict[str, Any]]:
        return self.emu.commands(self.guild) + self.emu.commands()

    def _channels(self) -> dict[str, str]:
        return {
            ch.name: str(ch.id)
            for ch in self.emu.world.channels.values()
            if ch.guild_id == self.guild.id and ch.type in (TEXT, ANNOUNCEMENT, FORUM)
        }

    def _names(self) -> dict[str, str]:
        """Every channel of the server, threads and forum posts too: what `<#id>` shows."""
        return {
            str(ch.id): ch.name
            for ch in self.emu.world.channels.values()
            if ch.guild_id == self.guild.id
        }

    def _render(self, message: dict[str, Any], where: str) -> str:
        """A message as a Discord client shows it: channels, roles and people by name."""
        gid = self.guild.id
        roles = {str(r.id): r.name for r in self.emu.world.guild_roles(gid)}
        users = {
            str(u.id): u.username
            for m in self.emu.world.guild_members(gid)
            if (u := self.emu.world.users.get(m.user_id)) is not None
        }
        return render_message(
            message,
            where=where,
            channels=self._names(),
            now=utc(self.clock()),
            roles=roles,
            users=users,
        )

    def _all_messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for ch in list(self.emu.world.channels.values()):
            if ch.guild_id == self.guild.id:
                out += self.emu.messages(ch)
        return out

    def _log_tail(self, lines: int = 15) -> str:
        path = self.folder / "bot.log"
        if not path.exists():
            return "(no log yet)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _show_new_posts(self, lead: str = "") -> int:
        """Messages the bot posted by itself (scheduled prompts, announcements, threads), with
        `lead` before the first; how many."""
        bot_id = str(self.emu.bot_user.id)
        shown = 0
        for message in sorted(self._all_messages(), key=lambda m: int(m["id"])):
            mid = int(message["id"])
            if mid in self._seen:
                continue
            self._seen.add(mid)
            if str(message.get("author", {}).get("id")) != bot_id:
                continue
            if message.get("interaction_metadata") or message.get("interaction"):
                continue  # already shown as the answer to a command
            ch = self.emu.world.channels.get(int(message["channel_id"]))
            where = f"#{ch.name}" if ch else "a channel"
            if not shown and lead:
                print(lead, end="", file=self.out)
            self.say(self._render(message, where))
            shown += 1
        return shown

    async def _settle(self, seconds: float = 1.5) -> None:
        # Give the bot a moment to post what a command or a clock jump made due.
        with contextlib.suppress(EmulatorError, TimeoutError):
            count = len(self._all_messages())
            await self.emu.wait_for(
                lambda: len(self._all_messages()) > count, timeout=seconds, what="new posts"
            )
        self._show_new_posts()

    def _posted_since(self, count: int) -> bool:
        return len(self.emu.world.messages) != count

    async def show_posts_while(
        self, idle: Callable[[], bool], typed: Callable[[], str] = str
    ) -> None:
        """Print what the bot posts by itself (a schedule coming due, a release) as it comes,
        while `idle()` (the prompt waits for a line); otherwise the next command shows it.
        `typed()`: what the person has typed at the prompt so far."""
        while True:
            count = len(self.emu.world.messages)
            with contextlib.suppress(EmulatorError, TimeoutError):
                await self.emu.wait_for(
                    functools.partial(self._posted_since, count), timeout=3600, what="posts"
                )
            # Below the prompt the person is at, then the prompt again with what they had
            # typed so far (input() still holds it: hidden, it would run unseen).
            if idle() and self._show_new_posts(lead="\n"):
                print(self.prompt() + typed(), end="", file=self.out, flush=True)

    # ---- what the person types ----

    async def handle(self, line: str) -> bool:
        """One line of input; False when the person wants to leave."""
        line = line.strip()
        if not line:
            return True
        try:
            if line.startswith(":"):
                return await self._meta(line[1:].strip())
            inv = parse_command_line(line, self._commands(), self._channels())
            await self._invoke(inv)
        except (CommandLineError, EmulatorError) as exc:
            self.say(f"! {exc}")
        except Exception as exc:
            # One line that failed must not end the session; the traceback is for debugging.
            log.debug("%r failed", line, exc_info=True)
            self.say(
                f"! unexpected {type(exc).__name__}: {exc} (the session goes on; :log shows "
                "the bot's log)"
            )
        return True

    async def _invoke(self, inv: Invocation) -> None:
        self._check_connected()  # not sent to a bot that is gone
        handle = await self.emu.invoke(
            inv.name,
            inv.options,
            user=self.as_user,
            channel=self.channel_id,
            subcommand=" ".join(inv.path) or None,
        )
        message = await self._from_bot(handle.response(timeout=15))
        for shown in [message, *handle.followups]:
            self.say(self._render(shown, f"#{self.channel}"))
        self._seen |= {int(m["id"]) for m in [message, *handle.followups] if m.get("id")}
        await self._settle(0.5)

    async def _meta(self, text: str) -> bool:
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word in ("quit", "q", "exit"):
            return False
        if word == "help":
            self.say(HELP.format(channel=self.channel))
        elif word == "as":
            if rest not in _ROLES:
                self.say("! say :as member, :as moderator or :as admin")
            else:
                self.as_user = _ROLES[rest]
                if self.as_user == "ada" and self.emu.world.find_user("ada") is None:
                    add_admin(self.emu, self.guild)  # a sandbox made before admins existed
                self.say(f"you are now {_ROLE_OF[self.as_user]}")
        elif word == "in":
            self._move_to(rest.lstrip("#"))
        elif word == "channels":
            self.say(self._channel_list())
        elif word == "complete":
            await self._complete(rest)
        elif word == "advance":
            try:
                seconds = parse_duration(rest)
            except ValueError as exc:
                self.say(f"! {exc}")
                return True
            self.clock.advance(seconds)
            self.say(f"the clock moved forward {rest}; sandbox time is now {self._now()}")
            await self._settle(3.0)
        elif word == "log":
            self.say(self._log_tail())
        else:
            self.say(f"! unknown :{word}; type :help")
        return True

    async def _complete(self, typed: str) -> None:
        # A marker stands for the cursor, so an option typed so far (even an empty one, as in
        # ':complete /topic', or in a quote not closed yet) parses as the one being completed.
        mark = "\u200b"
        problems = []
        for line in (typed + mark, f"{typed} {mark}", f'{typed}{mark}"'):
            try:
                inv = parse_command_line(line, self._commands(), self._channels(), cursor=mark)
                break
            except CommandLineError as exc:
                problems.append(str(exc).replace(mark, ""))
        else:
            self.say(f"! {problems[1]}")  # the cursor after a space: the likeliest reading
            return
        assert inv.focused is not None and inv.focused_option is not None
        focused, option = inv.focused, inv.focused_option
        current = str(inv.options[focused]).strip()
        if option.get("choices"):
            # Fixed choices: Discord's client lists them itself, narrowed by what is typed,
            # and never asks the bot; only for a command the person may use, as it shows
            # no other.
            self.emu.command_for(inv.name, user=self.as_user, channel=self.channel_id)
            static = option["choices"]
            choices = [c for c in static if current.casefold() in str(c["name"]).casefold()]
            if not choices:
                names = ", ".join(str(c["name"]) for c in static)
                self.say(f"  (no choice of '{focused}' matches {current!r}; choices: {names})")
        elif option.get("autocomplete"):
            self._check_connected()
            choices = await self._from_bot(
                self.emu.autocomplete(
                    inv.name,
                    {**inv.options, focused: current},
                    focused,
                    user=self.as_user,
                    channel=self.channel_id,
                    subcommand=" ".join(inv.path) or None,
                )
            )
            if not choices:
                self.say("  (no suggestions)")
        else:
            self.say(f"  (option '{focused}' has no suggestions: type its value)")
            return
        for c in choices:
            self.say(f"  {c['name']}  →  {c['value']}")

    def _channel_list(self) -> str:
        """Channels, and the threads and forum posts in each (where `:in` can go)."""
        chans = [c for c in self.emu.world.channels.values() if c.guild_id == self.guild.id]
        lines = []
        for ch in sorted(
            (c for c in chans if c.type in (TEXT, ANNOUNCEMENT, FORUM)), key=lambda c: c.name
        ):
            kind = " (forum: type in one of its posts)" if ch.type == FORUM else ""
            lines.append(f"#{ch.name}{kind}")
            lines += [
                f"  #{t.name}  <#{t.id}>" for t in chans if t.is_thread and t.parent_id == ch.id
            ]
        return "\n".join(lines)

    @property
    def channel(self) -> str:
        """The name of where commands are typed, as the prompt shows it."""
        ch = self.emu.world.channels.get(self.channel_id)
        return ch.name if ch is not None else "(deleted channel)"

    def _move_to(self, name: str) -> None:
        """Where commands are typed: a text channel or a thread, as in Discord's client; by
        name, or by `<#id>` or id when threads share a name."""
        typable = [
            ch
            for ch in self.emu.world.channels.values()
            if ch.guild_id == self.guild.id and (ch.type in (TEXT, ANNOUNCEMENT) or ch.is_thread)
        ]
        wanted = name.removeprefix("<#").removesuffix(">")
        found = [
            c for c in typable if (str(c.id) == wanted if wanted.isdigit() else c.name == name)
        ]
        if len(found) == 1:
            (ch,) = found
            self.channel_id = ch.id
            self.say(f"typing in #{ch.name}")
            return
        if len(found) > 1:
            homes = self.emu.world.channels
            which = ", ".join(
                f"<#{c.id}> (in #{homes[c.parent_id].name})" if c.parent_id in homes else str(c.id)
                for c in found
            )
            self.say(
                f"! {len(found)} threads are named #{name}: type :in <#id> with one of {which}"
            )
            return
        forum = next(
            (
                c
                for c in self.emu.world.channels.values()
                if c.guild_id == self.guild.id and c.name == name and c.type == FORUM
            ),
            None,
        )
        if forum is not None:
            posts = sorted(c.name for c in typable if c.parent_id == forum.id)
            self.say(
                f"! #{name} is a forum: commands are typed in one of its posts"
                + (f" ({', '.join(posts)})" if posts else " (it has none yet)")
                + " or in a text channel"
            )
            return
        channels = sorted(self._channels())
        self.say(f"! no channel #{name}; channels: {', '.join(channels)}")

    def _now(self) -> str:
        return utc(self.clock()).strftime("%a %Y-%m-%d %H:%M UTC")

    def prompt(self) -> str:
        return f"{_ROLE_OF[self.as_user].split()[-1]} #{self.channel}> "


def _line_editor() -> Any:
    """readline, at a terminal: arrow keys, history, and Ctrl-D that leaves only on an empty
    line (without it, the terminal's own Ctrl-D sends a partial line and eats a character)."""
    if not sys.stdin.isatty():
        return None
    try:
        import readline
    except ImportError:
        return None
    return readline


class _LineReader:
    """input() on a thread of its own that nobody waits for: asyncio waits at exit for the
    threads of its executor, and one blocked in input() returns only on Enter, so Ctrl-C
    would leave only after one more line."""

    def __init__(self) -> None:
        self.editor = _line_editor()  # loaded before the first input(), which then uses it
        # readline puts the terminal in raw mode while it reads; leaving mid-read must put it
        # back, or the shell is left with no echo.
        self.terminal = termios.tcgetattr(sys.stdin) if sys.stdin.isatty() else None
        self._asks: queue.SimpleQueue[tuple[str, asyncio.AbstractEventLoop, asyncio.Future[str]]]
        self._asks = queue.SimpleQueue()
        self.reading = False  # blocked in input()
        self.thread = threading.Thread(target=self._run, name="sandbox-input", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            prompt, loop, answer = self._asks.get()
            self.reading = True
            try:
                line = input(prompt)
            except BaseException as exc:  # EOFError on Ctrl-D, or anything else: to the loop
                loop.call_soon_threadsafe(_settle_future, answer, None, exc)
            else:
                loop.call_soon_threadsafe(_settle_future, answer, line, None)
            finally:
                self.reading = False

    def restore_terminal(self) -> None:
        if self.terminal is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self.terminal)

    def typed(self) -> str:
        """The line being typed, as far as it goes (known with readline only)."""
        return str(self.editor.get_line_buffer()) if self.editor is not None else ""

    async def read(self, prompt: str) -> str:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()
        self._asks.put((prompt, loop, answer))
        return await answer


def _settle_future(
    answer: asyncio.Future[str], line: str | None, exc: BaseException | None
) -> None:
    if answer.done():
        return
    if exc is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(line or "")


async def _main(settings: Settings, reader: _LineReader) -> int:
    # The prompt is the interface here; the emulator's request log would drown it.
    logging.getLogger("bot.sandbox.emulator").setLevel(logging.WARNING)
    folder = settings.db.parent / "sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    box = Sandbox(settings, folder)
    print("Starting the local Discord emulator and the bot…", flush=True)
    try:
        await box.start()
    except EmulatorError:
        await box.stop()
        return 1
    box.say(box.welcome())
    # A terminal closed or a supervisor's SIGTERM: leave as Ctrl-C does, the bot stopped.
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main is not None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, main.cancel)
    shower = asyncio.create_task(box.show_posts_while(lambda: reader.reading, reader.typed))
    try:
        while True:
            try:
                line = await reader.read(box.prompt())
            except EOFError:
                box.say()
                break
            if not await box.handle(line):
                break
    finally:
        shower.cancel()
        await box.stop()
    return 0


def run_sandbox(settings: Settings) -> int:
    reader = _LineReader()
    try:
        status = asyncio.run(_main(settings, reader))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print()
        status = 0
    if reader.reading:
        # Still blocked in input(): at exit Python would wait for (or trip over) the stdin
        # it holds. Everything is stopped and saved; leave without that wait.
        reader.restore_terminal()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status

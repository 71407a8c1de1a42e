"""Run the emulator as its own process.

    python -m bot.sandbox.emulator --port 0 --print-url [--state emulator.json]

With --print-url, stdout's first line is the API base URL, the second the gateway URL, the
third the bot token; then it runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .errors import EmulatorError
from .perms import MODERATOR, Perm
from .server import Emulator
from .state import Guild, User

log = logging.getLogger(__name__)

DEFAULT_GUILD = "Vanishing Gradients"


def build_default_world(emu: Emulator) -> None:
    """The sandbox server: #general, #episodes, a #discussions forum, alice, a moderator and
    an admin (Manage Server besides the moderator's permissions)."""
    guild = emu.add_guild(DEFAULT_GUILD)
    emu.add_channel(guild, "general", "text", topic="Say hello")
    emu.add_channel(guild, "episodes", "text", topic="New episodes are announced here")
    emu.add_channel(guild, "discussions", "forum", tags=["episode", "topic", "question"])
    emu.add_member(guild, "alice")
    emu.add_moderator(guild, "mod")
    add_admin(emu, guild)


def add_admin(emu: Emulator, guild: Guild | int) -> User:
    """'ada', who may also use /config and /reload (Manage Server)."""
    return emu.add_member(guild, "ada", int(MODERATOR | Perm.MANAGE_GUILD))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.sandbox.emulator", description="A local fake Discord for the bot."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--print-url", action="store_true", help="print API URL, gateway URL, token"
    )
    parser.add_argument("--state", metavar="PATH", help="keep the world in this JSON file")
    parser.add_argument("--token", help="the bot token to accept (default: generated)")
    parser.add_argument("--heartbeat", type=float, default=41.25, help="seconds between heartbeats")
    parser.add_argument("--nonce-window", type=float, default=300.0, help="seconds a nonce dedups")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    return args


async def serve(args: argparse.Namespace) -> None:
    emu = Emulator(
        host=args.host,
        port=args.port,
        token=args.token,
        heartbeat_interval=args.heartbeat,
        nonce_window=args.nonce_window,
        state_path=args.state,
        record_limit=10_000,
    )
    if not emu.world.guilds:
        build_default_world(emu)
    await emu.start()
    if args.print_url:
        print(emu.api_base, emu.gateway_url, emu.token, sep="\n", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()
        emu.save()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except EmulatorError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

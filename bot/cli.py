"""`vgbot` command line: the bot, the sandbox, and terminal access to the catalogue."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.core.text import counted
from bot.health import DEFAULT_MAX_AGE
from bot.settings import Settings, SettingsError, load_settings, unknown_env_vars
from bot.store.db import StoreError

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000  # longer input is cut, not refused: the search caps terms anyway


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vgbot", description=__doc__)
    p.add_argument("--config", type=Path, help="YAML settings file (env: VGBOT_CONFIG)")
    p.add_argument("--db", type=Path, help="SQLite database file (env: VGBOT_DB)")
    p.add_argument("--content", type=Path, help="content folder (env: VGBOT_CONTENT_DIR)")
    p.add_argument("--prompts", type=Path, help="templates folder (env: VGBOT_PROMPTS_DIR)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, what: str, more: str = "") -> argparse.ArgumentParser:
        # The one line of `vgbot --help` heads `vgbot NAME --help` too, which was bare.
        return sub.add_parser(name, help=what, description=f"{what}. {more}".strip())

    command(
        "run",
        "connect to Discord (needs DISCORD_TOKEN)",
        "Without a token it stops with exit status 2; `make run` starts the sandbox instead.",
    )
    command(
        "sandbox",
        "the local Discord emulator with the bot, and a prompt",
        "Type :help there. Its state is kept in a sandbox/ folder beside the database "
        "(data/sandbox/): delete it to start afresh.",
    )
    for name, what, query in (
        (
            "episode",
            "show an episode: number, title words, slug or guest name",
            "11, #11, saroufim, great stagnation",
        ),
        (
            "topic",
            "what the show said about a topic",
            "a topic's slug, title or alias, or any words",
        ),
        ("search", "search everything the show said", "the words to look for"),
    ):
        q = command(name, what, "Exit status 1 when nothing was found.")
        q.add_argument("query", nargs="+", help=query)
        q.add_argument("--json", action="store_true", help="machine-readable output")
    content = command("content", "content tools")
    csub = content.add_subparsers(dest="content_command", required=True, metavar="ACTION")
    check = csub.add_parser("check", help="validate content/ and prompts/; non-zero on problems")
    check.add_argument("dir", nargs="?", type=Path, help="content folder (default: setting)")
    csub.add_parser("sync", help="load content/ into the database (incremental)")
    feed = command(
        "import-feed",
        "import a podcast feed (URL or file) with transcripts and chapters",
        "Idempotent: importing again updates what changed.",
    )
    feed.add_argument("source", metavar="URL|FILE", help="the feed's URL, or a saved feed file")
    feed.add_argument(
        "--write-content", type=Path, metavar="DIR", help="also write the episodes as content files"
    )
    feed.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    b = command("backup", "copy the database safely, even while the bot runs")
    b.add_argument("path", type=Path, help="the backup file (or a folder for a dated file)")
    r = command(
        "restore",
        "replace the database with a backup (bot stopped)",
        "The database it replaces is kept beside it.",
    )
    r.add_argument("path", type=Path, help="a file written by `vgbot backup`")
    command(
        "doctor",
        "check token, database, content, feed and Discord permissions",
        "Prints what to fix; exit status 1 on problems.",
    )
    h = command(
        "health",
        "exit 0 if the running bot's heartbeat is fresh, else 1",
        "Reads VGBOT_HEALTH_FILE.",
    )
    h.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE, help="seconds (default: 90)")
    command(
        "sync-commands",
        "push the slash commands to Discord now",
        "Otherwise they are pushed only when they changed.",
    )
    return p


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        config_file=args.config,
        overrides={"db": args.db, "content_dir": args.content, "prompts_dir": args.prompts},
    )


async def _ask(settings: Settings, command: str, query: str, as_json: bool) -> int:
    from bot.app import open_app
    from bot.terminal import render_reply, reply_to_json

    async with open_app(settings) as app:
        if app.sync_report.problems:
            print(
                f"warning: {counted(len(app.sync_report.problems), 'content problem')}; "
                "run `vgbot content check` to see them",
                file=sys.stderr,
            )
        answer = {
            "episode": app.catalogue.answer_episode,
            "topic": app.catalogue.answer_topic,
            "search": app.catalogue.search,
        }[command]
        reply = await answer(query[:MAX_QUERY_CHARS])
    if as_json:
        print(reply_to_json(reply))
    else:
        print(render_reply(reply, color=sys.stdout.isatty()))
    return 0 if reply.found else 1


def _content_check(settings: Settings, folder: Path | None) -> int:
    from bot.core.content import load_dir
    from bot.core.render import check_templates

    root = folder or settings.content_dir
    if not root.is_dir():
        print(f"error: content folder {root} does not exist (give one: vgbot content check DIR)")
        return 2
    catalog = load_dir(root)
    problems = list(catalog.problems)
    if settings.prompts_dir.is_dir():
        problems += check_templates(settings.prompts_dir, catalog)
    for problem in problems:
        print(problem)
    print(
        f"{counted(len(catalog.episodes), 'episode')}, {counted(len(catalog.topics), 'topic')}, "
        f"{counted(len(problems), 'problem')}"
    )
    return 1 if problems else 0


async def _content_sync(settings: Settings) -> int:
    from bot.app import open_app

    async with open_app(settings) as app:
        report = app.sync_report
    for problem in report.problems:
        print(problem)
    print(
        f"synced in {report.seconds:.2f}s: {report.added} added, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged, "
        f"{counted(len(report.problems), 'problem')}"
    )
    return 1 if report.problems else 0


async def _import_feed(
    settings: Settings, url: str, write_dir: Path | None, show_progress: bool
) -> int:
    """vgbot import-feed: store a feed's episodes (never announced); see docs/feeds.md."""
    import functools
    from datetime import UTC, datetime

    import aiohttp

    from bot.app import open_app
    from bot.feeds.export import write_content
    from bot.feeds.fetch import fetch
    from bot.progress import ProgressBar
    from bot.services.feeds import FeedConfig, FeedService
    from bot.store.db import StoreError

    bar = ProgressBar() if show_progress else None
    try:
        async with open_app(settings) as app, aiohttp.ClientSession() as session:
            service = FeedService(
                app.store,
                functools.partial(fetch, session),
                config=FeedConfig.from_settings(settings),
            )
            report = await service.read(
                url,
                datetime.now(UTC),
                announce=False,
                conditional=False,
                progress=bar,
                keep_episodes=write_dir is not None,
            )
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    if report.error is not None:
        print(f"error: {report.error}; nothing was imported", file=sys.stderr)
        return 1
    for problem in report.problems:
        print(problem)
    print(
        f"{report.title or url}: {counted(report.items, 'item')} in {report.seconds:.2f}s: "
        f"{report.added} added, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.from_content} described in content/; "
        f"{counted(report.transcripts, 'transcript')}, "
        f"{counted(report.extras_failed, 'item')} whose transcript or chapters failed"
    )
    if write_dir is not None:
        export = write_content(write_dir, report.episodes)
        for problem in export.problems:
            print(problem)
        print(
            f"{write_dir}: {counted(len(export.written), 'file')} written, "
            f"{len(export.kept)} already "
            f"there (left as they are), {len(export.problems)} not written"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if args.command == "health" else 2  # Docker reserves 2 in health checks
    from bot.logs import setup_logging

    level = settings.log_level
    if args.command in ("episode", "topic", "search", "import-feed") and level.upper() == "INFO":
        level = "WARNING"  # at the terminal: the answer or the summary, not the sync's progress
    setup_logging(level, settings.log_format, settings.token)
    for problem in unknown_env_vars(os.environ):
        log.warning("%s: it is ignored (the settings are listed in README.md)", problem)
    if args.command == "import-feed":
        # It prints the read's problems and error itself: the service's log would say each
        # twice (and speak of a next attempt, which a one-off import does not make).
        logging.getLogger("bot.services.feeds").setLevel(logging.CRITICAL)
    try:
        status = _dispatch(args, settings)
        sys.stdout.flush()  # a reader that left shows here, not at exit
        return status
    except BrokenPipeError:
        # The reader stopped early (`| head`, `| true`): nothing to say to anyone. Python's
        # docs (signal, "Note on SIGPIPE"): point stdout at devnull so the flush at exit
        # cannot fail again. 141 is what a shell reports for a program SIGPIPE stopped; 1
        # would read as "nothing found".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command in ("episode", "topic", "search"):
            return asyncio.run(_ask(settings, args.command, " ".join(args.query), args.json))
        if args.command == "content":
            if args.content_command == "check":
                return _content_check(settings, args.dir)
            return asyncio.run(_content_sync(settings))
        if args.command == "import-feed":
            # A file path is made absolute: the same file is the same feed from any folder.
            source = args.source
            url = source if "://" in source else str(Path(source).expanduser().resolve())
            return asyncio.run(
                _import_feed(settings, url, args.write_content, not args.no_progress)
            )
        if args.command in ("backup", "restore", "doctor", "health", "sync-commands"):
            from bot.ops import commands

            if args.command == "backup":
                return commands.backup_command(settings, args.path)
            if args.command == "restore":
                return commands.restore_command(settings, args.path)
            if args.command == "doctor":
                return commands.doctor_command(settings)
            if args.command == "health":
                return commands.health_command(settings, args.max_age)
            return commands.sync_commands_command(settings)
        if args.command == "sandbox":
            from bot.sandbox.terminal import run_sandbox

            return run_sandbox(settings)
        if args.command == "run":
            from bot.chat.runner import run_bot

            return run_bot(settings)
    except KeyboardInterrupt:
        return 130
    except StoreError as exc:
        # The database cannot be used as it is: the message says why and what to do.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2

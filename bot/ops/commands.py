"""The operations subcommands of `vgbot`: backup, restore, doctor, health, sync-commands.

Each takes the Settings and returns the exit status; what a person needs to read goes to
stdout, errors to stderr as one line saying what to do. bot/cli.py only parses and dispatches.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.core.text import counted
from bot.settings import Settings

log = logging.getLogger(__name__)


def backup_command(settings: Settings, dest: Path) -> int:
    from bot.ops.backup import BackupError, backup

    try:
        snapshot = backup(settings.db, dest.expanduser(), now=datetime.now(UTC))
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {snapshot.path}: integrity check ok, {snapshot.summary()}")
    return 0


def restore_command(settings: Settings, source: Path) -> int:
    from bot.ops.backup import BackupError, restore

    try:
        restored = restore(source.expanduser(), settings.db, now=datetime.now(UTC))
    except BackupError as exc:
        print(f"error: {exc}; nothing was changed", file=sys.stderr)
        return 1
    print(f"restored {settings.db} from {source}: {restored.database.summary()}")
    if restored.kept is not None:
        print(f"the database it replaced is kept as {restored.kept}")
    if restored.migrations_pending:
        print("the backup is from an older version: the bot migrates it when it starts")
    return 0


def doctor_command(settings: Settings) -> int:
    from bot.ops.doctor import exit_status, render, run_doctor

    findings = asyncio.run(run_doctor(settings, now=time.time()))
    print(render(findings))
    return exit_status(findings)


def health_command(settings: Settings, max_age: float) -> int:
    """Docker's HEALTHCHECK contract: 0 healthy, 1 unhealthy (never 2, which is reserved)."""
    from bot.health import check_heartbeat

    healthy, why = check_heartbeat(settings.health_file, time.time(), max_age)
    print(why)
    return 0 if healthy else 1


def sync_commands_command(settings: Settings) -> int:
    if not settings.has_token:
        print(
            "error: no token: set DISCORD_TOKEN (or VGBOT_TOKEN_FILE) to sync the commands",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_sync_commands(settings))


async def _sync_commands(settings: Settings) -> int:
    """Log in over REST only (no gateway session) and push the command definitions now,
    changed or not: for when Discord shows stale commands."""
    import discord

    from bot.app import open_app
    from bot.chat.runner import build_bot, point_at

    point_at(settings.api_base)
    async with open_app(settings) as app:
        bot = build_bot(app)
        try:
            await bot.login(settings.token)  # runs setup_hook: syncs when the tree changed
            if not bot.synced_commands:
                await bot.sync_commands(force=True)
            count = len(bot.tree.get_commands(guild=bot.dev_guild))
        except discord.LoginFailure:
            from bot.ops.doctor import refused_token_hint

            hint = refused_token_hint(settings.token)
            print(f"error: Discord refused the token: {hint}", file=sys.stderr)
            return 2
        except discord.HTTPException as exc:
            print(f"error: Discord refused the commands: {exc}", file=sys.stderr)
            return 1
        finally:
            await bot.close()
    where = f"server {settings.dev_guild_id}" if settings.dev_guild_id else "every server"
    print(f"synced {counted(count, 'command')} for {where}")
    if not settings.dev_guild_id:
        print("global commands can take up to an hour to appear in Discord")
    return 0

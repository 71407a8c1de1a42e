"""`vgbot doctor`: everything that commonly stops the bot, checked at once, as data.

Each check returns Findings (ok, note, warn or fail) with a message and, when something is
wrong, what to do about it. The command prints them and exits non-zero when any check failed.
The token is never shown: findings say what is wrong with its shape, not what it is.

Checks: the token's format; the database (read-only: opens, passes a quick integrity check,
its schema version against this code's, which it notes but never migrates);
content/ and prompts/ (the same validation as `vgbot content check`); the feed, if one is
configured; the heartbeat, if configured; and, with a token, Discord over REST: the token is
accepted, and in every channel the database configures (weekly prompt, scheduled threads,
/config channels, release announcements) the bot has the permissions it posts with.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import re
import sqlite3
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.core.text import counted
from bot.ops import permissions

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

OK, NOTE, WARN, FAIL = "ok", "note", "warn", "fail"
MAX_PROBLEMS_SHOWN = 15
REST_TIMEOUT = 15.0
USER_AGENT = "DiscordBot (https://github.com/vanishing-gradients/vgbot, 0.1) vgbot-doctor"

_PART = re.compile(r"[A-Za-z0-9_-]+\Z")
_PORTAL = "the Discord Developer Portal (your application → Bot → Reset Token)"


@dataclass(frozen=True)
class Finding:
    area: str  # "token", "database", "content", "feed", "discord", "channel 123", ...
    level: str  # OK, NOTE, WARN or FAIL
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"[{self.level.upper():4}] {self.area}: {self.message}"
        return text + (f"\n       fix: {self.fix}" if self.fix else "")


def exit_status(findings: Sequence[Finding]) -> int:
    return 1 if any(f.level == FAIL for f in findings) else 0


def render(findings: Sequence[Finding]) -> str:
    failed = sum(f.level == FAIL for f in findings)
    warned = sum(f.level == WARN for f in findings)
    verdict = (
        "all checks passed"
        if not failed
        else f"{counted(failed, 'problem')} to fix before the bot can work as configured"
    )
    lines = [str(f) for f in findings]
    lines.append(f"{verdict}" + (f"; {counted(warned, 'warning')}" if warned else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------ token (pure)


def check_token(token: str) -> list[Finding]:
    """Is this shaped like a bot token? Catches the usual copy-paste mistakes."""
    area = "token"
    if not token:
        return [
            Finding(
                area,
                WARN,
                "no token set: `vgbot run` would stop at once with exit status 2 (only `make run` "
                "falls back to the local sandbox, as `vgbot sandbox` does); the Discord checks "
                "are skipped",
                "set DISCORD_TOKEN (or VGBOT_TOKEN_FILE) to the bot token from " + _PORTAL,
            )
        ]
    if token[:4].lower() == "bot ":
        return [Finding(area, FAIL, "the token starts with 'Bot '", "leave out the 'Bot ' prefix")]
    if any(c.isspace() for c in token):
        return [
            Finding(
                area,
                FAIL,
                "the token contains spaces or line breaks",
                "paste it again without spaces; in a token file, the token alone on one line",
            )
        ]
    if token[0] in "'\"" or token[-1] in "'\"":
        return [
            Finding(area, FAIL, "the token is wrapped in quotes", "remove the quotes around it")
        ]
    parts = token.split(".")
    if len(parts) != 3 or not all(_PART.match(p) for p in parts):
        if token.isdigit():
            what = "an application or user id"
        elif len(parts) == 1 and len(token) == 32:
            what = "a client secret or public key"
        else:
            what = "something else"
        return [
            Finding(
                area,
                FAIL,
                f"this is not shaped like a bot token (three parts separated by dots); it looks "
                f"like {what}",
                "copy the bot token itself from " + _PORTAL,
            )
        ]
    bot_id = _decoded_id(parts[0])
    if bot_id is None or len(parts[2]) < 20:
        return [
            Finding(
                area,
                FAIL,
                "the token is cut short or damaged (its parts do not decode)",
                "copy the whole token again from " + _PORTAL,
            )
        ]
    return [Finding(area, OK, f"shaped like a bot token for application user {bot_id} (not shown)")]


def refused_token_hint(token: str) -> str:
    """What to do about a token Discord refused: the copy-paste mistake it shows, if any."""
    wrong = next((f for f in check_token(token) if f.level == FAIL), None)
    if wrong is None:
        return "check DISCORD_TOKEN (or VGBOT_TOKEN_FILE); was it reset in " + _PORTAL + "?"
    return f"{wrong.message}: {wrong.fix}"


def _decoded_id(part: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(text) if text.isdigit() else None


# ------------------------------------------------------------------ database


async def check_database(path: Path) -> list[Finding]:
    """Read-only: the doctor may run from a newer version while an older bot uses this file,
    and migrating it under that bot would break it. Pending migrations are a note."""
    from bot.store.db import StoreError, discover_migrations

    area = "database"
    missing = await asyncio.to_thread(_missing_database, path)
    if missing is not None:
        return [missing]
    try:
        verdict, version, counts = await asyncio.to_thread(_read_database, path)
    except StoreError as exc:
        return [Finding(area, FAIL, str(exc))]
    except sqlite3.DatabaseError as exc:
        return [Finding(area, FAIL, f"{path} is damaged: {exc}", "restore a backup: vgbot restore")]
    if verdict != "ok":
        return [
            Finding(
                area,
                FAIL,
                f"{path} failed the integrity check: {verdict}",
                "restore a backup (vgbot restore PATH) or move the file away",
            )
        ]
    steps = discover_migrations()
    known = steps[-1].version if steps else 0
    if version > known:
        return [
            Finding(
                area,
                FAIL,
                f"{path} has schema version {version}, newer than this code knows (up to {known})",
                "upgrade vgbot, or point VGBOT_DB at another database file",
            )
        ]
    holds = f"{counted(counts['episodes'], 'episode')}, {counted(counts['topics'], 'topic')}"
    if version < known:
        pending = sum(m.version > version for m in steps)
        return [
            Finding(
                area,
                NOTE,
                f"{path}: schema version {version}; this version would migrate it to {known} "
                f"({counted(pending, 'step')}); checked as it is, unchanged: {holds}",
                "`vgbot run` (or `vgbot content sync`) from this version applies them: do it "
                "once no older bot uses this database (the new schema may break an older bot)",
            )
        ]
    return [Finding(area, OK, f"{path}: schema version {version}, {holds}")]


def _read_database(path: Path) -> tuple[str, int, dict[str, int]]:
    """(quick_check verdict, schema version, row counts), read without changing anything."""
    from bot.store.db import StoreError, explain, read_quietly

    def facts(conn: sqlite3.Connection) -> tuple[str, int, dict[str, int]]:
        try:
            tables = _tables(conn)  # the first read: a file that is no database fails here
        except sqlite3.Error as exc:
            raise StoreError(explain(path, exc)) from None
        row = conn.execute("PRAGMA quick_check").fetchone()
        verdict = str(row[0]) if row is not None else "no answer"
        version = 0  # no schema_version table: nothing migrated yet (the bot starts from 1)
        if "schema_version" in tables:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            version = int(row[0] or 0)
        counts = {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) if t in tables else 0
            for t in ("episodes", "topics")
        }
        return verdict, version, counts

    try:
        return read_quietly(path, facts)
    except sqlite3.OperationalError as exc:  # cannot open, or locked: not damage
        raise StoreError(explain(path, exc)) from None


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _missing_database(path: Path) -> Finding | None:
    """None when the file is there; else whether the bot will be able to create it."""
    if path.exists():
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        return Finding(
            "database",
            FAIL,
            f"no database at {path}, and {parent} is not writable, so the bot cannot create it",
            f"point VGBOT_DB at a writable place, or make {parent} writable for the bot",
        )
    return Finding("database", NOTE, f"no database at {path} yet: the bot creates it at start")


# ------------------------------------------------------------------ content and prompts


async def check_content(content_dir: Path, prompts_dir: Path) -> list[Finding]:
    from bot.ops.reload import validate

    checked = await asyncio.to_thread(validate, content_dir, prompts_dir)
    if not checked.problems:
        return [
            Finding(
                "content",
                OK,
                f"{content_dir}: {counted(checked.episodes, 'episode')}, "
                f"{counted(checked.topics, 'topic')}; "
                f"{prompts_dir}: {counted(checked.templates, 'template')}",
            )
        ]
    shown = [Finding("content", FAIL, p) for p in checked.problems[:MAX_PROBLEMS_SHOWN]]
    more = len(checked.problems) - len(shown)
    fix = "fix each file at the line shown; `vgbot content check` lists them all"
    shown.append(
        Finding(
            "content",
            FAIL,
            f"{counted(len(checked.problems), 'problem')} in {content_dir} and {prompts_dir}"
            + (f" ({more} not shown)" if more else ""),
            fix,
        )
    )
    return shown


# ------------------------------------------------------------------ feed


async def check_feed(url: str, session: aiohttp.ClientSession | None) -> list[Finding]:
    if not url:
        return [Finding("feed", NOTE, "no feed configured (VGBOT_FEED_URL): no release watching")]
    from bot.feeds.fetch import fetch
    from bot.feeds.parse import parse_feed

    if session is None:
        async with aiohttp.ClientSession() as own:
            result = await fetch(own, url)
    else:
        result = await fetch(session, url)
    if not result.ok or result.body is None:
        return [
            Finding(
                "feed",
                FAIL,
                f"cannot read the feed {url}: {result.error or 'empty answer'}",
                "check VGBOT_FEED_URL and that this machine can reach it",
            )
        ]
    parsed = await asyncio.to_thread(parse_feed, result.body, url=url)
    if not parsed.items:
        first = f": {parsed.problems[0]}" if parsed.problems else ""
        return [
            Finding(
                "feed",
                FAIL,
                f"{url} answered, but no episodes could be read from it{first}",
                "check that VGBOT_FEED_URL is the podcast's RSS feed, not its web page",
            )
        ]
    note = f"; {counted(len(parsed.problems), 'item problem')}" if parsed.problems else ""
    return [
        Finding(
            "feed",
            WARN if parsed.problems else OK,
            f"{url}: {parsed.title or 'untitled'}, {counted(len(parsed.items), 'episode')}{note}",
        )
    ]


# ------------------------------------------------------------------ heartbeat


def check_health(path: Path | None, now: float) -> list[Finding]:
    from bot.health import DEFAULT_MAX_AGE, check_heartbeat

    if path is None:
        return [Finding("health", NOTE, "no heartbeat file configured (VGBOT_HEALTH_FILE)")]
    healthy, why = check_heartbeat(path, now, DEFAULT_MAX_AGE)
    # Not a failure: the doctor is often run while the bot is stopped.
    return [Finding("health", OK if healthy else NOTE, why)]


# ------------------------------------------------------------------ Discord


async def configured_channels(db: Path) -> dict[int, list[str]]:
    """Channel id → what uses it, from every table that names a channel to post in."""
    from bot.store.db import read_quietly

    if not await asyncio.to_thread(db.exists):
        return {}
    queries = (
        ("weekly_prompts", "SELECT channel_id, guild_id FROM weekly_prompts WHERE enabled = 1",
         "the weekly prompt"),
        ("schedules",
         "SELECT channel_id, guild_id, id FROM schedules WHERE cancelled_at IS NULL ORDER BY id",
         "scheduled thread #{2}"),
        ("guild_config",
         "SELECT discussion_channel_id, guild_id FROM guild_config"
         " WHERE discussion_channel_id IS NOT NULL",
         "the discussion channel (/config)"),
        ("guild_config",
         "SELECT announce_channel_id, guild_id FROM guild_config"
         " WHERE announce_channel_id IS NOT NULL",
         "the announcement channel (/config)"),
        ("announce_channels", "SELECT channel_id, guild_id FROM announce_channels",
         "release announcements"),
    )  # fmt: skip

    def read(conn: sqlite3.Connection) -> dict[int, list[str]]:
        # On the schema as it is: each table named here exists from the step that created it
        # with these columns, so an older database answers the same way.
        uses: dict[int, list[str]] = defaultdict(list)
        tables = _tables(conn)
        for table, sql, label in queries:
            if table not in tables:
                continue
            for row in conn.execute(sql):
                use = label.format(*row)
                if use not in uses[int(row[0])]:
                    uses[int(row[0])].append(use)
        return dict(uses)

    try:
        return await asyncio.to_thread(read_quietly, db, read)
    except sqlite3.Error:
        return {}  # the database check says why


class _Unreachable(Exception):
    pass


class _Rest:
    """Just enough of Discord's REST API, with the token in the header and nowhere else."""

    def __init__(self, session: aiohttp.ClientSession, api_base: str, token: str) -> None:
        self.session = session
        self.base = api_base.rstrip("/")
        self._headers = {"Authorization": f"Bot {token}", "User-Agent": USER_AGENT}

    async def get(self, path: str) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(REST_TIMEOUT):
                async with self.session.get(self.base + path, headers=self._headers) as resp:
                    try:
                        data = await resp.json(content_type=None)
                    except ValueError:
                        data = None
                    return resp.status, data
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)) from None


async def check_discord(
    token: str,
    api_base: str,
    channels: Mapping[int, list[str]],
    session: aiohttp.ClientSession | None = None,
) -> list[Finding]:
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await check_discord(token, api_base, channels, own)
    rest = _Rest(session, api_base, token)
    try:
        return await _check_discord(rest, channels)
    except _Unreachable as exc:
        return [
            Finding(
                "discord",
                FAIL,
                f"cannot reach Discord at {api_base} ({exc})",
                "check this machine's network and DNS (outbound HTTPS), or DISCORD_API_BASE",
            )
        ]


async def _check_discord(rest: _Rest, channels: Mapping[int, list[str]]) -> list[Finding]:
    status, me = await rest.get("/users/@me")
    if status == 401:
        return [
            Finding(
                "discord",
                FAIL,
                "Discord refused the token (401 Unauthorized): it is wrong, or it was reset",
                "copy a fresh token from " + _PORTAL + " into DISCORD_TOKEN",
            )
        ]
    if status != 200 or not isinstance(me, dict):
        return [Finding("discord", FAIL, f"Discord answered {status} to a login check")]
    me_id = int(me["id"])
    findings = [Finding("discord", OK, f"logged in as {me.get('username', '?')} ({me_id})")]
    if not channels:
        findings.append(
            Finding(
                "channels",
                NOTE,
                "no channels configured yet: moderators set them with /weekly set, /schedule "
                "thread and /config",
            )
        )
        return findings
    guilds: dict[int, tuple[int | None, dict[int, int], list[int], str] | None] = {}
    for channel_id, uses in sorted(channels.items()):
        findings.append(await _check_channel(rest, channel_id, uses, me_id, guilds))
    return findings


async def _check_channel(
    rest: _Rest,
    channel_id: int,
    uses: list[str],
    me_id: int,
    guilds: dict[int, tuple[int | None, dict[int, int], list[int], str] | None],
) -> Finding:
    area = f"channel {channel_id}"
    used = "used for " + ", ".join(uses)
    status, ch = await rest.get(f"/channels/{channel_id}")
    if status == 404:
        return Finding(
            area,
            FAIL,
            f"no longer exists ({used})",
            "pick another channel with the command that set it (/weekly set, /schedule "
            "thread, /config channel)",
        )
    if status == 403:
        return Finding(
            area,
            FAIL,
            f"the bot cannot see this channel ({used}); it lacks View Channel",
            "in the channel's settings → Permissions, allow View Channel for the bot's role",
        )
    if status != 200 or not isinstance(ch, dict):
        return Finding(area, FAIL, f"Discord answered {status} when asked about it ({used})")
    name = f"#{ch.get('name', channel_id)}"
    kind = int(ch.get("type", -1))
    if not permissions.can_post_in(kind):
        return Finding(
            area,
            FAIL,
            f"{name} is a {permissions.kind_name(kind)} channel; the bot posts only in text and "
            f"forum channels ({used})",
            "pick a text or forum channel instead",
        )
    guild_id = int(ch.get("guild_id") or 0)
    if guild_id not in guilds:
        guilds[guild_id] = await _guild_facts(rest, guild_id, me_id)
    facts = guilds[guild_id]
    if facts is None:
        return Finding(
            area,
            FAIL,
            f"{name}: the bot is not a member of its server (guild {guild_id}) any more",
            "invite the bot again, or pick a channel in a server it is in",
        )
    owner_id, roles, my_roles, guild_name = facts
    bits = permissions.channel_permissions(
        guild_id=guild_id,
        owner_id=owner_id,
        roles=roles,
        member_id=me_id,
        member_roles=my_roles,
        overwrites=ch.get("permission_overwrites") or [],
    )
    lacking = permissions.missing(bits, kind)
    where = f"{name} in {guild_name}"
    if lacking:
        return Finding(
            area,
            FAIL,
            f"{where}: the bot lacks {', '.join(lacking)} ({used})",
            f"in {name}'s settings → Permissions, allow {', '.join(lacking)} for the bot's role",
        )
    return Finding(area, OK, f"{where}: the bot has every permission it needs ({used})")


async def _guild_facts(
    rest: _Rest, guild_id: int, me_id: int
) -> tuple[int | None, dict[int, int], list[int], str] | None:
    status, guild = await rest.get(f"/guilds/{guild_id}")
    if status != 200 or not isinstance(guild, dict):
        return None
    status, member = await rest.get(f"/guilds/{guild_id}/members/{me_id}")
    if status != 200 or not isinstance(member, dict):
        return None
    owner = guild.get("owner_id")
    return (
        int(owner) if owner else None,
        permissions.role_bits(guild.get("roles") or []),
        [int(r) for r in member.get("roles") or []],
        str(guild.get("name") or guild_id),
    )


# ------------------------------------------------------------------ all of it


async def run_doctor(settings: Settings, *, now: float) -> list[Finding]:
    """Every check, in the order a person would fix things."""
    findings = check_token(settings.token)
    findings += await check_database(settings.db)
    findings += await check_content(settings.content_dir, settings.prompts_dir)
    async with aiohttp.ClientSession() as session:
        findings += await check_feed(settings.feed_url, session)
        findings += check_health(settings.health_file, now)
        token_ok = bool(settings.token) and all(
            f.level != FAIL for f in findings if f.area == "token"
        )
        if token_ok:
            channels = await configured_channels(settings.db)
            findings += await check_discord(settings.token, settings.api_base, channels, session)
    return findings

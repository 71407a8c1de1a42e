"""`vgbot doctor`: each check on real files and a real database, Discord through the emulator."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.ops import permissions as P
from bot.ops.doctor import (
    FAIL,
    NOTE,
    OK,
    WARN,
    Finding,
    check_content,
    check_database,
    check_feed,
    check_token,
    configured_channels,
    exit_status,
    render,
    run_doctor,
)
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from bot.store.db import discover_migrations, open_store
from bot.store.guild_config import GuildConfigStore
from bot.store.scheduling import SchedulingStore, WeeklyConfig

REPO = Path(__file__).resolve().parents[2]
FEED = REPO / "tests" / "feeds" / "fixtures" / "show.xml"


def token_for(bot_id: int, tail: str = "x" * 38) -> str:
    head = base64.urlsafe_b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.GhIjKl.{tail}"


# ------------------------------------------------------------------ token


def test_a_well_shaped_token_is_accepted_and_never_shown():
    token = token_for(1234567890123)
    (finding,) = check_token(token)
    assert finding.level == OK
    assert "1234567890123" in finding.message and token not in str(finding)


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("", "no token set"),
        ("Bot " + token_for(1), "starts with 'Bot '"),
        (token_for(1) + "\n", "spaces or line breaks"),
        (" " + token_for(1), "spaces or line breaks"),
        ('"' + token_for(1) + '"', "wrapped in quotes"),
        ("123456789012345678", "an application or user id"),
        ("a" * 32, "a client secret"),
        ("abc.def", "not shaped like a bot token"),
        ("!!!.def.ghi", "not shaped like a bot token"),
        (token_for(1, tail="short"), "cut short or damaged"),
        ("bm90LWEtbnVtYmVy.GhIjKl." + "x" * 38, "cut short or damaged"),
    ],
)
def test_token_mistakes_are_named_with_a_fix_and_the_token_is_not_echoed(token, says):
    (finding,) = check_token(token)
    assert says in finding.message
    assert finding.fix
    assert finding.level == (WARN if not token else FAIL)
    if token.strip():
        assert token.strip().strip('"') not in str(finding)


# Everything check_token can say, whatever the token: a random token that happens to be a
# piece of this (such as "applicat") is no leak.
_PROSE = "\n".join(
    str(check_token(t))
    for t in ("", "Bot x", "x\n", '"x"', "123456789012345678", "a" * 32, "abc.def", token_for(1))
)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=120))
def test_any_token_text_gives_one_finding_without_the_token_in_it(token):
    (finding,) = check_token(token)
    assert finding.level in (OK, WARN, FAIL)
    if len(token.strip()) >= 8 and token.strip() not in _PROSE:
        assert token.strip() not in str(finding)


# ------------------------------------------------------------------ permissions (pure)

GUILD, BOT, ROLE, OTHER = 1, 50, 7, 8
EVERYONE_BASE = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY


def perms(overwrites, roles=None, owner=None, member_roles=(ROLE,)):
    return P.channel_permissions(
        guild_id=GUILD,
        owner_id=owner,
        roles=roles if roles is not None else {GUILD: EVERYONE_BASE, ROLE: P.EMBED_LINKS},
        member_id=BOT,
        member_roles=member_roles,
        overwrites=overwrites,
    )


def ow(target, kind, allow=0, deny=0):
    return {"id": str(target), "type": kind, "allow": str(allow), "deny": str(deny)}


def test_permissions_follow_discords_order_of_overwrites():
    base = perms([])
    assert base == EVERYONE_BASE | P.EMBED_LINKS
    # @everyone deny, then a role allow wins over it, then a member deny wins over that.
    assert not perms([ow(GUILD, 0, deny=P.SEND_MESSAGES)]) & P.SEND_MESSAGES
    assert perms([ow(GUILD, 0, deny=P.SEND_MESSAGES), ow(ROLE, 0, allow=P.SEND_MESSAGES)]) & (
        P.SEND_MESSAGES
    )
    assert not perms([ow(ROLE, 0, allow=P.SEND_MESSAGES), ow(BOT, 1, deny=P.SEND_MESSAGES)]) & (
        P.SEND_MESSAGES
    )
    # Another role's overwrite does not apply; a role allow and deny of one bit: allow wins.
    assert perms([ow(OTHER, 0, deny=P.VIEW_CHANNEL)]) == base
    assert perms([ow(ROLE, 0, allow=P.CREATE_PUBLIC_THREADS)]) & P.CREATE_PUBLIC_THREADS
    # Not seeing the channel means nothing; no sending means no embeds either.
    assert perms([ow(BOT, 1, deny=P.VIEW_CHANNEL)]) == 0
    assert not perms([ow(GUILD, 0, deny=P.SEND_MESSAGES)]) & P.EMBED_LINKS


def test_administrators_and_owners_have_everything():
    roles = {GUILD: 0, ROLE: P.ADMINISTRATOR}
    assert perms([ow(BOT, 1, deny=P.VIEW_CHANNEL)], roles=roles) == P.ALL
    assert perms([ow(BOT, 1, deny=P.VIEW_CHANNEL)], roles={GUILD: 0}, owner=BOT) == P.ALL


def test_missing_names_what_a_text_or_forum_channel_needs():
    have = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.EMBED_LINKS
    assert P.missing(have, 0) == ["Create Public Threads", "Send Messages in Threads"]
    assert P.missing(have, 15) == ["Send Messages in Threads"]
    assert P.missing(P.ALL, 0) == [] and P.can_post_in(5) and not P.can_post_in(2)


@settings(max_examples=150, deadline=None)
@given(
    everyone=st.integers(0, P.ALL),
    role=st.integers(0, P.ALL),
    allow=st.integers(0, P.ALL),
    deny=st.integers(0, P.ALL),
)
def test_a_member_allow_always_grants_and_a_member_deny_always_removes(everyone, role, allow, deny):
    roles = {GUILD: everyone & ~P.ADMINISTRATOR, ROLE: role & ~P.ADMINISTRATOR}
    bits = perms([ow(BOT, 1, allow=allow & ~deny, deny=deny)], roles=roles)
    if bits:  # a visible channel
        assert bits & (allow & ~deny) & ~P.EMBED_LINKS == (allow & ~deny) & ~P.EMBED_LINKS
        assert not bits & deny


# ------------------------------------------------------------------ files


async def test_a_missing_database_is_a_note_and_a_foreign_file_a_failure(tmp_path):
    (note,) = await check_database(tmp_path / "data" / "vgbot.sqlite3")
    assert note.level == NOTE and "creates it" in note.message
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database at all" * 100)
    (failed,) = await check_database(junk)
    assert failed.level == FAIL and "not a usable SQLite database" in failed.message


async def test_a_healthy_database_says_what_it_holds(tmp_path):
    db = tmp_path / "vgbot.sqlite3"
    await (await open_store(db)).close()
    (ok,) = await check_database(db)
    assert ok.level == OK and "schema version" in ok.message


async def test_a_write_left_unfinished_is_named_not_blamed_on_permissions(tmp_path):
    # An older bot on a rollback journal stopped mid-write: its -journal is hot, and a
    # read-only check cannot roll it back. It said 'check the path and its permissions'.
    live, db = tmp_path / "live" / "vgbot.sqlite3", tmp_path / "vgbot.sqlite3"
    await (await open_store(live)).close()
    with contextlib.closing(sqlite3.connect(live, isolation_level=None)) as older_bot:
        older_bot.execute("PRAGMA journal_mode = delete")
        older_bot.execute("PRAGMA cache_size = 1")  # pages reach the file before COMMIT
        older_bot.execute("BEGIN")
        older_bot.executemany(
            "INSERT INTO topics (slug, title) VALUES (?, ?)",
            [(f"t{n}", "x" * 800) for n in range(300)],
        )
        # As the crash left them: the copies have no process holding the write lock.
        for name in ("vgbot.sqlite3", "vgbot.sqlite3-journal"):
            shutil.copyfile(live.with_name(name), db.with_name(name))
    before = db.read_bytes(), db.with_name(db.name + "-journal").read_bytes()
    (failed,) = await check_database(db)
    assert "permissions" not in failed.message
    assert "unfinished write" in failed.message and "vgbot run" in failed.message
    assert (db.read_bytes(), db.with_name(db.name + "-journal").read_bytes()) == before


def _files(db: Path) -> tuple[bytes, bytes]:
    """The database and its -wal (none: no frames), byte for byte; the -shm is only an index."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes(), wal.read_bytes() if wal.exists() else b""


def _version(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])


async def _old_database(db: Path, upto: int) -> None:
    """A database as the version whose last migration was `upto` left it."""
    steps = [m for m in discover_migrations() if m.version <= upto]
    await (await open_store(db, migrations=steps)).close()


@pytest.mark.parametrize("journal", ["wal", "delete"])
async def test_doctor_leaves_an_older_database_as_it_found_it(emu, tmp_path, journal):
    # Before 0050 the announcement channel lived in announce_channels, which 0050 drops: a
    # doctor that migrated this database would break the older bot still running on it.
    db = tmp_path / "vgbot.sqlite3"
    await _old_database(db, upto=40)
    guild = emu.add_guild("Vanishing Gradients")
    news = emu.add_channel(guild, "news")
    older_bot = sqlite3.connect(db, isolation_level=None)
    try:
        older_bot.execute(f"PRAGMA journal_mode = {journal}")
        # Under WAL, the older bot's last write sits in the -wal, not yet in the file.
        older_bot.execute(
            "INSERT INTO announce_channels (guild_id, channel_id, set_at) VALUES (?, ?, 0)",
            (guild.id, news.id),
        )
        before = _files(db)
        assert bool(before[1]) == (journal == "wal")
        settings_ = Settings(
            db=db,
            content_dir=REPO / "content",
            prompts_dir=REPO / "prompts",
            token=emu.token,
            api_base=emu.api_base,
        )
        findings = await run_doctor(settings_, now=0.0)
        assert _files(db) == before
    finally:
        older_bot.close()
    assert _version(db) == 40
    assert exit_status(findings) == 0, render(findings)
    (database,) = [f for f in findings if f.area == "database"]
    known = discover_migrations()[-1].version
    steps = sum(m.version > 40 for m in discover_migrations())
    assert database.level == NOTE
    assert f"schema version 40; this version would migrate it to {known} ({steps} steps)" in (
        database.message
    )
    assert "vgbot run" in database.fix
    # The other checks still ran, on the database as it is.
    assert f"channel {news.id}" in {f.area for f in findings}
    assert "release announcements" in str(findings)


async def test_doctor_leaves_no_files_beside_a_database_nobody_has_open(tmp_path):
    # A -wal and -shm left by the doctor run as root would be root's: the bot's own user
    # (systemd's DynamicUser) could then not write them at its next start.
    db = tmp_path / "vgbot.sqlite3"
    await configure(db, 10, 100, 100)  # closed: no -wal
    before = sorted(p.name for p in tmp_path.iterdir()), db.read_bytes()
    (ok,) = await check_database(db)
    assert ok.level == OK
    assert await configured_channels(db) == {
        100: ["the weekly prompt", "the announcement channel (/config)"]
    }
    assert (sorted(p.name for p in tmp_path.iterdir()), db.read_bytes()) == before


async def test_doctor_still_refuses_a_database_from_newer_code_and_leaves_it(tmp_path):
    db = tmp_path / "vgbot.sqlite3"
    await (await open_store(db)).close()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)")
    before = _files(db)
    (failed,) = await check_database(db)
    assert failed.level == FAIL and "schema version 9999, newer than this code" in failed.message
    assert "upgrade vgbot" in failed.fix
    assert _files(db) == before


async def test_content_problems_are_listed_with_file_and_line(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    episode = content / "episodes" / "011-great-stagnation.md"
    episode.write_text(episode.read_text().replace("released: 2022-09-15", "released: soon"))
    findings = await check_content(content, REPO / "prompts")
    assert [f.level for f in findings] == [FAIL, FAIL]
    assert findings[0].message.startswith("content/episodes/011-great-stagnation.md:4: ")
    assert "vgbot content check" in findings[-1].fix
    (ok,) = await check_content(REPO / "content", REPO / "prompts")
    assert ok.level == OK


async def test_the_feed_is_read_when_configured():
    (note,) = await check_feed("", None)
    assert note.level == NOTE
    (ok,) = await check_feed(str(FEED), None)
    assert ok.level in (OK, WARN) and " episodes" in ok.message
    (bad,) = await check_feed(str(REPO / "nope.xml"), None)
    assert bad.level == FAIL and "VGBOT_FEED_URL" in bad.fix
    (page,) = await check_feed(str(REPO / "README.md"), None)
    assert page.level == FAIL and "RSS feed" in page.fix


def test_the_report_ends_with_a_verdict_and_fails_only_on_failures():
    findings = [Finding("a", OK, "fine"), Finding("b", WARN, "hmm")]
    assert exit_status(findings) == 0
    assert render(findings).endswith("all checks passed; 1 warning")
    findings.append(Finding("c", FAIL, "broken", "mend it"))
    assert exit_status(findings) == 1
    assert "[FAIL] c: broken\n       fix: mend it" in render(findings)


# ------------------------------------------------------------------ Discord, via the emulator


@pytest.fixture
async def emu():
    async with Emulator(heartbeat_interval=5.0) as emu:
        yield emu


async def configure(db: Path, guild_id: int, channel_id: int, announce: int) -> None:
    async with await open_store(db) as store:
        await SchedulingStore(store).put_weekly(
            WeeklyConfig(guild_id, channel_id, rule=_rule()), datetime(2026, 1, 1, tzinfo=UTC)
        )
        await GuildConfigStore(store).set(
            guild_id, "announce_channel", announce, by=1, now=1_760_000_000.0
        )


def _rule():
    from datetime import time

    from bot.core.schedule import WeeklyRule

    return WeeklyRule(4, time(18, 0), "UTC")


async def test_doctor_flags_a_missing_channel_permission_through_the_emulator(
    emu, tmp_path, monkeypatch, capsys
):
    guild = emu.add_guild("Vanishing Gradients")
    general = emu.add_channel(guild, "general")
    news = emu.add_channel(guild, "news")
    gone = emu.add_channel(guild, "old")
    db = tmp_path / "vgbot.sqlite3"
    await configure(db, guild.id, general.id, news.id)
    settings_ = Settings(
        db=db,
        content_dir=REPO / "content",
        prompts_dir=REPO / "prompts",
        token=emu.token,
        api_base=emu.api_base,
    )
    findings = await run_doctor(settings_, now=0.0)
    assert exit_status(findings) == 0, render(findings)
    channel_findings = [f for f in findings if f.area.startswith("channel")]
    assert [f.level for f in channel_findings] == [OK, OK]

    emu.set_bot_permissions(general, deny="CREATE_PUBLIC_THREADS")
    async with await open_store(db) as store:
        await GuildConfigStore(store).set(
            guild.id, "discussion_channel", gone.id, by=1, now=1_760_000_000.0
        )
    emu.delete_channel(gone)
    findings = await run_doctor(settings_, now=0.0)
    assert exit_status(findings) == 1
    by_area = {f.area: f for f in findings}
    lacking = by_area[f"channel {general.id}"]
    assert lacking.level == FAIL
    assert "#general in Vanishing Gradients: the bot lacks Create Public Threads" in lacking.message
    assert "the weekly prompt" in lacking.message and "allow Create Public Threads" in lacking.fix
    assert by_area[f"channel {news.id}"].level == OK
    assert "no longer exists" in by_area[f"channel {gone.id}"].message

    # The command line says the same, exits 1, and never prints the token.
    for name, value in {
        "VGBOT_DB": str(db),
        "VGBOT_CONTENT_DIR": str(REPO / "content"),
        "VGBOT_PROMPTS_DIR": str(REPO / "prompts"),
        "DISCORD_TOKEN": emu.token,
        "DISCORD_API_BASE": emu.api_base,
    }.items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(main, ["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "the bot lacks Create Public Threads" in out
    assert emu.token not in out + err


async def test_doctor_reports_a_refused_token_and_an_unreachable_discord(emu, tmp_path):
    base = Settings(db=tmp_path / "x.sqlite3", content_dir=REPO / "content")
    wrong = dataclasses.replace(base, token=token_for(42), api_base=emu.api_base)
    findings = await run_doctor(wrong, now=0.0)
    (refused,) = [f for f in findings if f.area == "discord"]
    assert refused.level == FAIL and "401" in refused.message
    nowhere = dataclasses.replace(wrong, api_base="http://127.0.0.1:9/api/v10")
    (unreachable,) = [f for f in await run_doctor(nowhere, now=0.0) if f.area == "discord"]
    assert unreachable.level == FAIL and "cannot reach Discord" in unreachable.message


async def test_configured_channels_name_their_uses(tmp_path):
    db = tmp_path / "vgbot.sqlite3"
    assert await configured_channels(db) == {}
    await configure(db, 10, 100, 100)
    assert await configured_channels(db) == {
        100: ["the weekly prompt", "the announcement channel (/config)"]
    }

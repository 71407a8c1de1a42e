"""/about, /config and /reload end to end: the real bot against the emulator, content edited on
disk as a `git pull` would."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.chat.admin_cog import AdminCog
from bot.chat.client import RESTARTING
from bot.logs import setup_logging
from bot.sandbox.emulator import EmulatorError, User

from .conftest import REPO, BotFactory, BotRun, World

EPISODE = "episodes/011-great-stagnation.md"
TITLE = "Data Science: The Great Stagnation"
MANAGE_GUILD = 1 << 5


@pytest.fixture
def ada(world: World) -> User:
    """An admin: Manage Server, nothing else."""
    role = world.emu.add_role(world.guild, "Admin", "MANAGE_GUILD")
    return world.emu.add_member(world.guild, "ada", roles=[role])


async def ask(
    run: BotRun, user: User, name: str, options: dict[str, Any] | None = None, sub: str = ""
) -> str:
    handle = await run.emu.invoke(
        name, options or {}, user=user, channel=run.world.general, subcommand=sub or None
    )
    reply = await handle.response(timeout=15)
    assert handle.ephemeral, f"/{name} {sub} answered in public"
    return str(reply["content"])


async def episode_11_title(run: BotRun) -> str:
    w = run.world
    handle = await run.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    return str((await handle.response(timeout=15))["embeds"][0]["title"])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def admin(run: BotRun) -> AdminCog:
    cog = run.bot.get_cog("Admin")
    assert isinstance(cog, AdminCog)
    return cog


# ------------------------------------------------------------------ /about


async def test_about_tells_anyone_what_is_running(running: BotRun):
    text = await ask(running, running.world.alice, "about")
    first, *rest = text.splitlines()
    assert first.startswith("**VG Bot** 0.1.0 · up ")
    assert rest[0] == "**Catalogue**: 1 episode, 12 topics"
    assert "(at start): loaded 1 episode, 12 topics" in rest[1]
    assert rest[2] == "**Feed**: no feed configured"


async def test_debug_logs_a_member_can_share_hold_no_interaction_token(
    running: BotRun, capsys: pytest.CaptureFixture[str]
):
    # At DEBUG discord.py logs every gateway event whole, an interaction's token with it (and
    # the callback URLs that hold it): for 15 minutes, anyone reading a log shared in a bug
    # report could answer or post as the bot.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("DEBUG", token=running.settings.token)
    try:
        handle = await running.emu.invoke(
            "about", {}, user=running.world.alice, channel=running.world.general
        )
        await handle.response(timeout=15)
    finally:
        root.handlers[:], root.level = handlers, level
    logged = capsys.readouterr().err
    assert f"'id': '{handle.id}'" in logged  # the interaction was logged, without its token
    assert handle.record.token not in logged


# ------------------------------------------------------------------ /config


async def test_config_is_for_admins_only(running: BotRun, ada: User):
    w = running.world
    (config,) = [c for c in running.emu.commands() if c["name"] == "config"]
    assert int(config["default_member_permissions"]) == MANAGE_GUILD
    with pytest.raises(EmulatorError, match="may not use /config"):
        await running.emu.invoke("config", {}, user=w.mod, channel=w.general, subcommand="show")
    text = await ask(running, ada, "config", sub="show")
    assert text.splitlines()[1:6] == [
        "**Discussion channel**: not set",
        "**Announcement channel**: not set",
        "**Announcement role**: none: announcements mention nobody",
        "**Time zone**: UTC (default)",
        "**Grace window**: 6h (default)",
    ]


async def test_config_validates_each_setting_and_shows_the_current_value(
    bots: BotFactory, ada: User
):
    run = await bots.start()
    w, emu = run.world, run.emu

    text = await ask(run, ada, "config", {"zone": "europe/london"}, "timezone")
    assert text.startswith("**Time zone** is now Europe/London (was UTC (default)).")
    text = await ask(run, ada, "config", {"zone": "Mars/Base"}, "timezone")
    assert text.startswith("That didn't work: unknown time zone 'Mars/Base'")
    assert text.endswith("Nothing was changed.")

    text = await ask(run, ada, "config", {"window": "90m"}, "grace")
    assert text.startswith("**Grace window** is now 1h 30m (was 6h (default)).")
    text = await ask(run, ada, "config", {"window": "6"}, "grace")
    assert "give a unit with the number: 6h, 6m or 6d" in text

    text = await ask(
        run, ada, "config", {"which": "announcements", "channel": w.general.id}, "channel"
    )
    assert text.startswith(f"**Announcement channel** is now <#{w.general.id}> (was not set).")
    emu.set_bot_permissions(w.forum, deny="SEND_MESSAGES_IN_THREADS")
    text = await ask(run, ada, "config", {"which": "discussion", "channel": w.forum.id}, "channel")
    assert "I lack Send Messages in Threads there" in text and "Nothing was changed." in text

    quiet = emu.add_role(w.guild, "new-episodes")
    text = await ask(run, ada, "config", {"role": quiet.id}, "role")
    assert text.startswith(f"**Announcement role** is now <@&{quiet.id}>")
    assert "is not mentionable" in text
    text = await ask(run, ada, "config", {"role": w.guild.id}, "role")
    assert text.startswith("@everyone can't be the announcement role")

    text = await ask(run, ada, "config", {"setting": "timezone"}, "reset")
    assert text.startswith("**Time zone** is now UTC (default) (was Europe/London).")
    # The replies name channels and roles, and ping nobody.
    answers = [r.json["data"] for r in emu.requests if r.path.endswith("/callback")]
    assert answers and all(a["allowed_mentions"] == {"parse": []} for a in answers), answers

    # Kept across a restart.
    run = await bots.restart(run)
    text = await ask(run, ada, "config", sub="show")
    assert f"**Announcement channel**: <#{w.general.id}>" in text
    assert "**Grace window**: 1h 30m" in text and "**Time zone**: UTC (default)" in text


# ------------------------------------------------------------------ /reload and the watcher


async def test_reload_refuses_a_broken_file_and_the_old_catalogue_keeps_serving(
    bots: BotFactory, ada: User
):
    content = bots.copy_content()
    run = await bots.start(content_dir=content)
    assert TITLE in await episode_11_title(run)
    with pytest.raises(EmulatorError, match="may not use /reload"):
        await run.emu.invoke("reload", {}, user=run.world.alice, channel=run.world.general)

    edit(content / EPISODE, "released: 2022-09-15", "released: 2022-13-45")
    edit(content / EPISODE, TITLE, "Retitled While Broken")
    text = await ask(run, ada, "reload")
    assert text.startswith("❌ Reload refused: 1 problem. Nothing changed")
    assert f"content/{EPISODE}:4: field 'released': '2022-13-45' is not a real date" in text
    assert TITLE in await episode_11_title(run)
    about = await ask(run, run.world.alice, "about")
    assert "(/reload by ada): refused: 1 problem" in about
    assert f"\ncontent/{EPISODE}:4: field 'released': '2022-13-45' is not a real date" in about

    edit(content / EPISODE, "released: 2022-13-45", "released: 2022-09-15")
    text = await ask(run, ada, "reload")
    assert text == (
        "✅ Reloaded content and templates: 1 episode, 12 topics, "
        f"{admin(run).reloader.last.templates} templates (1 changed)."  # type: ignore[union-attr]
    )
    assert "Retitled While Broken" in await episode_11_title(run)


async def test_reload_names_the_schedules_a_removed_topic_leaves_behind(
    bots: BotFactory, ada: User
):
    content = bots.copy_content()
    run = await bots.start(content_dir=content)
    mod = run.world.mod
    handle = await run.emu.invoke(
        "schedule",
        {"topic": "game-development-lessons", "when": "friday 18:00", "repeat": "weekly"},
        user=mod,
        channel=run.world.general,
        subcommand="thread",
    )
    assert "Scheduled `#1`" in (await handle.response(timeout=10))["content"]

    topics = yaml.safe_load((content / "topics.yaml").read_text(encoding="utf-8"))
    topics["topics"] = [t for t in topics["topics"] if t["slug"] != "game-development-lessons"]
    for t in topics["topics"]:
        t["related"] = [r for r in t.get("related", []) if r != "game-development-lessons"]
    (content / "topics.yaml").write_text(yaml.safe_dump(topics), encoding="utf-8")
    edit(content / EPISODE, "  - game-development-lessons\n", "")
    text = await ask(run, ada, "reload")
    assert text.startswith("✅ Reloaded"), text
    assert "schedule `#1` is about `game-development-lessons`, which is no longer a topic" in text
    # Asked again, with nothing left to apply (as after the watcher applied it): still said.
    again = await ask(run, ada, "reload")
    assert "schedule `#1` is about `game-development-lessons`" in again


async def test_config_show_says_which_zone_plain_times_are_read_in(bots: BotFactory, ada: User):
    run = await bots.start()
    options = {"channel": run.world.general.id, "weekday": "friday", "time": "18:00"}
    handle = await run.emu.invoke(
        "weekly",
        {**options, "tz": "America/New_York"},
        user=run.world.mod,
        channel=run.world.general,
        subcommand="set",
    )
    assert "Weekly prompt set" in (await handle.response(timeout=10))["content"]
    shown = await ask(run, ada, "config", sub="show")
    assert "**Time zone**: UTC (default)" in shown
    assert "plain times in `/schedule` are read in America/New_York, the weekly prompt's" in shown
    await ask(run, ada, "config", {"zone": "Europe/Paris"}, "timezone")
    assert "weekly prompt's zone" not in await ask(run, ada, "config", sub="show")


@pytest.fixture
def prompts_copy(tmp_path: Path) -> Path:
    """A writable copy of the real prompts/."""
    target = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", target)
    return target


async def test_the_scheduler_and_the_watcher_start_from_the_reloaders_templates(
    running: BotRun,
):
    """Each of them compiled prompts/ again at every start (~0.1 s apiece, three times per
    start); one load is shared, as every applied reload's already is."""
    scheduler, watcher = running.bot.get_cog("Moderation"), running.bot.get_cog("Feeds")
    assert scheduler is not None and watcher is not None
    assert scheduler.service.prompts is admin(running).reloader.prompts  # type: ignore[attr-defined]
    assert watcher.service.prompts is admin(running).reloader.prompts  # type: ignore[attr-defined]


async def test_changed_content_and_templates_are_picked_up_without_a_restart(
    bots: BotFactory, prompts_copy: Path
):
    content, prompts = bots.copy_content(), prompts_copy
    run = await bots.start(content_dir=content, prompts_dir=prompts)
    w = run.world
    applied = asyncio.Event()
    admin(run).reloader.listen(lambda _: applied.set())

    # A weekly prompt to preview, set as a moderator would.
    handle = await run.emu.invoke(
        "weekly",
        {"channel": w.general.id, "weekday": "friday", "time": "18:00", "tz": "UTC"},
        user=w.mod,
        channel=w.general,
        subcommand="set",
    )
    assert "Weekly prompt set" in str((await handle.response(timeout=15))["content"])

    edit(content / EPISODE, TITLE, "Stagnation, the Sequel")
    for template in (prompts / "weekly").glob("*.j2"):
        with template.open("a", encoding="utf-8") as f:
            f.write("\nFreshly reloaded.\n")
    await asyncio.wait_for(applied.wait(), 15)  # the watcher, on its own

    assert "Stagnation, the Sequel" in await episode_11_title(run)
    handle = await run.emu.invoke("weekly", {}, user=w.mod, channel=w.general, subcommand="preview")
    preview = await handle.response(timeout=15)
    assert "Freshly reloaded." in preview["embeds"][0]["description"]


async def test_a_refused_template_reload_leaves_every_user_on_the_old_templates(
    bots: BotFactory, prompts_copy: Path, ada: User
):
    """The scheduler, the release watcher and /weekly preview share the reloader's templates
    (3af7cbf): a refused reload must leave all of them on the previous ones, and the next
    applied one must reach all of them."""
    run = await bots.start(prompts_dir=prompts_copy)
    w = run.world
    options = {"channel": w.general.id, "weekday": "friday", "time": "18:00", "tz": "UTC"}
    assert "Weekly prompt set" in await ask(run, w.mod, "weekly", options, sub="set")
    started = admin(run).reloader.prompts
    templates = sorted((prompts_copy / "weekly").glob("*.j2"))
    for template in templates:
        with template.open("a", encoding="utf-8") as f:
            f.write("\nBroken edition.{% if %}\n")

    assert (await ask(run, ada, "reload")).startswith("❌ Reload refused")
    scheduler, watcher = run.bot.get_cog("Moderation"), run.bot.get_cog("Feeds")
    assert admin(run).reloader.prompts is started
    assert scheduler.service.prompts is started  # type: ignore[union-attr]
    assert watcher.service.prompts is started  # type: ignore[union-attr]
    handle = await run.emu.invoke("weekly", {}, user=w.mod, channel=w.general, subcommand="preview")
    assert "Broken edition." not in (await handle.response(timeout=15))["embeds"][0]["description"]

    for template in templates:
        text = template.read_text(encoding="utf-8")
        template.write_text(text.replace("{% if %}", ""), encoding="utf-8")
    assert (await ask(run, ada, "reload")).startswith("✅ Reloaded")
    new = admin(run).reloader.prompts
    assert new is not started
    assert scheduler.service.prompts is new and watcher.service.prompts is new  # type: ignore[union-attr]
    handle = await run.emu.invoke("weekly", {}, user=w.mod, channel=w.general, subcommand="preview")
    assert "Broken edition." in (await handle.response(timeout=15))["embeds"][0]["description"]


# ------------------------------------------------------------------ shutting down


async def test_while_shutting_down_commands_are_told_the_bot_is_restarting(running: BotRun):
    running.bot.accepting = False
    w = running.world
    handle = await running.emu.invoke("episode", {"query": "11"}, user=w.alice, channel=w.general)
    reply = await handle.response(timeout=15)
    assert reply["content"] == RESTARTING and handle.ephemeral
    choices = await running.emu.autocomplete(
        "episode", {"query": "gr"}, focused="query", user=w.alice, channel=w.general
    )
    assert choices == []


async def test_a_command_at_work_when_the_bot_shuts_down_still_gets_its_answer(
    bots: BotFactory, ada: User, caplog: pytest.LogCaptureFixture
):
    # SIGTERM (a deploy) while /reload is applying a change: the admin is answered before the
    # bot closes its connections, not left with "thinking…" that never ends.
    caplog.set_level(logging.INFO, logger="bot")
    content = bots.copy_content()
    run = await bots.start(content_dir=content)
    edit(content / EPISODE, TITLE, "Retitled Before The Deploy")
    other = sqlite3.connect(run.settings.db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer (`vgbot backup`, a sync) holds the database
    try:
        handle = await run.emu.invoke("reload", {}, user=ada, channel=run.world.general)
        await handle.acknowledged(timeout=15)  # "thinking…": /reload is at work
        run.bot.accepting = False  # what the runner does on the first SIGTERM
        closing = asyncio.create_task(run.bot.close())
        deadline = time.monotonic() + 15
        while not (closing.done() or "in flight" in caplog.text):
            assert time.monotonic() < deadline, "the bot neither closed nor waited"
            await asyncio.sleep(0.01)
    finally:
        other.execute("ROLLBACK")
        other.close()
    reply = await handle.response(timeout=15)
    assert str(reply["content"]).startswith("✅ Reloaded"), reply
    assert handle.ephemeral
    await asyncio.wait_for(closing, 15)

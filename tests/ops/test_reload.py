"""Reloading content/ and prompts/ while serving: real folders, a real database."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from bot.core.render import Prompts
from bot.ops.reload import Reloader, fingerprint, validate
from bot.services.catalogue import CatalogueService
from bot.store.db import Store, open_store
from bot.store.sync import sync_content

REPO = Path(__file__).resolve().parents[2]
EPISODE = "episodes/011-great-stagnation.md"
OLD_TITLE = "Data Science: The Great Stagnation"


class Clock:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    # A distinct modification time, as an editor or `git pull` a moment later would give.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    content, prompts = tmp_path / "content", tmp_path / "prompts"
    shutil.copytree(REPO / "content", content)
    shutil.copytree(REPO / "prompts", prompts)
    return content, prompts


@pytest.fixture
async def store(tmp_path: Path, folders: tuple[Path, Path]):
    store = await open_store(tmp_path / "bot.sqlite3")
    report = await sync_content(store, folders[0])
    assert not report.problems
    try:
        yield store
    finally:
        await store.close()


def reloader_for(store: Store, folders: tuple[Path, Path]) -> tuple[Reloader, list[Prompts]]:
    reloader = Reloader(store, *folders, clock=Clock())
    handed: list[Prompts] = []
    reloader.listen(handed.append)
    return reloader, handed


async def title_of_episode_11(store: Store) -> str:
    reply = await CatalogueService(store).answer_episode("11")
    assert reply.found, reply
    return reply.title


def test_the_shipped_folders_validate_cleanly():
    checked = validate(REPO / "content", REPO / "prompts")
    assert checked.problems == ()
    assert checked.episodes >= 1 and checked.topics >= 1 and checked.templates >= 3
    assert checked.prompts is not None


async def test_a_broken_file_is_refused_with_file_and_line_and_the_old_catalogue_serves(
    store, folders
):
    content, _ = folders
    reloader, handed = reloader_for(store, folders)
    before = await title_of_episode_11(store)
    assert OLD_TITLE in before
    old_prompts = reloader.prompts

    # A date that does not exist, on line 4.
    edit(content / EPISODE, "released: 2022-09-15", "released: 2022-13-45")
    result = await reloader.poll()
    assert result is not None and not result.applied
    assert any(p.startswith(f"content/{EPISODE}:4: ") for p in result.problems), result.problems
    assert "refused" in result.summary() and "previous version keeps serving" in result.summary()
    assert await title_of_episode_11(store) == before
    assert reloader.prompts is old_prompts and handed == []
    assert reloader.last is result and reloader.last_applied is None

    # The same broken version is not tried again on every look...
    assert await reloader.poll() is None
    # ...but the fix is picked up, with the change it brings.
    edit(content / EPISODE, "released: 2022-13-45", "released: 2022-09-15")
    edit(content / EPISODE, OLD_TITLE, "The Great Stagnation, Revisited")
    result = await reloader.poll()
    assert result is not None and result.applied, result
    assert result.problems == () and result.changes == "1 changed"
    assert "Revisited" in await title_of_episode_11(store)
    assert handed == [reloader.prompts] and reloader.prompts is not old_prompts


async def test_a_broken_template_is_refused_and_the_old_templates_keep_serving(store, folders):
    _, prompts = folders
    reloader, handed = reloader_for(store, folders)
    old_prompts = reloader.prompts
    template = sorted((prompts / "weekly").glob("*.j2"))[0]
    lines = template.read_text(encoding="utf-8").splitlines()
    template.write_text("\n".join([*lines, "{% if topic %}unclosed"]) + "\n", encoding="utf-8")
    result = await reloader.reload("/reload by ada")
    assert not result.applied
    where = f"prompts/weekly/{template.name}:"
    assert any(p.startswith(where) for p in result.problems), result.problems
    assert reloader.prompts is old_prompts and handed == []
    assert result.trigger == "/reload by ada"


async def test_a_template_that_fails_only_when_rendered_is_refused_too(store, folders):
    _, prompts = folders
    reloader, _ = reloader_for(store, folders)
    template = sorted((prompts / "thread").glob("*.j2"))[0]
    with template.open("a", encoding="utf-8") as f:
        f.write("{{ episode.no_such_field.upper() }}\n")
    result = await reloader.reload("change")
    assert not result.applied
    assert any(f"prompts/thread/{template.name}:" in p for p in result.problems), result.problems


async def test_an_unchanged_tree_is_not_reloaded_and_a_forced_reload_reports_no_change(
    store, folders
):
    reloader, handed = reloader_for(store, folders)
    assert await reloader.poll() is None
    result = await reloader.reload("/reload by ada")
    assert result.applied and result.changes == "no catalogue change"
    assert len(handed) == 1


async def test_the_watcher_picks_up_a_change_by_itself(store, folders):
    content, _ = folders
    reloader, _ = reloader_for(store, folders)
    applied = asyncio.Event()
    reloader.listen(lambda _: applied.set())
    watcher = asyncio.create_task(reloader.watch(interval=0.02))
    try:
        edit(content / EPISODE, OLD_TITLE, "Stagnation, the Sequel")
        await asyncio.wait_for(applied.wait(), 10)
    finally:
        watcher.cancel()
    assert reloader.last is not None and reloader.last.trigger == "change"
    assert "Sequel" in await title_of_episode_11(store)


def test_the_fingerprint_sees_edits_additions_and_removals_but_not_hidden_files(folders):
    content, prompts = folders
    first = fingerprint([content, prompts])
    (content / "episodes" / ".011.md.swp").write_text("editor droppings")
    (content / "episodes" / "011-great-stagnation.md~").write_text("an emacs backup")
    (prompts / "weekly" / "#question.j2#").write_text("an emacs auto-save")
    (prompts / ".git").mkdir()
    assert fingerprint([content, prompts]) == first
    extra = content / "episodes" / "012-new.md"
    extra.write_text("---\n")
    second = fingerprint([content, prompts])
    assert second != first
    extra.unlink()
    assert fingerprint([content, prompts]) == first
    shutil.rmtree(prompts)
    assert fingerprint([content, prompts]) != first


def test_the_fingerprint_sees_nested_folders_and_many_files_but_not_linked_folders(tmp_path):
    content = tmp_path / "content"
    deep = content / "episodes" / "2024" / "spring"
    deep.mkdir(parents=True)
    for i in range(600):  # past the GIL release point, more than once
        (content / "episodes" / f"{i:03}.md").write_text("x")
    first = fingerprint([content])
    (deep / "a.md").write_text("---\n")
    nested = fingerprint([content])
    assert nested != first
    outside = tmp_path / "outside"
    outside.mkdir()
    (content / "linked").symlink_to(outside, target_is_directory=True)
    (outside / "b.md").write_text("---\n")
    assert fingerprint([content]) == nested  # as os.walk: a linked folder is not entered
    (content / "episodes" / "599.md").write_text("xy")  # resized, deep in the listing
    assert fingerprint([content]) != nested


async def test_a_missing_folder_is_refused_not_applied(store, folders):
    content, _ = folders
    reloader, _ = reloader_for(store, folders)
    before = await title_of_episode_11(store)
    shutil.rmtree(content)
    result = await reloader.poll()
    assert result is not None and not result.applied
    assert any("content folder not found" in p for p in result.problems)
    assert await title_of_episode_11(store) == before


async def test_an_edit_made_while_the_bot_starts_is_picked_up_by_the_first_look(tmp_path, folders):
    # The bot's own wiring: open_app syncs at start, the admin cog builds the Reloader later.
    # An edit in between (a sync of thousands of files takes seconds) must not go unseen.
    from bot.app import open_app
    from bot.chat.admin_cog import admin_cog_from_settings
    from bot.settings import Settings

    content, prompts = folders
    settings = Settings(db=tmp_path / "start.sqlite3", content_dir=content, prompts_dir=prompts)
    async with open_app(settings) as app:
        edit(content / EPISODE, OLD_TITLE, "Stagnation, Edited During Start-up")
        _, reloader = admin_cog_from_settings(settings, app, Clock())
        result = await reloader.poll()
        assert result is not None and result.applied and result.changes == "1 changed", result
        assert "Edited During Start-up" in await title_of_episode_11(app.store)

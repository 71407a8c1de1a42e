"""The composition root: open the database, sync content, build the services. Used by the CLI,
the bot runner and the tests alike, so they can never be wired differently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.settings import Settings
from bot.store.db import Store, open_store
from bot.store.meta import Meta

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    store: Store
    meta: Meta
    catalogue: Any  # bot.services.catalogue.CatalogueService
    sync_report: Any  # bot.store.catalog.SyncReport
    # The content and prompts folders as they were just before that sync: the content watcher
    # starts from it, so an edit made while the sync ran is picked up by its first look.
    fingerprint: str = ""


@asynccontextmanager
async def open_app(settings: Settings) -> AsyncIterator[App]:
    from bot.ops.reload import fingerprint
    from bot.services.catalogue import CatalogueService
    from bot.store.sync import sync_content

    store = await open_store(settings.db)
    try:
        seen = await asyncio.to_thread(fingerprint, (settings.content_dir, settings.prompts_dir))
        report = await sync_content(store, settings.content_dir)
        for problem in report.problems:
            log.warning("content: %s", problem)
        catalogue = CatalogueService(store)
        yield App(settings, store, Meta(store), catalogue, report, seen)
    finally:
        await store.close()

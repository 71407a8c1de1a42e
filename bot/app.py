"""The composition root: open the database, sync content, build the services. Used by the CLI,
the bot runner and the tests alike, so they can never be wired differently."""

from __future__ import annotations

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


@asynccontextmanager
async def open_app(settings: Settings) -> AsyncIterator[App]:
    from bot.services.catalogue import CatalogueService
    from bot.store.sync import sync_content

    store = await open_store(settings.db)
    try:
        report = await sync_content(store, settings.content_dir)
        for problem in report.problems:
            log.warning("content: %s", problem)
        catalogue = CatalogueService(store)
        yield App(settings, store, Meta(store), catalogue, report)
    finally:
        await store.close()

"""Show notes converted beside worker processes give the very feed one thread gives."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from bot.feeds.parse import NOTES_CHUNK, parse_feed
from tests.feeds.feedgen import Show, episode, feed_xml

URL = "https://latent.example/feed.xml"


def varied_feed(count: int) -> bytes:
    """Items whose notes differ in kind (sections, no heading, plain text, none), so a chunk
    put back in the wrong place or converted twice shows."""
    items = []
    for n in range(1, count + 1):
        item = episode(n)
        if n % 4 == 1:
            item = item.but(notes=f"Plain notes for {n}, nothing marked up.")
        elif n % 4 == 2:
            item = item.but(notes=f"<p>Only a paragraph about <em>topic {n}</em>.</p>")
        elif n % 7 == 0:
            item = item.but(notes="")
        items.append(item)
    return feed_xml(Show(items=tuple(items)))


class Counting(ThreadPoolExecutor):
    """A thread pool that counts the chunks it was given."""

    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_a_process_pool_gives_the_same_items_in_the_same_order():
    raw = varied_feed(3 * NOTES_CHUNK + 7)
    alone = parse_feed(raw, url=URL)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        pooled = parse_feed(raw, url=URL, executor=pool, parallel_min=1)
    assert len(alone.items) == 3 * NOTES_CHUNK + 7
    assert pooled == alone
    sections = [i.episode.sections for i in pooled.items]
    assert sections[0] == () and sections[2][0].heading == "What we covered"


def test_a_pool_is_used_from_parallel_min_items_only():
    raw = varied_feed(2 * NOTES_CHUNK)
    with Counting() as pool:
        assert parse_feed(raw, url=URL, executor=pool, parallel_min=2 * NOTES_CHUNK + 1)
        assert pool.submitted == 0
        parse_feed(raw, url=URL, executor=pool, parallel_min=2 * NOTES_CHUNK)
        assert pool.submitted == 2


def test_a_pool_that_takes_no_work_costs_time_not_the_result():
    raw = varied_feed(2 * NOTES_CHUNK + 1)
    closed: Executor = ThreadPoolExecutor(1)
    closed.shutdown()
    assert parse_feed(raw, url=URL, executor=closed, parallel_min=1) == parse_feed(raw, url=URL)


def test_a_pool_whose_worker_died_costs_time_not_the_result():
    raw = varied_feed(2 * NOTES_CHUNK + 1)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(os._exit, 1).exception() is not None  # the pool is broken now
        assert parse_feed(raw, url=URL, executor=pool, parallel_min=1) == parse_feed(raw, url=URL)

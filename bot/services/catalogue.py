"""Use cases over the catalogue: /episode, /topic, search and their autocomplete.

Each read of SQLite has a fixed cost (a quick read on the loop, or a hop to the reader thread,
which costs about as much as a small query), so the /topic path makes one:
the search reads the catalogue version along with the hits, and the in-memory name index is
checked against it afterwards (another process may have synced; then the index is reloaded
and the answer built again). Autocomplete reads no database at all, except to re-check the
version every few seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from bot.core import answers, query
from bot.core.answers import Hit
from bot.core.models import Link, Reply
from bot.store import catalog, search
from bot.store.db import Store
from bot.store.directory import Directory, EpisodeEntry, load_directory
from bot.store.feeds import discussion_thread
from bot.store.sync import SyncReport, sync_content

log = logging.getLogger(__name__)

HITS = 8  # hits fetched per search: the excerpts shown, plus room for matching topics
CHOICES_MAX_AGE = 5.0  # seconds autocomplete trusts the name index without re-reading


class CatalogueService:
    """Answers questions about the show's catalogue from the store. Never invents: every
    reply is built from stored notes, topics and transcripts, or says nothing matched."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._directory: Directory | None = None
        self._checked = float("-inf")  # clock() when the version was last read
        self._loading = asyncio.Lock()

    async def directory(self, version: int | None = None) -> Directory:
        """The name index, reloaded when the catalogue has changed since it was built.
        `version`: the catalogue version just seen, if the caller has read it anyway."""
        if version is None:
            version = await catalog.catalog_version(self._store)
        self._checked = self._clock()
        if self._directory is None or self._directory.version != version:
            async with self._loading:
                if self._directory is None or self._directory.version != version:
                    self._directory = await load_directory(self._store)
        return self._directory

    async def _cached_directory(self, max_age: float = 0.0) -> Directory:
        """The index as loaded, re-checked only when older than `max_age` seconds."""
        if self._directory is None or self._clock() - self._checked > max_age:
            return await self.directory()
        return self._directory

    async def _fresh(
        self, build: Callable[[Directory], Awaitable[tuple[Reply, int | None]]]
    ) -> Reply:
        """Build a reply with the index as it is; if the catalogue version the reply was built
        from differs, reload the index and build it again."""
        d = await self._cached_directory(float("inf"))
        reply, seen = await build(d)
        if seen is not None and seen != d.version:
            reply, _ = await build(await self.directory(seen))
        return reply

    async def sync(self, root: Path) -> SyncReport:
        return await sync_content(self._store, root)

    # ---------------------------------------------------------------- /episode

    async def answer_episode(self, text: str, guild_id: int | None = None) -> Reply:
        """By number ('11', '#11', 'ep 11'), slug, title, title words or guest name. Asked in
        a server (`guild_id`), it links the episode's discussion thread there, if it has one."""
        return await self._guarded(functools.partial(self._answer_episode, guild=guild_id), text)

    async def _answer_episode(self, text: str, guild: int | None = None) -> Reply:
        if not query.words(text):
            return answers.empty_query_reply("/episode 11")
        d = await self.directory()
        number = query.episode_number(text)
        entry = d.episode_named(text)
        if entry is not None:
            reply = await self._episode(entry, d, guild=guild)
            if number is not None and len(shared := d.episodes_numbered(number)) > 1:
                others = [
                    e.title
                    if e.season is None
                    else answers.episode_title(e.number, e.title, e.season)
                    for e in shared
                    if e is not entry
                ]
                more = f" and {len(others) - 5} more" if len(others) > 5 else ""
                titles = "; ".join(others[:5]) + more
                reply = _with_footer(reply, f"Also numbered {number}: {titles}")
            return reply
        if number is not None:
            latest = d.latest(3)
            # The newest numbered one: a feed's newest may be an unnumbered bonus or trailer,
            # and a feed may number none of them.
            numbers = (e.number for e in d.latest(len(d.episodes)) if e.number is not None)
            newest = next(numbers, None)
            known = f" The latest is episode {newest}." if newest is not None else ""
            return answers.not_found_reply(
                f"episode {number}",
                [e.choice()[0] for e in latest],
                message=f"There is no episode {number} in the catalogue.{known}",
            )
        found = d.find_episodes(text)
        if found:
            return await self._episode(found[0], d, also=found[1:4], guild=guild)
        # Stemmed words of titles and guests ("stagnating" finds "Stagnation").
        expression = query.match_expression(query.parse_query(text))
        by_index = await search.search(
            self._store,
            expression,
            limit=4,
            quoted=0,
            include_topics=False,
            columns=("title", "people"),
        )
        entries = [e for e in (self._entry_of(h, d) for h in by_index.hits) if e is not None]
        if entries:
            return await self._episode(entries[0], d, also=entries[1:4], guild=guild)
        # Named as autocomplete names them, guests included: a suggestion found by a guest's
        # name must say so, and /episode opens the name as typed back.
        suggestions = [e.choice()[0] for e in d.suggest_episodes(text)]
        return answers.not_found_reply(
            text.strip(),
            suggestions,
            message=f"No episode matches “{answers.echo(text)}”.",
        )

    async def _episode(
        self,
        entry: EpisodeEntry,
        d: Directory,
        also: list[EpisodeEntry] | None = None,
        guild: int | None = None,
    ) -> Reply:
        episode = await catalog.get_episode(self._store, episode_id=entry.id)
        if episode is None:  # removed by a sync since the index was read
            return answers.not_found_reply(entry.title)
        reply = answers.episode_reply(episode, d.topic_titles())
        if guild is not None:
            thread = await discussion_thread(self._store, guild, entry.id)
            if thread is not None:
                link = Link("Discussion", f"https://discord.com/channels/{guild}/{thread}")
                reply = replace(reply, links=(*reply.links, link))
        if also:
            others = "; ".join(e.ref().label() for e in also)
            reply = _with_footer(reply, f"Also matching: {others}")
        return reply

    @staticmethod
    def _entry_of(hit: Hit, d: Directory) -> EpisodeEntry | None:
        # By id, not number: numbers repeat when a feed's seasons count from 1 again.
        return None if hit.episode_id is None else d.episode_by_id(hit.episode_id)

    # ---------------------------------------------------------------- /topic and search

    async def answer_topic(self, text: str) -> Reply:
        """A known topic (slug, title or alias): its episodes first, then other mentions.
        Anything else: a free-text search across all episodes."""
        return await self._guarded(self._answer_topic, text)

    async def _answer_topic(self, text: str) -> Reply:
        if not query.words(text):
            return answers.empty_query_reply("/topic defensible moats")
        return await self._fresh(lambda d: self._topic(text, d))

    async def _topic(self, text: str, d: Directory) -> tuple[Reply, int | None]:
        topic = d.topic(text)
        if topic is None:
            return await self._search(text, d)
        expression = query.any_phrase((topic.title, *topic.aliases))
        results = await search.search(
            self._store,
            expression,
            own=d.topic_episode_ids(topic.slug),
            limit=HITS,
            include_topics=False,
        )
        related = [t for t in (d.topic_by_slug(s) for s in topic.related) if t is not None]
        reply = answers.topic_reply(
            topic,
            d.topic_episode_refs(topic.slug),
            results.hits,
            related,
            mentioned=results.others,
        )
        return reply, results.version

    async def search(self, text: str) -> Reply:
        """Free text across show notes, topics and transcripts."""
        return await self._guarded(self._free_search, text)

    async def _free_search(self, text: str) -> Reply:
        if not query.words(text):
            return answers.empty_query_reply("/topic open source")
        return await self._fresh(lambda d: self._search(text, d))

    async def _search(self, text: str, d: Directory) -> tuple[Reply, int | None]:
        parsed = query.parse_query(text)
        if parsed.empty:
            return answers.empty_query_reply("/topic open source"), None
        # All words first; then any of them; then the last word as a beginning ("pytor").
        attempts = [query.match_expression(parsed)]
        if len(parsed.phrases) > 1:
            attempts.append(query.match_expression(parsed, any_term=True))
        attempts.append(query.match_expression(parsed, prefix_last=True))
        results = await search.search_first(self._store, attempts, limit=HITS)
        hits = results.hits
        topics = [t for t in (d.topic_by_slug(h.topic_slug) for h in hits if h.topic_slug) if t]
        episode_hits = [h for h in hits if h.episode is not None]
        if not episode_hits and not topics:
            names = [t.title for t in d.suggest_topics(text)]
            return answers.not_found_reply(parsed.text(), names), results.version
        some_words = len(parsed.phrases) > 1 and results.attempt == 1  # the any-word attempt
        reply = answers.search_reply(
            parsed.text(), episode_hits, topics, matched=results.episodes, some_words=some_words
        )
        return reply, results.version

    # ---------------------------------------------------------------- autocomplete

    async def episode_choices(self, prefix: str) -> list[tuple[str, str]]:
        """(display name, value) pairs, at most 25, names and values ≤ 100 characters."""
        try:
            d = await self._cached_directory(CHOICES_MAX_AGE)
            return d.episode_choices(prefix[: query.MAX_QUERY_CHARS])
        except sqlite3.Error:
            log.exception("episode autocomplete failed")
            return []

    async def topic_choices(self, prefix: str) -> list[tuple[str, str]]:
        try:
            d = await self._cached_directory(CHOICES_MAX_AGE)
            return d.topic_choices(prefix[: query.MAX_QUERY_CHARS])
        except sqlite3.Error:
            log.exception("topic autocomplete failed")
            return []

    # ---------------------------------------------------------------- errors

    @staticmethod
    async def _guarded(answer: Callable[[str], Awaitable[Reply]], text: str) -> Reply:
        """A database failure (locked, disk) becomes a polite reply, logged with its cause."""
        try:
            return await answer(text[: query.MAX_QUERY_CHARS])
        except sqlite3.Error:
            log.exception("catalogue query failed for %r", text[:100])
            return Reply(
                kind="error",
                title="The catalogue is unavailable",
                text="Looking that up failed on our side; please try again in a minute.",
            )


def _with_footer(reply: Reply, footer: str) -> Reply:
    return replace(reply, footer=footer)

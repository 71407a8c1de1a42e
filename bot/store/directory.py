"""An in-memory index of episode and topic names: lookups by number, slug, title, guest, and
autocomplete fast enough for Discord (well under a millisecond at 10,000 episodes).

Built from the catalogue by `load_directory(store)` and replaced whenever the catalogue's
version changes (see CatalogueService). The index itself is pure: no I/O after loading.
"""

from __future__ import annotations

import bisect
import heapq
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.core.answers import EpisodeRef
from bot.core.models import Topic
from bot.core.query import STOP_WORDS, episode_number, fold, season_episode
from bot.core.text import name_key, slugify, truncate
from bot.store import catalog
from bot.store.db import Store

CHOICE_CHARS = 100  # Discord: a choice name or value is at most 100 characters
MAX_CHOICES = 25
_TITLE_KEPT = 40  # characters of a title an autocomplete name keeps before it drops guests
_FUZZY_CUTOFF = 75  # WRatio: below this, "suggestions" for short words are noise
# Autocomplete adds close spellings only when exact and prefix matching found fewer choices
# than this, so ordinary typing keeps its speed and its answers.
_FEW = 3
_TYPO_WORDS = 3  # words of one query looked up by spelling; more is not a typo but a miss
_CLOSE_WORDS = 5  # close spellings tried per word, fewest edits first
# "Did you mean" compares whole names (WRatio) only for the entries sharing most word
# beginnings with the text, found by at most this many of its words.
_FUZZY_ENTRIES = 100
_FUZZY_WORDS = 6
# An autocomplete value naming one episode by its catalogue id, for when its number (a feed
# whose seasons count from 1 again) or slug is shared and would open another episode.
_BY_ID = re.compile(r"id:(\d{1,12})")
# The bot's own names for an episode, which members paste back: 'Episode 11: Title',
# 'Ep. 11: Title', '#11 · Title — Guest', 'S2 E3 · Title' (an autocomplete name cut with '…').
_LABEL = re.compile(r"([^:·]{1,40}?)\s*[:·]\s*(.+)", re.S)


@dataclass(frozen=True)
class EpisodeEntry:
    id: int
    number: int | None
    slug: str
    title: str
    guests: tuple[str, ...]
    topics: tuple[str, ...]  # slugs of existing topics only
    url: str | None = None
    origin: str = "content"
    season: int | None = None

    def ref(self) -> EpisodeRef:
        return EpisodeRef(self.number, self.title, self.url)

    def choice(self) -> tuple[str, str]:
        """(display name, value) for autocomplete; see Directory.choice for the value."""
        head = "" if self.number is None else f"#{self.number} · "
        if self.number is not None and self.season is not None:
            head = f"S{self.season} E{self.number} · "
        tail = f" — {', '.join(self.guests)}" if self.guests else ""
        name = head + self.title + tail
        if len(name) > CHOICE_CHARS:
            # The guests tell an episode apart best: cut the title at a word to keep them,
            # unless that leaves too little of the title to know it by.
            room = CHOICE_CHARS - len(head) - len(tail)
            if room >= _TITLE_KEPT:
                name = head + truncate(self.title, room) + tail
            else:
                name = truncate(name, CHOICE_CHARS)
        value = str(self.number) if self.number is not None else self.slug[:CHOICE_CHARS]
        return name, value


class _Spelling:
    """Typo lookups over the words of names: `tokens` sorted, `entries[k]` the entry (a
    position in the caller's list) that `tokens[k]` is a word of."""

    def __init__(self, tokens: list[str], entries: list[int]) -> None:
        self._tokens, self._entries = tokens, entries
        # The distinct words by length: a word is compared only with words of a length
        # within its allowed edits (a quarter of the comparisons at 10,000 episodes).
        self._by_length: dict[int, list[str]] = {}
        for w in dict.fromkeys(tokens):
            self._by_length.setdefault(len(w), []).append(w)
        self._near: dict[int, list[str]] = {}  # word length → the words it is compared with

    def matches(self, words: Sequence[str], limit: int) -> list[int]:
        """Entries having, for every word, the word as a beginning or a word spelt within a
        few edits of it (transpositions count one); fewest edits first, then by position.
        Only worth it when the words as typed found little: each word spelt anew costs
        ~0.5 ms over 10,000 episodes' names, so at most _TYPO_WORDS words are."""
        words = list(dict.fromkeys(words))  # a word typed twice asks nothing more
        found = {w: _prefix_range(self._tokens, w) for w in words}
        # Words found nowhere as typed first: they must be respelt; the others may be.
        ordered = sorted(words, key=lambda w: found[w][0] < found[w][1])
        options: list[tuple[str, list[tuple[str, int]]]] = []  # (word, [(close word, edits)])
        for k, w in enumerate(ordered):
            close = self._close_words(w) if k < _TYPO_WORDS else []
            if found[w][0] == found[w][1] and not close:
                return []  # a word like no word of any name: no entry has it
            options.append((w, close))
        if not any(close for _, close in options):
            return []  # spelt as typed only: what prefix matching already found
        # Per entry, the fewest edits that give it every word.
        edits: dict[int, int] | None = None
        for w, close in options:
            cost: dict[int, int] = {}
            for word, n in reversed(close):  # fewest edits last, so they win
                lo, hi = _prefix_range(self._tokens, word)
                hi = bisect.bisect_right(self._tokens, word, lo, hi)  # the whole word
                cost.update(dict.fromkeys(self._entries[lo:hi], n))
            lo, hi = found[w]
            cost.update(dict.fromkeys(self._entries[lo:hi], 0))  # as typed
            edits = (
                cost if edits is None else {i: e + cost[i] for i, e in edits.items() if i in cost}
            )
            if not edits:
                return []
        assert edits is not None
        return heapq.nsmallest(limit, edits, key=lambda i: (edits[i], i))

    def _close_words(self, word: str) -> list[tuple[str, int]]:
        """Words of names within a few edits of `word`, fewest first: one edit for 4 to 7
        letters, two from 8, none under 4 (one edit from 'mot' is half the dictionary), and
        none for a word with a digit ('2023' is not a typo of '2024')."""
        allowed = 0 if len(word) < 4 else 1 if len(word) < 8 else 2
        if any(c.isdigit() for c in word):
            allowed = 0
        if not allowed:
            return []
        near = self._near.get(len(word))
        if near is None:  # built once per length and directory: ~0.2 ms at 10,000 episodes
            lengths = range(len(word) - allowed, len(word) + allowed + 1)
            near = self._near[len(word)] = [w for n in lengths for w in self._by_length.get(n, ())]
        found = process.extract(
            word, near, scorer=OSA.distance, score_cutoff=allowed, limit=_CLOSE_WORDS + 1
        )
        return [(w, int(n)) for w, n, _ in found if w != word][:_CLOSE_WORDS]


def _prefix_range(sorted_list: Sequence[str], prefix: str) -> tuple[int, int]:
    lo = bisect.bisect_left(sorted_list, prefix)
    hi = bisect.bisect_left(sorted_list, prefix + "\U0010ffff", lo)
    return lo, hi


def _newest_first(e: EpisodeEntry) -> tuple[bool, int, int, int]:
    return (e.number is None, -(e.number or 0), -(e.season or 0), -e.id)


class Directory:
    """Names of everything in the catalogue, indexed for exact, prefix and fuzzy lookups."""

    def __init__(
        self, episodes: Iterable[EpisodeEntry], topics: Iterable[Topic], version: int = 0
    ) -> None:
        self.version = version
        self.topics = sorted(topics, key=lambda t: (fold(t.title), t.slug))
        self._topic_by_slug = {t.slug: t for t in self.topics}
        self._topic_names: dict[str, str] = {}
        self._topic_folded: list[tuple[Topic, list[tuple[str, str, list[str]]]]] = []
        for t in self.topics:
            for name in (t.slug, name_key(t.title), fold(t.title), *map(fold, t.aliases)):
                if name:  # a title of emoji or punctuation only has no key: it matches nothing
                    self._topic_names.setdefault(name, t.slug)
            names = [(n, fold(n)) for n in (t.title, *t.aliases, t.slug.replace("-", " "))]
            self._topic_folded.append((t, [(n, f, f.split()) for n, f in names]))
        self._fuzzy_topics: dict[str, tuple[str, str]] = {}  # folded title or alias → slug, name
        for t in self.topics:
            for name in (t.title, *t.aliases):
                self._fuzzy_topics.setdefault(fold(name), (t.slug, name))
        self._fuzzy_topic_names = list(self._fuzzy_topics)
        # A text much longer than every name is no misspelling of one (and WRatio's cost
        # grows with the text's length).
        self._fuzzy_topic_chars = max(map(len, self._fuzzy_topic_names), default=0) + 10
        # Each name of each topic (title first) as an entry, for typos word by word as for
        # episodes: ~20 µs, where WRatio over every name took ~0.5 ms at 120 topics.
        self._topic_name_of: list[tuple[Topic, str]] = []
        topic_pairs: list[tuple[str, int]] = []
        for t, named in self._topic_folded:
            for name, _, fwords in named:
                topic_pairs += [(w, len(self._topic_name_of)) for w in dict.fromkeys(fwords)]
                self._topic_name_of.append((t, name))
        topic_pairs.sort()
        self._topic_spelling = _Spelling([w for w, _ in topic_pairs], [i for _, i in topic_pairs])
        # Content episodes come first so they win every lookup against a feed duplicate.
        self.episodes = sorted(episodes, key=lambda e: (e.origin != "content", *_newest_first(e)))
        self._numbered: dict[int, list[EpisodeEntry]] = {}
        self._by_season: dict[tuple[int, int], EpisodeEntry] = {}
        self._by_id = {e.id: e for e in self.episodes}
        self._by_slug: dict[str, EpisodeEntry] = {}
        self._by_title: dict[str, EpisodeEntry] = {}
        self._by_topic: dict[str, list[EpisodeEntry]] = {}
        folded = {e.id: fold(e.title) for e in self.episodes}
        for e in self.episodes:
            if e.number is not None:
                self._numbered.setdefault(e.number, []).append(e)
                if e.season is not None:
                    self._by_season.setdefault((e.season, e.number), e)
            self._by_slug.setdefault(e.slug, e)
            self._by_title.setdefault(folded[e.id], e)
            for slug in e.topics:
                self._by_topic.setdefault(slug, []).append(e)
        for entries in self._by_topic.values():
            entries.sort(key=_newest_first)
        # What /topic needs of a topic's episodes, built once per catalogue version: a topic
        # can have hundreds of episodes and building these per answer cost ~0.1 ms.
        self._topic_refs = {s: tuple(e.ref() for e in es) for s, es in self._by_topic.items()}
        self._topic_ids = {s: tuple(e.id for e in es) for s, es in self._by_topic.items()}
        self._newest = sorted(self.episodes, key=_newest_first)
        self._position = {e.id: i for i, e in enumerate(self._newest)}
        self._words: list[tuple[str, ...]] = []  # per entry of _newest: folded words
        self._title_folded: list[str] = []
        pairs: list[tuple[str, int]] = []
        for i, e in enumerate(self._newest):
            words = tuple(dict.fromkeys((folded[e.id] + " " + fold(" ".join(e.guests))).split()))
            self._words.append(words)
            self._title_folded.append(folded[e.id])
            pairs += [(w, i) for w in words]
        pairs.sort()
        self._tokens = [w for w, _ in pairs]
        self._token_entry = [i for _, i in pairs]
        self._episode_spelling = _Spelling(self._tokens, self._token_entry)
        numbered = sorted((str(e.number), i) for i, e in enumerate(self._newest) if e.number)
        self._numbers = [n for n, _ in numbered]
        self._number_entry = [i for _, i in numbered]
        self._fuzzy_names = [e.title for e in self._newest] + [
            g for e in self._newest for g in e.guests
        ]
        # Compared folded, as members type: 'saroufin' is as close to Saroufim as 'Saroufin'.
        self._fuzzy_folded = [fold(name) for name in self._fuzzy_names]
        # Per entry, the positions of its names in _fuzzy_names: title, then guests.
        self._names_of: list[list[int]] = [[i] for i in range(len(self._newest))]
        self._entry_of_name = list(range(len(self._newest)))
        for i, e in enumerate(self._newest):
            self._names_of[i] += range(
                len(self._entry_of_name), len(self._entry_of_name) + len(e.guests)
            )
            self._entry_of_name += [i] * len(e.guests)
        self._fuzzy_chars = max(map(len, self._fuzzy_folded), default=0) + 10

    # ---------------------------------------------------------------- topics

    def topic(self, text: str) -> Topic | None:
        """The topic whose slug, title or alias is `text` (case and accents ignored)."""
        slug = self._topic_names.get(fold(text)) or self._topic_names.get(name_key(text))
        return self._topic_by_slug.get(slug) if slug else None

    def topic_by_slug(self, slug: str) -> Topic | None:
        return self._topic_by_slug.get(slug)

    def topic_episodes(self, slug: str) -> list[EpisodeEntry]:
        """Episodes tagged with the topic, newest first."""
        return list(self._by_topic.get(slug, ()))

    def topic_episode_refs(self, slug: str) -> tuple[EpisodeRef, ...]:
        """`topic_episodes(slug)` as references, newest first."""
        return self._topic_refs.get(slug, ())

    def topic_episode_ids(self, slug: str) -> tuple[int, ...]:
        """Ids of `topic_episodes(slug)`, newest first."""
        return self._topic_ids.get(slug, ())

    def topic_titles(self) -> dict[str, str]:
        return {t.slug: t.title for t in self.topics}

    def topic_choices(self, prefix: str, limit: int = MAX_CHOICES) -> list[tuple[str, str]]:
        """Topics whose title, alias or slug starts with (then contains) `prefix`."""
        want = fold(prefix)
        ranked: list[tuple[int, str, tuple[str, str]]] = []
        for t, names in self._topic_folded:
            best: tuple[int, str] | None = None
            for name, f, fwords in names:
                if f.startswith(want):
                    rank = 0
                elif any(w.startswith(want) for w in fwords):
                    rank = 1
                elif want in f:
                    rank = 2
                else:
                    continue
                if best is None or rank < best[0]:
                    best = (rank, name)
            if best is None:
                continue
            # The alias only when the title does not show what was typed: "moat" finds
            # "Defensible moats" by its alias "moats" too, and "(moats)" would say it twice.
            folded_title = names[0][1]
            plain = best[1] in (t.title, t.slug.replace("-", " ")) or (
                f" {want}" in f" {folded_title}"  # a word of the title starts with it
            )
            name = t.title if plain else f"{t.title} ({best[1]})"
            ranked.append((best[0], fold(t.title), (name[:CHOICE_CHARS], t.slug[:CHOICE_CHARS])))
        ranked.sort(key=lambda r: (r[0], r[1]))
        choices = [r[2] for r in ranked[:limit]]
        if len(choices) < min(_FEW, limit):
            # Offered, never answered: a choice's value is the slug the member picks.
            shown = {slug for _, slug in choices}
            for t, name in self._respelt_topics(prefix, limit):
                if t.slug not in shown and len(choices) < limit:
                    # The alias only when the title does not say it, as above.
                    plain = name == t.slug.replace("-", " ") or (
                        f" {fold(name)} " in f" {fold(t.title)} "
                    )
                    label = t.title if plain else f"{t.title} ({name})"
                    choices.append((label[:CHOICE_CHARS], t.slug[:CHOICE_CHARS]))
                    shown.add(t.slug)
        return choices

    def suggest_topics(self, text: str, limit: int = 5) -> list[Topic]:
        """Topics with names close to `text` (typos), best first: those autocomplete offers
        for it, else the closest whole names."""
        found = self._respelt_topics(text, limit) or self._close_topics(text, limit)
        return [t for t, _ in found]

    def _respelt_topics(self, text: str, limit: int) -> list[tuple[Topic, str]]:
        """Topics with a name having every word of `text` as typed or respelt (see
        _Spelling), with that name; fewest edits first."""
        out: dict[str, tuple[Topic, str]] = {}
        # A topic has a few names: ask for enough of them to give `limit` topics.
        for i in self._topic_spelling.matches(fold(text).split(), limit * 4):
            t, name = self._topic_name_of[i]
            out.setdefault(t.slug, (t, name))
        return list(out.values())[:limit]

    def _close_topics(self, text: str, limit: int) -> list[tuple[Topic, str]]:
        """Topics with a title or alias close to `text` as a whole (WRatio: it forgives
        extra words and several typos, at ~0.5 ms for 120 topics), with that name."""
        want = fold(text)
        if len(want.replace(" ", "")) < 4 or len(want) > self._fuzzy_topic_chars:
            return []  # a few letters are close to too much to mean anything
        found = process.extract(
            want,
            self._fuzzy_topic_names,
            scorer=fuzz.WRatio,
            limit=limit * 3,
            score_cutoff=_FUZZY_CUTOFF,
        )
        out: dict[str, str] = {}
        for folded, _, _ in found:
            slug, name = self._fuzzy_topics[folded]
            out.setdefault(slug, name)
        return [(self._topic_by_slug[s], name) for s, name in list(out.items())[:limit]]

    # ---------------------------------------------------------------- episodes

    def episode_by_number(self, number: int) -> EpisodeEntry | None:
        """The first of `episodes_numbered(number)`: content/'s, else the latest season's."""
        found = self._numbered.get(number)
        return found[0] if found else None

    def episodes_numbered(self, number: int) -> list[EpisodeEntry]:
        """Every episode with that number, the one `episode_by_number` gives first."""
        return list(self._numbered.get(number, ()))

    def episode_by_id(self, episode_id: int) -> EpisodeEntry | None:
        return self._by_id.get(episode_id)

    def episode_named(self, text: str) -> EpisodeEntry | None:
        """The episode `text` names exactly: an autocomplete value, a number ('11', 'ep 11'),
        a season's ('s2e3'), a slug or a whole title."""
        by_id = _BY_ID.fullmatch(text.strip())
        if by_id:
            return self._by_id.get(int(by_id.group(1)))
        if (numbers := season_episode(text)) is not None:
            return self._by_season.get(numbers)
        number = episode_number(text)
        if number is not None:
            return self.episode_by_number(number)
        return (
            self.episode_by_slug(slugify(text))
            or self.episode_by_title(text)
            or self._labelled(text)
        )

    def _labelled(self, text: str) -> EpisodeEntry | None:
        """The episode a label of ours names: its number and its title must agree."""
        m = _LABEL.fullmatch(text.strip())
        if m is None:
            return None
        head, rest = m.groups()
        if (numbers := season_episode(head)) is not None:
            by_season = self._by_season.get(numbers)
            candidates = [by_season] if by_season else []
        elif (number := episode_number(head)) is not None:
            candidates = self._numbered.get(number, [])
        else:
            return None
        said = fold(rest)
        # An autocomplete name cut short: 'Title cut… — Guest' or 'Title — Gue…'.
        before, cut, after = rest.partition("…")
        begins, ends = fold(before), fold(after)
        for e in candidates:
            title = fold(e.title)
            full = fold(" ".join((e.title, *e.guests)))  # an autocomplete name ends in guests
            if said in (title, full):
                return e
            if cut and begins and full.startswith(begins) and full.endswith(ends):
                return e
        return None

    def choice(self, entry: EpisodeEntry) -> tuple[str, str]:
        """(display name, value) for autocomplete. The value is the number, or the season's
        number ('s2e3') when seasons share it, or the slug, whichever opens this very episode;
        else its id."""
        name, value = entry.choice()
        values = [value]
        if entry.number is not None and entry.season is not None:
            by_season = f"s{entry.season}e{entry.number}"
            shared = len(self._numbered[entry.number]) > 1
            values = [by_season, value, entry.slug] if shared else [value, by_season, entry.slug]
        for value in values:
            if len(value) <= CHOICE_CHARS and self.episode_named(value) is entry:
                return name, value
        return name, f"id:{entry.id}"

    def episode_by_slug(self, slug: str) -> EpisodeEntry | None:
        return self._by_slug.get(slug)

    def episode_by_title(self, title: str) -> EpisodeEntry | None:
        return self._by_title.get(fold(title))

    def latest(self, limit: int = 1) -> list[EpisodeEntry]:
        return self._newest[:limit]

    def find_episodes(self, text: str, limit: int = 10) -> list[EpisodeEntry]:
        """Episodes whose title or guest names contain every word of `text` (whole words
        first, then as word beginnings), best first: more title words, then newest."""
        words = fold(text).split()
        words = [w for w in words if w not in STOP_WORDS] or words
        if not words:
            return []
        exact = self._matching(words, whole=True)
        found = exact or self._matching(words, whole=False)
        title = fold(text)

        def rank(i: int) -> tuple[bool, int, int]:
            in_title = sum(w in self._title_folded[i].split() for w in words)
            return (not self._title_folded[i].startswith(title), -in_title, i)

        return [self._newest[i] for i in sorted(found, key=rank)[:limit]]

    def episode_choices(self, prefix: str, limit: int = MAX_CHOICES) -> list[tuple[str, str]]:
        """Autocomplete for /episode: by number, then by words of the title or guest names
        (the last word may be unfinished); newest first; nothing typed → the latest."""
        if not prefix.strip():
            return [self.choice(e) for e in self._newest[:limit]]
        out: list[int] = []
        number = episode_number(prefix)
        if number is not None:
            lo, hi = self._prefix_range(self._numbers, str(number))
            by_number = sorted(self._number_entry[lo:hi], key=lambda i: self._newest[i].number or 0)
            out += by_number[:limit]
        words = fold(prefix).split()
        if words and len(out) < limit:
            title = fold(prefix)
            found = self._matching(words, whole=False, enough=limit * 2)
            seen = set(out)
            rest = sorted(
                (i for i in found if i not in seen),
                key=lambda i: (not self._title_folded[i].startswith(title), i),
            )
            out += rest[: limit - len(out)]
            if number is None and len(out) < min(_FEW, limit):
                # Offered as choices after the others, never answered: /episode with the
                # misspelt text itself still finds nothing and says "did you mean".
                seen = set(out)
                close = self._episode_spelling.matches(words, limit)
                out += [i for i in close if i not in seen][: limit - len(out)]
        return [self.choice(self._newest[i]) for i in out]

    def suggest_episodes(self, text: str, limit: int = 5) -> list[EpisodeEntry]:
        """Episodes with a title or guest name close to `text` (typos), best first: those
        autocomplete offers for it, else the closest whole names."""
        close = self._episode_spelling.matches(fold(text).split(), limit)
        if close:
            return [self._newest[i] for i in close]
        want = fold(text)
        if len(want) > self._fuzzy_chars:
            return []  # much longer than every name: no misspelling of one (as for topics)
        # WRatio over every name cost 20-130 ms at 10,000 episodes, on the event loop: only
        # the names of the entries sharing most word beginnings with the text are compared.
        names = [n for i in self._sharing(want.split()) for n in self._names_of[i]]
        found = process.extract(
            want,
            [self._fuzzy_folded[n] for n in names],
            scorer=fuzz.WRatio,
            limit=limit * 3,
            score_cutoff=_FUZZY_CUTOFF,
        )
        picked = dict.fromkeys(self._entry_of_name[names[k]] for _, _, k in found)
        return [self._newest[i] for i in list(picked)[:limit]]

    def _sharing(self, words: Sequence[str]) -> list[int]:
        """Entries (positions in newest-first order) with a word beginning as some word of
        `words` does (its first 3 letters), those sharing most first, then newest; at most
        _FUZZY_ENTRIES."""
        words = [w for w in dict.fromkeys(words) if w not in STOP_WORDS] or list(words)
        # The longest words tell most apart; a sentence's others add little but time.
        words = sorted(words, key=len, reverse=True)[:_FUZZY_WORDS]
        shared: Counter[int] = Counter()
        for w in words:
            lo, hi = self._prefix_range(self._tokens, w[:3])
            shared.update(set(self._token_entry[lo:hi]))
        return heapq.nsmallest(_FUZZY_ENTRIES, shared, key=lambda i: (-shared[i], i))

    # ---------------------------------------------------------------- token index

    _prefix_range = staticmethod(_prefix_range)

    def _matching(self, words: Sequence[str], *, whole: bool, enough: int = 0) -> list[int]:
        """Entries (positions in newest-first order) having every word as a word (whole) or
        word beginning, newest first; only the first `enough` when that is > 0. Set
        operations in C keep this under a millisecond even for one-letter beginnings."""
        ranges = []
        for w in words:
            lo, hi = self._prefix_range(self._tokens, w)
            if whole:
                hi = bisect.bisect_right(self._tokens, w, lo, hi)
            if lo == hi:
                return []
            ranges.append((hi - lo, lo, hi))
        ranges.sort()
        _, lo, hi = ranges[0]
        found = set(self._token_entry[lo:hi])
        for _, lo, hi in ranges[1:]:
            found.intersection_update(self._token_entry[lo:hi])
            if not found:
                return []
        return heapq.nsmallest(enough, found) if enough else sorted(found)


async def load_directory(store: Store) -> Directory:
    """Read names from the catalogue (a few milliseconds per thousand episodes)."""
    version = await catalog.catalog_version(store)
    topics = await catalog.list_topics(store)
    known = {t.slug for t in topics}
    rows = await store.fetchall(
        "SELECT id, number, slug, title, people, topics, links, origin, season FROM episodes"
    )
    entries = []
    for r in rows:
        people = json.loads(r["people"])
        links = dict(json.loads(r["links"]))
        entries.append(
            EpisodeEntry(
                id=r["id"],
                number=r["number"],
                slug=r["slug"],
                title=r["title"],
                guests=tuple(name for name, role, _ in people if role != "host"),
                topics=tuple(s for s in json.loads(r["topics"]) if s in known),
                url=links.get("episode"),
                origin=r["origin"],
                season=r["season"],
            )
        )
    return Directory(entries, topics, version)

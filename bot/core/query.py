"""User text → a safe SQLite FTS5 MATCH expression. Pure.

Nothing the user types reaches FTS5's query syntax: we split the text into words ourselves and
quote every term ("term", internal quotes doubled), so quotes, `-`, `*`, `:`, `^`, parentheses,
NEAR/AND/OR/NOT and control characters are plain text and a syntax error cannot happen.
Balanced double quotes group words into a phrase; an unbalanced quote is ignored. Common English
words are dropped unless nothing else is left (they match everything and only cost time).
The tokenizer of the index (porter, unicode61, remove_diacritics 2) then stems and folds each
quoted term, so `"Running"` finds "run" and `"café"` finds "cafe".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

MAX_QUERY_CHARS = 500  # longer input is cut: no real question needs more
MAX_TERMS = 16  # words (phrase words included) kept per query
MAX_TERM_CHARS = 64  # longer "words" are cut: they cannot be real words anyway
MIN_PREFIX_CHARS = 3  # a shorter prefix matches half the index and says nothing

# Letters and digits (any script): the same words unicode61 sees, minus its underscore rule.
_WORD = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r'"([^"]*)"')

STOP_WORDS = frozenset(
    "a an and are as at be but by do for from had has have i if in into is it its me my no "
    "not of on or our so than that the their them then there these they this to was we were "
    "what when where which who will with would you your".split()
)


@dataclass(frozen=True)
class Query:
    """The usable part of what the user typed: phrases of words (a single word is a phrase)."""

    phrases: tuple[tuple[str, ...], ...]
    truncated: bool = False  # input was cut (too long or too many words)

    @property
    def empty(self) -> bool:
        return not self.phrases

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w for p in self.phrases for w in p)

    def text(self) -> str:
        """A readable form for messages ("Not covered yet: …")."""
        return " ".join(f'"{" ".join(p)}"' if len(p) > 1 else p[0] for p in self.phrases)


def words(text: str) -> list[str]:
    """Letter/digit runs of `text`, each cut to MAX_TERM_CHARS."""
    return [w[:MAX_TERM_CHARS] for w in _WORD.findall(text)]


def parse_query(text: str) -> Query:
    """Split any text into phrases and words; never fails. Control characters, emoji and
    punctuation separate words and vanish."""
    truncated = len(text) > MAX_QUERY_CHARS
    text = unicodedata.normalize("NFC", text[:MAX_QUERY_CHARS])
    if text.count('"') % 2:  # an unbalanced quote means nothing: drop the last one
        cut = text.rindex('"')
        text = text[:cut] + " " + text[cut + 1 :]
    phrases: list[tuple[str, ...]] = []
    pos = 0
    for m in _QUOTED.finditer(text):
        phrases += [(w,) for w in words(text[pos : m.start()])]
        inside = tuple(words(m.group(1)))
        if inside:
            phrases.append(inside)
        pos = m.end()
    phrases += [(w,) for w in words(text[pos:])]

    # Stop words only go when they are loose words and something else remains.
    kept = [p for p in phrases if len(p) > 1 or p[0].lower() not in STOP_WORDS]
    phrases = kept or phrases
    out: list[tuple[str, ...]] = []
    budget = MAX_TERMS
    for p in dict.fromkeys(phrases):  # a repeated word adds nothing but cost
        if budget <= 0:
            truncated = True
            break
        if len(p) > budget:
            truncated = True
        out.append(p[:budget])
        budget -= len(p[:budget])
    return Query(tuple(out), truncated)


def quote(term: str) -> str:
    """One FTS5 string: the whole term in double quotes, inner quotes doubled."""
    return '"' + term.replace('"', '""') + '"'


def match_expression(query: Query, *, any_term: bool = False, prefix_last: bool = False) -> str:
    """The FTS5 MATCH text for `query`: all terms must match (or any, with `any_term`).

    `prefix_last` turns the last single word into a prefix search ("pytor" finds "pytorch"),
    when it is at least MIN_PREFIX_CHARS long. Returns "" for an empty query: callers must
    not run a search then (FTS5 rejects an empty MATCH).
    """
    parts = [quote(" ".join(p)) for p in query.phrases]
    last = query.phrases[-1] if query.phrases else ()
    if parts and prefix_last and len(last) == 1 and len(last[0]) >= MIN_PREFIX_CHARS:
        parts[-1] += "*"
    return (" OR " if any_term else " ").join(parts)


def any_phrase(texts: Iterable[str]) -> str:
    """An FTS5 expression matching any of `texts`, each as an exact phrase (topic title and
    aliases). "" when none has a word."""
    phrases = dict.fromkeys(" ".join(words(t)[:MAX_TERMS]) for t in texts)
    return " OR ".join(quote(p) for p in phrases if p)


_EPISODE_NUMBER = re.compile(r"(?:#|(?:ep|episode)\.?)?\s*#?\s*(\d{1,6})", re.I)


_SEASON_EPISODE = re.compile(
    r"(?:s|season)\s*\.?\s*(\d{1,4})\s*[,:/-]?\s*(?:e|ep|episode)\s*\.?\s*#?\s*(\d{1,6})"
    r"|(\d{1,4})x(\d{1,6})",
    re.I,
)


def season_episode(text: str) -> tuple[int, int] | None:
    """'s2e3', 'S02E03', 'S2 E3', 's2 ep 3', 'season 2, episode 3', '2x03' → (2, 3)."""
    m = _SEASON_EPISODE.fullmatch(text.strip())
    if m is None:
        return None
    season, number = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return int(season), int(number)


def episode_number(text: str) -> int | None:
    """'11', '#11', 'ep 11', 'Ep. 11', 'episode #11' → 11; anything else → None."""
    m = _EPISODE_NUMBER.fullmatch(text.strip())
    return int(m.group(1)) if m else None


def fold(text: str) -> str:
    """Case- and accent-insensitive form for exact comparisons: 'Café  Moats' → 'cafe moats'."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(words(text.casefold()))

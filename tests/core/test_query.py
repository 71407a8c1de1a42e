"""User text → FTS5 MATCH: any input is safe, and the expression means what was typed."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.query import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    any_phrase,
    episode_number,
    fold,
    match_expression,
    parse_query,
    quote,
    season_episode,
)


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    """A real FTS5 table with the catalogue's tokenizer: if SQLite accepts the expression
    here, it accepts it in the store."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.executemany(
        "INSERT INTO t (body) VALUES (?)",
        [
            ("Defensible moats in machine learning",),
            ("Running experiments in a café near the NEAR office",),
            ("AND OR NOT are words too, said the parser",),
            ("PyTorch joined the Linux Foundation",),
        ],
    )
    return conn


def _match(conn: sqlite3.Connection, expression: str) -> list[int]:
    return [r[0] for r in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,))]


HOSTILE = [
    '"',
    '""',
    '"""',
    '"unbalanced quote',
    'a "b c',
    "-moats",
    "moats -learning",
    "moat*",
    "*",
    "col:moats",
    "body:moats",
    "{body}: moats",
    "^moats",
    "NEAR(moats learning)",
    "NEAR",
    "AND",
    "OR OR OR",
    "NOT moats",
    "moats AND",
    "(moats",
    "moats)",
    "()",
    "🤖 moats 🚀",
    "🤖",
    "\x00moats\x07",
    "\u200b\u200d",
    "",
    "   \t\n ",
    "moats" * 3000,
    "x " * 5000,
    "Robert'); DROP TABLE t;--",
    "%_%",
    "\\",
    "ß ﬁ İ",
    "\ue000moats\ue001",
    "\ud800",  # a lone surrogate, as a broken client might send
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:20]))
@pytest.mark.parametrize("options", [{}, {"any_term": True}, {"prefix_last": True}])
def test_hostile_text_never_breaks_the_match(fts, text, options):
    expression = match_expression(parse_query(text), **options)
    if expression:
        _match(fts, expression)  # raises sqlite3.OperationalError on a syntax error
    else:
        assert parse_query(text).empty


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("moats", [1]),
        ("MOATS", [1]),
        ("moat", [1]),  # porter: moat = moats
        ("running", [2]),  # stems to run
        ("cafe", [2]),  # remove_diacritics
        ("café", [2]),
        ("NEAR", [2]),  # an operator word is a word
        ("AND OR NOT", [3]),
        ('"linux foundation"', [4]),
        ('"foundation linux"', []),  # a phrase keeps its order
        ("moats learning", [1]),  # all words
        ("moats pytorch", []),
        ("-moats", [1]),  # '-' is not an operator here
        ("moats: learning", [1]),  # nor is ':' (a column filter in FTS5)
        ("body:moats", []),  # 'body' is a word here, not the column
        ('"defensible moats', [1]),  # the stray quote is ignored
    ],
)
def test_expressions_mean_what_was_typed(fts, text, rows):
    assert _match(fts, match_expression(parse_query(text))) == rows


def test_any_term_and_prefix(fts):
    assert _match(fts, match_expression(parse_query("moats pytorch"), any_term=True)) == [1, 4]
    assert _match(fts, match_expression(parse_query("pytor"), prefix_last=True)) == [4]
    assert match_expression(parse_query("py"), prefix_last=True) == '"py"'  # too short


def test_phrases_words_and_stop_words():
    q = parse_query('the "great stagnation" of ML')
    assert q.phrases == (("great", "stagnation"), ("ML",))
    assert parse_query("the of and").phrases == (("the",), ("of",), ("and",))  # nothing else
    assert parse_query("moats moats Moats").phrases == (("moats",), ("Moats",))
    assert parse_query('"the end"').phrases == (("the", "end"),)  # quoted: kept


def test_long_input_is_capped_and_flagged():
    q = parse_query(" ".join(f"w{i}" for i in range(100)))
    assert len(q.words) == MAX_TERMS and q.truncated
    q = parse_query("a" * (MAX_QUERY_CHARS + 10))
    assert q.truncated and len(q.words[0]) <= 64
    assert not parse_query("defensible moats").truncated


def test_quote_doubles_inner_quotes():
    assert quote('say "hi"') == '"say ""hi"""'


def test_any_phrase_for_topic_names(fts):
    expression = any_phrase(["Defensible moats", "competitive advantage", "", "🤖"])
    assert expression == '"Defensible moats" OR "competitive advantage"'
    assert _match(fts, expression) == [1]
    assert any_phrase(["", "!!"]) == ""


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("11", 11),
        ("#11", 11),
        ("ep 11", 11),
        ("Ep. 11", 11),
        ("episode 11", 11),
        ("Episode #11 ", 11),
        ("ep11", 11),
        ("11a", None),
        ("eleven", None),
        ("great stagnation", None),
        ("#", None),
        ("1234567", None),
    ],
)
def test_episode_number(text, number):
    assert episode_number(text) == number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s2e3", (2, 3)),
        ("S02E03", (2, 3)),
        (" S2 E3 ", (2, 3)),
        ("s2 ep 3", (2, 3)),
        ("s2, ep. #3", (2, 3)),
        ("Season 2 Episode 3", (2, 3)),
        ("season 2, episode 3", (2, 3)),
        ("2x03", (2, 3)),
        ("3", None),
        ("ep 3", None),
        ("s2", None),
        ("season 2", None),
        ("s2e", None),
        ("2x", None),
        ("s2e3 pilots", None),
    ],
)
def test_season_episode(text, expected):
    assert season_episode(text) == expected


def test_fold_ignores_case_accents_and_spacing():
    assert fold("  Café   MOATS ") == "cafe moats"
    assert fold("Jo Müller") == fold("jo muller")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.booleans(), st.booleans())
def test_any_text_gives_a_valid_expression(fts, text, any_term, prefix_last):
    query = parse_query(text)
    expression = match_expression(query, any_term=any_term, prefix_last=prefix_last)
    assert len(query.words) <= MAX_TERMS
    if expression:
        _match(fts, expression)
    else:
        assert query.empty


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                '"',
                "-",
                "*",
                ":",
                "^",
                "(",
                ")",
                "NEAR",
                "AND",
                "OR",
                "NOT",
                "moats",
                " ",
                "{",
                "}",
                "+",
                "\x00",
            ]
        ),
        max_size=30,
    )
)
def test_operator_soup_gives_a_valid_expression(fts, pieces):
    text = "".join(pieces)
    for options in ({}, {"any_term": True}, {"prefix_last": True}):
        expression = match_expression(parse_query(text), **options)
        if expression:
            _match(fts, expression)

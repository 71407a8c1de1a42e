"""Echoed text is inert; truncation cuts cleanly; slugs."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import text as T
from bot.core.text import escape_markdown, escape_mentions, pages, quote, truncate

# ---- escaping ----


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("*bold* _it_ ~~s~~ `c` ||sp||", r"\*bold\* \_it\_ \~\~s\~\~ \`c\` \|\|sp\|\|"),
        ("[x](https://evil.example)", r"\[x\]\(https://evil.example)"),
        ("# Big\n> quote\n- item\n12. item", "\\# Big\n\\> quote\n\\- item\n12\\. item"),
        ("see https://ex.org/a_b_c", "see https://ex.org/a_b_c"),
        ("back\\slash", "back\\\\slash"),
        ("plain words", "plain words"),
    ],
)
def test_escape_markdown(text, escaped):
    assert escape_markdown(text) == escaped


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("@everyone hi", "@\u200beveryone hi"),
        ("@here", "@\u200bhere"),
        ("<@123456789012345678>", "<@\u200b123456789012345678>"),
        ("<@!123456789012345678>", "<@!\u200b123456789012345678>"),
        ("<@&123456789012345678>", "<@&\u200b123456789012345678>"),
        ("mail me at a@b.org", "mail me at a@b.org"),
        ("<#1>", "<#\u200b1>"),  # Discord reads any number
        ("</reload:123>", "</reload:\u200b123>"),  # a command mention: a click fills it in
        ("</schedule run-now:123>", "</schedule run-now:\u200b123>"),
        ("<t:1790000000:R>", "<t:1790000000:R>"),  # a time mentions nobody
    ],
)
def test_escape_mentions(text, escaped):
    assert escape_mentions(text) == escaped


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("18:00", "'18:00'"),
        ("[x](https://evil.example)", "'\\[x\\]\\(https://evil.example)'"),
        ("@everyone \x00", "'@\u200beveryone \\\\x00'"),
        ("x" * 100, "'" + "x" * 59 + "…'"),
    ],
)
def test_quote_cuts_and_makes_user_text_inert(text, quoted):
    assert quote(text) == quoted


# ---- truncation ----

LINK = "[the notes](https://ex.org/very/long/path)"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("exactly 11!", 10, "exactly…"),
        ("Para one is here.\n\nPara two goes on.", 30, "Para one is here.…"),
        ("Line one is here\nline two goes on and on", 30, "Line one is here…"),
        ("First sentence. Second one goes on.", 30, "First sentence.…"),
        ("Supercalifragilisticexpialidocious", 10, "Supercali…"),
        ("a b c d e f g h", 6, "a b c…"),
        (f"See {LINK} today", 20, "See the notes today"),
        (f"See {LINK} and more words", 20, "See the notes and…"),
        (f"{LINK} more words", len(LINK) + 1, f"{LINK}…"),
        ("Run `pip install vgbot` now", 20, "Run…"),
        ("Go to https://ex.org/a/b/c/d now", 20, "Go to…"),
        ("👍🏽" * 10, 8, "👍🏽" * 3 + "…"),
        ("🇫🇷🇩🇪🇮🇹", 4, "🇫🇷…"),
        ("e\u0301" * 5, 4, "e\u0301…"),
        ("👨\u200d👩\u200d👧 family", 5, "…"),
        ("abcdef", 1, "…"),
        ("abcdef", 0, ""),
        ("abcdef", 4, "abc…"),
    ],
)
def test_truncate(text, limit, expected):
    assert truncate(text, limit) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Intro. **A bold sentence goes on and on** after.", 30, "Intro. **A bold sentence**…"),
        ("*italic words that go on* more", 20, "*italic words that*…"),
        ("__underlined words that go on__", 25, "__underlined words__…"),
        ("***both at once goes on*** after", 20, "***both at once***…"),
        ("~~struck words go on~~ and ||a spoiler||", 20, "~~struck words go~~…"),
        ("`a long code span that goes on`", 15, "`a long code`…"),
        ("**one** then **two three four** five", 24, "**one** then **two**…"),
        ("hard**cut inside it**", 6, "hard…"),  # no marker is kept with nothing inside it
        # Markers Discord shows as they are stay as they were: nothing of ours is added.
        ("2 * 3 is 6 and *nix tools are old", 22, "2 * 3 is 6 and *nix…"),
        ("snake_case_name and more_words here", 20, "snake_case_name and…"),
        (r"\*escaped words\* stay as they are", 14, r"\*escaped…"),
        ("see https://ex.org/a_b and more words", 30, "see https://ex.org/a_b and…"),
        ("**never closed in the text at all", 20, "**never closed in…"),
    ],
)
def test_truncate_closes_emphasis_and_code_it_splits(text, limit, expected):
    assert truncate(text, limit) == expected


def test_truncate_custom_suffix_and_bad_limit():
    assert truncate("one two three four", 12, suffix=" [more]") == "one [more]"
    with pytest.raises(ValueError, match="limit must be >= 0"):
        truncate("x", -1)


def test_truncate_many_links_does_not_recurse():
    text = "[a](https://x.y/z) " * 5000
    out = truncate(text, T.EMBED_DESCRIPTION)
    assert len(out) <= T.EMBED_DESCRIPTION and out.endswith("…")


def test_discord_limits():
    assert (T.EMBED_TITLE, T.EMBED_DESCRIPTION, T.EMBED_TOTAL, T.MESSAGE_CONTENT) == (
        256,
        4096,
        6000,
        2000,
    )
    assert (T.FIELD_NAME, T.FIELD_VALUE, T.EMBED_FIELDS, T.EMBED_FOOTER, T.EMBED_AUTHOR) == (
        256,
        1024,
        25,
        2048,
        256,
    )
    assert (T.CHOICE_NAME, T.CHOICE_VALUE, T.THREAD_NAME) == (100, 100, 100)


_PIECES = st.sampled_from(
    [
        "word",
        " ",
        "\n",
        "\n\n",
        ". ",
        LINK,
        "`code`",
        "https://ex.org/x",
        "👍🏽",
        "🇫🇷",
        "e\u0301",
        "é",
        "**",
        "_",
        "`",
    ]
)


@settings(max_examples=200, deadline=None)
@given(text=st.lists(_PIECES, max_size=40).map("".join) | st.text(), limit=st.integers(0, 120))
def test_truncate_properties(text, limit):
    out = truncate(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        # no suffix only when dropping link URLs was enough to make the words fit
        assert out.endswith("…") or out == "…"[:limit] or "](" in text
        body = out.removesuffix("…")
        if body:  # never ends mid-grapheme
            nxt = text[len(body) : len(body) + 1] if text.startswith(body) else ""
            assert not (nxt and unicodedata.combining(nxt))


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Episode 11: The Great Stagnation!", "episode-11-the-great-stagnation"),
        ("Café — naïve résumé", "cafe-naive-resume"),
        ("  --Hello,   World--  ", "hello-world"),
        ("数据", ""),
        ("word " * 30, "-".join(["word"] * 12)),
        ("x" * 80, "x" * 60),
    ],
)
def test_slugify(text, slug):
    assert T.slugify(text) == slug


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Episode 11: The Great Stagnation!", "episode-11-the-great-stagnation"),  # = slugify
        ("Café — naïve résumé", "cafe-naive-resume"),
        ("数据 科学", "数据-科学"),
        ("Борщ и данные", "борщ-и-данные"),
        ("Straße", "strasse"),
        ("🔥🔥", ""),
        ("!!!", ""),
    ],
)
def test_name_key_keeps_letters_of_every_script(text, key):
    assert T.name_key(text) == key


@given(st.text(max_size=40))
def test_name_key_is_slugify_for_ascii_and_never_empty_with_a_letter(text):
    key = T.name_key(text)
    if text.isascii():
        assert key == T.slugify(text)
    if any(c.isalnum() for c in text):
        assert key


def test_pages_keep_every_line_whole_and_in_order_within_the_limit():
    lines = [f"line {n} " + "x" * 40 for n in range(100)]
    packed = pages(lines, limit=200)
    assert all(len(p) <= 200 for p in packed) and len(packed) > 1
    assert "\n".join(packed).split("\n") == lines
    assert pages([]) == [""]
    assert pages(["y" * 300], limit=200) == [truncate("y" * 300, 200)]


@pytest.mark.parametrize(
    ("n", "noun", "shown"),
    [(0, "problem", "0 problems"), (1, "episode", "1 episode"), (12, "topic", "12 topics")],
)
def test_counted_says_one_thing_and_many_things(n, noun, shown):
    assert T.counted(n, noun) == shown

"""HTML show notes become Discord Markdown; echoed text is inert; truncation cuts cleanly."""

from __future__ import annotations

import unicodedata
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import text as T
from bot.core.text import escape_markdown, escape_mentions, html_to_markdown, truncate


@pytest.mark.parametrize(
    ("html", "markdown"),
    [
        ('<a href="https://ex.org/a">the notes</a>', "[the notes](https://ex.org/a)"),
        ('<a href="https://ex.org/a" title="T">x</a>', "[x](https://ex.org/a)"),
        ('<a href="https://ex.org/a">https://ex.org/a</a>', "<https://ex.org/a>"),
        ('<a href="https://ex.org/f(x)">f</a>', "[f](https://ex.org/f%28x%29)"),
        ('<a href="https://ex.org/">[1]</a>', r"[\[1\]](https://ex.org/)"),
        ('<a href="javascript:alert(1)">click</a>', "click"),
        ('<a href="/relative">page</a>', "page"),
        (
            '<a href="javascript:x()"><script>x()</script>in  the\n <b>text</b></a>',
            "in the **text**",
        ),
        ('<a href="mailto:a@b.org">mail</a>', "[mail](mailto:a@b.org)"),
        ("<b>bold</b> <strong>strong</strong>", "**bold** **strong**"),
        ("<i>it</i> <em>em</em>", "*it* *em*"),
        ("<h2>In this episode</h2><p>Text</p>", "**In this episode**\n\nText"),
        ("<h3><b>Already bold</b></h3>", "**Already bold**"),
        ("<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul>", "- a\n- b\n  - c"),
        ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
        ("<p>a<script>alert(1)</script>b</p>", "ab"),
        ("<style>p { color: red }</style><p>x</p>", "x"),
        ('<iframe src="https://player"></iframe><p>x</p>', "x"),
        ("<p>x<!-- hidden --></p>", "x"),
        ('<img src="https://ex.org/c.png" alt="Cover art">', "[Cover art](https://ex.org/c.png)"),
        ('<img src="https://ex.org/c.png">', "[image](https://ex.org/c.png)"),
        ('<img src="data:image/png;base64,AAAA" alt="inline">', "inline"),
        ("<p>a   b\n\n\n c</p>", "a b c"),
        ("<p>one</p>\n\n\n\n<p>two</p>", "one\n\ntwo"),
        ("<p>one<br>two</p>", "one\ntwo"),
        ("<p>&amp; &lt;tag&gt; &eacute; &#x1F600; &nbsp;x</p>", "& <tag> é 😀 x"),
        ("<p>5*3*2</p>", r"5\*3\*2"),
        (
            "<table><tr><th>Time</th><th>Topic</th></tr>"
            "<tr><td>00:01</td><td>Intro</td></tr><tr><td>12:30</td><td></td></tr></table>",
            "**Time** | **Topic**\n00:01 | Intro\n12:30",
        ),
        ("<blockquote>quoted</blockquote>", "> quoted"),
        ("<pre><code>x = 1\ny = 2</code></pre>", "```\nx = 1\ny = 2\n```"),
        ("<p>ping @everyone</p>", "ping @\u200beveryone"),
        ("plain text, no tags", "plain text, no tags"),
        ("", ""),
        ("<p><b>unclosed bold", "**unclosed bold**"),
        ("<p><junk <b>bold", "bold"),  # html.parser reads "<b" as an attribute of <junk>
    ],
)
def test_html_to_markdown(html, markdown):
    assert html_to_markdown(html) == markdown


def test_show_notes_shaped_html():
    html = """
    <p>In this episode, Mara talks with <a href="https://ex.org/theo">Theo Brandt</a>.</p>
    <h2>Links</h2>
    <ul><li><a href="https://ex.org/paper">The paper</a></li>
        <li>Slides: <a href="https://ex.org/slides">here</a><ul><li>v2</li></ul></li></ul>
    <script type="text/javascript">var x = "<p>not text</p>";</script>
    """
    assert html_to_markdown(html) == (
        "In this episode, Mara talks with [Theo Brandt](https://ex.org/theo).\n\n"
        "**Links**\n\n"
        "- [The paper](https://ex.org/paper)\n"
        "- Slides: [here](https://ex.org/slides)\n"
        "  - v2"
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*"<>/=\"'&;#abp iul!-", "<a href='", "<li>"])).map("".join))
def test_html_to_markdown_never_raises(html):
    assert isinstance(html_to_markdown(html), str)


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
    ],
)
def test_escape_mentions(text, escaped):
    assert escape_mentions(text) == escaped


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


def test_html_that_looks_like_a_url_is_converted_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert html_to_markdown("https://ex.org/notes") == "https://ex.org/notes"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_converts_without_the_characters_discord_cannot_show(text):
    for markdown in (T.text_to_markdown(text), html_to_markdown(text)):
        assert not any(ord(c) < 32 and c not in "\n\t" for c in markdown)
        assert "\ue000" not in markdown and "\ue001" not in markdown


def test_plain_text_notes():
    text = "First *line*\nsecond   line\r\n\r\n\n  Next_para @here <b>not bold</b>"
    assert T.text_to_markdown(text) == (
        "First \\*line\\*\nsecond line\n\nNext\\_para @\u200bhere <b>not bold</b>"
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<b>Bold</b> A &amp; B", "Bold A & B"),
        ("<script>x()</script>Title\n  two", "Title two"),
        ("No markup  at all", "No markup at all"),
        ("", ""),
    ],
)
def test_html_to_text(html, text):
    assert T.html_to_text(html) == text


def test_entities_declared_in_notes_are_never_expanded():
    bomb = (
        '<!DOCTYPE x [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<p>&b;&b;&b;</p>"
    )
    assert "AAAA" not in html_to_markdown(bomb)


def test_hostile_markup_leaves_only_text_and_safe_links():
    html = (
        '<p onclick="x()" style="color:red">Hi <a href=" JavaScript:alert(1)">there</a> '
        '<a href="data:text/html,x">data</a> <img src="javascript:x" alt="pic"></p>'
        '<iframe src="https://evil.example"></iframe><object data="x">obj</object>'
        "<style>p{}</style><svg><text>drawn</text></svg><form><input value='v'>f</form>"
    )
    assert html_to_markdown(html) == "Hi there data pic"


def test_a_comment_inside_a_dropped_tag_is_dropped_with_it():
    # Found by the feed mutation property: the comment went with its dropped parent first.
    for html in (
        "<p>keep</p><script>x</script><!-- c -->",
        "<p>keep</p><noscript><!-- n --></noscript>",
        "<p>keep</p><form><!-- c --></form>",
        "<p>keep</p><template><!-- c --></template>",
    ):
        assert html_to_markdown(html) == "keep", html


@pytest.mark.parametrize(
    ("html", "shown"),
    [('<?xml version="1.0"?><rss><p>Notes</p></rss>', "Notes"), ("notes/ep-11.html", "ep-11")],
)
def test_html_that_looks_like_xml_or_a_path_converts_without_a_warning(html, shown, recwarn):
    # A warning per feed item would flood the log; the text is converted all the same.
    assert shown in html_to_markdown(html)
    assert [str(w.message)[:60] for w in recwarn] == []


_HTML_BITS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<ul><li>",
        "</li></ul>",
        "<a href='https://x.org/a'>",
        "</a>",
        "<b>",
        "</b>",
        "<script>x()</script>",
        "<!-- c -->",
        "<br>",
        "&amp;",
        "&nbsp;",
        "<table><td>",
        "text ",
        "é ",
        "<h2>",
        "</h2>",
        "<",
        ">",
        "\x00",
        "<![CDATA[x]]>",
        "<?xml version='1.0'?>",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_HTML_BITS, max_size=12).map("".join), min_size=2, max_size=6))
def test_show_notes_convert_the_same_with_the_reused_parser_as_with_a_fresh_one(documents):
    reused = [html_to_markdown(html) for html in documents]  # one after another, as in a feed
    fresh = []
    for html in documents:
        T._parsers.html = None  # the next conversion builds its own parser
        fresh.append(html_to_markdown(html))
    assert reused == fresh


def test_show_notes_parse_in_several_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    documents = [
        f"<p>Item {i} <a href='https://x.org/{i}'>link {i}</a></p>" * 20 for i in range(200)
    ]
    expected = [html_to_markdown(d) for d in documents]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(html_to_markdown, documents)) == expected

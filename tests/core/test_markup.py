"""Show notes from feeds become Discord Markdown: safe, readable, never a crash."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import markup as M
from bot.core.markup import html_to_markdown


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
        # A link around an image: one link, never "[](…)[image](…)".
        (
            '<a href="https://cdn.ex.org/x.png"><img src="https://cdn.ex.org/x.png" alt=""></a>'
            "<p>Hi</p>",
            "Hi",
        ),
        ('<a href="https://ex.org/p"><img src="https://ex.org/p"></a> after', "after"),
        (
            '<a href="https://sponsor.ex/"><img src="https://sponsor.ex/logo.png" alt="Acme"></a>',
            "[Acme](https://sponsor.ex/)",
        ),
        (
            '<a href="https://www.sponsor.ex/go"><img src="https://cdn.ex.org/l.png"></a> thanks',
            "[sponsor.ex](https://www.sponsor.ex/go) thanks",
        ),
        (
            '<a href="https://ex.org/"><img src="https://ex.org/i.png"> Visit</a>',
            "[Visit](https://ex.org/)",
        ),
        ('<a href="https://ex.org/"> </a>text', "text"),
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


def test_html_that_looks_like_a_url_is_converted_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert html_to_markdown("https://ex.org/notes") == "https://ex.org/notes"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_converts_without_the_characters_discord_cannot_show(text):
    for markdown in (M.text_to_markdown(text), html_to_markdown(text)):
        assert not any(ord(c) < 32 and c not in "\n\t" for c in markdown)
        assert "\ue000" not in markdown and "\ue001" not in markdown


@pytest.mark.parametrize("odd", ["\ufffe", "\uffff", "\ud800", "\x00", "\x01", "\ue000"])
def test_characters_xml_refuses_never_break_a_conversion(odd):
    for html in (f"<p>a{odd} b</p>", f"a{odd}b", f"<h2>x{odd}</h2><p>y{odd}</p>"):
        for text in (html_to_markdown(html), M.text_to_markdown(html), M.html_to_text(html)):
            assert "a" in text or "x" in text or "y" in text
            assert odd not in text
        assert M.html_to_sections(html)


def test_plain_text_notes():
    text = "First *line*\nsecond   line\r\n\r\n\n  Next_para @here <b>not bold</b>"
    assert M.text_to_markdown(text) == (
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
    assert M.html_to_text(html) == text


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
        M._parsers.html = None  # the next conversion builds its own parser
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

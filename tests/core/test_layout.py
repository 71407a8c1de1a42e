"""Reply → embed within Discord's limits: long answers are cut cleanly, never rejected."""

from bot.core import text as t
from bot.core.answers import episode_reply
from bot.core.layout import buttons, embed_dict, embed_length, excerpt_markdown
from bot.core.models import Citation, Excerpt, Field, Link, Reply
from bot.feeds.parse import parse_feed
from tests.feeds.feedgen import Show, episode, feed_xml


def _excerpt(words: str, n: int = 1) -> Excerpt:
    return Excerpt(
        segments=(("before ", False), (words, True), (" after", False)),
        citation=Citation(n, f"Episode {n}", section="Moats", timestamp=754.0),
    )


def test_excerpt_marks_matches_in_bold_and_cites_episode_section_and_time():
    md = excerpt_markdown(_excerpt("moats", 11))
    assert md == "> before **moats** after\n— *Ep. 11: Episode 11 · Moats · 12:34*"


def test_excerpt_text_is_escaped_so_content_cannot_break_formatting():
    ex = Excerpt(((" *not bold* ", False), ("x_y", True)), Citation(1, "T"))
    assert "\\*not bold\\*" in excerpt_markdown(ex) and "**x\\_y**" in excerpt_markdown(ex)


def test_a_huge_reply_fits_every_discord_limit_and_links_to_the_rest():
    reply = Reply(
        kind="topic",
        title="T" * 1000,
        text="word " * 3000,
        fields=tuple(Field("n" * 300, "v" * 2000) for _ in range(40)),
        excerpts=tuple(_excerpt("moats " * 50, i) for i in range(30)),
        url="https://example.org/more",
        footer="f" * 3000,
    )
    e = embed_dict(reply)
    assert len(e["title"]) <= t.EMBED_TITLE
    assert len(e["description"]) <= t.EMBED_DESCRIPTION
    assert e["description"].endswith("[Read more](https://example.org/more)")
    assert len(e["fields"]) <= t.EMBED_FIELDS
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in e["fields"])
    assert embed_length(e) <= t.EMBED_TOTAL


def test_excerpts_that_do_not_fit_are_dropped_whole_not_cut_mid_citation():
    reply = Reply(
        kind="topic",
        title="Moats",
        excerpts=tuple(_excerpt("moats " * 100, i) for i in range(20)),
        url="https://example.org/t",
    )
    d = embed_dict(reply)["description"]
    assert d.count("> before") == d.count("— *Ep.") >= 1
    assert len(d) <= t.EMBED_DESCRIPTION


def test_mentions_in_content_are_made_inert():
    e = embed_dict(Reply(kind="episode", title="@everyone", text="hi @here <@&123456789012345678>"))
    assert "@everyone" not in e["title"] and "@here" not in e["description"]
    assert "<@&123456789012345678>" not in e["description"]


def test_buttons_are_http_links_deduplicated_and_at_most_five():
    links = (Link("bad", "javascript:alert(1)"), Link("hostless", "https://x/1"))
    links += tuple(Link(f"l{i}", f"https://x.org/{i % 7}") for i in range(12))
    got = buttons(Reply(kind="episode", title="x", links=links))
    assert [b.url for b in got] == [f"https://x.org/{i}" for i in range(5)]


def test_not_found_lists_suggestions():
    e = embed_dict(
        Reply(
            kind="not_found", title="Not covered yet", text="Nothing yet.", suggestions=("moats",)
        )
    )
    assert "Did you mean: `moats`" in e["description"]


def test_a_miss_asks_did_you_mean_once():
    from bot.core.answers import not_found_reply

    e = embed_dict(not_found_reply("moatz", ["Defensible moats"]))
    assert e["description"].count("Did you mean") == 1


def test_show_notes_full_of_brackets_are_laid_out_without_rescanning_them():
    # A feed's notes reach /episode's embed as they are. Each "[" could open a masked link:
    # truncation looked for its end from every one of them, to the end of the text, so 40,000
    # brackets held the event loop for a minute per /episode and 200,000 for half an hour.
    for hostile in ("[" * 200_000, "\\[" * 100_000, "[](" * 70_000):
        item = episode(1, notes=f"<p>{hostile}</p>")
        (parsed,) = parse_feed(feed_xml(Show(items=(item,))), url="https://x.example/f").items
        e = embed_dict(episode_reply(parsed.episode))
        assert len(e["description"]) <= t.EMBED_DESCRIPTION
        assert e["description"].rstrip().endswith("…")


def test_a_long_code_block_in_show_notes_is_cut_before_not_inside():
    # Spans are looked for only a little past the cut (see the test above); a code block
    # opened before the cut and closed far past it must still be kept whole or left out, not
    # cut open: an unclosed fence shows the rest of the embed as stray backticks.
    code = "\n".join(f"step_{i} = run({i})" for i in range(600))
    item = episode(1, notes=f"<p>What we covered.</p><pre>{code}</pre><p>Thanks!</p>")
    (parsed,) = parse_feed(feed_xml(Show(items=(item,))), url="https://x.example/f").items
    e = embed_dict(episode_reply(parsed.episode))
    assert len(e["description"]) <= t.EMBED_DESCRIPTION
    assert e["description"].count("```") % 2 == 0, e["description"][-200:]


def test_a_long_text_ends_cleanly_with_read_more_on_its_own_line():
    url = "https://example.org/11"
    for text, ending in (
        ("A whole sentence here. " * 300, "here.\n\n"),  # no "…" after a full stop
        ("word " * 1000, "word…\n\n"),
        ("**" + "bold words " * 499 + "bold**", "bold**…\n\n"),  # no stray "**"
    ):
        d = embed_dict(Reply(kind="episode", title="Ep", text=text, url=url))["description"]
        assert d.endswith(f"{ending}[Read more]({url})") and len(d) <= t.EMBED_DESCRIPTION, d[-60:]
    d = embed_dict(Reply(kind="episode", title="Ep", text="A sentence. " * 500))["description"]
    assert d.endswith("sentence.…")  # nowhere to read more: the ellipsis alone says it goes on


def test_show_notes_opening_with_a_long_code_block_close_its_fence():
    # With nothing before the code block it cannot be left out: it is cut, and its fence
    # closed, however far past the cut the block ends (not only within 2,048 characters).
    code = "\n".join(f"step_{i} = run({i})" for i in range(600))
    item = episode(1, notes=f"<pre>{code}</pre><p>Thanks!</p>")
    (parsed,) = parse_feed(feed_xml(Show(items=(item,))), url="https://x.example/f").items
    e = embed_dict(episode_reply(parsed.episode))
    assert len(e["description"]) <= t.EMBED_DESCRIPTION
    assert e["description"].count("```") % 2 == 0, e["description"][-200:]

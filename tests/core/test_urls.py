from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.urls import BUTTON_URL_MAX, url_trouble, web_url, without_secrets


@pytest.mark.parametrize(
    ("raw", "base", "expected"),
    [
        ("https://example.org/ep/5", None, "https://example.org/ep/5"),
        ("  https://example.org/a?b=1&c=%20d#t  ", None, "https://example.org/a?b=1&c=%20d#t"),
        (
            "https://cdn.example.org/my episode.mp3",
            None,
            "https://cdn.example.org/my%20episode.mp3",
        ),
        ("https://example.org/caf\u00e9.jpg", None, "https://example.org/caf%C3%A9.jpg"),
        ("https://b\u00fccher.example/x", None, "https://xn--bcher-kva.example/x"),
        ("https://example.org/a\n/b", None, "https://example.org/a/b"),
        (
            "//art.example.org/5.jpg",
            "https://feed.example.org/rss",
            "https://art.example.org/5.jpg",
        ),
        ("/art/5.jpg", "https://feed.example.org/rss", "https://feed.example.org/art/5.jpg"),
        ("http://localhost:8080/x", None, "http://localhost:8080/x"),
    ],
)
def test_links_discord_would_refuse_are_mended_where_the_intent_is_clear(raw, base, expected):
    assert web_url(raw, base=base) == expected


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("//art.example.org/5.jpg", None),  # no feed address to resolve it against
        ("/art/5.jpg", "/home/me/feed.xml"),  # a file path is no base
        ("javascript:alert(1)", None),
        ("mailto:host@example.org", None),
        ("ftp://example.org/a.mp3", None),
        ("https://", None),
        ("https://intranet/x", None),
        ("https://example.org:port/x", None),
        ("http://[::1", None),
    ],
)
def test_links_without_a_clear_http_target_are_dropped(raw, base):
    assert web_url(raw, base=base) is None


def test_a_link_over_the_limit_is_dropped_not_cut():
    long = "https://example.org/" + "a" * 600
    assert web_url(long) == long
    assert web_url(long, limit=BUTTON_URL_MAX) is None


@pytest.mark.parametrize(
    ("url", "trouble"),
    [
        ("https://example.org/a b", "contains spaces"),
        ("example.org/a", "is not an http(s) URL"),
        ("https://intranet/x", "has no host name"),
        ("https://example.org:x/", "is not a valid URL"),
        ("https://example.org/a", None),
    ],
)
def test_url_trouble_names_what_is_wrong(url, trouble):
    assert url_trouble(url) == trouble


@given(st.text(max_size=80), st.sampled_from([None, "https://feed.example.org/rss"]))
def test_what_comes_out_is_well_formed_and_stable(raw, base):
    url = web_url(raw, base=base)
    if url is not None:
        assert url_trouble(url) is None and url.isascii() and len(url) <= 2048
        assert web_url(url) == url


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_path_text_under_a_good_host_makes_a_link(path):
    url = web_url("https://example.org/" + path)
    assert url is not None and url.startswith("https://example.org/")


@given(
    st.sampled_from(["http://", "https://", "HTTPS://", "ftp://"]),
    st.from_regex(r"[a-z0-9-]{1,8}(\.[a-z0-9-]{1,8}){0,2}", fullmatch=True),
    st.text(alphabet="abz09-._~!$&'()*+,;=:@/?#%[] \u00e9\n", max_size=30),
)
def test_the_quick_path_gives_what_the_long_way_gives(scheme, host, rest):
    """Well-formed links skip parsing: the answer must be the one parsing would give."""
    from bot.core import urls

    url = scheme + host + rest
    # A control character in front never takes the quick path, and is dropped on the long way.
    assert urls.web_url(url) == urls.web_url("\x00" + url)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://www.patreon.com/rss/show?auth=S3CRET", "https://www.patreon.com/rss/show?auth=…"),
        (
            "HTTP 500 from http://me:pw@feeds.example/rss.xml.",
            "HTTP 500 from http://feeds.example/rss.xml.",
        ),
        (
            "timed out (https://a.example/x?format=rss&api_key=1&Token=2&v=3) twice",
            "timed out (https://a.example/x?format=rss&api_key=…&Token=…&v=3) twice",
        ),
        (
            "https://cdn.example/t.vtt?Signature=abc&Expires=9",
            "https://cdn.example/t.vtt?Signature=…&Expires=9",
        ),
        ("https://feeds.example/rss.xml", "https://feeds.example/rss.xml"),
        ("no link here", "no link here"),
        (
            "see https://en.wikipedia.org/wiki/Moat_(economics).",
            "see https://en.wikipedia.org/wiki/Moat_(economics).",
        ),
    ],
)
def test_without_secrets_hides_keys_in_links(text, shown):
    assert without_secrets(text) == shown

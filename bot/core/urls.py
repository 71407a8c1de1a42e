"""Web links as Discord takes them: absolute http(s) URLs, well formed, within its limits.

Discord refuses a whole message over one malformed link ("Not a well formed URL"), so links
from feeds are mended where the intent is clear (spaces, non-ASCII, relative to the feed) and
dropped where it is not; links in our own content files are reported instead (`url_trouble`).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

URL_MAX = 2048  # links in embeds
BUTTON_URL_MAX = 512  # a link button's URL (Discord's components reference)

# Characters that keep their meaning in a URL, and "%" of escapes already made: left as is.
_KEEP = "!#$%&'()*+,/:;=?@[]~"
_DROP_CONTROL = dict.fromkeys([*range(0, 32), 127])  # browsers drop tabs and newlines in URLs
# Nearly every link is already well formed: it is kept as is without parsing (a reply's links
# are checked on every answer). Anything else goes the long way.
_PLAIN = re.compile(
    r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#][A-Za-z0-9._~!$&'()*+,;=:@/?#%\[\]-]*)?"
)


def url_trouble(url: str) -> str | None:
    """Why `url` is not an absolute http(s) URL with a host, or None when it is one."""
    if any(c.isspace() for c in url):
        return "contains spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    host = parts.hostname or ""
    if "." not in host and host != "localhost":
        return "has no host name"
    return None


def web_url(value: object, *, base: str | None = None, limit: int = URL_MAX) -> str | None:
    """`value` as a URL Discord accepts, or None: trimmed, resolved against `base` when relative
    (`//host/x`, `/x`), spaces and non-ASCII percent-encoded, an international host name in its
    ASCII form; None when no http(s) URL within `limit` characters comes of it."""
    if not isinstance(value, str):
        return None
    if len(value) <= limit and _PLAIN.fullmatch(value):
        return value
    text = value.strip().translate(_DROP_CONTROL)
    if not text:
        return None
    if base is not None and url_trouble(base) is None:
        text = urljoin(base, text)
    try:
        parts = urlsplit(text)
        host = parts.hostname
        if host and not host.isascii():
            user = f"{parts.netloc.rpartition('@')[0]}@" if "@" in parts.netloc else ""
            port = f":{parts.port}" if parts.port is not None else ""
            ascii_host = host.encode("idna").decode("ascii")
            text = urlunsplit(parts._replace(netloc=f"{user}{ascii_host}{port}"))
    except (ValueError, UnicodeError):
        return None
    text = quote(text, safe=_KEEP)
    if len(text) > limit or url_trouble(text) is not None:
        return None
    return text


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+", re.I)
# Query parameters that carry a key in private feed URLs (Patreon's ?auth=, ?token=, signed
# links' ?sig=...); others (?format=rss, ?v=2) tell feeds apart and stay.
_SECRET_PARAM = re.compile(r"auth|token|key|secret|sig|pass|session|credential|access|code", re.I)


def without_secrets(text: str) -> str:
    """Links in `text` (an error, a feed URL) without what can hold a key: the user and
    password, and the values of query parameters named like one (a private feed's key is
    there: ?auth=...), for showing to people who should not have the feed itself."""

    def shown(match: re.Match[str]) -> str:
        url = match.group(0)
        # Punctuation ending a sentence or closing a bracket around the link is not part of it.
        end = len(url.rstrip(".,;:!?)"))
        while (
            end < len(url) and url[end] == ")" and url.count("(", 0, end) > url.count(")", 0, end)
        ):
            end += 1
        url, after = url[:end], url[end:]
        try:
            parts = urlsplit(url)
        except ValueError:
            return url.split("?", 1)[0].split("#", 1)[0] + after
        host = parts.netloc.rsplit("@", 1)[-1]
        query = "&".join(
            f"{name}=…" if _SECRET_PARAM.search(name) else pair
            for pair in parts.query.split("&")
            for name in [pair.split("=", 1)[0]]
        )
        return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment)) + after

    return _URL_IN_TEXT.sub(shown, text)

"""Podcast feeds written for the tests, shaped like real ones (iTunes and Podcasting 2.0 tags,
HTML show notes), built from a few fields so each test says only what matters to it."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

NAMESPACES = (
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
    'xmlns:podcast="https://podcastindex.org/namespace/1.0" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:psc="http://podlove.org/simple-chapters"'
)


@dataclass(frozen=True)
class Item:
    title: str
    number: int | None = None
    guid: str | None = None
    audio: str | None = None
    published: datetime | None = None
    notes: str = ""  # HTML
    hosts: tuple[str, ...] = ("Hugo Bowne-Anderson",)
    guests: tuple[str, ...] = ()
    transcripts: tuple[tuple[str, str], ...] = ()  # (url, type)
    chapters_url: str | None = None
    image: str | None = None
    extra: str = ""  # raw XML inside <item>

    def but(self, **changes: object) -> Item:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Show:
    title: str = "Vanishing Gradients"
    image: str | None = "https://art.example.org/show.jpg"
    items: tuple[Item, ...] = field(default_factory=tuple)


def item_xml(item: Item) -> str:
    parts = [f"<title>{escape(item.title)}</title>"]
    if item.guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
    if item.published is not None:
        parts.append(f"<pubDate>{format_datetime(item.published.astimezone(UTC))}</pubDate>")
    if item.number is not None:
        parts.append(f"<itunes:episode>{item.number}</itunes:episode>")
    for name in item.hosts:
        parts.append(f'<podcast:person role="host">{escape(name)}</podcast:person>')
    for name in item.guests:
        parts.append(f'<podcast:person role="guest">{escape(name)}</podcast:person>')
    for url, kind in item.transcripts:
        parts.append(f"<podcast:transcript url={quoteattr(url)} type={quoteattr(kind)}/>")
    if item.chapters_url:
        url = quoteattr(item.chapters_url)
        parts.append(f'<podcast:chapters url={url} type="application/json+chapters"/>')
    if item.image:
        parts.append(f"<itunes:image href={quoteattr(item.image)}/>")
    if item.notes:
        parts.append(f"<description><![CDATA[{item.notes}]]></description>")
    if item.audio is not None:
        parts.append(f'<enclosure url={quoteattr(item.audio)} length="1000" type="audio/mpeg"/>')
    parts.append(item.extra)
    return "<item>" + "".join(parts) + "</item>"


def feed_xml(show: Show) -> bytes:
    image = f"<itunes:image href={quoteattr(show.image)}/>" if show.image else ""
    items = "\n".join(item_xml(i) for i in show.items)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" {NAMESPACES}><channel>'
        f"<title>{escape(show.title)}</title><link>https://show.example.org/</link>{image}"
        f"\n{items}\n</channel></rss>\n"
    ).encode()


def episode(n: int, *, base: str = "https://show.example.org", **changes: object) -> Item:
    """A typical item: guid, number, date, audio, HTML notes with a section."""
    item = Item(
        title=f"Episode {n}: Talking about thing {n}",
        number=n,
        guid=f"vg-{n:04d}",
        audio=f"{base}/audio/{n}.mp3",
        published=datetime(2024, 1, 1, 10, tzinfo=UTC).replace(day=1 + n % 28),
        notes=(
            f"<p>Hugo and a guest talk about <strong>thing {n}</strong>, "
            f'<a href="https://links.example.org/{n}">with a link</a>.</p>'
            "<script>track()</script><h2>What we covered</h2><ul><li>models</li><li>data</li></ul>"
        ),
        guests=(f"Guest Number{n}",),
    )
    return item.but(**changes) if changes else item


def vtt(words: str, *, start: int = 0) -> bytes:
    return (
        f"WEBVTT\n\n00:00:{start:02d}.000 --> 00:00:{start + 5:02d}.000\n<v Hugo>{words}\n"
    ).encode()


# ---- a local HTTP server on 127.0.0.1 serving feeds, transcripts and misbehaviour ----

BIG = 50 * 1024 * 1024
ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "'
    + b"a" * 40
    + b'">\n'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode() for i in range(9)
    )
    + b']>\n<rss version="2.0"><channel><title>Bomb</title><item><title>&j;</title>'
    b"<guid>bomb</guid></item></channel></rss>\n"
)


class FeedServer:
    """`async with FeedServer() as server:` then set `server.feed` (bytes) and `files`.

    /feed.xml answers 304 to its own ETag, or `status` when set, or never when `slow`; with
    `validators` off, it sends no ETag and the whole body every time (as many hosts do).
    /big streams 50 MB without a Content-Length; /files/<name> serves `files`.
    """

    def __init__(self) -> None:
        self.feed = b""
        self.status = 200
        self.reason: str | None = None  # the status line's text when `status` is set
        self.slow = False
        self.validators = True
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        self.big_sent = 0
        self._runner: web.AppRunner | None = None
        self.base = ""

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def count(self, prefix: str) -> int:
        return sum(1 for p in self.requests if p.startswith(prefix))

    async def __aenter__(self) -> FeedServer:
        never = asyncio.Event()

        async def feed(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            if self.slow:
                await never.wait()
            if self.status != 200:
                return web.Response(status=self.status, reason=self.reason, text="server trouble")
            headers = {"Content-Type": "application/rss+xml"}
            if self.validators:
                etag = '"' + hashlib.sha256(self.feed).hexdigest()[:16] + '"'
                if request.headers.get("If-None-Match") == etag:
                    return web.Response(status=304, headers={"ETag": etag})
                headers["ETag"] = etag
            return web.Response(body=self.feed, headers=headers)

        async def files(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            name = request.match_info["name"]
            if name not in self.files:
                return web.Response(status=404, text="no such file")
            body, kind = self.files[name]
            return web.Response(body=body, headers={"Content-Type": kind})

        async def big(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            resp = web.StreamResponse()
            await resp.prepare(request)
            chunk = b"<!-- " + b"x" * (64 * 1024 - 9) + b" -->"
            try:
                while self.big_sent < BIG:
                    await resp.write(chunk)
                    self.big_sent += len(chunk)
            except (ConnectionError, RuntimeError):
                pass
            return resp

        async def redirect_loop(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            raise web.HTTPFound("/loop")

        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/files/{name}", files)
        app.router.add_get("/big", big)
        app.router.add_get("/loop", redirect_loop)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

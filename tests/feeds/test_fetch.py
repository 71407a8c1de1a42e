"""fetch() against a real local HTTP server: conditional GET, errors, limits; Backoff."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.feeds.fetch import USER_AGENT, Backoff, FetchResult, fetch

FEED = (Path(__file__).parent / "fixtures" / "show.xml").read_bytes()
ETAG = '"v1"'
MODIFIED = "Tue, 05 Mar 2024 10:00:00 GMT"
BIG = 50 * 1024 * 1024


class Server:
    def __init__(self) -> None:
        self.seen: list[web.Request] = []
        self.never = asyncio.Event()  # the slow handler waits on it; nobody sets it
        self.big_sent = 0
        self.base = ""


def make_app(server: Server) -> web.Application:
    async def feed(request: web.Request) -> web.StreamResponse:
        server.seen.append(request)
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG})
        return web.Response(
            body=FEED,
            headers={
                "ETag": ETAG,
                "Last-Modified": MODIFIED,
                "Content-Type": "application/rss+xml; charset=utf-8",
            },
        )

    async def bare_304(request: web.Request) -> web.StreamResponse:
        return web.Response(status=304)  # no validators in the answer

    async def error(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="down", headers={"Retry-After": "120"})

    async def slow(request: web.Request) -> web.StreamResponse:
        await server.never.wait()
        return web.Response(text="too late")

    async def loop_a(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/loop/b")

    async def loop_b(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{server.base}/loop/a")  # absolute this time

    async def chain(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(body=FEED)
        raise web.HTTPMovedPermanently(f"/chain/{n - 1}")

    async def to_file(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("file:///etc/passwd")

    async def big(request: web.Request) -> web.StreamResponse:
        # Chunked, no Content-Length: the client must count as it reads. Generated as it
        # goes, never held in memory.
        resp = web.StreamResponse()
        await resp.prepare(request)
        chunk = b"<item>" + b"x" * (64 * 1024 - 13) + b"</item>"
        try:
            while server.big_sent < BIG:
                await resp.write(chunk)
                server.big_sent += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return resp

    async def big_declared(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(BIG)})
        await resp.prepare(request)
        return resp  # the client refuses on the header alone and never reads

    async def gzipped(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=gzip.compress(FEED),
            headers={
                "Content-Encoding": "gzip",
                "Content-Type": "application/xml; charset=ISO-8859-1",
            },
        )

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/bare304", bare_304)
    app.router.add_get("/error", error)
    app.router.add_get("/slow", slow)
    app.router.add_get("/loop/a", loop_a)
    app.router.add_get("/loop/b", loop_b)
    app.router.add_get("/chain/{n}", chain)
    app.router.add_get("/to-file", to_file)
    app.router.add_get("/big", big)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/gzip", gzipped)
    return app


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    runner = web.AppRunner(make_app(state), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base = f"http://{host}:{port}"
    yield state
    state.never.set()
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_200_then_304_with_etag(server, session):
    first = await fetch(session, f"{server.base}/feed.xml")
    assert first.ok and first.status == 200 and first.body == FEED
    assert (first.etag, first.last_modified) == (ETAG, MODIFIED)
    assert first.content_type == "application/rss+xml; charset=utf-8"
    assert server.seen[0].headers["User-Agent"] == USER_AGENT

    second = await fetch(
        session, f"{server.base}/feed.xml", etag=first.etag, last_modified=first.last_modified
    )
    assert second.not_modified and second.ok and second.status == 304 and second.body is None
    assert (second.etag, second.last_modified) == (ETAG, MODIFIED)
    assert server.seen[1].headers["If-None-Match"] == ETAG
    assert server.seen[1].headers["If-Modified-Since"] == MODIFIED


async def test_304_without_validators_keeps_ours(server, session):
    result = await fetch(session, f"{server.base}/bare304", etag='"old"', last_modified=MODIFIED)
    assert result.not_modified and (result.etag, result.last_modified) == ('"old"', MODIFIED)


async def test_server_error_is_reported_with_retry_after(server, session):
    result = await fetch(session, f"{server.base}/error", etag='"keep"')
    assert not result.ok and result.status == 503 and result.body is None
    assert result.error == f"HTTP 503 Service Unavailable from {server.base}/error"
    assert result.retry_after == 120.0
    assert result.etag == '"keep"'  # validators survive a failure


async def test_slow_server_times_out(server, session):
    result = await fetch(session, f"{server.base}/slow", timeout=0.2)
    assert result.error == "timed out after 0.2 s" and result.body is None


async def test_redirect_loop_is_named(server, session):
    result = await fetch(session, f"{server.base}/loop/a")
    assert result.error == (
        f"redirect loop: {server.base}/loop/a → {server.base}/loop/b → {server.base}/loop/a"
    )


async def test_redirects_are_followed_up_to_the_limit(server, session):
    ok = await fetch(session, f"{server.base}/chain/3", max_redirects=3)
    assert ok.body == FEED and ok.final_url == f"{server.base}/chain/0"
    too_many = await fetch(session, f"{server.base}/chain/4", max_redirects=3)
    assert too_many.error is not None and "too many redirects (more than 3)" in too_many.error


async def test_redirect_to_a_file_url_is_refused(server, session):
    result = await fetch(session, f"{server.base}/to-file")
    assert result.error == "redirected to a non-HTTP URL: file:///etc/passwd"


async def test_streaming_size_cap_stops_a_50_mb_download(server, session):
    result = await fetch(session, f"{server.base}/big", max_bytes=1024 * 1024)
    assert result.body is None
    assert result.error is not None and "larger than the 1,048,576-byte limit" in result.error
    assert server.big_sent < BIG  # we hung up early; the server never got to send it all


async def test_declared_size_over_the_cap_is_refused_before_reading(server, session):
    result = await fetch(session, f"{server.base}/big-declared", max_bytes=1024 * 1024)
    assert result.error is not None and "52,428,800 bytes" in result.error


async def test_gzip_is_decoded_and_charset_passed_through(server, session):
    result = await fetch(session, f"{server.base}/gzip")
    assert result.body == FEED
    assert result.content_type == "application/xml; charset=ISO-8859-1"


async def test_connection_refused(session):
    # A port from a listener we close at once: nothing listens there any more.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    result = await fetch(session, f"http://127.0.0.1:{port}/feed.xml", timeout=2)
    assert result.error is not None and result.error.startswith("could not connect to 127.0.0.1")


@pytest.mark.parametrize(
    ("url", "words"),
    [("ftp://example.org/feed.xml", "unsupported URL scheme 'ftp'"), ("http://", "URL")],
)
async def test_bad_urls(session, url, words):
    result = await fetch(session, url)
    assert result.error is not None and words in result.error


async def test_public_only_refuses_the_bots_own_network(server, session, tmp_path):
    # What a public feed links to must not reach loopback, private or link-local hosts, nor
    # local files; named so a moderator sees why the transcript is missing.
    assert (await fetch(session, f"{server.base}/feed.xml")).ok  # allowed unless asked
    seen = len(server.seen)
    refused = await fetch(session, f"{server.base}/feed.xml", public_only=True)
    assert refused.body is None and refused.error is not None
    assert "127.0.0.1 is at 127.0.0.1, not a public address" in refused.error
    assert len(server.seen) == seen  # refused before connecting
    for url in ("http://[::1]:9/x", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/"):
        error = (await fetch(session, url, public_only=True)).error or ""
        assert "not a public address" in error, (url, error)
    path = tmp_path / "secret.txt"
    path.write_text("key")
    for url in (str(path), path.as_uri()):
        error = (await fetch(session, url, public_only=True)).error or ""
        assert "only http(s):// links are fetched" in error


async def test_files_by_path_and_by_file_url(session, tmp_path):
    path = tmp_path / "my feed.xml"
    path.write_bytes(FEED)
    by_path = await fetch(session, str(path))
    by_url = await fetch(session, path.as_uri())
    for result in (by_path, by_url):
        assert result.ok and result.body == FEED and result.status is None
        assert result.final_url == path.as_uri()


async def test_file_problems(session, tmp_path):
    missing = await fetch(session, str(tmp_path / "nope.xml"))
    assert missing.error == f"no such file: {tmp_path / 'nope.xml'}"
    directory = await fetch(session, str(tmp_path))
    assert directory.error == f"{tmp_path} is not a file"
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2000)
    too_big = await fetch(session, str(big), max_bytes=1000)
    assert too_big.error is not None and "2,000 bytes, over the 1,000-byte limit" in too_big.error


# ---- backoff ----


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (1, 60.0), (2, 120.0), (3, 240.0), (8, 3600.0), (9, 3600.0), (10_000, 3600.0)],
)
def test_backoff_doubles_up_to_the_cap(failures, expected):
    backoff = Backoff(base=60, factor=2, cap=3600, jitter=0.1)
    assert backoff.delay(failures, FixedRandom(0.5)) == expected  # 0.5 = no jitter


def test_backoff_jitter_comes_from_the_rng_and_stays_under_the_cap():
    backoff = Backoff(base=60, factor=2, cap=3600, jitter=0.1)
    assert backoff.delay(1, FixedRandom(0.0)) == pytest.approx(54.0)
    assert backoff.delay(1, FixedRandom(1.0)) == pytest.approx(66.0)
    assert backoff.delay(20, FixedRandom(1.0)) == 3600.0
    rng = random.Random(7)
    delays = [backoff.delay(3, rng) for _ in range(200)]
    assert min(delays) >= 216 and max(delays) <= 264 and len(set(delays)) > 100


def test_backoff_honours_retry_after_as_a_floor():
    backoff = Backoff(base=60, factor=2, cap=3600, jitter=0)
    assert backoff.delay(1, FixedRandom(0.5), retry_after=300) == 300.0
    assert backoff.delay(3, FixedRandom(0.5), retry_after=10) == 240.0


@pytest.mark.parametrize(
    "kwargs", [{"base": 0}, {"factor": 0.5}, {"cap": 1, "base": 10}, {"jitter": 1.5}]
)
def test_backoff_rejects_nonsense(kwargs):
    with pytest.raises(ValueError, match="Backoff needs"):
        Backoff(**kwargs)


def test_fetch_result_ok():
    assert FetchResult(200, b"x", None, None, "u").ok
    assert not FetchResult(None, None, None, None, "u", error="boom").ok

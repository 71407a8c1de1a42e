"""Fetching feeds and feed-linked files: polite (conditional GET), bounded (size, time,
redirects) and never raising: every failure is a FetchResult with an error message.

`Backoff` is the pure companion: how long to wait after N consecutive failures.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiohttp
from yarl import URL

from bot.feeds.addresses import private_address

log = logging.getLogger(__name__)

USER_AGENT = "vgbot/0.1 (Discord bot for a podcast community; feed reader)"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class FetchResult:
    status: int | None  # HTTP status; None for local files and when no response came
    body: bytes | None  # None on error and on 304
    etag: str | None
    last_modified: str | None
    final_url: str  # after redirects
    error: str | None = None
    not_modified: bool = False
    content_type: str | None = None  # as sent, charset included
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header

    @property
    def ok(self) -> bool:
        return self.error is None


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - a per-request limit, part of the API
    connect_timeout: float | None = None,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    public_only: bool = False,
) -> FetchResult:
    """GET `url` (http, https, file:// or a plain path). Never raises for network or file
    trouble; the error says what happened in words a moderator can act on. On failure the
    given etag/last_modified come back unchanged, so callers can always store what they get.
    `public_only`: refuse local files and hosts at non-public addresses, redirects included
    (a file a public feed links to must not reach the bot's own network)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("", "file"):
        if public_only:
            return _failed(url, f"{url} is not a web address; only http(s):// links are fetched")
        return await _read_file(url, max_bytes=max_bytes)
    if scheme not in ("http", "https"):
        return _failed(url, f"unsupported URL scheme {scheme!r}; use http(s):// or a file path")
    request = _Request(
        url=url,
        headers={"User-Agent": USER_AGENT}
        | ({"If-None-Match": etag} if etag else {})
        | ({"If-Modified-Since": last_modified} if last_modified else {}),
        limits=aiohttp.ClientTimeout(
            total=timeout, connect=connect_timeout or min(timeout, 10.0), sock_read=timeout
        ),
        max_bytes=max_bytes,
        max_redirects=max_redirects,
        public_only=public_only,
    )
    try:
        # One deadline for the whole chain of redirects and the body.
        async with asyncio.timeout(timeout):
            result = await _follow(session, request)
    except TimeoutError:
        result = _failed(url, f"timed out after {timeout:g} s")
    if result.error is not None:
        result = replace(result, etag=etag, last_modified=last_modified)
    elif result.not_modified:  # a 304 may omit the validators: the old ones still hold
        result = replace(
            result, etag=result.etag or etag, last_modified=result.last_modified or last_modified
        )
    return result


@dataclass(frozen=True)
class _Request:
    url: str
    headers: dict[str, str]
    limits: aiohttp.ClientTimeout
    max_bytes: int
    max_redirects: int
    public_only: bool = False


async def _follow(session: aiohttp.ClientSession, request: _Request) -> FetchResult:
    """GET with redirects followed by hand, to count them, spot loops and refuse odd schemes."""
    visited = [str(URL(request.url))]
    current = visited[0]
    while True:
        if request.public_only and (address := await private_address(current)) is not None:
            host = urlsplit(current).hostname
            return _failed(
                current,
                f"{host} is at {address}, not a public address: what a public feed links to is "
                "fetched only from the public internet",
            )
        try:
            async with session.get(
                current, headers=request.headers, timeout=request.limits, allow_redirects=False
            ) as resp:
                if resp.status not in _REDIRECTS or "Location" not in resp.headers:
                    return await _response(resp, current, request.max_bytes)
                target = str(URL(current).join(URL(resp.headers["Location"])))
        except TimeoutError:
            return _failed(current, f"timed out after {request.limits.total:g} s")
        except aiohttp.InvalidURL:
            return _failed(current, f"not a valid URL: {current}")
        except aiohttp.ClientConnectorError as exc:
            return _failed(current, f"could not connect to {exc.host}:{exc.port} ({exc.os_error})")
        except aiohttp.ClientError as exc:
            return _failed(current, f"download failed: {type(exc).__name__}: {exc}")
        except (OSError, ValueError) as exc:
            return _failed(current, f"download failed: {exc}")
        if target in visited:
            chain = " → ".join([*visited[visited.index(target) :], target])
            return _failed(current, f"redirect loop: {chain}", status=resp.status)
        if len(visited) > request.max_redirects:
            return _failed(
                current,
                f"too many redirects (more than {request.max_redirects}) from {request.url}",
                status=resp.status,
            )
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            return _failed(current, f"redirected to a non-HTTP URL: {target}", status=resp.status)
        visited.append(target)
        current = target


async def _response(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> FetchResult:
    new_etag = resp.headers.get("ETag")
    new_modified = resp.headers.get("Last-Modified")
    content_type = resp.headers.get("Content-Type")
    if resp.status == 304:
        return FetchResult(304, None, new_etag, new_modified, url, not_modified=True)
    if resp.status >= 400 or resp.status < 200:
        return FetchResult(
            resp.status,
            None,
            None,
            None,
            url,
            error=f"HTTP {resp.status} {resp.reason or ''}".rstrip() + f" from {url}",
            content_type=content_type,
            retry_after=_retry_after(resp.headers.get("Retry-After")),
        )
    too_big = f"larger than the {max_bytes:,}-byte limit; download stopped"
    if resp.content_length is not None and resp.content_length > max_bytes:
        return _failed(
            url, f"{url} is {resp.content_length:,} bytes, {too_big}", status=resp.status
        )
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            return _failed(url, f"{url} is {too_big}", status=resp.status)
    log.debug("fetched %s: %d bytes", url, len(body))
    return FetchResult(
        resp.status, bytes(body), new_etag, new_modified, url, content_type=content_type
    )


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form: an HTTP date would need the clock, which callers own.
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _failed(url: str, error: str, *, status: int | None = None) -> FetchResult:
    log.info("fetch %s failed: %s", url, error)
    return FetchResult(status, None, None, None, url, error=error)


async def _read_file(url: str, *, max_bytes: int) -> FetchResult:
    path = Path(unquote(urlsplit(url).path)) if url.lower().startswith("file:") else Path(url)

    def read() -> FetchResult:
        try:
            size = path.stat().st_size
            if not path.is_file():
                return _failed(url, f"{path} is not a file")
            if size > max_bytes:
                return _failed(url, f"{path} is {size:,} bytes, over the {max_bytes:,}-byte limit")
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            return _failed(url, f"no such file: {path}")
        except PermissionError:
            return _failed(url, f"permission denied reading {path}")
        except OSError as exc:
            return _failed(url, f"could not read {path}: {exc.strerror or exc}")
        if len(data) > max_bytes:  # the file grew while we read it
            return _failed(url, f"{path} is over the {max_bytes:,}-byte limit")
        return FetchResult(None, data, None, None, path.as_uri() if path.is_absolute() else url)

    return await asyncio.to_thread(read)


# ---- backoff ----


class Random(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True)
class Backoff:
    """Delay before the next attempt after `failures` consecutive errors: base · factor^(n-1),
    capped, spread by ±jitter (a fraction) so many feeds do not retry in lockstep."""

    base: float = 60.0
    factor: float = 2.0
    cap: float = 6 * 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base or not 0 <= self.jitter < 1:
            raise ValueError(
                "Backoff needs base > 0, factor >= 1, cap >= base and 0 <= jitter < 1; got "
                f"base={self.base}, factor={self.factor}, cap={self.cap}, jitter={self.jitter}"
            )

    def delay(self, failures: int, rng: Random, *, retry_after: float | None = None) -> float:
        """Seconds to wait; 0 when nothing failed. A server's Retry-After is a floor."""
        if failures <= 0:
            return 0.0
        # log-space comparison: factor ** failures overflows for long outages
        steps = failures - 1
        if self.factor == 1 or steps * math.log(self.factor) < math.log(self.cap / self.base):
            raw = min(self.cap, self.base * self.factor**steps)
        else:
            raw = self.cap
        spread = raw * (1 + self.jitter * (2 * rng.random() - 1))
        wait = min(self.cap, spread)
        return max(wait, retry_after) if retry_after is not None else wait

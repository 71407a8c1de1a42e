"""Injected failures and Discord's rate-limit headers.

Pure: callers pass `now` (seconds). A `Fault` makes the next `count` matching requests fail with
429 (Discord's real headers and body, or Cloudflare's plain-text ban), a 5xx JSON error, or a
4xx refusal with Discord's JSON error code (a limit or a state the world does not model, such as
160006 "Maximum number of active threads reached"). `Buckets` produces the X-RateLimit-*
headers Discord sends on every response, per route bucket.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import EmulatorError

log = logging.getLogger(__name__)

_5XX_TEXT = {
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
    504: "504: Gateway Timeout",
}
# 4xx refusals: Discord's JSON body is {"message", "code"}; these are its messages for the
# codes a test is likely to inject (docs: topics/opcodes-and-status-codes), so only the code
# need be given. Any other code needs its message.
_4XX_STATUSES = (400, 401, 403, 404)
_API_MESSAGES = {
    0: "401: Unauthorized",
    10003: "Unknown Channel",
    10008: "Unknown Message",
    10062: "Unknown interaction",
    30033: "Max number of thread participants has been reached",
    40060: "Interaction has already been acknowledged",
    50001: "Missing Access",
    50013: "Missing Permissions",
    160004: "A thread has already been created for this message",
    160005: "Thread is locked",
    160006: "Maximum number of active threads reached",
    160007: "Maximum number of active announcement threads reached",
}
# Cloudflare answers an IP over Discord's invalid-request limit itself: plain text, no JSON, no
# X-RateLimit-* headers and no "Via" (which Discord's own 429s carry).
CLOUDFLARE_BODY = "error code: 1015"


@dataclass
class Fault:
    method: str  # "GET", "POST", ... or "*"
    path_regex: str
    status: int
    count: int = 1
    retry_after: float = 0.05
    scope: str = "user"
    code: int = 0  # a 4xx: Discord's JSON error code
    message: str | None = None  # a 4xx: Discord's message (known codes have a default)
    cloudflare: bool = False  # a 429 only: Cloudflare's ban, not Discord's rate limit
    # A 5xx only: the request is carried out first, then answered with the error, as when
    # Discord's gateway times out after the work was done. The client cannot tell.
    after: bool = False
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.status != 429 and self.status not in _5XX_TEXT and not self.refusal:
            raise EmulatorError(
                f"fault status must be 429, one of {list(_4XX_STATUSES)} or one of "
                f"{sorted(_5XX_TEXT)}, got {self.status}"
            )
        if self.refusal and self.message is None:
            self.message = _API_MESSAGES.get(self.code)
            if self.message is None:
                raise EmulatorError(
                    f"give the message Discord sends with code {self.code} (message=...)"
                )
        if self.after and self.status not in _5XX_TEXT:
            raise EmulatorError(
                "a fault after the work must be a 5xx: a 429 or a refusal is never processed"
            )
        if self.cloudflare and self.status != 429:
            raise EmulatorError("a Cloudflare ban is a 429")
        if self.scope not in ("user", "global", "shared"):
            raise EmulatorError(f"scope must be 'user', 'global' or 'shared', got {self.scope!r}")
        if self.count < 1:
            raise EmulatorError(f"count must be at least 1, got {self.count}")
        if self.retry_after < 0:
            raise EmulatorError(f"retry_after must not be negative, got {self.retry_after}")
        try:
            self._pattern = re.compile(self.path_regex)
        except re.error as exc:
            raise EmulatorError(f"path_regex {self.path_regex!r} is not a regex: {exc}") from None

    @property
    def refusal(self) -> bool:
        return self.status in _4XX_STATUSES

    @property
    def remaining(self) -> int:
        return self.count - self.hits

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method.upper())
            and self._pattern.search(path) is not None
        )

    def response(self, bucket: str, now: float) -> tuple[int, dict[str, str], dict[str, Any] | str]:
        """(status, headers, JSON body) of one failing response; Cloudflare's body is text."""
        if self.refusal:
            return self.status, {}, {"message": self.message, "code": self.code}
        if self.status != 429:
            return self.status, {}, {"message": _5XX_TEXT[self.status], "code": 0}
        if self.cloudflare:
            return 429, {"Retry-After": str(max(1, math.ceil(self.retry_after)))}, CLOUDFLARE_BODY
        is_global = self.scope == "global"
        headers = {
            "Retry-After": str(max(1, math.ceil(self.retry_after))),
            "X-RateLimit-Scope": self.scope,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{now + self.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                    "X-RateLimit-Bucket": bucket,
                }
            )
        body = {
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": is_global,
        }
        return 429, headers, body


class Faults:
    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault matching this request, counted as hit."""
        for fault in self.pending:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.remaining == 0:
                    self.pending.remove(fault)
                return fault
        return None


def bucket_hash(route_key: str) -> str:
    return hashlib.sha1(route_key.encode()).hexdigest()[:16]


@dataclass
class _Window:
    started: float
    used: int = 0


class Buckets:
    """Per-bucket request windows for the headers Discord sends on success.

    `limit` requests per `window` seconds per (route, major parameter). When `enforce` is on, a
    request over the limit gets a 429 like Discord's; off (the default), headers only.
    """

    def __init__(self, *, limit: int = 50, window: float = 1.0, enforce: bool = False) -> None:
        if limit < 1 or window <= 0:
            raise EmulatorError(f"rate limit must be >= 1 per > 0 s, got {limit} per {window}")
        self.limit = limit
        self.window = window
        self.enforce = enforce
        self._windows: dict[str, _Window] = {}

    def hit(self, key: str, now: float, epoch: float) -> tuple[dict[str, str], float | None]:
        """Count one request at monotonic `now` (wall-clock `epoch` for the Reset header).

        Returns the headers, and retry_after if the request is over an enforced limit."""
        win = self._windows.get(key)
        if win is None or now - win.started >= self.window:
            win = self._windows[key] = _Window(now)
        win.used += 1
        reset_after = max(win.started + self.window - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - win.used, 0)),
            "X-RateLimit-Reset": f"{epoch + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(key.split(":", 1)[0]),
        }
        over = self.enforce and win.used > self.limit
        return headers, (reset_after if over else None)

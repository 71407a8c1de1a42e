"""Errors the emulator raises: Discord's JSON API errors, and driver misuse by a test."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

# Discord's JSON error codes used here (docs: topics/opcodes-and-status-codes).
UNKNOWN_ACCOUNT = 0
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_COMMAND = 10063
INTERACTION_ACKNOWLEDGED = 40060
TAG_REQUIRED = 40067
MISSING_ACCESS = 50001
EDIT_OTHERS_MESSAGE = 50005
EMPTY_MESSAGE = 50006
NON_TEXT_CHANNEL = 50008
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
WRONG_CHANNEL_TYPE = 50024
ARCHIVED_THREAD = 50083
THREAD_EXISTS = 160004


class ApiError(Exception):
    """An HTTP error response exactly as Discord shapes it: status + {code, message[, errors]}."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {message} (code {code})")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found(code: int, what: str) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def missing_permissions() -> ApiError:
    return ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")


def missing_access() -> ApiError:
    return ApiError(403, MISSING_ACCESS, "Missing Access")


def form_error(problems: Iterable[tuple[str, str, str]]) -> ApiError:
    """400 Invalid Form Body; problems are (dotted path like "embeds.0.title", code, message)."""
    errors: dict[str, Any] = {}
    for path, code, message in problems:
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


class EmulatorError(Exception):
    """A test or the sandbox drove the emulator wrongly; the message says how to fix it."""

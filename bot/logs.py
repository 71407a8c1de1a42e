"""Logging set up once in main: readable text or JSON lines, and the token never written."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# Discord bot tokens: three base64url parts separated by dots.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")
# Interaction (and webhook) tokens: in the URLs discord.py logs and in the gateway events it
# logs at DEBUG. Each lets its holder answer or post as the bot for 15 minutes.
_URL_TOKEN = re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9_.-]+")
_TOKEN_FIELD = re.compile(r"""(['"]token['"]:\s*['"])[^'"]+""")


class RedactToken(logging.Filter):
    """Blanks the configured token, and anything shaped like one, from every record."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self._token = token

    def redact(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "[token]")
        text = _URL_TOKEN.sub(r"\1[token]", _TOKEN_FIELD.sub(r"\1[token]", text))
        return _TOKEN_SHAPE.sub("[token]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            # Format now so the traceback text is redacted too.
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", token: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactToken(token))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

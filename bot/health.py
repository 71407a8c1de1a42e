"""The health signal: the running bot rewrites a small heartbeat file, a checker reads its age.

The time is always a parameter (seconds since the epoch, as `time.time()` gives), so the
checker is exact in tests and the same code serves Docker's HEALTHCHECK and `vgbot health`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The bot beats every HEARTBEAT_INTERVAL seconds; a beat older than DEFAULT_MAX_AGE means the
# event loop has stalled or the process is gone (three missed beats, so one slow tick is fine).
HEARTBEAT_INTERVAL = 30.0
DEFAULT_MAX_AGE = 90.0

# A heartbeat is a few hundred bytes; refuse to read anything much bigger than that.
_MAX_BYTES = 64 * 1024
_MAX_SUMMARY = 200


def write_heartbeat(path: Path, now: float, detail: Mapping[str, Any] | None = None) -> bool:
    """Atomically replace `path` with {"time": now, "pid": ..., "detail": {...}}.

    Returns False (and logs why) instead of raising: a full disk must not stop the bot, the
    stale heartbeat will report it. `detail` values that JSON cannot hold are written as text.
    """
    payload = {"time": now, "pid": os.getpid(), "detail": dict(detail or {})}
    text = json.dumps(payload, default=str, sort_keys=True)
    tmp_name = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target, so os.replace is a rename within one filesystem:
        # a reader sees the old beat or the new one, never half of one.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        # mkstemp makes 0600; the checker may run as another user and there is no secret here.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except OSError as exc:
        log.warning("cannot write heartbeat file %s: %s", path, exc)
        if tmp_name:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
        return False
    return True


def check_heartbeat(path: Path | None, now: float, max_age: float) -> tuple[bool, str]:
    """(healthy, one line saying why) for the heartbeat at `path` as seen at time `now`."""
    if not _is_number(max_age) or max_age <= 0:
        return False, f"max age must be a positive number of seconds, got {max_age!r}"
    if path is None:
        return False, (
            "no heartbeat file configured: set VGBOT_HEALTH_FILE to the same path for the bot "
            "and for this check"
        )
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return False, (
            f"no heartbeat file at {path}: the bot has not started (or not beaten yet), or "
            "VGBOT_HEALTH_FILE differs between the bot and this check"
        )
    except OSError as exc:
        return False, f"cannot read heartbeat file {path}: {exc.strerror or exc}"
    if len(raw) > _MAX_BYTES:
        return False, (
            f"heartbeat file {path} is over {_MAX_BYTES} bytes, so it is not a heartbeat: "
            "check that VGBOT_HEALTH_FILE names a file only the bot writes"
        )
    beat, problem = _parse(raw)
    if beat is None:
        return False, (
            f"heartbeat file {path} is not a heartbeat ({problem}): delete it and let the bot "
            "write a new one, or check that VGBOT_HEALTH_FILE names a file only the bot writes"
        )
    age = now - beat["time"]
    who = f"pid {beat['pid']}" if beat.get("pid") is not None else "unknown pid"
    if age > max_age:
        return False, (
            f"heartbeat is stale: last beat {age:.0f}s ago, over the {max_age:g}s limit "
            f"({who}): the bot is stuck or has stopped"
        )
    if -age > max_age:
        return False, (
            f"heartbeat is {-age:.0f}s in the future ({who}): the clocks of the bot and of "
            "this check disagree"
        )
    return True, f"ok: last beat {max(age, 0.0):.0f}s ago ({who}){_summary(beat['detail'])}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    if not _is_number(data.get("time")):
        return None, "no finite number under 'time'"
    detail = data.get("detail", {})
    if not isinstance(detail, dict):
        return None, "'detail' is not an object"
    return {"time": float(data["time"]), "pid": data.get("pid"), "detail": detail}, ""


def _summary(detail: Mapping[str, Any]) -> str:
    if not detail:
        return ""
    text = ", ".join(f"{key}={detail[key]}" for key in sorted(detail))
    # One line for `docker inspect`: whatever the detail holds, keep it short.
    text = " ".join(text.split())
    return ": " + (text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…")

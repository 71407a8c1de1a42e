import json
import logging

from bot.logs import JsonFormatter, RedactToken

TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz012345"


def _record(msg, *args, exc_info=None):
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_configured_token_and_token_shapes_are_redacted():
    f = RedactToken("plain-secret")
    r = _record("token=%s other=%s", "plain-secret", TOKEN)
    f.filter(r)
    assert "plain-secret" not in r.getMessage() and TOKEN not in r.getMessage()
    assert r.getMessage().count("[token]") == 2


def test_traceback_text_is_redacted_too():
    try:
        raise RuntimeError(f"bad {TOKEN}")
    except RuntimeError:
        import sys

        r = _record("failed", exc_info=sys.exc_info())
    RedactToken().filter(r)
    assert TOKEN not in (r.exc_text or "") and "[token]" in (r.exc_text or "")


def test_json_lines():
    r = _record("hello %s", "world")
    out = json.loads(JsonFormatter().format(r))
    assert out["msg"] == "hello world" and out["level"] == "ERROR"


def test_interaction_tokens_in_urls_and_gateway_events_are_redacted():
    interaction = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpBYkNkRWZHaEk"
    f = RedactToken()
    r = _record(
        "POST https://discord.com/api/v10/interactions/123/%s/callback; "
        "PATCH https://discord.com/api/v10/webhooks/456/%s/messages/@original; event %s",
        interaction,
        interaction,
        {"t": "INTERACTION_CREATE", "d": {"id": "123", "token": interaction}},
    )
    f.filter(r)
    assert interaction not in r.getMessage()
    assert "/interactions/123/[token]/callback" in r.getMessage()
    assert "/webhooks/456/[token]/messages" in r.getMessage()

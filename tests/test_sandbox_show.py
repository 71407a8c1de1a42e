from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox.show import relative, render_message


def test_embed_fields_buttons_and_ephemeral_mark():
    text = render_message(
        {
            "flags": 64,
            "embeds": [
                {
                    "title": "Episode 11: Data Science: The Great Stagnation",
                    "url": "https://example.org/11",
                    "description": "Hugo talks with Mark.",
                    "fields": [{"name": "Guests", "value": "Mark Saroufim"}],
                    "footer": {"text": "Vanishing Gradients"},
                }
            ],
            "components": [
                {"type": 1, "components": [{"type": 2, "label": "Listen", "url": "https://a/b"}]}
            ],
        },
        where="#general",
    )
    assert text.splitlines()[0] == "── bot in #general (only you can see this) ──"
    assert "  ┃ Episode 11: Data Science: The Great Stagnation" in text
    assert "  ┃ Guests:\n  ┃   Mark Saroufim" in text
    assert "  [Listen] → https://a/b" in text


def test_plain_content_is_wrapped():
    text = render_message({"content": "word " * 40})
    assert all(len(line) <= 88 for line in text.splitlines())
    assert "(only you can see this)" not in text


def test_timestamps_and_channel_links_read_as_a_client_shows_them():
    text = render_message(
        {"content": "Next: <t:1796407200:F> (<t:1796407200:R>) in <#101>, not <#999>"},
        channels={"101": "general"},
    )
    assert "Next: Fri 04 Dec 2026 18:00 UTC (Fri 04 Dec 2026 18:00 UTC) in #general" in text
    assert "<#999>" not in text and "#999" in text


def test_role_and_user_mentions_read_as_names():
    text = render_message(
        {"content": "pings <@&7> and <@&1>, for <@5> (<@!5>), not <@&9> or <@8>"},
        roles={"7": "Moderator", "1": "@everyone"},
        users={"5": "alice"},
    )
    assert "pings @Moderator and @everyone, for @alice (@alice)" in text
    assert "not @deleted-role or @unknown-user" in text


def test_relative_timestamps_read_from_the_sandbox_clock():
    now = datetime.fromtimestamp(1796407200, UTC) - timedelta(days=3, hours=1)
    text = render_message({"content": "Next: <t:1796407200:F> (<t:1796407200:R>)"}, now=now)
    assert "Next: Fri 04 Dec 2026 18:00 UTC (in 3 days)" in text


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "in a few seconds"),
        (-30, "a few seconds ago"),
        (60, "in a minute"),
        (10 * 60, "in 10 minutes"),
        (-3600, "an hour ago"),
        (5 * 3600, "in 5 hours"),
        (30 * 3600, "in a day"),
        (6 * 86400, "in 6 days"),
        (21 * 86400, "in 21 days"),
        (40 * 86400, "in a month"),
        (-100 * 86400, "3 months ago"),
        (400 * 86400, "in a year"),
        (3 * 365 * 86400, "in 3 years"),
    ],
)
def test_relative_wording_is_the_clients(seconds: int, said: str):
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert relative(now + timedelta(seconds=seconds), now) == said

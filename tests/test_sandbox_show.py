from bot.sandbox.show import render_message


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

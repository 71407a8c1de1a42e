import pytest

from bot.sandbox.commandline import CommandLineError, parse_command_line

COMMANDS = [
    {"name": "episode", "options": [{"name": "query", "type": 3, "required": True}]},
    {"name": "topic", "options": [{"name": "query", "type": 3, "required": True}]},
    {
        "name": "schedule",
        "options": [
            {
                "name": "thread",
                "type": 1,
                "options": [
                    {"name": "topic", "type": 3, "required": True},
                    {"name": "when", "type": 3, "required": True},
                    {"name": "channel", "type": 7},
                    {
                        "name": "repeat",
                        "type": 3,
                        "choices": [
                            {"name": "Just once", "value": "once"},
                            {"name": "Every week", "value": "weekly"},
                        ],
                    },
                ],
            },
            {"name": "list", "type": 1, "options": []},
            {"name": "cancel", "type": 1, "options": [{"name": "id", "type": 4, "required": True}]},
        ],
    },
]
CHANNELS = {"general": "101", "discussions": "102"}


@pytest.mark.parametrize(
    ("text", "qualified", "options"),
    [
        ("/episode 11", "episode", {"query": "11"}),
        ("/episode mark saroufim", "episode", {"query": "mark saroufim"}),
        ('/topic "defensible moats"', "topic", {"query": "defensible moats"}),
        ("/topic query:moats", "topic", {"query": "moats"}),
        ("/topic python:3 tips", "topic", {"query": "python:3 tips"}),  # free text stays text
        (
            "/schedule thread moats when:18:00",  # only the first colon names the option
            "schedule thread",
            {"topic": "moats", "when": "18:00"},
        ),
        ("/schedule list", "schedule list", {}),
        ("/schedule cancel 7", "schedule cancel", {"id": 7}),
        (
            "/schedule thread moats tomorrow",
            "schedule thread",
            {"topic": "moats", "when": "tomorrow"},
        ),
        (
            '/schedule thread topic:moats when:"friday 18:00" channel:#discussions repeat:weekly',
            "schedule thread",
            {"topic": "moats", "when": "friday 18:00", "channel": "102", "repeat": "weekly"},
        ),
        (  # a channel as Discord writes its mention
            "/schedule thread topic:moats when:tomorrow channel:<#102>",
            "schedule thread",
            {"topic": "moats", "when": "tomorrow", "channel": "102"},
        ),
        (  # a choice by the name Discord's client shows, in any case
            '/schedule thread moats tomorrow repeat:"every WEEK"',
            "schedule thread",
            {"topic": "moats", "when": "tomorrow", "repeat": "weekly"},
        ),
    ],
)
def test_good_lines(text, qualified, options):
    inv = parse_command_line(text, COMMANDS, CHANNELS)
    assert inv.qualified == qualified
    assert inv.options == options


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("episode 11", "start with '/'"),
        ("/", "type a command"),
        ("/nope", "no command /nope; the bot has: /episode, /schedule, /topic"),
        ('/topic "moats', "No closing quotation: close the quote"),
        ("/episode", "missing query"),
        ("/schedule", "usage: /schedule thread | /schedule list | /schedule cancel"),
        ("/schedule cancel seven", "'id' takes a whole number"),
        ("/schedule thread moats friday 18:00", "name the options"),
        ("/schedule thread topic:x when:y channel:#nowhere", "no channel '#nowhere'"),
        (
            "/schedule thread topic:x when:y repeat:daily",
            'option \'repeat\' must be one of: "Just once", "Every week" .e.g. repeat:"Just once"',
        ),
        (
            "/schedule thread topic:x at:friday",
            "/schedule thread has no option 'at': /schedule thread topic:… when:…",
        ),
    ],
)
def test_bad_lines_say_what_is_wrong(text, message):
    with pytest.raises(CommandLineError, match=message.replace("(", r"\(")):
        parse_command_line(text, COMMANDS, CHANNELS)


@pytest.mark.parametrize(
    ("text", "focused", "options"),
    [
        ("/topic moa|", "query", {"query": "moa"}),
        ("/topic |", "query", {"query": ""}),
        ("/schedule thread mo|", "topic", {"topic": "mo"}),  # 'when' is not missing yet
        ("/schedule thread moats tom|", "when", {"topic": "moats", "when": "tom"}),
        # The option with the cursor, not the first one typed.
        ("/schedule thread topic:moats when:x repeat:we|", "repeat", None),
        ("/schedule cancel |", "id", {"id": ""}),  # as typed: no whole number yet
    ],
)
def test_the_option_under_the_cursor_is_the_one_completed(text, focused, options):
    inv = parse_command_line(text, COMMANDS, CHANNELS, cursor="|")
    assert inv.focused == focused
    assert inv.focused_option is not None and inv.focused_option["name"] == focused
    if options is not None:
        assert inv.options == options


def test_nothing_to_complete_says_so():
    with pytest.raises(CommandLineError, match="/schedule list takes no options"):
        parse_command_line("/schedule list |", COMMANDS, CHANNELS, cursor="|")

"""The newcomer's path: `make run` with no token opens the sandbox prompt, and `/episode 11`
typed there shows episode 11 (the emulator, the bot process and the prompt all real)."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_make_run_without_token_opens_the_sandbox_and_answers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    env["VGBOT_DB"] = str(tmp_path / "vgbot.sqlite3")
    typed = (
        '/episode 11\n:complete /topic moat\n:complete /topic\n/topic "moats\n'
        "/weekly show\n"  # a member is refused
        ":as moderator\n/weekly set friday 18:00 channel:#general tz:Europe/London\n"
        '/schedule thread topic:moats when:"in 1 hour" title:"Moats, revisited"\n'
        "/schedule run-now 1\n"
        ":advance 7d\n/config show\n:as admin\n/config show\n:quit\n"
    )
    out = subprocess.run(
        ["make", "-s", "run"],
        cwd=REPO,
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    screen = out.stdout
    assert "Type :help for help." in screen
    assert "member #general> " in screen
    assert "Episode 11: Data Science: The Great Stagnation" in screen
    assert "Mark Saroufim" in screen
    assert "→  defensible-moats" in screen  # autocomplete
    assert "→  open-source-risk" in screen  # ...of nothing typed yet: the first choices
    assert "No closing quotation" in screen  # an unbalanced quote gets a clear message
    assert "you are now a moderator" in screen
    # The member's attempt, refused as Discord's client would, naming the permission.
    assert "may not use /weekly: it needs Manage Threads, which they lack here" in screen
    assert "Weekly prompt set" in screen
    # The new thread is named where its mention is shown, as a Discord client shows it.
    assert "Posted `#1` now: #Moats, revisited (https://discord.com/channels/" in screen
    # The clock jump makes the weekly prompt due: the bot posts it in #general by itself.
    after_advance = screen.split("the clock moved forward 7d", 1)[1]
    assert "── bot in #general ──" in after_advance and "-# ref " in after_advance
    # A moderator may not change the server's settings; an admin may look at them.
    assert "mod may not use /config: it needs Manage Server, which they lack here" in after_advance
    assert "you are now an admin" in after_advance
    assert "admin #general> " in after_advance
    assert "Discussion channel" in after_advance.split("you are now an admin", 1)[1]
    assert "Traceback" not in screen + out.stderr
    # The bot ran as its own process and left its log in the sandbox folder.
    assert (tmp_path / "sandbox" / "bot.log").exists()

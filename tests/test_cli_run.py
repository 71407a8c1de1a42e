"""`vgbot run` fails clearly, never with a traceback, when it cannot start."""

import os
import re
import socket
import subprocess
import sys

import pytest

from bot.cli import main


def _run(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    base |= {"VGBOT_DB": str(tmp_path / "bot.sqlite3"), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"], capture_output=True, text=True, env=base, timeout=60
    )


def test_no_token_exits_2_and_says_what_to_set(tmp_path):
    out = _run(tmp_path)
    assert out.returncode == 2
    assert "set DISCORD_TOKEN" in out.stderr and "Traceback" not in out.stderr


def test_unreachable_discord_is_one_clear_line(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = _run(
        tmp_path,
        DISCORD_TOKEN="abc.def.ghi",
        DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
    )
    assert out.returncode == 1
    assert "cannot reach Discord at http://127.0.0.1" in out.stderr
    assert "Traceback" not in out.stderr and "abc.def.ghi" not in out.stderr


def test_a_file_that_is_not_a_database_is_named_with_the_fix(tmp_path):
    bad = tmp_path / "bot.sqlite3"
    bad.write_text("not a database")
    for command in (["episode", "11"], ["run"]):
        out = subprocess.run(
            [sys.executable, "-m", "bot", "--db", str(bad), *command],
            capture_output=True,
            text=True,
            env={**os.environ, "DISCORD_TOKEN": "abc.def.ghi"},
            timeout=60,
        )
        assert out.returncode == 2, command
        assert "is not a usable SQLite database" in out.stderr and "VGBOT_DB" in out.stderr
        assert "Traceback" not in out.stderr


def test_a_question_at_the_terminal_prints_the_answer_without_progress_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(tmp_path / "bot.sqlite3"), "episode", "11"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Great Stagnation" in out.stdout
    assert "INFO" not in out.stderr, out.stderr  # the first sync and migrations stay quiet


def test_a_reader_that_left_early_gets_no_traceback(tmp_path):
    # `vgbot topic moats --json | head -c 100`, with the reader gone before a byte is written:
    # a pipe whose read end is already closed, so the first write fails every time.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    db = str(tmp_path / "bot.sqlite3")
    for command in (["topic", "moats", "--json"], ["episode", "11"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            out = subprocess.run(
                [sys.executable, "-m", "bot", "--db", db, *command],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                timeout=60,
            )
        finally:
            os.close(write_end)
        assert out.stderr == "", out.stderr
        assert out.returncode == 141, command  # as a shell says for a program SIGPIPE stopped


def test_the_doctor_says_what_run_does_without_a_token(tmp_path):
    doctor = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))},
            "VGBOT_DB": str(tmp_path / "bot.sqlite3"),
        },
        timeout=60,
    )
    (line,) = [s for s in doctor.stdout.splitlines() if s.startswith("[WARN] token:")]
    run = _run(tmp_path)
    assert f"`vgbot run` would stop at once with exit status {run.returncode}" in line
    assert "sandbox, not the bot" not in line


def _ask(tmp_path, *question):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VGBOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(tmp_path / "bot.sqlite3"), *question],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_a_miss_offers_its_suggestions_once(tmp_path):
    out = _ask(tmp_path, "topic", "moatz")
    assert out.returncode == 1, out.stderr
    assert out.stdout.count("Did you mean") == 1, out.stdout
    assert "Did you mean: Defensible moats" in out.stdout
    found = _ask(tmp_path, "search", "open sauce")
    assert found.returncode == 0, found.stderr
    assert found.stdout.count("Making open source easy to use") == 1, found.stdout


def test_a_misspelt_log_level_is_a_settings_error_not_a_traceback(tmp_path):
    out = _run(tmp_path, VGBOT_LOG_LEVEL="verbose")
    assert out.returncode == 2
    assert "'log_level' must be one of DEBUG, INFO" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_misspelt_env_var_is_warned_about_in_the_log(tmp_path):
    out = _run(tmp_path, VGBOT_DATABASE=str(tmp_path / "meant.sqlite3"))
    assert out.returncode == 2  # no token
    assert "WARNING" in out.stderr and "VGBOT_DATABASE is no setting" in out.stderr
    assert "did you mean VGBOT_DB?" in out.stderr


def test_each_command_s_own_help_says_what_it_does(capsys):
    """`vgbot episode --help` printed only its usage: not what a query may be, nor the exit
    status scripts rely on. Each command's help now starts with its line in `vgbot --help`."""
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out.split("positional arguments:")[1].split("options:")[0]
    lines = dict(re.findall(r"^    (\S+) +(.+(?:\n {10,}.+)*)", listing, re.MULTILINE))
    assert {"run", "sandbox", "episode", "topic", "search", "doctor"} <= set(lines)
    for name, line in lines.items():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        own = " ".join(capsys.readouterr().out.split())
        assert " ".join(line.split()) in own, name
    with pytest.raises(SystemExit):
        main(["episode", "--help"])
    own = " ".join(capsys.readouterr().out.split())
    assert "Exit status 1 when nothing was found." in own and "11, #11, saroufim" in own
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    assert "delete it to start afresh" in " ".join(capsys.readouterr().out.split())

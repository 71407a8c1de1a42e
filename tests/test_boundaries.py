"""Whole-repo invariants: the pure layers stay free of Discord and the network."""

import subprocess
import sys

PURE = [
    "bot.core.models",
    "bot.core.content",
    "bot.core.transcripts",
    "bot.core.text",
    "bot.core.markup",
    "bot.core.layout",
    "bot.core.render",
    "bot.core.schedule",
    "bot.core.when",
    "bot.core.query",
    "bot.core.answers",
    "bot.store",
    "bot.services.catalogue",
    "bot.services.scheduling",
    "bot.services.publisher",
    "bot.store.outbox",
    "bot.store.scheduling",
    "bot.settings",
    "bot.terminal",
    "bot.cli",
]


def test_pure_layers_import_neither_discord_nor_aiohttp():
    code = (
        "import importlib, sys\n"
        f"for m in {PURE!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'aiohttp'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_the_package_does_no_work():
    # No settings read, no files opened, no connections at import: a bare import is silent
    # and needs no environment.
    code = "import bot.cli, bot.settings; print('ok')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={}
    )
    assert out.stdout.strip() == "ok" and out.stderr == ""

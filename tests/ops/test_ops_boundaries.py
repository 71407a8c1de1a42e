"""bot.ops holds no Discord: only the doctor touches the network (aiohttp), over REST."""

import subprocess
import sys

NO_NETWORK = [
    "bot.ops.about",
    "bot.ops.backup",
    "bot.ops.commands",
    "bot.ops.guild_settings",
    "bot.ops.heartbeat",
    "bot.ops.permissions",
    "bot.ops.reload",
    "bot.store.guild_config",
]


def loaded_after_importing(modules: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.strip().split(","))


def test_ops_modules_load_neither_discord_nor_aiohttp():
    assert not loaded_after_importing(NO_NETWORK) & {"discord", "aiohttp"}


def test_the_doctor_uses_rest_without_discord_py():
    assert "discord" not in loaded_after_importing(["bot.ops.doctor"])

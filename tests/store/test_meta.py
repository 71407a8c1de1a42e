from bot.store.db import open_store
from bot.store.meta import Meta


async def test_meta_survives_reopening(tmp_path):
    path = tmp_path / "bot.sqlite3"
    async with await open_store(path) as store:
        meta = Meta(store)
        assert await meta.get("commands_hash") is None
        await meta.set("commands_hash", "a")
        await meta.set("commands_hash", "b")
    async with await open_store(path) as store:
        assert await Meta(store).get("commands_hash") == "b"

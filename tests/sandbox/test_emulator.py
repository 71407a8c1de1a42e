"""The unmodified discord.py client against the emulator, over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.sandbox.emulator import Emulator, EmulatorError, ManualClock
from bot.sandbox.emulator.state import Channel, Guild, User


@dataclass
class World:
    emu: Emulator
    clock: ManualClock
    guild: Guild
    general: Channel
    forum: Channel
    alice: User
    mod: User


@dataclass
class Running:
    world: World
    bot: commands.Bot

    @property
    def emu(self) -> Emulator:
        return self.world.emu

    def channel(self, ch: Channel) -> discord.abc.Messageable:
        found = self.bot.get_channel(ch.id)
        assert found is not None, f"the bot has no channel {ch.name} in its cache"
        return found  # type: ignore[return-value]


def make_bot(guild_id: int) -> commands.Bot:
    intents = discord.Intents.default()
    intents.members = True
    bot = commands.Bot(
        command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.05
    )
    guild = discord.Object(guild_id)

    @app_commands.command(description="Greet someone")
    @app_commands.describe(name="who to greet", times="how often")
    async def hello(interaction: discord.Interaction, name: str, times: int = 1) -> None:
        await interaction.response.send_message(f"hello {name} x{times}")

    @app_commands.command(description="Think, then answer")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="done thinking")

    @app_commands.command(description="Answer only to you")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("for your eyes", ephemeral=True)

    @app_commands.command(description="Answer, then follow up")
    async def multi(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")
        await interaction.followup.send("second")
        await interaction.followup.send("third, quietly", ephemeral=True)

    @app_commands.command(description="Defer privately, answer with a follow-up")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("here you go")

    @app_commands.command(description="Who may moderate here")
    async def whoami(interaction: discord.Interaction) -> None:
        perms = interaction.permissions
        app = interaction.app_permissions
        await interaction.response.send_message(
            f"threads={perms.manage_threads} bot_send={app.send_messages}"
        )

    async def episode_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        titles = ["Data science at scale", "Deep learning in practice", "Bayesian thinking"]
        return [
            app_commands.Choice(name=t, value=t.lower().replace(" ", "-"))
            for t in titles
            if current.lower() in t.lower()
        ]

    @app_commands.command(description="Find an episode")
    @app_commands.autocomplete(query=episode_choices)
    async def episode(interaction: discord.Interaction, query: str) -> None:
        await interaction.response.send_message(f"episode {query}")

    admin = app_commands.Group(name="admin", description="Moderator tools")

    @admin.command(description="Show a user")
    async def show(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"member {member.name}")

    every: list[app_commands.Command | app_commands.Group] = [
        hello,
        slow,
        secret,
        multi,
        later,
        whoami,
        episode,
        admin,
    ]
    for cmd in every:
        bot.tree.add_command(cmd, guild=guild)

    async def setup_hook() -> None:
        await bot.tree.sync(guild=guild)

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s before re-identifying; tests need not

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
    return bot


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock(time.time())
    async with Emulator(heartbeat_interval=0.5, clock=clock, nonce_window=60) as emu:
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        forum = emu.add_channel(guild, "discussions", "forum", tags=["episode", "topic"])
        alice = emu.add_member(guild, "alice")
        mod = emu.add_moderator(guild, "mod")
        yield World(emu, clock, guild, general, forum, alice, mod)


@pytest.fixture
async def running(world: World, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    monkeypatch.setattr(discord.http.Route, "BASE", world.emu.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(world.emu.gateway_url))
    bot = make_bot(world.guild.id)
    task = asyncio.create_task(bot.start(world.emu.token))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # the bot died while starting: show why
    assert ready in done, "the bot did not become ready within 10 s"
    try:
        yield Running(world, bot)
    finally:
        await bot.close()
        await asyncio.wait_for(task, 10)


# ---- commands and interactions ----


async def test_sync_stores_commands_with_ids(running: Running) -> None:
    emu = running.emu
    assert emu.command_syncs == 1
    puts = [r for r in emu.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(puts) == 1 and {c["name"] for c in puts[0].json} >= {"hello", "episode", "admin"}
    stored = emu.commands(running.world.guild)
    assert all(int(c["id"]) > 0 for c in stored)
    fetched = await running.bot.tree.fetch_commands(guild=discord.Object(running.world.guild.id))
    assert {c.name for c in fetched} == {c["name"] for c in stored}


async def test_slash_command_with_typed_options(running: Running) -> None:
    w = running.world
    handle = await w.emu.invoke(
        "hello", {"name": "Hugo", "times": 3}, user=w.alice, channel=w.general
    )
    reply = await handle.response(timeout=5)
    assert reply["content"] == "hello Hugo x3"
    assert reply["interaction_metadata"]["user"]["id"] == str(w.alice.id)
    assert [m["content"] for m in w.emu.messages(w.general)] == ["hello Hugo x3"]
    assert not handle.ephemeral


async def test_deferred_response_then_edit(running: Running) -> None:
    w = running.world
    handle = await w.emu.invoke("slow", user=w.alice, channel=w.general)
    reply = await handle.response(timeout=5)
    assert handle.deferred and handle.callback_type == 5
    assert reply["content"] == "done thinking"
    assert reply["flags"] & 128 == 0  # no longer "thinking"


async def test_ephemeral_reply_is_not_in_the_channel(running: Running) -> None:
    w = running.world
    handle = await w.emu.invoke("secret", user=w.alice, channel=w.general)
    reply = await handle.response(timeout=5)
    assert handle.ephemeral and reply["flags"] & 64
    assert w.emu.messages(w.general) == []


async def test_followups_keep_their_own_ephemerality(running: Running) -> None:
    w = running.world
    handle = await w.emu.invoke("multi", user=w.alice, channel=w.general)
    assert (await handle.response())["content"] == "first"
    followups = await handle.wait_followups(2, timeout=5)
    assert [f["content"] for f in followups] == ["second", "third, quietly"]
    assert [bool(f["flags"] & 64) for f in followups] == [False, True]
    assert [m["content"] for m in w.emu.messages(w.general)] == ["first", "second"]


async def test_first_followup_after_deferral_replaces_the_loading_message(running: Running) -> None:
    w = running.world
    handle = await w.emu.invoke("later", user=w.alice, channel=w.general)
    reply = await handle.response(timeout=5)
    assert reply["content"] == "here you go" and reply["flags"] & 64
    assert handle.followups == []


async def test_autocomplete_returns_the_bots_choices(running: Running) -> None:
    w = running.world
    choices = await w.emu.autocomplete(
        "episode", {"query": "learn"}, focused="query", user=w.alice, channel=w.general
    )
    assert choices == [{"name": "Deep learning in practice", "value": "deep-learning-in-practice"}]


async def test_autocomplete_is_refused_for_an_option_without_it(running: Running) -> None:
    # Discord never sends it; the bot would not answer, and the caller would only time out.
    w = running.world
    with pytest.raises(EmulatorError, match="option 'name' has no autocomplete"):
        await w.emu.autocomplete(
            "hello", {"name": "Hu"}, focused="name", user=w.alice, channel=w.general
        )
    assert not [r for r in w.emu.requests if "/callback" in r.path]


async def test_subcommand_with_a_member_option(running: Running) -> None:
    w = running.world
    handle = await w.emu.invoke(
        "admin", {"member": "alice"}, subcommand="show", user=w.mod, channel=w.general
    )
    assert (await handle.response())["content"] == "member alice"


@pytest.mark.parametrize("written", ["@alice", "@Alice", "<@{id}>", "<@!{id}>", "{id}"])
async def test_a_member_option_takes_what_people_write(running: Running, written: str) -> None:
    w = running.world
    handle = await w.emu.invoke(
        "admin",
        {"member": written.format(id=w.alice.id)},
        subcommand="show",
        user=w.mod,
        channel=w.general,
    )
    assert (await handle.response())["content"] == "member alice"


async def test_an_unknown_member_is_named_with_those_there_are(running: Running) -> None:
    w = running.world
    with pytest.raises(EmulatorError, match=r"no member '@bob' here; known: .*@alice, @mod"):
        await w.emu.invoke(
            "admin", {"member": "@bob"}, subcommand="show", user=w.mod, channel=w.general
        )


async def test_member_and_app_permissions_are_computed(running: Running) -> None:
    w = running.world
    as_mod = await w.emu.invoke("whoami", user=w.mod, channel=w.general)
    as_alice = await w.emu.invoke("whoami", user=w.alice, channel=w.general)
    assert (await as_mod.response())["content"] == "threads=True bot_send=True"
    assert (await as_alice.response())["content"] == "threads=False bot_send=True"


async def test_invoke_mistakes_are_clear_errors(running: Running) -> None:
    w = running.world
    with pytest.raises(EmulatorError, match="unknown command /nope; synced commands"):
        await w.emu.invoke("nope", user=w.alice, channel=w.general)
    with pytest.raises(EmulatorError, match="required option 'name' is missing"):
        await w.emu.invoke("hello", {}, user=w.alice, channel=w.general)
    with pytest.raises(EmulatorError, match="'times' is a integer; expected an int"):
        await w.emu.invoke("hello", {"name": "x", "times": "3"}, user=w.alice, channel=w.general)
    with pytest.raises(EmulatorError, match="pass subcommand="):
        await w.emu.invoke("admin", {}, user=w.alice, channel=w.general)


async def test_late_callback_is_unknown_interaction(running: Running) -> None:
    w = running.world
    failed: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def on_error(interaction: discord.Interaction, error: Exception) -> None:
        failed.set_result(error)

    running.bot.tree.on_error = on_error  # type: ignore[method-assign]
    # The interaction reaches the bot only after Discord's 3 s window: 10062, as on Discord.
    async with w.emu.gateway_outage(code=4000):
        handle = await w.emu.invoke("hello", {"name": "x"}, user=w.alice, channel=w.general)
        w.clock.advance(5)
    error = await asyncio.wait_for(failed, 10)
    assert isinstance(error.__cause__, discord.NotFound) and error.__cause__.code == 10062
    assert handle.callback_type is None


# ---- messages: nonces, faults, permissions, mentions ----


async def test_nonce_deduplicates_within_the_window_only(running: Running) -> None:
    w = running.world
    channel = running.channel(w.general)
    first = await channel.send("episode 42 is out", nonce=4242)
    again = await channel.send("episode 42 is out", nonce=4242)
    assert again.id == first.id
    assert len(w.emu.messages(w.general)) == 1
    w.clock.advance(61)  # beyond the 60 s window: a "restart" long after
    later = await channel.send("episode 42 is out", nonce=4242)
    assert later.id != first.id
    assert len(w.emu.messages(w.general)) == 2
    posts = [r for r in w.emu.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert [p.json["enforce_nonce"] for p in posts] == [True, True, True]


async def test_429_is_retried_by_discord_py(running: Running) -> None:
    w = running.world
    fault = w.emu.inject_fault("POST", r"^/channels/\d+/messages$", 429, retry_after=0.05)
    await running.channel(w.general).send("after a rate limit")
    statuses = [r.status for r in w.emu.requests if r.path.endswith("/messages")]
    assert statuses == [429, 200] and fault.hits == 1
    assert [m["content"] for m in w.emu.messages(w.general)] == ["after a rate limit"]


async def test_global_429_on_a_webhook_is_retried(running: Running) -> None:
    w = running.world
    w.emu.inject_fault("POST", r"/callback$", 429, retry_after=0.05, scope="global")
    handle = await w.emu.invoke("hello", {"name": "x"}, user=w.alice, channel=w.general)
    assert (await handle.response())["content"] == "hello x x1"


async def test_a_cloudflare_ban_is_plain_text_and_not_retried(running: Running) -> None:
    w = running.world
    w.emu.inject_fault("POST", r"^/channels/\d+/messages$", 429, retry_after=3600, cloudflare=True)
    with pytest.raises(discord.HTTPException) as caught:
        await running.channel(w.general).send("while banned")
    assert caught.value.status == 429 and caught.value.text == "error code: 1015"
    (sent,) = [r for r in w.emu.requests if r.path.endswith("/messages")]
    assert sent.response_headers["Retry-After"] == "3600"
    assert "Via" not in sent.response_headers and "X-RateLimit-Bucket" not in sent.response_headers
    assert w.emu.messages(w.general) == []


async def test_an_injected_refusal_has_discords_code_and_message(running: Running) -> None:
    w = running.world
    message = await running.channel(w.general).send("start a thread here")
    w.emu.inject_fault("POST", r"/messages/\d+/threads$", 400, code=160006)
    with pytest.raises(discord.HTTPException) as caught:
        await message.create_thread(name="full")
    assert caught.value.status == 400 and caught.value.code == 160006
    assert caught.value.text == "Maximum number of active threads reached"
    assert w.emu.threads(w.general) == []
    w.emu.inject_fault("GET", r"^/channels/\d+$", 403, code=50001)
    with pytest.raises(discord.Forbidden, match="Missing Access"):
        await running.bot.fetch_channel(w.general.id)
    with pytest.raises(EmulatorError, match="message="):
        w.emu.inject_fault("GET", r"^/channels/\d+$", 400, code=12345)
    with pytest.raises(EmulatorError, match="5xx"):
        w.emu.inject_fault("GET", r"^/channels/\d+$", 403, code=50013, after=True)


async def test_a_reset_token_is_refused_by_rest(running: Running) -> None:
    w = running.world
    old = w.emu.token
    assert w.emu.reset_token() != old and w.emu.token != old
    with pytest.raises(discord.HTTPException) as caught:
        await running.bot.fetch_channel(w.general.id)
    assert caught.value.status == 401 and caught.value.text == "401: Unauthorized"
    # The gateway's 4004 for the old token: tests/e2e/test_refusals.py, through the runner.


async def test_500_then_success(running: Running) -> None:
    w = running.world
    w.emu.inject_fault("GET", r"^/channels/\d+$", 500)
    fetched = await running.bot.fetch_channel(w.general.id)
    assert fetched.id == w.general.id
    assert [r.status for r in w.emu.requests if r.path == f"/channels/{w.general.id}"] == [500, 200]


async def test_rate_limit_headers_on_success(running: Running) -> None:
    w = running.world
    await running.channel(w.general).send("x")
    await running.channel(w.general).send("y")
    first, second = [r for r in w.emu.requests if r.path.endswith("/messages")]
    assert (
        first.response_headers["X-RateLimit-Bucket"]
        == second.response_headers["X-RateLimit-Bucket"]
    )
    remaining = [int(r.response_headers["X-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[0] - remaining[1] in (1, -49)  # one used, unless a new window began


async def test_missing_send_permission_is_403_50013(running: Running) -> None:
    w = running.world
    w.emu.set_bot_permissions(w.general, deny="SEND_MESSAGES")
    with pytest.raises(discord.Forbidden) as info:
        await running.channel(w.general).send("not allowed")
    assert info.value.code == 50013 and info.value.status == 403
    assert w.emu.messages(w.general) == []


async def test_missing_thread_permission_is_403(running: Running) -> None:
    w = running.world
    message = await running.channel(w.general).send("start a thread here")
    w.emu.set_bot_permissions(w.general, deny=["CREATE_PUBLIC_THREADS"])
    with pytest.raises(discord.Forbidden) as info:
        await message.create_thread(name="talk")
    assert info.value.code == 50013


async def test_allowed_mentions_are_recorded_and_honoured(running: Running) -> None:
    w = running.world
    channel = running.channel(w.general)
    quiet = await channel.send(
        f"hi <@{w.alice.id}>", allowed_mentions=discord.AllowedMentions.none()
    )
    loud = await channel.send(
        f"hi <@{w.alice.id}>", allowed_mentions=discord.AllowedMentions(users=True)
    )
    posts = [r for r in w.emu.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert posts[0].json["allowed_mentions"] == {"parse": []}
    assert quiet.mentions == [] and [u.id for u in loud.mentions] == [w.alice.id]


async def test_history_is_newest_first_and_pages(running: Running) -> None:
    w = running.world
    channel = running.channel(w.general)
    for i in range(5):
        await channel.send(f"m{i}")
    newest_first = [m.content async for m in channel.history(limit=3)]
    assert newest_first == ["m4", "m3", "m2"]
    oldest_first = [m.content async for m in channel.history(limit=None, oldest_first=True)]
    assert oldest_first == ["m0", "m1", "m2", "m3", "m4"]


async def test_user_messages_reach_the_bot(running: Running) -> None:
    w = running.world
    seen: asyncio.Future[discord.Message] = asyncio.get_running_loop().create_future()

    async def on_message(message: discord.Message) -> None:
        if not seen.done():
            seen.set_result(message)

    running.bot.add_listener(on_message)
    w.emu.post_message(w.general, "hello bot", user=w.alice)
    message = await asyncio.wait_for(seen, 5)
    assert message.author.id == w.alice.id
    assert message.content == ""  # no MESSAGE_CONTENT intent, as on Discord


async def test_world_changes_reach_the_bot(running: Running) -> None:
    w = running.world
    channel_created = asyncio.ensure_future(running.bot.wait_for("guild_channel_create"))
    w.emu.add_channel(w.guild, "episodes", topic="New episodes")
    channel = await asyncio.wait_for(channel_created, 5)
    assert isinstance(channel, discord.TextChannel)
    assert (channel.name, channel.topic) == ("episodes", "New episodes")
    joined = asyncio.ensure_future(running.bot.wait_for("guild_join"))
    w.emu.add_guild("Another Podcast")
    guild = await asyncio.wait_for(joined, 5)
    assert guild.name == "Another Podcast" and guild.me is not None


async def test_deleted_channel_is_unknown_to_the_bot(running: Running) -> None:
    w = running.world
    channel = running.channel(w.general)
    deleted = asyncio.ensure_future(running.bot.wait_for("guild_channel_delete"))
    w.emu.delete_channel(w.general)
    assert (await asyncio.wait_for(deleted, 5)).id == w.general.id
    with pytest.raises(discord.NotFound) as info:
        await channel.send("anyone?")
    assert info.value.code == 10003


async def test_a_removed_bot_loses_the_guild_and_an_invited_one_gets_it_back(
    running: Running,
) -> None:
    w = running.world
    channel = running.channel(w.general)
    removed = asyncio.ensure_future(running.bot.wait_for("guild_remove"))
    w.emu.remove_bot(w.guild)
    assert (await asyncio.wait_for(removed, 5)).id == w.guild.id
    assert running.bot.get_guild(w.guild.id) is None
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("anyone?")
    assert info.value.code == 50001
    with pytest.raises(EmulatorError, match="the bot is not in the guild"):
        await w.emu.invoke("hello", {}, user=w.alice, channel=w.general)
    w.emu.post_message(w.general, "said while the bot was away", user=w.alice)

    joined = asyncio.ensure_future(running.bot.wait_for("guild_join"))
    w.emu.add_bot(w.guild)
    guild = await asyncio.wait_for(joined, 5)
    assert guild.id == w.guild.id and guild.me is not None and guild.get_channel(w.general.id)
    assert (await channel.send("back")).content == "back"


async def test_a_guild_outage_makes_it_unavailable_until_it_is_back(running: Running) -> None:
    w = running.world
    gone = asyncio.ensure_future(running.bot.wait_for("guild_unavailable"))
    back = asyncio.ensure_future(running.bot.wait_for("guild_available"))
    async with w.emu.guild_outage(w.guild):
        assert (await asyncio.wait_for(gone, 5)).id == w.guild.id
        guild = running.bot.get_guild(w.guild.id)
        assert guild is not None and guild.unavailable
        # A new session meanwhile: READY lists it, its GUILD_CREATE waits for the end.
        await w.emu.invalidate_session()
        await w.emu.wait_for(lambda: w.emu.gateway.identifies == 2, what="a second IDENTIFY")
        assert not back.done()
    assert (await asyncio.wait_for(back, 5)).id == w.guild.id
    guild = running.bot.get_guild(w.guild.id)
    assert guild is not None and not guild.unavailable and guild.get_channel(w.general.id)


async def test_command_inside_a_thread(running: Running) -> None:
    w = running.world
    message = await running.channel(w.general).send("Episode thread")
    thread = await message.create_thread(name="Episode 3")
    handle = await w.emu.invoke("whoami", user=w.alice, channel=thread.id)
    assert (await handle.response())["channel_id"] == str(thread.id)
    assert [m["content"] for m in w.emu.messages(thread.id)] == ["threads=False bot_send=True"]


# ---- threads and forums ----


async def test_thread_from_message(running: Running) -> None:
    w = running.world
    message = await running.channel(w.general).send("Episode 12: discuss")
    thread = await message.create_thread(name="Episode 12", auto_archive_duration=1440)
    assert thread.id == message.id  # Discord gives the thread the starter message's id
    await thread.send("first reply")
    (listed,) = w.emu.threads(w.general)
    assert listed["name"] == "Episode 12" and listed["type"] == 11
    assert [m["content"] for m in w.emu.messages(thread.id)] == ["first reply"]


async def test_forum_post_with_tags(running: Running) -> None:
    w = running.world
    forum = running.bot.get_channel(w.forum.id)
    assert isinstance(forum, discord.ForumChannel)
    tag = next(t for t in forum.available_tags if t.name == "episode")
    created = await forum.create_thread(
        name="Ep 7: causal inference", content="What did you think?", applied_tags=[tag]
    )
    assert created.thread.id == created.message.id
    (post,) = w.emu.threads(w.forum)
    assert post["applied_tags"] == [str(tag.id)]
    assert [m["content"] for m in w.emu.messages(int(post["id"]))] == ["What did you think?"]


async def test_forum_rejects_a_plain_message(running: Running) -> None:
    w = running.world
    with pytest.raises(discord.HTTPException) as info:
        await running.bot.http.send_message(
            w.forum.id, params=discord.http.handle_message_parameters(content="x")
        )
    assert info.value.code == 50008


# ---- the gateway: drops, resumes, invalid sessions ----


@pytest.mark.parametrize("code", [4000, 1006])
async def test_drop_during_invoke_resumes_and_replays(running: Running, code: int) -> None:
    w = running.world
    async with w.emu.gateway_outage(code=code):
        handle = await w.emu.invoke("hello", {"name": "offline"}, user=w.alice, channel=w.general)
    reply = await handle.response(timeout=10)
    assert reply["content"] == "hello offline x1"
    assert w.emu.gateway.resumes == 1 and w.emu.gateway.identifies == 1


async def test_invalid_session_makes_the_client_identify_again(running: Running) -> None:
    w = running.world
    assert await w.emu.invalidate_session() == 1
    await w.emu.wait_for(lambda: w.emu.gateway.identifies == 2, timeout=10, what="a new IDENTIFY")
    await w.emu.wait_ready()
    handle = await w.emu.invoke("hello", {"name": "again"}, user=w.alice, channel=w.general)
    assert (await handle.response(timeout=10))["content"] == "hello again x1"


async def test_bad_token_fails_login(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", world.emu.api_base)
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert world.emu.requests[-1].status == 401


# ---- components and modals ----


class Vote(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Up", custom_id="vote:up")
    async def up(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
        await interaction.response.edit_message(content="voted up", view=None)

    @discord.ui.button(label="Later", custom_id="vote:later")
    async def later(
        self, interaction: discord.Interaction, button: discord.ui.Button[Vote]
    ) -> None:
        await interaction.response.defer()  # type 6: acknowledge now, edit afterwards
        await interaction.edit_original_response(content="decided later")


class Feedback(discord.ui.Modal, title="Episode feedback"):
    opinion: discord.ui.TextInput[Feedback] = discord.ui.TextInput(
        label="Your opinion", custom_id="opinion"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.opinion.value}", ephemeral=True)


async def test_button_updates_its_message(running: Running) -> None:
    w = running.world
    message = await running.channel(w.general).send("Vote on the next topic", view=Vote())
    handle = await w.emu.click(message.id, "vote:up", user=w.alice)
    updated = await handle.response()
    assert handle.callback_type == 7
    assert (updated["id"], updated["content"], updated["components"]) == (
        str(message.id),
        "voted up",
        [],
    )


async def test_deferred_update_then_edit_original(running: Running) -> None:
    w = running.world
    message = await running.channel(w.general).send("Vote", view=Vote())
    handle = await w.emu.click(message, "vote:later", user=w.alice)
    assert await handle.acknowledged() == 6
    assert (await handle.response())["content"] == "decided later"
    with pytest.raises(EmulatorError, match="no component with custom_id 'nope'"):
        await w.emu.click(message.id, "nope", user=w.alice)


async def test_modal_round_trip(running: Running) -> None:
    w = running.world

    @app_commands.command(description="Tell us what you think")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    guild = discord.Object(w.guild.id)
    running.bot.tree.add_command(feedback, guild=guild)
    await running.bot.tree.sync(guild=guild)
    assert w.emu.command_syncs == 2

    shown = await w.emu.invoke("feedback", user=w.alice, channel=w.general)
    assert await shown.acknowledged() == 9
    assert shown.modal is not None and shown.modal["title"] == "Episode feedback"
    submitted = await w.emu.submit_modal(shown, {"opinion": "more Bayes please"})
    reply = await submitted.response()
    assert reply["content"] == "thanks: more Bayes please" and submitted.ephemeral


# ---- simulated network latency (benchmarks) ----


async def test_with_network_latency_the_bot_still_connects_and_answers_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with Emulator(heartbeat_interval=0.5, latency=0.02) as emu:
        guild = emu.add_guild("Vanishing Gradients")
        general = emu.add_channel(guild, "general")
        alice = emu.add_member(guild, "alice")
        monkeypatch.setattr(discord.http.Route, "BASE", emu.api_base)
        monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emu.gateway_url))
        bot = make_bot(guild.id)
        task = asyncio.create_task(bot.start(emu.token))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            handle = await emu.invoke("multi", user=alice, channel=general)
            await emu.wait_for(lambda: len(handle.followups) == 2, timeout=10)
            assert [m["content"] for m in emu.messages(general)] == ["first", "second"]
            assert [f["content"] for f in handle.followups] == ["second", "third, quietly"]
        finally:
            await bot.close()
            await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("latency", [-0.001, 11.0])
def test_a_nonsense_latency_is_refused(latency: float) -> None:
    with pytest.raises(EmulatorError, match="latency must be 0 to 10 seconds"):
        Emulator(latency=latency)

"""Release announcements end to end: the real bot against the emulator, its feed served by a
local HTTP server. Steps are triggered directly (`watcher.step`, `ticker.tick`) at the shared
ManualClock's time, never by sleeping."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.chat.feed_cog import FeedCog
from bot.chat.moderation_cog import ModerationCog
from bot.ops.backup import backup, restore
from bot.sandbox.emulator import Channel, EmulatorError, Guild, Perm, User
from bot.services.feeds import StepReport
from tests.e2e.conftest import BotFactory, BotRun, World
from tests.feeds.feedgen import FeedServer, Item, Show, episode, feed_xml

BACK = tuple(episode(n) for n in range(1, 4))


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as running:
        running.feed = feed_xml(Show(items=BACK))
        yield running


def now(world: World) -> datetime:
    return datetime.fromtimestamp(world.clock(), UTC)


async def start(bots: BotFactory, server: FeedServer, **overrides: Any) -> BotRun:
    # Long intervals: the background loops take their first step and then leave the rest to
    # the test, which steps and ticks directly.
    return await bots.start(
        feed_url=server.url("feed.xml"), feed_interval=60.0, tick_interval=3600.0, **overrides
    )


async def step(world: World, run: BotRun, *, advance: float = 61) -> StepReport:
    """Time passes, the watcher reads the feed, the publisher posts, the watcher edits what
    changed."""
    world.clock.advance(advance)
    feeds = run.bot.get_cog("Feeds")
    moderation = run.bot.get_cog("Moderation")
    assert isinstance(feeds, FeedCog) and isinstance(moderation, ModerationCog)
    report = await feeds.watcher.step(now(world))
    await moderation.ticker.tick()
    await feeds.watcher.step(now(world))  # edits of changed episodes
    return report


async def moderator(
    world: World, sub: str, options: dict[str, Any], *, channel: Channel, user: User | None = None
) -> str:
    handle = await world.emu.invoke(
        "feed", options, user=user or world.mod, channel=channel, subcommand=sub
    )
    reply = await handle.response(timeout=10)
    assert handle.ephemeral
    return str(reply["content"])


def admin_of(world: World, guild: Guild) -> User:
    role = world.emu.add_role(guild, "Admin", "MANAGE_GUILD")
    return world.emu.add_member(guild, f"admin-{guild.id}", roles=[role])


async def configure(
    world: World, user: User, sub: str, options: dict[str, Any], *, channel: Channel
) -> str:
    """An admin's /config command (where announcements go, the role they mention, ...)."""
    handle = await world.emu.invoke("config", options, user=user, channel=channel, subcommand=sub)
    reply = await handle.response(timeout=10)
    assert handle.ephemeral
    return str(reply["content"])


async def announce_in(
    world: World, user: User, channel: Channel, *, used_in: Channel | None = None
) -> None:
    options = {"which": "announcements", "channel": channel.id}
    reply = await configure(world, user, "channel", options, channel=used_in or channel)
    assert reply.startswith(f"**Announcement channel** is now <#{channel.id}>"), reply


def first_posts(world: World, channel: Channel) -> list[dict[str, Any]]:
    """The bodies of the bot's POSTs creating messages (or forum posts) in `channel`."""
    return [
        r.json
        for r in world.emu.requests
        if r.method == "POST"
        and r.path in (f"/channels/{channel.id}/messages", f"/channels/{channel.id}/threads")
        and r.status in (200, 201)
    ]


def bot_posts(world: World, channel: Channel | int) -> list[dict[str, Any]]:
    bot_id = str(world.emu.bot_user.id)
    return [
        m
        for m in world.emu.messages(channel)
        if m["author"]["id"] == bot_id and "interaction_metadata" not in m
    ]


def second_guild(world: World) -> tuple[Guild, Channel, User]:
    guild = world.emu.add_guild("Listening Club")
    channel = world.emu.add_channel(guild, "new-episodes")
    return guild, channel, admin_of(world, guild)


def released_now(world: World, n: int, **changes: Any) -> Item:
    return episode(n, published=now(world), image=f"https://art.example.org/{n}.jpg", **changes)


async def test_a_new_item_is_announced_once_per_guild_survives_restart_and_edits(
    world: World, bots: BotFactory, server: FeedServer
):
    _, club_channel, club_admin = second_guild(world)
    run = await start(bots, server)
    await step(world, run)  # the back catalogue: stored silently
    for channel, user in (
        (world.general, admin_of(world, world.guild)),
        (club_channel, club_admin),
    ):
        await announce_in(world, user, channel)

    item = released_now(world, 4)
    server.feed = feed_xml(Show(items=(item, *BACK)))
    report = await step(world, run)
    assert report.read is not None and report.read.announced == 2

    for channel in (world.general, club_channel):
        (post,) = bot_posts(world, channel)
        (thread,) = world.emu.threads(channel)
        assert thread["id"] == post["id"] and "Talking about thing 4" in thread["name"]
        assert "Talking about thing 4" in post["content"]
        (row,) = post["components"]
        (button,) = row["components"]
        assert button["url"] == item.audio and button["label"] == "Listen"
        assert post["embeds"][0]["image"]["url"] == "https://art.example.org/4.jpg"
        # All of it in the first send: no edit was needed.
        (sent,) = first_posts(world, channel)
        assert sent["embeds"][0]["image"]["url"] == "https://art.example.org/4.jpg"
        assert sent["components"][0]["components"][0]["url"] == item.audio
        assert sent["allowed_mentions"] == {"parse": []} and "<@&" not in sent["content"]
    assert not [r for r in world.emu.requests if r.method == "PATCH"]

    # A restart, and more reads of the same feed: nothing is posted again.
    run = await bots.restart(
        run, feed_url=server.url("feed.xml"), feed_interval=60.0, tick_interval=3600.0
    )
    await step(world, run)
    server.feed = feed_xml(Show(items=(item, *BACK))) + b"\n"  # a new ETag, same items
    await step(world, run)
    assert len(bot_posts(world, world.general)) == 1 and len(bot_posts(world, club_channel)) == 1

    # An edited item edits the announcement and renames its thread; it never posts again.
    server.feed = feed_xml(Show(items=(item.but(title="Episode 4: A better title"), *BACK)))
    await step(world, run)
    for channel in (world.general, club_channel):
        (post,) = bot_posts(world, channel)
        (thread,) = world.emu.threads(channel)
        assert "A better title" in post["content"] and "A better title" in thread["name"]
        assert post["components"] and post["embeds"]
    with sqlite3.connect(bots.settings().db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'announce'").fetchone()
    assert count == 2


async def _buttons(world: World, channel: Channel, text: str) -> dict[str, str]:
    """/episode `text` asked by a member in `channel`: its link buttons, label → URL."""
    handle = await world.emu.invoke("episode", {"query": text}, user=world.alice, channel=channel)
    reply = await handle.response(timeout=10)
    return {b["label"]: b["url"] for row in reply["components"] for b in row["components"]}


async def test_episode_links_its_discussion_thread_in_the_server_asked_from(
    world: World, bots: BotFactory, server: FeedServer
):
    forum = world.emu.add_channel(world.guild, "releases", "forum")
    club, club_channel, _ = second_guild(world)
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), forum, used_in=world.general)
    before = await _buttons(world, world.general, "11")
    assert "Discussion" not in before  # nothing announced yet: no thread to point at

    # 12 is a feed episode; 11 is described in content/ (the feed's copy is not stored).
    items = (released_now(world, 12), released_now(world, 11), *BACK)
    server.feed = feed_xml(Show(items=items))
    await step(world, run)
    posts = {p["name"]: int(p["id"]) for p in world.emu.threads(forum)}
    for text, words in (("12", "thing 12"), ("11", "Great Stagnation")):
        (thread,) = [i for name, i in posts.items() if words in name]
        shown = await _buttons(world, world.general, text)
        assert shown["Discussion"] == f"https://discord.com/channels/{world.guild.id}/{thread}"
    # Another server where it was not announced: no link to a thread it cannot see.
    member = world.emu.add_member(club, "reader")
    handle = await world.emu.invoke("episode", {"query": "12"}, user=member, channel=club_channel)
    reply = await handle.response(timeout=10)
    labels = [b["label"] for row in reply["components"] for b in row["components"]]
    assert "Discussion" not in labels


async def test_a_forum_gets_a_post_tagged_with_the_episodes_topics(
    world: World, bots: BotFactory, server: FeedServer
):
    forum = world.emu.add_channel(
        world.guild, "releases", "forum", tags=["Defensible moats", "Unrelated"]
    )
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), forum, used_in=world.general)

    # Episode 11 is described in content/ (with topics): its curated notes are announced.
    server.feed = feed_xml(Show(items=(released_now(world, 11), *BACK)))
    await step(world, run)
    (post,) = world.emu.threads(forum)
    starter = world.emu.messages(int(post["id"]))[0]
    assert "Great Stagnation" in post["name"] and "Great Stagnation" in starter["content"]
    tags = {t["id"]: t["name"] for t in forum.available_tags}
    assert [tags[t] for t in post["applied_tags"]] == ["Defensible moats"]
    assert starter["components"] and bot_posts(world, world.general) == []
    (sent,) = first_posts(world, forum)  # tags, button and artwork in the one POST
    assert [tags[str(t)] for t in sent["applied_tags"]] == ["Defensible moats"]
    assert sent["message"]["components"] and sent["message"]["embeds"]
    assert not [r for r in world.emu.requests if r.method == "PATCH"]


async def test_moderators_see_status_and_why_and_others_are_refused(
    world: World, bots: BotFactory, server: FeedServer
):
    run = await start(bots, server)
    await step(world, run)
    status = await moderator(world, "status", {}, channel=world.general)
    # Read at start (200), then again a minute later: unchanged, so 304.
    assert "✅ healthy" in status and "304 Not Modified" in status and "ETag" in status
    assert "Episodes known: 3" in status and "Next poll" in status

    server.status = 500
    await step(world, run)
    status = await moderator(world, "status", {}, channel=world.general)
    assert "unhealthy" in status and "HTTP 500" in status

    why = await moderator(world, "why", {"episode": "2"}, channel=world.general)
    assert "seed" in why and "Talking about thing 2" in why

    with pytest.raises(EmulatorError, match="may not use /feed"):
        await world.emu.invoke(
            "feed", {}, user=world.alice, channel=world.general, subcommand="status"
        )
    # A server admin may widen who sees the command: the bot checks again when it runs.
    synced = world.emu.world.find_command(world.guild.id, "feed")
    assert synced is not None
    assert int(synced.definition["default_member_permissions"]) == Perm.MANAGE_THREADS
    synced.definition["default_member_permissions"] = None
    refused = await moderator(
        world, "why", {"episode": "2"}, channel=world.general, user=world.alice
    )
    assert "Only moderators" in refused


async def test_feed_status_shows_every_feed_however_many_the_bot_has_known(
    world: World, bots: BotFactory, server: FeedServer
):
    # Each feed the bot ever read keeps its row (imports, a feed_url that moved): six made
    # /feed status longer than Discord's 2000 characters, and it answered "Something went wrong".
    run = None
    for n in range(6):
        settings = {"feed_url": server.url(f"feed.xml?v={n}"), "tick_interval": 3600.0}
        run = await (bots.restart(run, **settings) if run else bots.start(**settings))
        await step(world, run)
    handle = await world.emu.invoke(
        "feed", {}, user=world.mod, channel=world.general, subcommand="status"
    )
    pages = [await handle.response(timeout=10), *await handle.wait_followups(1)]
    assert handle.ephemeral and all(p["flags"] & 64 for p in pages)
    assert all(len(p["content"]) <= 2000 for p in pages)
    text = "\n".join(p["content"] for p in pages)
    assert all(f"Feed: <{server.url(f'feed.xml?v={n}')}>" in text for n in range(6))


async def test_what_a_hostile_feed_server_sends_is_shown_as_text_not_markdown(
    world: World, bots: BotFactory, server: FeedServer
):
    # The feed's title and the server's status line reach /feed status and everyone's /about:
    # a masked link there would be a phishing link in the bot's own words.
    lure = "[Verify your account](https://evil.example/login)"
    server.feed = feed_xml(Show(title=f"Show {lure}", items=BACK))
    run = await start(bots, server)
    await step(world, run)
    server.status, server.reason = 500, f"Moved {lure}"
    await step(world, run)

    status = await moderator(world, "status", {}, channel=world.general)
    handle = await world.emu.invoke("about", {}, user=world.alice, channel=world.general)
    about = str((await handle.response(timeout=10))["content"])
    for text in (status, about):
        assert "HTTP 500 Moved" in text
        assert lure not in text and r"Moved \[Verify your account\]" in text
    assert r"**Show \[Verify your account\]" in status


async def test_each_server_mentions_its_own_role_and_nobody_else(
    world: World, bots: BotFactory, server: FeedServer
):
    _, club_channel, club_admin = second_guild(world)
    ada = admin_of(world, world.guild)
    fans = world.emu.add_role(world.guild, "new-episodes", mentionable=True)
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, ada, world.general)
    await announce_in(world, club_admin, club_channel)
    reply = await configure(world, ada, "role", {"role": fans.id}, channel=world.general)
    assert reply.startswith(f"**Announcement role** is now <@&{fans.id}>")

    server.feed = feed_xml(Show(items=(released_now(world, 4), *BACK)))
    await step(world, run)
    (sent,) = first_posts(world, world.general)
    assert sent["content"].startswith(f"<@&{fans.id}>\n")
    assert sent["allowed_mentions"] == {"parse": [], "roles": [fans.id]}
    (post,) = bot_posts(world, world.general)
    assert post["mention_roles"] == [str(fans.id)]
    (club,) = first_posts(world, club_channel)  # the other server set no role: nobody
    assert "<@&" not in club["content"] and club["allowed_mentions"] == {"parse": []}


@pytest.mark.parametrize(
    ("changes", "artwork", "listen"),
    [
        # Relative to the feed's address, as podcast apps read it.
        ({"image": "//art.example.org/5.jpg"}, "http://art.example.org/5.jpg", None),  # feed's
        ({"image": "/art/5.jpg"}, "{base}/art/5.jpg", None),
        (
            {"image": "https://art.example.org/my art.jpg"},
            "https://art.example.org/my%20art.jpg",
            None,
        ),
        ({"image": "art:5"}, "https://art.example.org/show.jpg", None),  # the show's instead
        (
            {"audio": "https://cdn.example.org/audio/ep 5.mp3"},
            "https://art.example.org/5.jpg",
            "https://cdn.example.org/audio/ep%205.mp3",
        ),
        # Too long for a button (512): the episode's page instead.
        (
            {
                "audio": "https://cdn.example.org/a.mp3?x=" + "a" * 520,
                "extra": "<link>https://show.example.org/episodes/5</link>",
            },
            "https://art.example.org/5.jpg",
            "https://show.example.org/episodes/5",
        ),
    ],
)
async def test_a_feed_link_discord_would_refuse_is_mended_or_left_out_not_the_post(
    world: World,
    bots: BotFactory,
    server: FeedServer,
    changes: dict[str, str],
    artwork: str | None,
    listen: str | None,
):
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    server.feed = feed_xml(Show(items=(released_now(world, 5).but(**changes), *BACK)))
    await step(world, run)

    (post,) = bot_posts(world, world.general)
    images = [e["image"]["url"] for e in post.get("embeds", []) if "image" in e]
    assert images == ([artwork.format(base=server.base)] if artwork else [])
    (button,) = [c for row in post["components"] for c in row["components"]]
    assert button["url"] == (listen or episode(5).audio)


async def test_an_edit_reopens_an_archived_thread_and_a_locked_one_is_told(
    world: World, bots: BotFactory, server: FeedServer
):
    """A week without messages archives a discussion thread, and Discord refuses edits of an
    archived thread's name or messages. A locked one only a moderator may reopen."""
    forum = world.emu.add_channel(world.guild, "releases", "forum")
    club, club_channel, club_admin = second_guild(world)
    run = await start(bots, server)
    await step(world, run)
    admin = admin_of(world, world.guild)
    await announce_in(world, admin, forum, used_in=world.general)
    await announce_in(world, club_admin, club_channel)
    item = released_now(world, 4)
    server.feed = feed_xml(Show(items=(item, *BACK)))
    await step(world, run)
    (forum_post,) = world.emu.threads(forum)
    (club_thread,) = world.emu.threads(club_channel)
    world.emu.archive_thread(forum_post)
    world.emu.archive_thread(club_thread, locked=True)

    server.feed = feed_xml(Show(items=(item.but(title="Episode 4: A better title"), *BACK)))
    await step(world, run)
    (forum_post,) = world.emu.threads(forum)
    starter = world.emu.messages(int(forum_post["id"]))[0]
    assert "A better title" in forum_post["name"] and "A better title" in starter["content"]
    (post,) = bot_posts(world, club_channel)  # the message is in the channel: edited
    (club_thread,) = world.emu.threads(club_channel)
    assert "A better title" in post["content"] and "A better title" not in club_thread["name"]
    club_mod = world.emu.add_moderator(club, "club-mod")
    why = await moderator(world, "why", {"episode": "4"}, channel=club_channel, user=club_mod)
    assert "is locked: the post was updated, the thread's name was not" in why, why


async def test_without_embed_links_the_announcement_goes_out_without_its_artwork(
    world: World, bots: BotFactory, server: FeedServer, caplog: pytest.LogCaptureFixture
):
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    world.emu.set_bot_permissions(world.general, deny="EMBED_LINKS")  # taken away since
    server.feed = feed_xml(Show(items=(released_now(world, 5), *BACK)))
    await step(world, run)

    (post,) = bot_posts(world, world.general)
    assert "Talking about thing 5" in post["content"] and post["components"]
    assert not post.get("embeds")
    assert "lacks Embed Links" in caplog.text


async def test_a_title_with_markdown_characters_is_shown_as_written(
    world: World, bots: BotFactory, server: FeedServer
):
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    title = "Episode 5: Why __init__ and *args* matter || ~~not~~"
    server.feed = feed_xml(Show(items=(released_now(world, 5, title=title), *BACK)))
    await step(world, run)

    (post,) = bot_posts(world, world.general)
    (thread,) = world.emu.threads(world.general)
    assert thread["name"] == title  # a name is not Markdown
    assert r"Why \_\_init\_\_ and \*args\* matter \|\| \~\~not\~\~" in post["content"]


async def test_an_edit_reaches_the_message_when_its_thread_was_deleted(
    world: World, bots: BotFactory, server: FeedServer
):
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    item = released_now(world, 4)
    server.feed = feed_xml(Show(items=(item, *BACK)))
    await step(world, run)
    (thread,) = world.emu.threads(world.general)
    world.emu.delete_channel(int(thread["id"]))  # a moderator tidied up
    server.feed = feed_xml(Show(items=(item.but(title="Episode 4: A better title"), *BACK)))
    await step(world, run)
    (post,) = bot_posts(world, world.general)
    assert "A better title" in post["content"]


async def test_a_restored_backup_does_not_announce_again_what_was_announced_since(
    world: World, bots: BotFactory, server: FeedServer, tmp_path: Path
):
    """The restored database has not seen the release: the watcher plans its announcement
    again, after the restore. The bot looks for its earlier post first."""
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    backup(bots.settings().db, tmp_path / "nightly.sqlite3", now=now(world))
    server.feed = feed_xml(Show(items=(released_now(world, 4), *BACK)))
    await step(world, run)
    (made,) = bot_posts(world, world.general)

    await bots.stop(run)
    world.clock.advance(3600)
    restore(tmp_path / "nightly.sqlite3", bots.settings().db, now=now(world))
    world.clock.advance(300)  # started a while after the restore
    run = await start(bots, server)
    await step(world, run)
    assert [p["id"] for p in bot_posts(world, world.general)] == [made["id"]]
    assert len(world.emu.threads(world.general)) == 1


async def test_an_announcement_the_bot_may_not_post_tells_moderators_how_to_fix_it(
    world: World, bots: BotFactory, server: FeedServer
):
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    world.emu.set_bot_permissions(world.general, deny="CREATE_PUBLIC_THREADS")  # taken since
    server.feed = feed_xml(Show(items=(released_now(world, 5), *BACK)))
    await step(world, run)

    assert bot_posts(world, world.general) == []
    why = await moderator(world, "why", {"episode": "5"}, channel=world.general)
    assert "**failed**: the bot lacks Create Public Threads" in why, why
    # No schedule made it: /schedule run-now cannot post it again.
    assert "/schedule" not in why and "/config channel which:announcements" in why, why


async def test_one_servers_failed_announcement_is_told_to_its_moderators_only(
    world: World, bots: BotFactory, server: FeedServer
):
    """The club's channel refuses the post; the main server's goes out, and each server's
    /feed why tells its own story: the club's channel, message ids and errors are not the
    other server's business (a /feed why listed every server's)."""
    club, club_channel, club_admin = second_guild(world)
    club_mod = world.emu.add_moderator(club, "club-mod")
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    await announce_in(world, club_admin, club_channel)
    world.emu.set_bot_permissions(club_channel, deny="SEND_MESSAGES")  # taken since
    server.feed = feed_xml(Show(items=(released_now(world, 5), *BACK)))
    await step(world, run)

    (post,) = bot_posts(world, world.general)
    assert bot_posts(world, club_channel) == []
    ours = await moderator(world, "why", {"episode": "5"}, channel=world.general)
    assert f"posted in <#{world.general.id}>, message {post['id']}" in ours, ours
    assert str(club_channel.id) not in ours and "lacks" not in ours, ours
    theirs = await moderator(world, "why", {"episode": "5"}, channel=club_channel, user=club_mod)
    assert f"<#{club_channel.id}> is **failed**: the bot lacks Send Messages" in theirs, theirs
    assert str(world.general.id) not in theirs and post["id"] not in theirs, theirs


async def test_the_bot_wide_role_is_mentioned_only_in_the_server_it_belongs_to(
    world: World, bots: BotFactory, server: FeedServer
):
    """`announce_role_id` names a role of one server: in another, '<@&…>' shows as
    '@deleted-role' at the top of the announcement, so it is left out there."""
    _, club_channel, club_admin = second_guild(world)
    fans = world.emu.add_role(world.guild, "new-episodes", mentionable=True)
    run = await start(bots, server, announce_role_id=fans.id)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    await announce_in(world, club_admin, club_channel)
    server.feed = feed_xml(Show(items=(released_now(world, 4), *BACK)))
    await step(world, run)

    (ours,) = first_posts(world, world.general)
    assert ours["content"].startswith(f"<@&{fans.id}>\n")
    assert ours["allowed_mentions"] == {"parse": [], "roles": [fans.id]}
    (club,) = first_posts(world, club_channel)
    assert "<@&" not in club["content"] and club["allowed_mentions"] == {"parse": []}, club
    # An edit of the episode keeps it that way.
    item = released_now(world, 4)
    server.feed = feed_xml(Show(items=(item.but(title="Episode 4: A better title"), *BACK)))
    await step(world, run)
    (post,) = bot_posts(world, club_channel)
    assert "A better title" in post["content"] and "<@&" not in post["content"], post
    (post,) = bot_posts(world, world.general)
    assert post["content"].startswith(f"<@&{fans.id}>\n") and "A better title" in post["content"]


async def test_a_restore_a_day_later_does_not_list_an_announced_release_as_missed(
    world: World, bots: BotFactory, server: FeedServer, tmp_path: Path
):
    """Restored a day after a release, the database's last read is so old that the release
    counts as missed, for a "While we were away" post whose key (and marker) is not the
    announcement's. The bot looks for the announcement first: only what it really missed
    (a release while it was stopped) is listed."""
    run = await start(bots, server)
    await step(world, run)
    await announce_in(world, admin_of(world, world.guild), world.general)
    backup(bots.settings().db, tmp_path / "nightly.sqlite3", now=now(world))
    server.feed = feed_xml(Show(items=(released_now(world, 4), *BACK)))
    await step(world, run)
    (made,) = bot_posts(world, world.general)

    await bots.stop(run)
    server.feed = feed_xml(Show(items=(released_now(world, 5), released_now(world, 4), *BACK)))
    world.clock.advance(30 * 3600)
    restore(tmp_path / "nightly.sqlite3", bots.settings().db, now=now(world))
    world.clock.advance(300)  # started a while after the restore
    run = await start(bots, server)
    await step(world, run)

    first, summary = bot_posts(world, world.general)
    assert first["id"] == made["id"]
    assert "While we were away" in summary["content"], summary["content"]
    assert "thing 5" in summary["content"] and "thing 4" not in summary["content"]
    with sqlite3.connect(bots.settings().db) as conn:
        rows = conn.execute(
            "SELECT state, message_id FROM outbox WHERE key LIKE 'announce:%'"
        ).fetchall()
    assert rows == [("sent", int(made["id"]))]  # known again: edits and /episode find it

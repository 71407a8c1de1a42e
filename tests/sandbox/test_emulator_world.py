"""The emulator's pure logic: permissions, message rules, history order, persistence."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sandbox.emulator import ApiError, EmulatorError, ManualClock, Perm
from bot.sandbox.emulator.perms import (
    ALL,
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    Overwrite,
    base_permissions,
    channel_permissions,
    parse_perms,
    perm_names,
)
from bot.sandbox.emulator.state import FORUM, World


@pytest.fixture
def world() -> World:
    return World(clock=ManualClock(1_735_689_600.0))


def _guild(world: World) -> tuple[int, int, int]:
    """A guild with #general and a member "alice": (guild id, channel id, alice id)."""
    guild = world.add_guild("Vanishing Gradients")
    general = world.add_channel(guild.id, "general")
    alice = world.add_user("alice")
    world.add_member(guild.id, alice.id)
    return guild.id, general.id, alice.id


# ---- permissions ----

GUILD, USER, ROLE_A, ROLE_B = 1, 2, 3, 4


def test_overwrites_apply_everyone_then_roles_then_member() -> None:
    base = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    overwrites = [
        Overwrite(GUILD, ROLE_OVERWRITE, deny=int(Perm.SEND_MESSAGES)),
        Overwrite(ROLE_A, ROLE_OVERWRITE, allow=int(Perm.SEND_MESSAGES)),
        Overwrite(USER, MEMBER_OVERWRITE, deny=int(Perm.SEND_MESSAGES)),
    ]

    def perms(roles: list[int], ows: list[Overwrite]) -> Perm:
        return Perm(
            channel_permissions(
                base, guild_id=GUILD, user_id=USER, member_roles=roles, overwrites=ows
            )
        )

    assert Perm.SEND_MESSAGES not in perms([], overwrites[:1])  # @everyone denies
    assert Perm.SEND_MESSAGES in perms([ROLE_A], overwrites[:2])  # a role allow wins over it
    assert Perm.SEND_MESSAGES not in perms([ROLE_A], overwrites)  # the member deny wins last


def test_role_allow_beats_another_roles_deny() -> None:
    overwrites = [
        Overwrite(ROLE_A, ROLE_OVERWRITE, deny=int(Perm.EMBED_LINKS)),
        Overwrite(ROLE_B, ROLE_OVERWRITE, allow=int(Perm.EMBED_LINKS)),
    ]
    base = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS)
    result = channel_permissions(
        base, guild_id=GUILD, user_id=USER, member_roles=[ROLE_A, ROLE_B], overwrites=overwrites
    )
    assert result & Perm.EMBED_LINKS


def test_no_send_means_no_embeds_or_files() -> None:
    base = int(Perm.VIEW_CHANNEL | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
    result = channel_permissions(base, guild_id=GUILD, user_id=USER, member_roles=[], overwrites=[])
    assert Perm(result) == Perm.VIEW_CHANNEL


overwrite_st = st.builds(
    Overwrite,
    id=st.sampled_from([GUILD, USER, ROLE_A, ROLE_B]),
    type=st.sampled_from([ROLE_OVERWRITE, MEMBER_OVERWRITE]),
    allow=st.integers(0, int(ALL)),
    deny=st.integers(0, int(ALL)),
)


@settings(max_examples=150, deadline=None)
@given(
    base=st.integers(0, int(ALL)),
    roles=st.lists(st.sampled_from([ROLE_A, ROLE_B]), unique=True),
    overwrites=st.lists(overwrite_st, max_size=6),
)
def test_permission_invariants(base: int, roles: list[int], overwrites: list[Overwrite]) -> None:
    result = channel_permissions(
        base, guild_id=GUILD, user_id=USER, member_roles=roles, overwrites=overwrites
    )
    if base & Perm.ADMINISTRATOR:
        assert result == int(ALL)  # administrators ignore overwrites
    else:
        if not result & Perm.VIEW_CHANNEL:
            assert result == 0  # what you cannot see, you cannot touch
        granted = base
        for ow in overwrites:
            granted |= ow.allow
        assert result & ~granted == 0  # nothing appears that no role or overwrite granted


def test_owner_and_admin_get_everything() -> None:
    roles = {GUILD: 0, ROLE_A: int(Perm.ADMINISTRATOR)}
    owner = base_permissions(
        guild_id=GUILD, owner_id=USER, user_id=USER, member_roles=[], role_perms=roles
    )
    admin = base_permissions(
        guild_id=GUILD, owner_id=99, user_id=USER, member_roles=[ROLE_A], role_perms=roles
    )
    assert owner == admin == int(ALL)


def test_parse_perms_names_ints_and_mistakes() -> None:
    assert parse_perms(["send_messages", "VIEW_CHANNEL"]) == Perm.SEND_MESSAGES | Perm.VIEW_CHANNEL
    assert parse_perms("2048") == 2048
    with pytest.raises(ValueError, match="unknown permission 'SEND_MESAGES'"):
        parse_perms("SEND_MESAGES")
    with pytest.raises(ValueError, match="negative"):
        parse_perms(-1)


def test_permissions_are_named_as_discords_client_shows_them() -> None:
    assert perm_names(Perm.MANAGE_GUILD | Perm.MANAGE_THREADS) == "Manage Server, Manage Threads"
    assert perm_names(Perm.SEND_MESSAGES_IN_THREADS) == "Send Messages in Threads"
    assert perm_names(Perm.MODERATE_MEMBERS | Perm.VIEW_CHANNEL) == "View Channels, Timeout Members"
    assert "Guild" not in perm_names(int(ALL))


def test_thread_permissions_come_from_the_parent(world: World) -> None:
    gid, general, _ = _guild(world)
    msg, _ = world.create_message(general, world.bot.id, {"content": "x"})
    thread = world.start_thread_from_message(general, msg.id, world.bot.id, {"name": "t"})
    world.set_overwrite(
        general, world.bot.id, MEMBER_OVERWRITE, deny=int(Perm.SEND_MESSAGES_IN_THREADS)
    )
    with pytest.raises(ApiError) as info:
        world.create_message(thread.id, world.bot.id, {"content": "in thread"})
    assert (info.value.status, info.value.code) == (403, 50013)


def test_invisible_channel_is_missing_access(world: World) -> None:
    _, general, _ = _guild(world)
    world.set_overwrite(general, world.bot.id, MEMBER_OVERWRITE, deny=int(Perm.VIEW_CHANNEL))
    with pytest.raises(ApiError) as info:
        world.create_message(general, world.bot.id, {"content": "x"})
    assert (info.value.status, info.value.code) == (403, 50001)


# ---- messages ----


def test_message_limits_are_invalid_form_body(world: World) -> None:
    _, general, _ = _guild(world)
    body = {
        "content": "x" * 2001,
        "embeds": [
            {"title": "t" * 257, "fields": [{"name": "", "value": "v"}], "url": "/relative"}
        ],
    }
    with pytest.raises(ApiError) as info:
        world.create_message(general, world.bot.id, body)
    err = info.value
    assert (err.status, err.code) == (400, 50035)
    assert err.errors is not None
    assert err.errors["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    embed = err.errors["embeds"]["0"]
    assert set(embed) == {"title", "fields", "url"}


@pytest.mark.parametrize(
    ("where", "url", "code"),
    [
        ("image", "https://art.example.org/my art.jpg", "URL_TYPE_INVALID_URL"),
        ("image", "//art.example.org/5.jpg", "URL_TYPE_INVALID_URL"),
        ("image", "https:///5.jpg", "URL_TYPE_INVALID_URL"),
        ("button", "https://example.org/" + "a" * 500, "BASE_TYPE_MAX_LENGTH"),
        ("button", "https://example.org/a\nb", "URL_TYPE_INVALID_URL"),
    ],
)
def test_links_discord_refuses_are_invalid_form_body(
    world: World, where: str, url: str, code: str
) -> None:
    _, general, _ = _guild(world)
    if where == "image":
        body: dict[str, object] = {"embeds": [{"image": {"url": url}}]}
        path = ("embeds", "0", "image", "url")
    else:
        button = {"type": 2, "style": 5, "label": "Listen", "url": url}
        body = {"content": "x", "components": [{"type": 1, "components": [button]}]}
        path = ("components", "0", "components", "0", "url")
    with pytest.raises(ApiError) as info:
        world.create_message(general, world.bot.id, body)
    errors = info.value.errors
    assert errors is not None
    for key in path:
        errors = errors[key]
    assert errors["_errors"][0]["code"] == code


def test_embeds_over_6000_characters_in_total(world: World) -> None:
    _, general, _ = _guild(world)
    embeds = [{"description": "d" * 4000}, {"description": "d" * 2001}]
    with pytest.raises(ApiError, match="Invalid Form Body") as info:
        world.create_message(general, world.bot.id, {"embeds": embeds})
    assert info.value.errors == {
        "embeds": {
            "_errors": [
                {
                    "code": "MAX_EMBED_SIZE_EXCEEDED",
                    "message": "Embed size exceeds maximum size of 6000",
                }
            ]
        }
    }


def test_empty_message_is_50006(world: World) -> None:
    _, general, _ = _guild(world)
    with pytest.raises(ApiError) as info:
        world.create_message(general, world.bot.id, {"content": ""})
    assert info.value.code == 50006


def test_nonce_matches_per_channel_and_author_within_the_window(world: World) -> None:
    clock = world.clock
    assert isinstance(clock, ManualClock)
    gid, general, alice = _guild(world)
    other = world.add_channel(gid, "other")
    body = {"content": "x", "nonce": "n1", "enforce_nonce": True}
    first, created = world.create_message(general, world.bot.id, body, nonce_window=10)
    assert created
    assert world.create_message(general, world.bot.id, body, nonce_window=10) == (first, False)
    assert world.create_message(other.id, world.bot.id, body, nonce_window=10)[1]
    assert world.create_message(general, alice, body, nonce_window=10)[1]
    clock.advance(10)
    assert world.create_message(general, world.bot.id, body, nonce_window=10)[1]
    without_enforce = {"content": "x", "nonce": "n2"}
    world.create_message(general, world.bot.id, without_enforce)
    assert world.create_message(general, world.bot.id, without_enforce)[1]


def test_history_newest_first_with_before_after_around(world: World) -> None:
    _, general, _ = _guild(world)
    ids = [
        world.create_message(general, world.bot.id, {"content": str(i)})[0].id for i in range(10)
    ]

    def page(**kw: int) -> list[int]:
        return [m.id for m in world.list_messages(general, **kw)]

    assert page(limit=3) == ids[:-4:-1]
    assert page(limit=3, before=ids[5]) == [ids[4], ids[3], ids[2]]
    assert page(limit=3, after=ids[5]) == [ids[8], ids[7], ids[6]]  # the oldest after, newest first
    assert page(limit=4, around=ids[5]) == [ids[6], ids[5], ids[4], ids[3]]


def test_allowed_mentions_decide_who_is_pinged(world: World) -> None:
    _, general, alice = _guild(world)
    content = f"hi <@{alice}> and @everyone"
    loud, _ = world.create_message(general, world.bot.id, {"content": content})
    quiet, _ = world.create_message(
        general, world.bot.id, {"content": content, "allowed_mentions": {"parse": []}}
    )
    only_alice, _ = world.create_message(
        general, world.bot.id, {"content": content, "allowed_mentions": {"users": [str(alice)]}}
    )
    assert loud.mention_ids == [alice] and not loud.mention_everyone  # bot lacks MENTION_EVERYONE
    assert quiet.mention_ids == [] and only_alice.mention_ids == [alice]


def test_forum_needs_a_message_and_known_tags(world: World) -> None:
    gid, _, _ = _guild(world)
    forum = world.add_channel(gid, "discussions", FORUM, tags=["episode"], require_tag=True)
    with pytest.raises(ApiError, match="Invalid Form Body"):
        world.start_thread(forum.id, world.bot.id, {"name": "no message"})
    with pytest.raises(ApiError) as info:
        world.start_thread(forum.id, world.bot.id, {"name": "p", "message": {"content": "x"}})
    assert info.value.code == 40067
    with pytest.raises(ApiError, match="Invalid Form Body"):
        world.start_thread(
            forum.id,
            world.bot.id,
            {"name": "p", "message": {"content": "x"}, "applied_tags": ["1"]},
        )


def test_second_thread_on_one_message_is_refused(world: World) -> None:
    _, general, _ = _guild(world)
    msg, _ = world.create_message(general, world.bot.id, {"content": "x"})
    world.start_thread_from_message(general, msg.id, world.bot.id, {"name": "t"})
    with pytest.raises(ApiError) as info:
        world.start_thread_from_message(general, msg.id, world.bot.id, {"name": "again"})
    assert info.value.code == 160004


# ---- commands ----


def test_command_definitions_are_validated() -> None:
    world = World(clock=ManualClock())
    bad = [
        {"name": "Hello", "description": "x"},
        {
            "name": "ok",
            "description": "x",
            "options": [
                {"name": "a", "description": "a", "type": 3},
                {"name": "b", "description": "b", "type": 3, "required": True},
            ],
        },
        {"name": "ok", "description": ""},
    ]
    with pytest.raises(ApiError) as info:
        world.overwrite_commands(None, bad)
    errors = info.value.errors
    assert errors is not None
    assert errors["0"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"
    assert "options" in errors["1"]
    assert errors["2"]["description"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert world.command_syncs == 0


def test_unchanged_commands_keep_their_ids() -> None:
    world = World(clock=ManualClock())
    defs = [{"name": "episode", "description": "Find an episode"}]
    (first,) = world.overwrite_commands(None, defs)
    (again,) = world.overwrite_commands(None, defs)
    assert (again.id, again.version) == (first.id, first.version)
    (changed,) = world.overwrite_commands(None, [{**defs[0], "description": "Look up"}])
    assert changed.id == first.id and changed.version != first.version
    assert world.command_syncs == 3


# ---- persistence ----


def test_state_round_trips_through_json(world: World) -> None:
    gid, general, alice = _guild(world)
    msg, _ = world.create_message(general, world.bot.id, {"content": "kept", "nonce": "n"})
    world.start_thread_from_message(general, msg.id, world.bot.id, {"name": "t"})
    world.overwrite_commands(gid, [{"name": "episode", "description": "Find"}])
    data = json.loads(json.dumps(world.to_dict()))
    back = World.from_dict(data, clock=world.clock)
    assert back.to_dict() == world.to_dict()
    assert [m.content for m in back.list_messages(general)] == ["kept"]
    assert back.ids.next() > msg.id  # new ids never collide with stored ones


def test_unknown_state_version_says_how_to_recover() -> None:
    with pytest.raises(EmulatorError, match="delete the file"):
        World.from_dict({"version": 99}, clock=ManualClock())


def test_manual_clock_only_moves_forward() -> None:
    clock = ManualClock(100.0)
    assert clock.advance(5) == 105.0 == clock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_interaction_tokens_are_forgotten_after_their_lifetime(world: World) -> None:
    from bot.sandbox.emulator.interactions import TOKEN_TTL, Interactions

    registry = Interactions(world)

    def create(at: float) -> int:
        rec = registry.create(type=2, guild_id=1, channel_id=2, user_id=3, data={}, now=at)
        return rec.id

    old = [create(0.0), create(10.0)]
    kept = create(TOKEN_TTL)
    newest = create(TOKEN_TTL + 11.0)  # the first two are now over their lifetime
    assert sorted(registry.by_id) == sorted([kept, newest])
    assert {r.id for r in registry.by_token.values()} == {kept, newest}
    assert not set(old) & set(registry.by_id)


def test_components_over_discords_limits_are_invalid_form_body(world: World) -> None:
    """Without IS_COMPONENTS_V2: at most 5 action rows, each of 1 to 5 buttons, labels of at
    most 80 characters."""
    _, general, _ = _guild(world)

    def link(label: str) -> dict[str, object]:
        return {"type": 2, "style": 5, "label": label, "url": "https://example.org/"}

    body = {
        "content": "x",
        "components": [
            {"type": 1, "components": [link("L" * 81)]},
            {"type": 1, "components": []},
            {"type": 1, "components": [link("ok")] * 6},
            *[{"type": 1, "components": [link("ok")]}] * 3,
        ],
    }
    with pytest.raises(ApiError, match="Invalid Form Body") as info:
        world.create_message(general, world.bot.id, body)
    errors = info.value.errors
    assert errors is not None
    rows = errors["components"]
    assert rows["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"  # 6 rows
    assert rows["0"]["components"]["0"]["label"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    for empty_or_six in ("1", "2"):
        assert rows[empty_or_six]["components"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    world.create_message(general, world.bot.id, {**body, "components": body["components"][3:]})


def test_choice_values_and_string_lengths_of_command_options_are_bounded() -> None:
    world = World(clock=ManualClock())
    option = {
        "name": "pick",
        "description": "d",
        "type": 3,
        "choices": [{"name": "long", "value": "v" * 101}],
        "max_length": 6001,
    }
    with pytest.raises(ApiError) as info:
        world.overwrite_commands(None, [{"name": "ok", "description": "x", "options": [option]}])
    errors = info.value.errors
    assert errors is not None
    pick = errors["0"]["options"]["0"]
    assert pick["choices"]["0"]["value"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert "max_length" in pick

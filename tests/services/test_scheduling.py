"""Scheduling use cases and the planner on a real SQLite file, the shipped templates and an
injected `now`: exactly one outbox row per occurrence, DST-correct instants, catch-up inside
and outside the grace window, rotation across restarts, and bad input that saves nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.core.models import Episode, Link, Person, Topic
from bot.core.render import Prompts
from bot.core.schedule import WeeklyRule, describe, format_discord_timestamp
from bot.services.publisher import PostRetry, Publisher, Ticker
from bot.services.scheduling import (
    CatalogueTopics,
    SchedulingError,
    SchedulingService,
    find_topic,
    topic_choices,
    zone_choices,
)
from bot.store.db import open_store
from bot.store.guild_config import GuildConfigStore
from bot.store.outbox import FAILED, PENDING, SENT, SKIPPED, Outbox, OutboxEntry
from bot.store.scheduling import WeeklyConfig
from tests.services.test_publisher import FORUM_CHANNEL, TEXT_CHANNEL, Clock, Crash, FakeDiscord

GUILD, OTHER_GUILD, MOD = 1, 2, 99
GRACE = timedelta(hours=6)
REPO = Path(__file__).resolve().parents[2]
TUE = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # a Tuesday
FRI = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # that week's Friday, 18:00

TOPICS = [
    Topic("evals", "Evaluating LLM apps", aliases=("evaluation", "evals for llms")),
    Topic("data-quality", "Data quality", questions=("Where does bad data come from?",)),
    Topic("mlops", "MLOps in practice"),
    Topic("open-source", "Open source", description="Building in the open."),
]
EPISODE = Episode(
    number=11,
    title="The great stagnation",
    slug="great-stagnation",
    released=date(2022, 9, 15),
    people=(Person("Hugo", "host"), Person("Ada", "guest")),
    topics=("data-quality",),
    links=(Link("episode", "https://example.com/11"),),
)


class FakeTopics:
    """A hand-written fake of the TopicSource port."""

    def __init__(
        self,
        topics: list[Topic] | None = None,
        favoured: list[str] | None = None,
        crash_on_episode: bool = False,
    ) -> None:
        self.items = list(TOPICS if topics is None else topics)
        self.favoured_slugs = favoured or []
        self.crash_on_episode = crash_on_episode

    async def topics(self) -> list[Topic]:
        return list(self.items)

    async def episode_for(self, slug: str) -> Episode | None:
        if self.crash_on_episode:
            raise Crash()
        return EPISODE if slug in EPISODE.topics else None

    async def favoured(self) -> list[str]:
        return list(self.favoured_slugs)


class Bot:
    """The store opened on a file and the service on it: leaving the block is a restart."""

    def __init__(self, path: Path, topics: FakeTopics | None = None, prompts: Path | None = None):
        self.path = path
        self.topics = topics or FakeTopics()
        self.prompts = Prompts.load(prompts or REPO / "prompts")

    async def __aenter__(self) -> SchedulingService:
        self.store = await open_store(self.path)
        return SchedulingService(self.store, self.topics, self.prompts, grace=GRACE)

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "bot.sqlite3"


async def all_rows(path: Path) -> list[OutboxEntry]:
    async with await open_store(path) as store:
        rows = await store.fetchall("SELECT key FROM outbox ORDER BY due_at, key")
        outbox = Outbox(store)
        found = [await outbox.get(r["key"]) for r in rows]
    return [e for e in found if e is not None]


async def set_friday(service: SchedulingService, now: datetime = TUE, tz: str = "UTC") -> None:
    await service.set_weekly(GUILD, TEXT_CHANNEL, "friday", "18:00", tz, by=MOD, now=now)


# ---- the weekly prompt ----


async def test_set_then_show_gives_the_next_run_and_what_will_be_posted(db):
    async with Bot(db) as service:
        view = await service.set_weekly(
            GUILD, TEXT_CHANNEL, "Fri", "6pm", "europe/london", by=MOD, now=TUE, guild_name="VG"
        )
        shown = await service.show_weekly(GUILD, TUE)
    assert view.next_run == datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    assert shown is not None and shown.config.rule.tz == "Europe/London"
    assert shown.next_topic == TOPICS[0] and shown.next_style == "from-the-archive"
    assert shown.config.guild_name == "VG" and shown.config.updated_by == MOD


@pytest.mark.parametrize(
    ("weekday", "at", "tz", "expected"),
    [
        ("funday", "18:00", "UTC", ["weekday: unknown day 'funday'"]),
        ("friday", "25:00", "UTC", ["time: there is no hour 25"]),
        ("friday", "18:00", "Mars/Olympus", ["tz: unknown time zone 'Mars/Olympus'"]),
        ("friday", "18:00", "UTC+2", ["a fixed offset does not follow daylight saving"]),
        ("friday", "18:00", "EST", ["tz: 'EST' is an abbreviation", "'America/New_York'"]),
        ("friday", "18:00", "Etc/GMT+5", ["tz: 'Etc/GMT+5' is a fixed offset, UTC-05:00"]),
        ("", "soon", "", ["weekday: no day given", "time: could not read 'soon'", "tz: no time"]),
    ],
)
async def test_bad_weekly_input_saves_nothing_and_says_what_is_wrong(db, weekday, at, tz, expected):
    async with Bot(db) as service:
        with pytest.raises(SchedulingError) as info:
            await service.set_weekly(GUILD, TEXT_CHANNEL, weekday, at, tz, by=MOD, now=TUE)
        assert await service.show_weekly(GUILD, TUE) is None
    for part in expected:
        assert part in str(info.value)


async def test_the_weekly_prompt_is_planned_once_and_posted_once(db):
    clock = Clock(TUE)
    discord = FakeDiscord(clock)
    async with Bot(db) as service:
        await set_friday(service)
        ticker = Ticker(service, Publisher(service.outbox, discord, clock, grace=GRACE), clock)
        for _ in range(5 * 24 * 4):  # every 15 minutes for five days
            await ticker.tick()
            clock.advance(minutes=15)
        again = await service.plan(datetime.fromtimestamp(clock(), UTC))
    assert again == []
    (row,) = await all_rows(db)
    assert row.key == "weekly:1:2026-03-06T18:00Z" and row.state == SENT
    (msg,) = discord.posts_in(TEXT_CHANNEL)
    assert msg.created_at == datetime(2026, 3, 6, 18, 0, tzinfo=UTC).timestamp()
    assert discord.threads == {msg.id: (TEXT_CHANNEL, row.post.title)}
    assert "Evaluating LLM apps" in msg.content and row.post.topic == "evals"


async def test_restarting_between_plan_and_drain_posts_once(db):
    clock = Clock(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    discord = FakeDiscord(clock)
    async with Bot(db) as service:
        await set_friday(service)
        await service.plan(datetime.fromtimestamp(clock(), UTC))
    async with Bot(db) as service:  # restarted before draining
        assert await service.plan(datetime.fromtimestamp(clock(), UTC)) == []
        publisher = Publisher(service.outbox, discord, clock, grace=GRACE)
        await publisher.drain()
        await publisher.drain()
    assert len(discord.messages) == 1


async def test_a_crash_inside_plan_writes_nothing_and_the_next_plan_writes_once(db):
    friday = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    async with Bot(db) as service:
        await set_friday(service)
    async with Bot(db, FakeTopics(crash_on_episode=True)) as service:
        with pytest.raises(Crash):
            await service.plan(friday + timedelta(minutes=1))
    assert await all_rows(db) == []
    async with Bot(db) as service:
        written = await service.plan(friday + timedelta(minutes=2))
        assert await service.plan(friday + timedelta(minutes=3)) == []
        view = await service.show_weekly(GUILD, friday + timedelta(minutes=3))
    assert [e.key for e in written] == ["weekly:1:2026-03-06T18:00Z"]
    assert view is not None and view.config.style_counter == 1


async def test_downtime_inside_grace_posts_late_once(db):
    async with Bot(db) as service:
        await set_friday(service)
        await service.plan(datetime(2026, 3, 6, 17, 0, tzinfo=UTC))  # last tick before the bot died
    async with Bot(db) as service:
        written = await service.plan(datetime(2026, 3, 6, 23, 59, tzinfo=UTC))  # 5 h 59 late
    assert [(e.key, e.state) for e in written] == [("weekly:1:2026-03-06T18:00Z", PENDING)]


async def test_downtime_beyond_grace_skips_and_records_why(db, caplog):
    async with Bot(db) as service:
        await set_friday(service)
        await service.plan(datetime(2026, 3, 6, 17, 0, tzinfo=UTC))
    async with Bot(db) as service:
        written = await service.plan(datetime(2026, 3, 7, 0, 1, tzinfo=UTC))  # 6 h 01 late
        view = await service.show_weekly(GUILD, datetime(2026, 3, 7, 0, 1, tzinfo=UTC))
    (skipped,) = written
    assert skipped.state == SKIPPED and "more than the grace window" in skipped.last_error
    assert view is not None and [e.key for e in view.problems] == [skipped.key]
    assert "skipped weekly:1:2026-03-06T18:00Z" in caplog.text
    assert view.config.style_counter == 0  # nothing posted: the rotation did not move


async def configure(path: Path, guild: int, name: str, value: str | float | None) -> None:
    """What /config does: one guild setting stored."""
    async with await open_store(path) as store:
        await GuildConfigStore(store).set(guild, name, value, by=MOD, now=TUE.timestamp())


async def test_each_guild_has_its_own_grace_window(db):
    await configure(db, OTHER_GUILD, "grace_window", 3600.0)  # GUILD keeps the default 6 h
    async with Bot(db) as service:
        for guild in (GUILD, OTHER_GUILD):
            await service.set_weekly(guild, TEXT_CHANNEL, "friday", "18:00", "UTC", by=MOD, now=TUE)
        await service.plan(datetime(2026, 3, 6, 17, 0, tzinfo=UTC))
    async with Bot(db) as service:  # back 3 h after the prompts' time
        written = await service.plan(datetime(2026, 3, 6, 21, 0, tzinfo=UTC))
    states = {e.guild_id: e for e in written}
    assert states[GUILD].state == PENDING
    assert states[OTHER_GUILD].state == SKIPPED
    assert "the grace window of 60 min" in states[OTHER_GUILD].last_error


async def test_plain_times_and_a_weekly_without_zone_use_the_guilds_time_zone(db):
    await configure(db, GUILD, "timezone", "Europe/Paris")
    async with Bot(db) as service:
        # A weekly prompt in another zone does not override the server's setting.
        await service.set_weekly(GUILD, 5, "monday", "09:00", "America/New_York", by=MOD, now=TUE)
        thread = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", by=MOD, now=TUE
        )
        weekly = await service.set_weekly(
            OTHER_GUILD, TEXT_CHANNEL, "friday", "18:00", None, by=MOD, now=TUE
        )
        again = await service.set_weekly(GUILD, 5, "friday", "18:00", None, by=MOD, now=TUE)
        listing = await service.list_schedules(GUILD, TUE)
    assert thread.next_run == datetime(2026, 3, 6, 17, 0, tzinfo=UTC)  # 18:00 CET
    assert thread.schedule.tz == "Europe/Paris" and listing.zone == "Europe/Paris"
    assert again.config.rule.tz == "Europe/Paris"
    assert weekly.config.rule.tz == "UTC"  # a guild that set no zone: the default


async def test_zones_saved_before_they_were_refused_keep_working(db):
    # Older versions accepted 'EST' (UTC-5 all year): what was saved runs as it did.
    await configure(db, GUILD, "timezone", "EST")
    async with Bot(db) as service:
        await service.rows.put_weekly(
            WeeklyConfig(GUILD, TEXT_CHANNEL, WeeklyRule(4, time(18), "EST5EDT")), TUE
        )
        thread = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", by=MOD, now=TUE
        )
        shown = await service.show_weekly(GUILD, TUE)
        written = await service.plan(datetime(2026, 3, 6, 23, 0, tzinfo=UTC))
    assert thread.next_run == datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
    assert shown is not None and shown.next_run == datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
    assert sorted((e.kind, e.state) for e in written) == [("thread", PENDING), ("weekly", PENDING)]


async def test_weeks_of_downtime_post_only_the_newest_occurrence_within_grace(db):
    async with Bot(db) as service:
        await set_friday(service)
        await service.plan(TUE)
    async with Bot(db) as service:
        written = await service.plan(datetime(2026, 3, 20, 19, 0, tzinfo=UTC))
    states = [(e.key, e.state) for e in written]
    assert states == [
        ("weekly:1:2026-03-06T18:00Z", SKIPPED),
        ("weekly:1:2026-03-13T18:00Z", SKIPPED),
        ("weekly:1:2026-03-20T18:00Z", PENDING),
    ]


async def test_setting_a_time_just_past_does_not_fire_it(db):
    just_after = datetime(2026, 3, 6, 18, 5, tzinfo=UTC)
    async with Bot(db) as service:
        await set_friday(service, now=just_after)
        assert await service.plan(just_after + timedelta(minutes=1)) == []
        view = await service.show_weekly(GUILD, just_after)
    assert view is not None and view.next_run == datetime(2026, 3, 13, 18, 0, tzinfo=UTC)


async def test_off_stops_the_prompt_and_set_turns_it_back_on(db):
    async with Bot(db) as service:
        await set_friday(service)
        assert await service.weekly_off(GUILD, by=MOD, now=TUE) is True
        assert await service.weekly_off(GUILD, by=MOD, now=TUE) is False
        assert await service.plan(datetime(2026, 3, 6, 18, 0, tzinfo=UTC)) == []
        view = await service.show_weekly(GUILD, TUE)
        assert view is not None and view.next_run is None and not view.config.enabled
        assert await service.weekly_off(OTHER_GUILD, by=MOD, now=TUE) is False
        await set_friday(service, now=datetime(2026, 3, 7, tzinfo=UTC))
        written = await service.plan(datetime(2026, 3, 13, 18, 0, tzinfo=UTC))
    assert [e.key for e in written] == ["weekly:1:2026-03-13T18:00Z"]


async def weekly_topics(
    db: Path, weeks: int, start: datetime, *, restart_every: int = 0
) -> list[str]:
    topics: list[str] = []
    now = start
    service_cm = Bot(db)
    service = await service_cm.__aenter__()
    try:
        for week in range(weeks):
            if restart_every and week and week % restart_every == 0:
                await service_cm.__aexit__()
                service_cm = Bot(db)
                service = await service_cm.__aenter__()
            now += timedelta(weeks=1)
            written = await service.plan(now)
            topics += [e.post.topic for e in written if e.state == PENDING]
    finally:
        await service_cm.__aexit__()
    return topics


async def test_topics_rotate_without_repeats_and_the_rotation_survives_restarts(tmp_path):
    for name, restart_every in (("steady", 0), ("restarted", 3)):
        path = tmp_path / f"{name}.sqlite3"
        async with Bot(path) as service:
            await set_friday(service)
        topics = await weekly_topics(path, 9, FRI - timedelta(weeks=1), restart_every=restart_every)
        assert topics[:4] == ["evals", "data-quality", "mlops", "open-source"], name
        assert topics[4:8] == topics[:4] and topics[8] == "evals", name
    # Styles rotate too, one per prompt, shifted by one each round of the topics: four topics
    # and four styles in step would give each topic one style for ever.
    rows = [e for e in await all_rows(tmp_path / "restarted.sqlite3") if e.state == PENDING]
    styles = [e.post.style for e in rows]
    first = ["from-the-archive", "hot-take", "question", "show-and-tell"]
    assert styles[:8] == [*first, *first[1:], first[0]]


async def test_the_newest_episodes_topics_come_first_in_each_cycle(db):
    topics = FakeTopics(favoured=["mlops"])
    async with Bot(db, topics) as service:
        await set_friday(service)
        found = []
        for week in range(1, 6):
            written = await service.plan(FRI + timedelta(weeks=week - 1))
            found += [e.post.topic for e in written]
    assert found == ["mlops", "evals", "data-quality", "open-source", "mlops"]


async def test_the_preview_shows_the_next_prompt_and_changes_nothing(db):
    async with Bot(db) as service:
        await set_friday(service)
        await service.plan(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
        first = await service.preview_weekly(GUILD, TUE + timedelta(days=4))
        second = await service.preview_weekly(GUILD, TUE + timedelta(days=4))
        no_config = await service.preview_weekly(OTHER_GUILD, TUE, guild_name="Other")
    assert first == second
    assert first.topic.slug == "data-quality" and first.style == "hot-take"
    assert first.when == datetime(2026, 3, 13, 18, 0, tzinfo=UTC)
    assert first.episode == EPISODE and "Data quality" in first.rendered.body
    assert no_config.topic.slug == "evals" and no_config.when == TUE


@pytest.mark.parametrize(
    ("tz", "weekday", "at", "start", "expected"),
    [
        pytest.param(
            "Europe/London",
            "sunday",
            "01:30",
            datetime(2024, 3, 20, tzinfo=UTC),
            # 01:30 does not exist on 2024-03-31: posted at 02:30 BST (01:30 UTC).
            ["2024-03-24T01:30Z", "2024-03-31T01:30Z", "2024-04-07T00:30Z"],
            id="london-spring-gap",
        ),
        pytest.param(
            "America/New_York",
            "sunday",
            "01:30",
            datetime(2024, 10, 23, tzinfo=UTC),
            # 01:30 happens twice on 2024-11-03: posted once, at 01:30 EDT.
            ["2024-10-27T05:30Z", "2024-11-03T05:30Z", "2024-11-10T06:30Z"],
            id="new-york-fall-repeat",
        ),
    ],
)
async def test_the_weekly_prompt_follows_the_wall_clock_across_dst(
    db, tz, weekday, at, start, expected
):
    async with Bot(db) as service:
        await service.set_weekly(GUILD, TEXT_CHANNEL, weekday, at, tz, by=MOD, now=start)
        now = start
        keys = []
        while now < start + timedelta(days=21):
            now += timedelta(minutes=30)
            keys += [e.key for e in await service.plan(now)]
    assert keys == [f"weekly:1:{stamp}" for stamp in expected]


async def test_the_show_warns_about_a_wall_time_the_clocks_skip(db):
    async with Bot(db) as service:
        view = await service.set_weekly(
            GUILD, TEXT_CHANNEL, "sunday", "02:30", "America/New_York", by=MOD, now=TUE
        )
    assert any("02:30 does not exist on Sun 2026-03-08" in n for n in view.notes)


async def test_no_topics_or_a_broken_template_fail_the_post_with_the_reason(db, tmp_path):
    friday = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    async with Bot(db, FakeTopics(topics=[])) as service:
        await set_friday(service)
        (failed,) = await service.plan(friday)
    assert failed.state == FAILED and "no topics to rotate through" in failed.last_error

    prompts = tmp_path / "prompts"
    for kind in ("weekly", "thread", "announce"):
        (prompts / kind).mkdir(parents=True)
        (prompts / kind / "plain.j2").write_text("{{ topic.title }}\n{{ nonsense }}\n")
    async with Bot(tmp_path / "other.sqlite3", prompts=prompts) as service:
        await set_friday(service)
        (failed,) = await service.plan(friday)
        listing = await service.list_schedules(GUILD, friday)
    assert failed.state == FAILED
    assert "prompts/weekly/plain.j2:2" in failed.last_error and "nonsense" in failed.last_error
    assert [e.key for e in listing.attention] == [failed.key]


async def test_a_template_with_everyone_is_kept_verbatim_for_the_poster(tmp_path):
    prompts = tmp_path / "prompts"
    for kind in ("weekly", "thread", "announce"):
        (prompts / kind).mkdir(parents=True)
        (prompts / kind / "loud.j2").write_text("@everyone talk about {{ topic.title }}!\n")
    async with Bot(tmp_path / "db.sqlite3", prompts=prompts) as service:
        await set_friday(service)
        (entry,) = await service.plan(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    # Mentions are disabled where the message is sent (bot/chat/poster.py), not by editing text.
    assert entry.post.body == "@everyone talk about Evaluating LLM apps!"


# ---- scheduled threads ----


async def test_a_thread_is_scheduled_in_the_guilds_zone_and_posted_once(db):
    async with Bot(db) as service:
        await service.set_weekly(GUILD, 5, "monday", "09:00", "America/New_York", by=MOD, now=TUE)
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "Data Quality", "friday 18:00", by=MOD, now=TUE, guild_name="VG"
        )
        friday_ny = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)  # 18:00 EST
        assert view.next_run == friday_ny and view.topic == TOPICS[1]
        assert await service.plan(friday_ny - timedelta(minutes=1)) == []
        (entry,) = await service.plan(friday_ny)
        later = await service.plan(friday_ny + timedelta(days=8))
        assert [e for e in later if e.kind == "thread"] == []
        listing = await service.list_schedules(GUILD, friday_ny + timedelta(minutes=1))
    assert entry.key == f"thread:{view.schedule.id}:2026-03-06T23:00Z" and entry.state == PENDING
    assert entry.kind == "thread" and entry.schedule_id == view.schedule.id
    assert "Data quality" in entry.post.body and "The great stagnation" in entry.post.body
    assert entry.post.title.startswith(("Let's talk: Data quality", "Listening club"))
    (shown,) = listing.schedules
    assert shown.next_run is None and shown.last is not None and shown.last.key == entry.key
    assert listing.zone == "America/New_York"


async def test_a_weekly_thread_repeats_in_its_own_zone(db):
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD,
            TEXT_CHANNEL,
            "mlops",
            "friday 18:00 Europe/London",
            repeat="weekly",
            title="Friday MLOps club",
            by=MOD,
            now=TUE,
        )
        keys = []
        for week in range(3):
            written = await service.plan(
                datetime(2026, 3, 6, 19, tzinfo=UTC) + timedelta(weeks=week)
            )
            keys += [(e.key, e.post.title) for e in written]
    assert view.schedule.repeat == "weekly" and view.schedule.tz == "Europe/London"
    sid = view.schedule.id
    assert keys == [
        (f"thread:{sid}:2026-03-06T18:00Z", "Friday MLOps club"),
        (f"thread:{sid}:2026-03-13T18:00Z", "Friday MLOps club"),
        (f"thread:{sid}:2026-03-20T18:00Z", "Friday MLOps club"),
    ]


async def test_a_weekly_thread_from_a_date_weeks_ahead_starts_on_that_date(db):
    friday = datetime(2027, 11, 19, 12, 0, tzinfo=UTC)
    first = datetime(2027, 12, 4, 18, 0, tzinfo=UTC)  # Sat 4 Dec, 18:00 GMT
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "mlops", "2027-12-04 18:00 Europe/London", repeat="weekly",
            by=MOD, now=friday,
        )  # fmt: skip
    async with Bot(db) as service:  # what was saved, read back after a restart
        listing = await service.list_schedules(GUILD, friday)
        keys, now = [], friday
        while now < datetime(2027, 12, 19, tzinfo=UTC):
            now += timedelta(hours=6)
            keys += [e.key for e in await service.plan(now)]
    assert view.next_run == first
    assert describe(view.schedule.rule).endswith("from Sat 2027-12-04")
    (shown,) = listing.schedules
    assert shown.next_run == first and shown.schedule.rule == view.schedule.rule
    sid = view.schedule.id
    assert keys == [
        f"thread:{sid}:2027-12-04T18:00Z",
        f"thread:{sid}:2027-12-11T18:00Z",
        f"thread:{sid}:2027-12-18T18:00Z",
    ]


async def test_a_weekly_thread_warns_about_a_wall_time_the_clocks_skip(db):
    march = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    async with Bot(db) as service:
        weekly = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "mlops", "sunday 02:30 America/New_York", repeat="weekly",
            by=MOD, now=march,
        )  # fmt: skip
        later = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "2027-03-21 02:30 America/New_York", repeat="weekly",
            by=MOD, now=march,
        )  # fmt: skip
        once = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "sunday 02:30 America/New_York", by=MOD, now=march
        )
    assert weekly.notes == (
        "02:30 does not exist on Sun 2027-03-14 in America/New_York (the clocks go forward): "
        "that week it posts at 03:30",
    )
    # From the 21st, the next gap is in 2028 (a one-off on an existing time needs no note).
    assert "does not exist on Sun 2028-03-12" in later.notes[0] and once.notes == ()


async def test_a_weekly_thread_from_this_weeks_day_has_no_start_and_no_twin(db):
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "mlops", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        # The same slot from a later date would post with it every week from then on.
        with pytest.raises(SchedulingError, match=f"schedule #{view.schedule.id} already opens"):
            await service.schedule_thread(
                GUILD, TEXT_CHANNEL, "mlops", "2026-03-20 18:00", repeat="weekly", by=MOD, now=TUE
            )
    assert isinstance(view.schedule.rule, WeeklyRule) and view.schedule.rule.starts is None


@pytest.mark.parametrize(
    ("topic", "when", "repeat", "expected"),
    [
        ("evalz", "friday 18:00", None, "no topic called 'evalz' (did you mean 'evals'"),
        ("", "friday 18:00", None, "no topic given"),
        ("evals", "someday", None, "unknown word 'someday'"),
        ("evals", "2026-02-30 18:00", None, "that month has no day 30"),
        ("evals", "yesterday 18:00", None, "'yesterday' points to the past"),
        ("evals", "2025-01-01 10:00", None, "that time has already passed"),
        ("evals", "in 2 years", None, "could not read 'in 2 years' as an amount of time"),
        ("evals", "friday 18:00", "daily", "repeat must be 'weekly'"),
        ("evals", "friday 18:00 Mars/Base", None, "unknown time zone 'Mars/Base'"),
        ("evals", "friday 18:00 Europe/Londn", None, "did you mean 'Europe/London'"),
        ("evals", "friday 18:00 london", None, "did you mean 'Europe/London'"),
        ("evals", "2026-07-07 18:00 EST", "weekly", "'EST' is an abbreviation"),
    ],
)
async def test_bad_schedule_input_saves_nothing(db, topic, when, repeat, expected):
    async with Bot(db) as service:
        with pytest.raises(SchedulingError) as info:
            await service.schedule_thread(
                GUILD, TEXT_CHANNEL, topic, when, repeat=repeat, by=MOD, now=TUE
            )
        listing = await service.list_schedules(GUILD, TUE)
    assert expected in str(info.value)
    assert listing.schedules == ()


async def test_a_title_over_discords_limit_is_refused(db):
    async with Bot(db) as service:
        with pytest.raises(SchedulingError, match="101 characters"):
            await service.schedule_thread(
                GUILD, TEXT_CHANNEL, "evals", "in 1 hour", title="x" * 101, by=MOD, now=TUE
            )


def test_topics_are_found_by_slug_title_or_alias_ignoring_case_and_spacing():
    assert find_topic(TOPICS, "EVALS").slug == "evals"
    assert find_topic(TOPICS, "  evaluating   llm apps ").slug == "evals"
    assert find_topic(TOPICS, "Evals for LLMs").slug == "evals"
    assert find_topic(TOPICS, "data quality").slug == "data-quality"
    with pytest.raises(SchedulingError, match="too long"):
        find_topic(TOPICS, "x" * 101)
    with pytest.raises(SchedulingError, match="no topics in the catalogue"):
        find_topic([], "evals")


async def test_the_same_thread_at_the_same_time_twice_is_refused_as_a_slip(db):
    async with Bot(db) as service:
        first = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        sid = first.schedule.id
        for when, repeat in (("friday 18:00", "weekly"), ("fri 6pm", "weekly")):
            with pytest.raises(SchedulingError, match=f"schedule #{sid} already opens a thread"):
                await service.schedule_thread(
                    GUILD, TEXT_CHANNEL, "Evals for LLMs", when, repeat=repeat, by=MOD, now=TUE
                )
        # Another time, another channel, once rather than weekly, another server: all fine.
        await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 19:00", repeat="weekly", by=MOD, now=TUE
        )
        await service.schedule_thread(
            GUILD, FORUM_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        await service.schedule_thread(GUILD, TEXT_CHANNEL, "evals", "friday 18:00", by=MOD, now=TUE)
        await service.schedule_thread(
            OTHER_GUILD, TEXT_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        # Once the first is cancelled, the same schedule can be made again.
        await service.cancel(GUILD, sid, by=MOD, now=TUE)
        again = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        assert again.schedule.id != sid


async def test_cancel_stops_future_posts_and_is_scoped_to_the_guild(db):
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        sid = view.schedule.id
        with pytest.raises(SchedulingError, match=f"no schedule #{sid} in this server"):
            await service.cancel(OTHER_GUILD, sid, by=MOD, now=TUE)
        with pytest.raises(SchedulingError, match="no schedule #999"):
            await service.cancel(GUILD, 999, by=MOD, now=TUE)
        cancelled = await service.cancel(GUILD, sid, by=MOD, now=TUE)
        assert cancelled.cancelled_at == TUE and cancelled.cancelled_by == MOD
        with pytest.raises(SchedulingError, match="already cancelled"):
            await service.cancel(GUILD, sid, by=MOD, now=TUE)
        assert await service.plan(datetime(2026, 3, 6, 18, tzinfo=UTC)) == []
        assert (await service.list_schedules(GUILD, TUE)).schedules == ()
        with pytest.raises(SchedulingError, match="is cancelled"):
            await service.run_now(GUILD, sid, by=MOD, now=TUE)


async def test_run_now_racing_a_cancel_posts_nothing(db):
    # Another moderator's cancel lands while run-now is on its way (here: reading the topics).
    class CancelWhileReading(FakeTopics):
        cancel: Callable[[], Awaitable[object]] | None = None

        async def topics(self) -> list[Topic]:
            if self.cancel is not None:
                await self.cancel()
            return await super().topics()

    topics = CancelWhileReading()
    async with Bot(db, topics) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        sid = view.schedule.id
        topics.cancel = lambda: service.cancel(GUILD, sid, by=MOD + 1, now=TUE)
        with pytest.raises(SchedulingError, match="is cancelled"):
            await service.run_now(GUILD, sid, by=MOD, now=TUE)
        assert await service.outbox.get(f"runnow:{sid}:2026-03-03T12:00Z") is None


async def test_run_now_posts_once_and_leaves_the_schedule_as_it_was(db):
    clock = Clock(TUE)
    discord = FakeDiscord(clock)
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", repeat="weekly", by=MOD, now=TUE
        )
        sid = view.schedule.id
        first = await service.run_now(GUILD, sid, by=MOD, now=TUE + timedelta(seconds=5))
        again = await service.run_now(GUILD, sid, by=MOD, now=TUE + timedelta(seconds=40))
        assert first.key == again.key == f"runnow:{sid}:2026-03-03T12:00Z"
        clock.advance(seconds=40)
        await Publisher(service.outbox, discord, clock, grace=GRACE).drain()
        after = await service.rows.schedule(sid)
        assert after == view.schedule  # rule, last run, everything unchanged
        written = await service.plan(datetime(2026, 3, 6, 18, tzinfo=UTC))
        with pytest.raises(SchedulingError, match="no schedule #12345"):
            await service.run_now(GUILD, 12345, by=MOD, now=TUE)
    assert len(discord.messages) == 1
    assert [e.key for e in written] == [f"thread:{sid}:2026-03-06T18:00Z"]


async def test_a_topic_that_left_the_catalogue_fails_its_post_visibly(db):
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "open source", "friday 18:00", by=MOD, now=TUE
        )
    async with Bot(db, FakeTopics(topics=TOPICS[:3])) as service:
        (failed,) = await service.plan(datetime(2026, 3, 6, 18, tzinfo=UTC))
        listing = await service.list_schedules(GUILD, datetime(2026, 3, 6, 18, tzinfo=UTC))
    assert failed.state == FAILED and "no longer in the catalogue" in failed.last_error
    assert f"cancel schedule #{view.schedule.id}" in failed.last_error
    assert [e.key for e in listing.attention] == [failed.key]
    assert listing.schedules[0].topic is None


async def test_finished_one_off_schedules_leave_the_list_after_a_week(db):
    async with Bot(db) as service:
        await service.schedule_thread(GUILD, TEXT_CHANNEL, "evals", "in 1 hour", by=MOD, now=TUE)
        later = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "mlops", "in 30 days", by=MOD, now=TUE
        )
        await service.plan(TUE + timedelta(hours=1))
        soon = await service.list_schedules(GUILD, TUE + timedelta(days=2))
        much_later = await service.list_schedules(GUILD, TUE + timedelta(days=9))
    assert [v.schedule.topic_slug for v in soon.schedules] == ["mlops", "evals"]
    assert [v.schedule.id for v in much_later.schedules] == [later.schedule.id]


async def test_the_catalogue_topic_source_reads_the_synced_content(db, content_root):
    from bot.store.sync import sync_content

    async with await open_store(db) as store:
        await sync_content(store, content_root)
        source = CatalogueTopics(store)
        topics = await source.topics()
        favoured = await source.favoured()
        slugs = {t.slug for t in topics}
        assert topics and favoured and set(favoured) <= slugs
        episode = await source.episode_for(favoured[0])
    assert episode is not None and favoured[0] in episode.topics


def test_zone_choices_offer_matching_iana_names_first_by_prefix_then_city():
    assert zone_choices("")[:2] == ["UTC", "Europe/London"]
    london = zone_choices("london")
    assert london[0] == "Europe/London" and len(london) <= 25
    assert zone_choices("america/new")[0] == "America/New_York"
    assert all("york" in z.lower() for z in zone_choices("york"))
    assert zone_choices("nowhere-at-all") == []
    assert zone_choices("pst")[0] == "America/Los_Angeles"  # what the abbreviation means
    assert zone_choices("mst")[:2] == ["America/Denver", "America/Phoenix"]
    assert not {"EST", "EST5EDT", "Etc/GMT+5"} & set(zone_choices("est") + zone_choices("etc"))
    assert len(zone_choices("a")) == 25


def test_topic_choices_match_titles_slugs_and_aliases():
    assert topic_choices(TOPICS, "") == [(t.title, t.slug) for t in TOPICS]
    assert topic_choices(TOPICS, "eval")[0] == ("Evaluating LLM apps", "evals")
    assert topic_choices(TOPICS, "practice") == [("MLOps in practice", "mlops")]
    assert topic_choices(TOPICS, "x" * 500) == []
    assert topic_choices(TOPICS, "", limit=2) == [(t.title, t.slug) for t in TOPICS[:2]]


async def test_a_one_off_can_be_cancelled_after_ticks_that_had_nothing_to_post(db):
    # The planner notes each tick on every active schedule; a one-off due Friday is still to
    # come on Wednesday, whatever ticks ran in between.
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", by=MOD, now=TUE
        )
        sid = view.schedule.id
        wed = TUE + timedelta(days=1)
        assert await service.plan(wed) == []
        cancelled = await service.cancel(GUILD, sid, by=MOD, now=wed)
        assert cancelled.cancelled_at == wed
        assert await service.plan(datetime(2026, 3, 6, 18, tzinfo=UTC)) == []
        # Once its time has been planned, there is nothing left to cancel.
        soon = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "in 1 hour", by=MOD, now=wed
        )
        clock = Clock(wed + timedelta(hours=1))
        await service.plan(wed + timedelta(hours=1))
        assert (
            len(
                (
                    await Publisher(service.outbox, FakeDiscord(clock), clock, grace=GRACE).drain()
                ).sent
            )
            == 1
        )
        await service.plan(wed + timedelta(hours=2))
        ran = format_discord_timestamp(wed + timedelta(hours=1), "f")
        with pytest.raises(SchedulingError, match=f"ran once already, at {ran}"):
            await service.cancel(GUILD, soon.schedule.id, by=MOD, now=wed + timedelta(hours=2))


async def test_a_one_off_still_to_come_is_named_an_orphan_after_ticks(db):
    # The catalogue tables are empty here (the topics come from FakeTopics), so to
    # `orphans` every schedule's topic has left it.
    async with Bot(db) as service:
        soon = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "in 1 hour", by=MOD, now=TUE
        )
        later = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "friday 18:00", by=MOD, now=TUE
        )
        await service.plan(TUE + timedelta(hours=2))  # the first one's time has come
        orphans = await service.rows.orphans(GUILD)
    assert [s.id for s in orphans] == [later.schedule.id]
    assert soon.schedule.id != later.schedule.id


def at(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


@pytest.mark.parametrize("point", ["perms", "send:before"])
async def test_a_post_waiting_for_a_retry_is_not_made_after_a_cancel(db, point):
    # Discord was unavailable at its time: the row waits for the next tick, and meanwhile a
    # moderator cancels (or turns the weekly prompt off). Nothing may be posted after that.
    clock = Clock(TUE)
    discord = FakeDiscord(clock)
    async with Bot(db) as service:
        view = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "in 1 hour", by=MOD, now=TUE
        )
        await set_friday(service, now=TUE, tz="UTC")
        publisher = Publisher(service.outbox, discord, clock, grace=GRACE)
        clock.advance(hours=1)
        await service.plan(at(clock))
        discord.fault(point, PostRetry("503 Service Unavailable"))
        assert len((await publisher.drain()).retry) == 1
        cancelled = await service.cancel(GUILD, view.schedule.id, by=MOD, now=at(clock))
        assert cancelled.cancelled_at == at(clock)
        clock.advance(seconds=30)
        await publisher.drain()
        assert discord.messages == {}
        (row,) = await all_rows(db)
        assert row.state == SKIPPED and "cancelled" in row.last_error

        clock.t = FRI.timestamp()
        await service.plan(at(clock))
        discord.fault(point, PostRetry("503 Service Unavailable"))
        assert len((await publisher.drain()).retry) == 1
        assert await service.weekly_off(GUILD, by=MOD, now=at(clock))
        clock.advance(seconds=30)
        await publisher.drain()
        assert discord.messages == {}
        weekly = [r for r in await all_rows(db) if r.kind == "weekly"]
        assert [r.state for r in weekly] == [SKIPPED] and "turned off" in weekly[0].last_error


async def test_changing_the_zone_after_this_weeks_prompt_does_not_post_it_twice(db):
    # Friday 18:00 London has posted (18:00 UTC); an hour later a moderator moves the prompt
    # to New York's Friday 18:00 (23:00 UTC). The week had its prompt: the next is next week.
    posted_at = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    changed_at = posted_at + timedelta(hours=1)
    async with Bot(db) as service:
        await set_friday(service, tz="Europe/London")
        assert [e.key for e in await service.plan(posted_at)] == ["weekly:1:2026-03-06T18:00Z"]
        view = await service.set_weekly(
            GUILD, TEXT_CHANNEL, "friday", "18:00", "America/New_York", by=MOD, now=changed_at
        )
        now, keys = changed_at, []
        while now < datetime(2026, 3, 14, tzinfo=UTC):
            now += timedelta(minutes=30)
            keys += [e.key for e in await service.plan(now) if e.state == PENDING]
        shown = await service.show_weekly(GUILD, changed_at)
    next_week = datetime(2026, 3, 13, 22, 0, tzinfo=UTC)  # 18:00 EDT
    assert keys == ["weekly:1:2026-03-13T22:00Z"]
    assert view.next_run == next_week and shown is not None and shown.next_run == next_week
    assert any("already posted this week" in n for n in view.notes)


async def test_changing_the_zone_before_this_weeks_prompt_posts_it_once_at_the_new_time(db):
    async with Bot(db) as service:
        await set_friday(service, tz="Europe/London")
        changed_at = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
        await service.plan(changed_at)
        view = await service.set_weekly(
            GUILD, TEXT_CHANNEL, "friday", "18:00", "America/New_York", by=MOD, now=changed_at
        )
        now, keys = changed_at, []
        while now < datetime(2026, 3, 7, tzinfo=UTC):
            now += timedelta(minutes=30)
            keys += [e.key for e in await service.plan(now) if e.state == PENDING]
    assert keys == ["weekly:1:2026-03-06T23:00Z"]
    assert view.next_run == datetime(2026, 3, 6, 23, 0, tzinfo=UTC) and view.notes == ()


async def test_a_change_that_leaves_this_week_without_its_prompt_says_so(db):
    # New York's Friday 18:00 (23:00 UTC) is still to come when a moderator moves the prompt
    # to London's Friday 18:00 (18:00 UTC), already past: nothing posts this week, and the
    # answer says so rather than leave the moderator waiting for tonight's prompt.
    changed_at = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    async with Bot(db) as service:
        await set_friday(service, tz="America/New_York")
        await service.plan(changed_at)
        view = await service.set_weekly(
            GUILD, TEXT_CHANNEL, "friday", "18:00", "Europe/London", by=MOD, now=changed_at
        )
        keys = [e.key for e in await service.plan(datetime(2026, 3, 7, tzinfo=UTC))]
        again = await service.set_weekly(
            GUILD, TEXT_CHANNEL, "friday", "18:00", "Europe/London", by=MOD, now=changed_at
        )
    assert keys == [] and view.next_run == datetime(2026, 3, 13, 18, 0, tzinfo=UTC)
    (note,) = [n for n in view.notes if "this week" in n]
    assert "<t:1772838000:f>" in note and "will not be posted" in note  # Fri 23:00 UTC
    assert not [n for n in again.notes if "this week" in n]  # nothing was due this week then


async def test_a_weekly_thread_at_the_second_of_a_repeated_time_is_refused_not_put_off(db):
    # 01:15 EDT on 2026-11-01: "in 1 hour" is 01:15 EST, the second showing of 01:15. Weekly
    # rules fire at the first (already past), so it would first post a week late.
    await configure(db, GUILD, "timezone", "America/New_York")
    now = datetime(2026, 11, 1, 5, 15, tzinfo=UTC)
    async with Bot(db) as service:
        with pytest.raises(SchedulingError, match="01:15 happens twice on Sun 2026-11-01"):
            await service.schedule_thread(
                GUILD, TEXT_CHANNEL, "evals", "in 1 hour", repeat="weekly", by=MOD, now=now
            )
        assert (await service.list_schedules(GUILD, now)).schedules == ()
        once = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "in 1 hour", by=MOD, now=now
        )
        first = await service.schedule_thread(
            GUILD, TEXT_CHANNEL, "evals", "in 2 hours", repeat="weekly", by=MOD, now=now
        )
    assert once.next_run == datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
    assert first.next_run == datetime(2026, 11, 1, 7, 15, tzinfo=UTC)  # 02:15 EST: once a day


def test_weekly_show_keeps_every_recent_problem_over_several_messages():
    # Five recent problems with long errors (Discord's own run to hundreds of characters)
    # passed 2,000 characters, and the cut hid the newest ones.
    from bot.chat.moderation_cog import weekly_text
    from bot.services.scheduling import WeeklyView
    from bot.store.outbox import Post

    rule = WeeklyRule(4, time(18), "Europe/London")
    config = WeeklyConfig(GUILD, TEXT_CHANNEL, rule)
    recent = tuple(
        OutboxEntry(
            f"weekly:{GUILD}:{n}",
            "weekly",
            GUILD,
            TEXT_CHANNEL,
            Post(f"Prompt {n}", "body"),
            TUE - timedelta(weeks=n),
            state=FAILED,
            last_error=f"problem {n}: " + "Discord said no " * 30,
        )
        for n in range(5)
    )
    pages = weekly_text(WeeklyView(config, TUE, recent=recent))
    assert len(pages) > 1 and all(len(p) <= 2000 for p in pages)
    shown = "\n".join(pages)
    assert all(f"problem {n}:" in shown and f"**Prompt {n}**" in shown for n in range(5))

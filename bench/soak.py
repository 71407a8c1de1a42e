"""A simulated month of use, watched for decay: the real bot process against the emulator, on
a shared advanceable clock, with a local feed that releases an episode every week.

    .venv/bin/python -m bench.soak [--folder DIR] [--weeks 5]

Prints a timeline check (every planned post exactly once, at its time), resource samples
(RSS, fds, database and WAL sizes, table rows, log volume) and /topic latency first vs last.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import OffsetFileClock
from bot.sandbox.emulator import Emulator
from bot.sandbox.process import bot_env, spawn_bot
from tests.feeds.feedgen import FeedServer, Show, episode, feed_xml

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday
DOWN_FROM = datetime(2026, 12, 18, 22, 0, tzinfo=UTC)  # Friday night ...
DOWN_TO = DOWN_FROM + timedelta(days=3)  # ... to Monday night: 3 days with the bot stopped
TOPIC_QUERIES = [
    "defensible moats",
    "open source",
    "documentation",
    "marketing",
    "stagnation",
    "pytorch",
    "role play",
    "cult leaders",
    "game development",
    "zebra crossing",
]
EPISODE_QUERIES = ["11", "saroufim", "stagnation", "#11", "nonexistent thing"]


@dataclass
class Sample:
    sim: datetime
    rss_kb: int
    fds: int
    db: int
    wal: int
    log: int


@dataclass
class Soak:
    folder: Path
    clock: OffsetFileClock
    emu: Emulator
    feed: FeedServer
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    proc: subprocess.Popen[bytes] | None = None
    items: list[Any] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    rows: list[tuple[datetime, dict[str, int]]] = field(default_factory=list)
    latencies: list[tuple[datetime, str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    answered_release: list[tuple[int, str]] = field(default_factory=list)
    ready_before: int = 0
    # the emulated server, set once it is made
    guild: Any = None
    general: Any = None
    moderator: Any = None
    members: list[Any] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.folder / "bot.sqlite3"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def start(self) -> None:
        env = bot_env(
            self.emu,
            self.guild.id,
            db=self.db,
            content_dir=REPO / "content",
            prompts_dir=REPO / "prompts",
            clock_offset_file=self.folder / "clock",
            base=os.environ,
            tick_interval=0.5,
            feed_url=self.feed.url("feed.xml"),
            feed_interval=900,
            health_file=self.folder / "health.json",
        )
        self.ready_before = self.emu.gateway.ready_sessions
        self.proc = spawn_bot(env, self.folder / "bot.log")
        deadline = time.monotonic() + 60
        while self.emu.gateway.ready_sessions <= self.ready_before:
            assert self.proc.poll() is None, "bot died at start"
            assert time.monotonic() < deadline, "bot did not connect"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # on_ready: the first tick and feed step

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.proc.wait, 30)
            self.proc = None

    # ---- observing ----

    def sample(self) -> None:
        assert self.proc is not None
        pid = self.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        wal = self.db.with_name(self.db.name + "-wal")
        self.samples.append(
            Sample(
                self.now(),
                rss,
                fds,
                self.db.stat().st_size,
                wal.stat().st_size if wal.exists() else 0,
                (self.folder / "bot.log").stat().st_size,
            )
        )

    def count_rows(self) -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
            names = [
                r[0]
                for r in c.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                    " AND name NOT LIKE '%_fts_%'"
                )
            ]
            return {n: c.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}

    def outbox(self) -> list[tuple[str, str, str | None]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
            return c.execute("SELECT key, state, last_error FROM outbox ORDER BY key").fetchall()

    async def settle(self) -> None:
        """Let the bot tick and drain (real time: its loops run every 0.5 s)."""
        await asyncio.sleep(1.2)
        deadline = time.monotonic() + 20
        while any(s in ("pending", "sending") for _, s, _ in self.outbox()):
            if time.monotonic() > deadline:
                self.problems.append(f"{self.now()}: outbox not drained: {self.outbox()}")
                break
            await asyncio.sleep(0.2)

    # ---- members and moderators ----

    async def ask(
        self, name: str, options: dict[str, Any], user: Any, *, sub: str | None = None
    ) -> str:
        t0 = time.monotonic()
        handle = await self.emu.invoke(
            name, options, user=user, channel=self.general, subcommand=sub
        )
        reply = await handle.response(timeout=20)
        took = time.monotonic() - t0
        if name == "topic":
            self.latencies.append((self.now(), options["query"], took))
        text = str(reply.get("content") or "") + json.dumps(reply.get("embeds") or [])
        if "Traceback" in text or "went wrong" in text.lower():
            self.problems.append(f"{self.now()}: /{name} {options}: {text[:300]}")
        return text

    async def trickle(self) -> None:
        for _ in range(3):
            user = self.rng.choice(self.members)
            kind = self.rng.random()
            if kind < 0.45:
                await self.ask("topic", {"query": self.rng.choice(TOPIC_QUERIES)}, user)
            elif kind < 0.8:
                await self.ask("episode", {"query": self.rng.choice(EPISODE_QUERIES)}, user)
            else:
                cmd = self.rng.choice(["topic", "episode"])
                prefix = self.rng.choice(["de", "op", "1", "sa", "ep", ""])
                await self.emu.autocomplete(cmd, {"query": prefix}, user=user, channel=self.general)

    async def mod(
        self, name: str, sub: str, options: dict[str, Any] | None = None, user: Any = None
    ) -> str:
        handle = await self.emu.invoke(
            name, options or {}, user=user or self.moderator, channel=self.general, subcommand=sub
        )
        reply = await handle.response(timeout=20)
        return str(reply.get("content") or "")

    # ---- the feed ----

    def release(self, n: int, when: datetime) -> None:
        self.items.append(episode(n, published=when, image=f"https://art.example.org/{n}.jpg"))
        self.feed.feed = feed_xml(Show(items=tuple(self.items)))


def fmt(dt: datetime) -> str:
    return dt.strftime("%a %m-%d %H:%M")


async def main(folder: Path, weeks: int, start: datetime | None = None) -> None:
    global START, DOWN_FROM, DOWN_TO
    if start is not None:
        START = start
        DOWN_FROM = START + timedelta(days=18, hours=14)
        DOWN_TO = DOWN_FROM + timedelta(days=3)
    once3 = START + timedelta(days=10, hours=12)
    once4 = DOWN_FROM + timedelta(days=1, hours=17)
    clock = OffsetFileClock(folder / "clock")
    clock.advance(START.timestamp() - time.time())
    async with (
        Emulator(clock=clock, heartbeat_interval=5.0, record_limit=None) as emu,
        FeedServer() as feed,
    ):
        s = Soak(folder, clock, emu, feed)
        guild = emu.add_guild("Vanishing Gradients")
        s.guild = guild
        s.general = emu.add_channel(guild, "general")
        forum = emu.add_channel(guild, "discussions", "forum", tags=["topic", "episode"])
        announce = emu.add_channel(guild, "announcements")
        s.members = [emu.add_member(guild, f"member{i}") for i in range(8)]
        s.moderator = emu.add_moderator(guild, "mod")
        admin_role = emu.add_role(guild, "Admin", "MANAGE_GUILD")
        admin = emu.add_member(guild, "admin", roles=[admin_role])
        for n in (101, 102, 103):
            s.items.append(episode(n))
        feed.feed = feed_xml(Show(items=tuple(s.items)))

        await s.start()
        s.sample()
        print(
            await s.mod(
                "config", "channel", {"which": "announcements", "channel": announce.id}, user=admin
            )
        )
        print(
            await s.mod(
                "weekly",
                "set",
                {
                    "weekday": "monday",
                    "time": "18:00",
                    "tz": "Europe/London",
                    "channel": s.general.id,
                },
            )
        )
        plans = [
            ("defensible-moats", "friday 18:00", s.general.id, "weekly"),
            ("open-source-usability", "wednesday 12:00", forum.id, "weekly"),
            ("great-stagnation", f"{once3:%Y-%m-%d %H:%M}", s.general.id, "once"),
            ("developer-marketing", f"{once4:%Y-%m-%d %H:%M}", s.general.id, "once"),
            ("ml-cult-leaders", "tuesday 09:00", s.general.id, "weekly"),
        ]
        for topic, when, channel, repeat in plans:
            print(
                await s.mod(
                    "schedule",
                    "thread",
                    {"topic": topic, "when": when, "channel": channel, "repeat": repeat},
                )
            )

        end = START + timedelta(weeks=weeks)
        releases = [START + timedelta(days=3 + 7 * k, hours=7) for k in range(weeks)]  # Thu 15:00
        releases.append(DOWN_FROM + timedelta(hours=14))  # while the bot is down
        releases.sort()
        release_no = {t: 104 + i for i, t in enumerate(releases)}
        planned: list[tuple[datetime, str]] = []
        t = START
        while t < end:
            if t.weekday() == 0 and t.hour == 18 and t > START:
                planned.append((t, "weekly"))
            if t.weekday() == 4 and t.hour == 18:
                planned.append((t, "thread#1 moats"))
            if t.weekday() == 2 and t.hour == 12:
                planned.append((t, "thread#2 forum"))
            if t.weekday() == 1 and t.hour == 9:
                planned.append((t, "thread#5 cult"))
            t += timedelta(hours=1)
        planned += [(once3, "thread#3 once"), (once4, "thread#4 once (in downtime)")]
        planned.sort()
        events = sorted({p for p, _ in planned} | set(releases) | {DOWN_FROM})
        steps = [timedelta(hours=h) for h in (3, 24, 5, 12, 1, 24, 8, 2)]
        step_i = 0
        day_marks: dict[str, int] = {}
        cancelled = ran_now = edited = False
        while s.now() < end:
            now = s.now()
            nxt = next((e for e in events if e > now - timedelta(seconds=1)), end)
            target = min(now + steps[step_i % len(steps)], nxt + timedelta(seconds=60), end)
            step_i += 1
            if nxt == DOWN_FROM and target >= DOWN_FROM:
                # Downtime: stop, release an episode meanwhile, jump 3 days, start again.
                clock.advance((DOWN_FROM - now).total_seconds())
                await s.settle()
                s.sample()
                await s.stop()
                for r in releases:
                    if DOWN_FROM <= r < DOWN_TO:
                        s.release(release_no[r], r)
                clock.advance((DOWN_TO - DOWN_FROM).total_seconds())
                events = [e for e in events if not DOWN_FROM <= e < DOWN_TO]
                await s.start()
                await s.settle()
                s.sample()
                continue
            for r in releases:
                if now < r <= target and release_no[r] not in {i.number for i in s.items}:
                    clock.advance((r - now).total_seconds())
                    s.release(release_no[r], r)
                    now = r
            clock.advance((target - s.now()).total_seconds())
            await s.settle()
            # a release just polled is answerable now
            for r in releases:
                if r <= s.now() < r + timedelta(minutes=5):
                    text = await s.ask("episode", {"query": str(release_no[r])}, s.members[0])
                    s.answered_release.append((release_no[r], text[:80]))
            await s.trickle()
            day = s.now().strftime("%Y-%m-%d")
            if day not in day_marks:
                day_marks[day] = (folder / "bot.log").stat().st_size
                s.rows.append((s.now(), s.count_rows()))
            if not cancelled and s.now() > START + timedelta(days=9):
                print("cancel:", await s.mod("schedule", "cancel", {"id": 5}))
                planned = [
                    p for p in planned if not (p[1].startswith("thread#5") and p[0] > s.now())
                ]
                cancelled = True
            if not ran_now and s.now() > START + timedelta(days=15):
                a = await s.mod("schedule", "run-now", {"id": 1})
                b = await s.mod("schedule", "run-now", {"id": 1})
                print("run-now:", a[:120], "|", b[:120])
                planned.append((s.now(), "thread#1 run-now"))
                planned.sort()
                ran_now = True
            if not edited and s.now() > START + timedelta(days=20):
                # A week on, the announcement threads archived; then the show retitles 105.
                for th in emu.threads(announce):
                    emu.archive_thread(int(th["id"]), locked=False)
                s.items = [
                    i.but(title="Episode 105: A better title") if i.number == 105 else i
                    for i in s.items
                ]
                s.feed.feed = feed_xml(Show(items=tuple(s.items)))
                edited = True
                print("retitled 105 at", s.now())
            if step_i % 6 == 0:
                for sub in ("list",):
                    txt = await s.mod("schedule", sub)
                    if "Needs attention" in txt:
                        s.problems.append(f"{s.now()}: schedule list: {txt[:400]}")
                await s.mod("weekly", "show")
                await s.mod("feed", "status")
            s.sample()
        await s.settle()
        s.sample()
        s.rows.append((s.now(), s.count_rows()))
        await s.stop()
        report(s, planned, releases, release_no, [s.general, forum, announce], day_marks)
        print("\n== REST requests by route (not interaction callbacks) ==")
        by_route = collections.Counter(
            (r.method, re.sub(r"\d{6,}", ":id", r.path))
            for r in emu.requests
            if not r.path.startswith(("/interactions", "/webhooks"))
        )
        for (m, path), c in by_route.most_common(25):
            print(f"  {c:6} {m:6} {path}")
        print(
            "  messages in #announcements:",
            [(m["content"] or "").splitlines()[:1] for m in emu.messages(announce)],
        )


def report(
    s: Soak,
    planned: list[tuple[datetime, str]],
    releases: list[datetime],
    release_no: dict[datetime, int],
    channels: list[Any],
    day_marks: dict[str, int],
) -> None:
    bot_id = str(s.emu.bot_user.id)
    posts = []
    for ch in channels:
        for m in s.emu.messages(ch):
            if m["author"]["id"] == bot_id and "interaction_metadata" not in m:
                posts.append((datetime.fromisoformat(m["timestamp"]), ch.name, m))
        for th in s.emu.threads(ch):
            if ch.name == "discussions":
                starter = s.emu.messages(int(th["id"]))[0]
                posts.append((datetime.fromisoformat(starter["timestamp"]), ch.name, starter))
    posts.sort(key=lambda p: p[0])
    print("\n== posts the bot made on its own ==")
    for when, ch, m in posts:
        line = (m["content"] or "").splitlines()
        print(f"  {fmt(when)} #{ch:13} {line[0][:70] if line else json.dumps(m['embeds'])[:70]!r}")
    print(f"  total {len(posts)}; planned {len(planned)} + releases {len(releases)}")
    print("\n== planned ==")
    for when, what in planned:
        print(f"  {fmt(when)} {what}")
    print("\n== outbox ==")
    for key, state, err in s.outbox():
        print(f"  {state:8} {key} {err or ''}")
    print("\n== threads per channel ==")
    for ch in channels:
        print(f"  #{ch.name}: {len(s.emu.threads(ch))}")
    print("\n== releases answered right after ==")
    for n, text in s.answered_release:
        print(f"  {n}: {text!r}")
    print("\n== samples (sim time, RSS kB, fds, db, wal, log bytes) ==")
    for x in s.samples[:: max(1, len(s.samples) // 25)] + s.samples[-1:]:
        print(f"  {fmt(x.sim)} {x.rss_kb:7} {x.fds:4} {x.db:9} {x.wal:9} {x.log:9}")
    print("\n== rows per table over time ==")
    tables = sorted(s.rows[-1][1])
    for t, counts in s.rows[:: max(1, len(s.rows) // 8)] + s.rows[-1:]:
        print(f"  {fmt(t)} " + " ".join(f"{k}={counts.get(k, 0)}" for k in tables))
    print("\n== log ==")
    text = (s.folder / "bot.log").read_text(errors="replace")
    lines = text.splitlines()
    print(f"  {len(lines)} lines, {len(text)} bytes; per sim day (bytes):")
    marks = sorted(day_marks.items())
    for (d, a), (_, b) in zip(marks, marks[1:], strict=False):
        print(f"    {d}: {b - a}")
    norm = collections.Counter(re.sub(r"\d+", "N", ln.split(" ", 3)[-1])[:140] for ln in lines)
    print("  most repeated:")
    for ln, c in norm.most_common(12):
        print(f"    {c:5} {ln}")
    bad = [ln for ln in lines if re.search(r"WARNING|ERROR|Traceback|CRITICAL", ln)]
    print(f"  warnings/errors: {len(bad)}")
    for ln in bad[:30]:
        print(f"    {ln[:220]}")
    print("\n== /topic latency (s) ==")
    lat = s.latencies
    k = max(3, len(lat) // 4)
    first, last = [x[2] for x in lat[:k]], [x[2] for x in lat[-k:]]
    print(
        f"  n={len(lat)} first {k}: median {statistics.median(first):.3f} max {max(first):.3f}"
        f"; last {k}: median {statistics.median(last):.3f} max {max(last):.3f}"
    )
    print("\n== problems ==")
    for p in s.problems:
        print(" ", p[:500])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, default=Path("/tmp/hsoak-run"))
    parser.add_argument("--weeks", type=int, default=5)
    parser.add_argument("--start", type=datetime.fromisoformat, default=None)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    for old in args.folder.iterdir():  # a fresh database, log and clock each run
        old.unlink()
    sys.exit(asyncio.run(main(args.folder, args.weeks, args.start)))

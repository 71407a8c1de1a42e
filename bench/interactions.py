"""/topic under load through the Discord emulator: our bot beside a bare discord.py bot.

    .venv/bin/python bench/interactions.py          # 10,000 episodes, 1,000 /topic per bot
    .venv/bin/python bench/interactions.py --quick  # 200 episodes, 50 interactions: smoke test
    .venv/bin/python bench/interactions.py --episodes 1000 --interactions 300 --concurrency 1,8

One process, one in-process emulator (`bot.sandbox.emulator`), two bots:

- ours: the real bot as `vgbot run` wires it (`open_app` + `build_bot`: real SQLite holding a
  synthetic catalogue synced from content files written by bench/synth.py, real prompts, every
  cog), with the per-user cooldown lifted (the bench is a few users hammering the bot);
- bare: a `commands.Bot` whose only command, /topic, answers a constant string;
- catalogue only: `CatalogueService.answer_topic` called directly, no Discord, to show how much
  of our time is the answer itself.

Both answer the same realistic mix of queries (synth.make_queries: topic titles, aliases, words
of every frequency, guest names, misses). Latency is measured from `emu.invoke` to the answer
being stored by the emulator (`handle.response()`); throughput is interactions over wall time.
The emulator holds one bot application, so the two bots take turns on it: each batch starts its
bot, warms it up with a few unmeasured interactions, measures, and stops it. Batches alternate
(ours, bare, bare, ours, ...) so machine noise hits both alike. Each mode (one interaction at a
time, or several in flight) gets its own rounds.

The generated catalogue and its synced database are cached under the temp dir, keyed by the
size, the seed and the source of the generator and the store (`--fresh` rebuilds); each run
works on a copy of the database. Prints a Markdown table. Exit status: 1 when an interaction got
no answer or a wrong one (the run stops after 10 in a batch), 2 for bad flags or an unusable
cache; the latency target is reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import json
import logging
import math
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import discord
    from discord.ext import commands

    from bot.app import App
    from bot.sandbox.emulator import Channel, Emulator, User

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_RATIO = 1.3  # issue 3: our p50 at most 1.3x the bare bot's
BARE_ANSWER = "The bare bot answers every /topic with this constant string."
ANSWER_TIMEOUT = 15.0  # seconds an interaction may take before it counts as unanswered
START_TIMEOUT = 30.0
MAX_FAILURES = 10  # per batch: then the run stops and shows what went wrong


def _import_paths() -> None:
    """`python bench/interactions.py` puts bench/ on the path, not the repository."""
    for path in (str(HERE), str(REPO)):
        if path not in sys.path:
            sys.path.insert(0, path)


# ------------------------------------------------------------------ options


@dataclass(frozen=True)
class Options:
    episodes: int
    transcripts: int
    transcript_words: int
    interactions: int  # measured, per bot and mode
    batches: int  # per bot and mode
    warmup: int  # unmeasured interactions at the start of every batch
    concurrency: tuple[int, ...]
    users: int
    seed: int
    cache: Path
    fresh: bool
    profile: Path | None
    latency_ms: float = 0.0  # simulated one-way network delay in the emulator


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/interactions.py",
        description="/topic through the Discord emulator: our bot beside a bare discord.py bot.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--episodes", type=int, help="catalogue size (default 10000; quick 200)")
    parser.add_argument(
        "--interactions", type=int, help="measured /topic per bot and mode (default 1000)"
    )
    parser.add_argument("--batches", type=int, help="interleaved batches per bot and mode")
    parser.add_argument("--warmup", type=int, help="unmeasured interactions per batch")
    parser.add_argument(
        "--concurrency", default="1,8", help="comma-separated in-flight counts (default 1,8)"
    )
    parser.add_argument("--users", type=int, default=8, help="emulator users taking turns")
    parser.add_argument("--seed", type=int, default=7, help="synthetic catalogue seed")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vgbot-bench-interactions",
        help="where generated catalogues are kept between runs",
    )
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached catalogue")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="simulated one-way network delay between the bots and the emulator (default 0: "
        "loopback); e.g. 20 for a bot hosted near Discord",
    )
    parser.add_argument(
        "--profile", type=Path, help="cProfile our bot's batches into this file, print the top"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    episodes = args.episodes if args.episodes is not None else (200 if quick else 10_000)
    interactions = args.interactions if args.interactions is not None else (50 if quick else 1000)
    batches = args.batches if args.batches is not None else (2 if quick else 5)
    warmup = args.warmup if args.warmup is not None else (3 if quick else 10)
    try:
        concurrency = tuple(int(c) for c in args.concurrency.split(",") if c.strip())
    except ValueError:
        parser.error(
            f"--concurrency takes numbers separated by commas, e.g. 1,8; got {args.concurrency!r}"
        )
    for name, value, least in (
        ("--episodes", episodes, 1),
        ("--interactions", interactions, 1),
        ("--batches", batches, 1),
        ("--warmup", warmup, 0),
        ("--users", args.users, 1),
    ):
        if value < least:
            parser.error(f"{name} must be at least {least}, got {value}")
    if not concurrency or min(concurrency) < 1:
        parser.error(
            f"--concurrency needs in-flight counts of at least 1, got {args.concurrency!r}"
        )
    if batches > interactions:
        parser.error(f"--batches ({batches}) cannot exceed --interactions ({interactions})")
    if not 0 <= args.latency_ms <= 1000:
        parser.error(f"--latency-ms must be 0 to 1000, got {args.latency_ms}")
    return Options(
        episodes=episodes,
        # As bench/search.py: a tenth of the episodes have a transcript.
        transcripts=min(episodes, max(1, episodes // 10)),
        transcript_words=2000 if quick else 10_000,
        interactions=interactions,
        batches=batches,
        warmup=warmup,
        concurrency=concurrency,
        users=args.users,
        seed=args.seed,
        cache=args.cache,
        fresh=args.fresh,
        profile=args.profile,
        latency_ms=args.latency_ms,
    )


# ------------------------------------------------------------------ the catalogue, cached


@dataclass(frozen=True)
class Prepared:
    content: Path
    db: Path  # synced once; every run works on a copy
    queries: tuple[str, ...]
    built_in: float | None  # seconds, when this run built it


# What decides the synced database besides the spec: the generator, the parsers, the store.
# (Reply building and rendering are left out: changing them must not cost a rebuild.)
_CATALOGUE_SOURCES = ("core/content.py", "core/transcripts.py", "core/text.py", "core/models.py")


def _source_digest(spec: Any) -> str:
    h = hashlib.sha256(repr(spec).encode())
    sources = [HERE / "synth.py", *(REPO / "bot" / name for name in _CATALOGUE_SOURCES)]
    sources += sorted((REPO / "bot" / "store").rglob("*.py"))
    for path in sources:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _building_elsewhere(path: Path) -> bool:
    """A `<key>.building-<pid>` directory whose process is still running."""
    _, sep, pid = path.name.rpartition(".building-")
    if not sep or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


async def prepare(opts: Options, n_queries: int) -> Prepared:
    _import_paths()
    from synth import Catalogue, Spec, make_queries, write_catalogue

    from bot.store.db import open_store
    from bot.store.sync import sync_content

    spec = Spec(
        episodes=opts.episodes,
        transcripts=opts.transcripts,
        transcript_words=opts.transcript_words,
        seed=opts.seed,
    )
    key = f"{spec.episodes}ep-{spec.transcripts}tr-seed{spec.seed}-{_source_digest(spec)}"
    try:
        opts.cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(
            f"cannot keep catalogues in {opts.cache} ({exc.strerror}); pass --cache DIR"
        ) from None
    final = opts.cache / key
    built_in = None
    if opts.fresh and final.exists():
        shutil.rmtree(final)
    if not (final / "done").exists():
        started = time.perf_counter()
        print(f"building the {spec.episodes:,}-episode catalogue in {final} ...", file=sys.stderr)
        building = opts.cache / f"{key}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        cat = write_catalogue(building / "content", spec)
        async with await open_store(building / "catalogue.sqlite3") as store:
            report = await sync_content(store, building / "content")
        if report.problems:
            # The generator occasionally repeats a section heading; the validator rejects
            # that file, as it would an editor's. A handful of missing episodes do not matter.
            print(
                f"note: {len(report.problems)} generated file(s) rejected by the content "
                f"checks (skipped), first: {report.problems[0]}",
                file=sys.stderr,
            )
        names = {
            "topic_titles": cat.topic_titles,
            "topic_aliases": cat.topic_aliases,
            "words": cat.words,
            "guests": cat.guests,
        }
        (building / "catalogue.json").write_text(json.dumps(names), encoding="utf-8")
        (building / "done").write_text(key, encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(building, final)
        built_in = time.perf_counter() - started
        for stale in opts.cache.glob(f"{key.rsplit('-', 1)[0]}-*"):
            # Built from older sources, or left by a build that died half-way.
            if stale != final and not _building_elsewhere(stale):
                shutil.rmtree(stale, ignore_errors=True)
    names = json.loads((final / "catalogue.json").read_text(encoding="utf-8"))
    cat = Catalogue(
        root=final / "content",
        topic_titles=tuple(names["topic_titles"]),
        topic_aliases=tuple(names["topic_aliases"]),
        words=tuple(names["words"]),
        guests=tuple(names["guests"]),
        files=0,
        bytes=0,
    )
    queries = tuple(make_queries(cat, n_queries, seed=opts.seed + 4))
    return Prepared(final / "content", final / "catalogue.sqlite3", queries, built_in)


class BenchError(Exception):
    """Something the person running the bench must fix; the message says what."""


class Broken(Exception):
    """Too many interactions went wrong for the numbers to mean anything."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(f"{len(failures)} interactions went wrong")
        self.failures = failures


# ------------------------------------------------------------------ the bots, and asking them

Ask = Callable[[int, str], Awaitable[str]]  # (worker number, query) -> kind of answer


class Wrong(Exception):
    """The answer arrived but is not what this bot should have said."""


def bare_bot(guild_id: int) -> commands.Bot:
    """The baseline: discord.py with one slash command and no work behind it."""
    import discord
    from discord import app_commands
    from discord.ext import commands

    @app_commands.command(name="topic", description="A constant answer")
    async def topic(interaction: discord.Interaction, query: str) -> None:
        await interaction.response.send_message(BARE_ANSWER)

    class BareBot(commands.Bot):
        async def setup_hook(self) -> None:
            guild = discord.Object(guild_id)
            self.tree.add_command(topic, guild=guild)
            await self.tree.sync(guild=guild)

    discord.VoiceClient.warn_nacl = False  # no voice: spare the start-up warnings
    discord.VoiceClient.warn_dave = False
    return BareBot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents(guilds=True),
        help_command=None,
        guild_ready_timeout=0.05,
    )


def classify_ours(message: dict[str, Any], ephemeral: bool) -> str:
    if not message.get("embeds"):
        raise Wrong(f"no embed; text {message.get('content', '')[:120]!r}")
    return "not found" if ephemeral else "answer"


def classify_bare(message: dict[str, Any], ephemeral: bool) -> str:
    if message.get("content") != BARE_ANSWER:
        raise Wrong(f"unexpected text {message.get('content', '')[:120]!r}")
    return "constant"


@contextlib.asynccontextmanager
async def bot_session(
    emu: Emulator,
    make: Callable[[], discord.Client],
    channel: Channel,
    users: Sequence[User],
    classify: Callable[[dict[str, Any], bool], str],
) -> AsyncIterator[Ask]:
    """A fresh bot logged in and ready on the emulator, the only one connected; it is closed
    afterwards (a clean close ends its gateway session)."""
    bot = make()
    task = asyncio.create_task(bot.start(emu.token))
    ready = asyncio.create_task(bot.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # it died while starting: show why
        if ready not in done:
            raise BenchError(f"{type(bot).__name__} was not ready within {START_TIMEOUT:.0f} s")
        await emu.wait_ready()
        if len(emu.gateway.connected) != 1:
            raise BenchError(
                f"{len(emu.gateway.connected)} bots are connected to the emulator; each "
                "interaction must reach exactly one (did a previous bot fail to close?)"
            )

        async def ask(worker: int, text: str) -> str:
            # Worker k acts as member k, so concurrent interactions come from different people.
            user = users[worker % len(users)]
            handle = await emu.invoke("topic", {"query": text}, user=user, channel=channel)
            message = await handle.response(timeout=ANSWER_TIMEOUT)
            return classify(message, handle.ephemeral)

        yield ask
    finally:
        ready.cancel()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def catalogue_session(app: App) -> AsyncIterator[Ask]:
    """Our answer path without Discord: what the catalogue alone costs per /topic."""

    async def ask(worker: int, text: str) -> str:
        try:
            reply = await app.catalogue.answer_topic(text)
        except Exception as exc:  # the bot would log it and apologise: count it, go on
            raise Wrong(f"{type(exc).__name__}: {exc}") from exc
        if reply.kind == "error":
            raise Wrong(f"error reply {reply.title!r}")
        return "answer" if reply.found else "not found"

    yield ask


# ------------------------------------------------------------------ measuring


@dataclass
class Batch:
    latencies: list[float] = field(default_factory=list)  # seconds
    wall: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, other: Batch) -> None:
        self.latencies += other.latencies
        self.wall += other.wall
        for kind, n in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + n
        self.failures += other.failures


async def fire(ask: Ask, queries: Sequence[str], concurrency: int) -> Batch:
    """Send every query, `concurrency` in flight; each timed from send to stored answer."""
    from bot.sandbox.emulator import EmulatorError

    batch = Batch()
    pending = iter(queries)

    async def worker(k: int) -> None:
        for text in pending:
            if len(batch.failures) >= MAX_FAILURES:
                return  # something is broken; numbers from here on would mean nothing
            started = time.perf_counter()
            try:
                kind = await ask(k, text)
            except (Wrong, EmulatorError) as exc:
                batch.failures.append(f"/topic {text!r}: {exc}")
                continue
            batch.latencies.append(time.perf_counter() - started)
            batch.kinds[kind] = batch.kinds.get(kind, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    batch.wall = time.perf_counter() - started
    return batch


@dataclass(frozen=True)
class Contender:
    name: str  # "ours", "bare", "catalogue only"
    session: Callable[[], contextlib.AbstractAsyncContextManager[Ask]]


async def run_batch(
    who: Contender,
    warmup: Sequence[str],
    queries: Sequence[str],
    concurrency: int,
    profiler: cProfile.Profile | None = None,
) -> Batch:
    async with who.session() as ask:
        warm = await fire(ask, warmup, concurrency)  # new HTTP connections, caches
        if profiler is not None:
            profiler.enable()
        try:
            batch = await fire(ask, queries, concurrency)
        finally:
            if profiler is not None:
                profiler.disable()
    batch.failures[:0] = warm.failures
    batch.failures = [f"{who.name} {line}" for line in batch.failures]
    return batch


@dataclass
class Result:
    who: str
    concurrency: int
    batch: Batch

    @property
    def p50(self) -> float:
        return percentile(self.batch.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.batch.latencies, 99)

    @property
    def throughput(self) -> float:
        return len(self.batch.latencies) / self.batch.wall if self.batch.wall > 0 else 0.0


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 < p <= 100) of a non-empty sample."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    ordered = sorted(samples)
    rank = math.ceil(len(ordered) * p / 100)
    return ordered[rank - 1]


def split(items: Sequence[str], parts: int) -> list[Sequence[str]]:
    """`parts` consecutive slices, in order, whose sizes differ by at most one."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        out.append(items[start:end])
        start = end
    return out


async def measure(
    bots: tuple[Contender, Contender],
    alone: Contender,
    opts: Options,
    queries: Sequence[str],
    profiler: cProfile.Profile | None,
) -> list[Result]:
    """Per in-flight count: rounds of (ours, bare), then (bare, ours), ..., each round also
    timing the catalogue alone on the same queries."""
    results: list[Result] = []
    warmup = queries[: opts.warmup]
    measured = queries[opts.warmup : opts.warmup + opts.interactions]
    for concurrency in opts.concurrency:
        totals = {who.name: Result(who.name, concurrency, Batch()) for who in (*bots, alone)}
        for round_no, chunk in enumerate(split(measured, opts.batches)):
            order = bots if round_no % 2 == 0 else bots[::-1]
            for who in (*order, alone):
                prof = profiler if who is bots[0] else None
                batch = await run_batch(who, warmup, chunk, concurrency, prof)
                if len(batch.failures) >= MAX_FAILURES:
                    raise Broken(batch.failures)
                totals[who.name].batch.add(batch)
            print(
                f"  {concurrency} in flight: round {round_no + 1}/{opts.batches} done",
                file=sys.stderr,
                flush=True,
            )
        results += totals.values()
    return results


# ------------------------------------------------------------------ the run


async def run(opts: Options) -> tuple[list[Result], Prepared]:
    _import_paths()
    import discord
    import yarl
    from discord.gateway import DiscordWebSocket

    from bot.app import open_app
    from bot.chat.runner import build_bot, point_at
    from bot.sandbox.emulator import Emulator
    from bot.settings import Settings

    prepared = await prepare(opts, opts.warmup + opts.interactions)
    original = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    with tempfile.TemporaryDirectory(prefix="vgbot-bench-run-") as tmp:
        db = Path(tmp) / "bot.sqlite3"
        shutil.copyfile(prepared.db, db)  # a fresh copy: no command hash from an earlier run
        # record_limit: a long run keeps only the latest requests in the emulator's log.
        async with Emulator(
            clock=time.time, record_limit=100, latency=opts.latency_ms / 1000
        ) as emu:
            ours_guild = emu.add_guild("Vanishing Gradients")
            bare_guild = emu.add_guild("Bare")  # each bot's /topic lives in its own guild
            ours_channel = emu.add_channel(ours_guild, "general")
            bare_channel = emu.add_channel(bare_guild, "general")
            users = []
            for k in range(opts.users):
                users.append(emu.add_member(ours_guild, f"member{k}"))
                emu.add_member(bare_guild, f"member{k}")
            point_at(emu.api_base)
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
            settings = Settings(
                db=db,
                content_dir=prepared.content,
                prompts_dir=REPO / "prompts",
                token=emu.token,
                api_base=emu.api_base,
                gateway_url=emu.gateway_url,
                dev_guild_id=ours_guild.id,
                cooldown_rate=1_000_000_000,  # one bench hammering the bot is not abuse
                cooldown_per=1.0,
            )
            profiler = cProfile.Profile() if opts.profile else None
            try:
                async with open_app(settings) as app:
                    ours = Contender(
                        "ours",
                        lambda: bot_session(
                            emu,
                            lambda: build_bot(app, guild_ready_timeout=0.05),
                            ours_channel,
                            users,
                            classify_ours,
                        ),
                    )
                    bare = Contender(
                        "bare",
                        lambda: bot_session(
                            emu, lambda: bare_bot(bare_guild.id), bare_channel, users, classify_bare
                        ),
                    )
                    alone = Contender("catalogue only", lambda: catalogue_session(app))
                    results = await measure((ours, bare), alone, opts, prepared.queries, profiler)
            finally:
                discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = original
            if profiler is not None and opts.profile is not None:
                profiler.dump_stats(str(opts.profile))
    return results, prepared


# ------------------------------------------------------------------ report


def report(opts: Options, results: Sequence[Result], prepared: Prepared) -> str:
    """Markdown: the table, then the p50 target per in-flight count."""
    built = (
        f"catalogue built in {prepared.built_in:.0f} s"
        if prepared.built_in is not None
        else "catalogue from cache"
    )
    lines = [
        f"## /topic through the emulator: {opts.episodes:,} episodes "
        f"({opts.transcripts:,} with transcripts)",
        "",
        f"{opts.interactions:,} measured interactions per bot and in-flight count, in "
        f"{opts.batches} interleaved batches of each bot (+{opts.warmup} warm-up per batch). "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs; {built}."
        + (
            f" Simulated network: {opts.latency_ms:g} ms each way (gateway frames, REST"
            " requests and responses)."
            if opts.latency_ms
            else " Loopback, no simulated network."
        ),
        "",
        "| in flight | who | p50 ms | p99 ms | per second | answers |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(r.batch.kinds.items()))
        if r.batch.latencies:
            numbers = f"{r.p50 * 1e3:.2f} | {r.p99 * 1e3:.2f} | {r.throughput:,.0f}"
        else:
            numbers = "– | – | –"
        lines.append(f"| {r.concurrency} | {r.who} | {numbers} | {kinds or 'none'} |")
    lines += ["", f"Target: our p50 ≤ {TARGET_RATIO}× the bare bot's.", ""]
    by = {(r.who, r.concurrency): r for r in results}
    for c in opts.concurrency:
        ours, bare, alone = (by.get((who, c)) for who in ("ours", "bare", "catalogue only"))
        if not (ours and bare and ours.batch.latencies and bare.batch.latencies):
            lines.append(f"- {c} in flight: nothing measured")
            continue
        ratio = ours.p50 / bare.p50
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        extra = (ours.p50 - bare.p50) * 1e3
        within = (
            f", of which the catalogue answer alone is {alone.p50 * 1e3:.2f} ms"
            if alone and alone.batch.latencies
            else ""
        )
        lines.append(
            f"- {c} in flight: p50 ours/bare = {ratio:.2f}× ({verdict}); ours takes "
            f"{extra:.2f} ms more at p50{within}; p99 ratio {ours.p99 / bare.p99:.2f}×, "
            f"throughput ratio {ours.throughput / bare.throughput:.2f}×"
        )
    return "\n".join(lines)


def print_profile(path: Path, top: int = 25) -> None:
    stats = pstats.Stats(str(path), stream=sys.stdout)
    print(f"\n## Profile of our bot's measured batches ({path})\n")
    print("SQLite runs in aiosqlite's thread: time waiting for it shows as select/epoll poll.\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    # Quiet: only errors from the bot and the emulator; the bench prints its own progress.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        results, prepared = asyncio.run(run(opts))
    except (BenchError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Broken as exc:
        return _show_failures(exc.failures, stopped=True)
    print(report(opts, results, prepared))
    if opts.profile is not None:
        print_profile(opts.profile)
    failures = [line for r in results for line in r.batch.failures]
    return _show_failures(failures, stopped=False) if failures else 0


def _show_failures(failures: Sequence[str], *, stopped: bool) -> int:
    what = "the run stopped" if stopped else "the numbers above leave them out"
    print(f"\n{len(failures)} interaction(s) went wrong ({what}):", file=sys.stderr)
    for line in failures[:MAX_FAILURES]:
        print(f"  {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

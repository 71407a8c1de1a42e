"""An oracle for /episode, /topic and search: every answer is checked against the content files
themselves, over the shipped content/, a small catalogue with transcripts, chapters and
awkward text, and a synthetic one (bench/synth.py).

What "never makes an answer up" means here, for every Reply:
- each excerpt's words (markers and ellipses gone) occur, in order, in the cited place of the
  cited episode (show notes, a section, a transcript passage), and in its files;
- each cited episode exists with that number and title, each section or chapter exists in it,
  each timestamp falls inside the quoted passage;
- a query whose words occur nowhere is answered "not covered", and suggestions are real names;
- the embed fits Discord's limits and carries no live mention.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.app import open_app
from bot.core import text as t
from bot.core.content import load_dir
from bot.core.layout import BUTTON_LABEL, buttons, embed_dict, embed_length
from bot.core.models import Episode, Reply
from bot.core.query import STOP_WORDS
from bot.feeds.fetch import fetch
from bot.services.catalogue import CatalogueService
from bot.services.feeds import FeedConfig, FeedService
from bot.settings import Settings
from bot.store import catalog
from tests.feeds.feedgen import FeedServer, Item, Show, episode, feed_xml
from tests.store.files import Ep, small_catalogue, write_episode, write_transcript

REPO = Path(__file__).resolve().parents[2]
ELLIPSIS = "…"
FEED_NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
_WORD = re.compile(r"[^\W_]+")
# A mention Discord would render live: broken ones carry a zero-width space after "@" or "<".
_LIVE_MENTION = re.compile(r"@(everyone|here)\b|<@[!&]?\d+>|<#\d+>")


def words(text: str) -> list[str]:
    """Words as the index sees them: letters and digits of any script, case and accents
    folded (the tokenizer removes diacritics)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(unicodedata.normalize("NFKC", plain))


def flatten(node: object) -> Iterable[str]:
    """Every scalar of a YAML document, in document order."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from flatten(v)
    elif isinstance(node, list):
        for v in node:
            yield from flatten(v)
    elif node is not None:
        yield str(node)


def in_order(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    """Every word of `needle` occurs in `haystack`, in the same order."""
    it = iter(haystack)
    return all(any(w == h for h in it) for w in needle)


# ------------------------------------------------------------------ the oracle's own view


@dataclass
class Source:
    """One episode as its files say it: read by the content parser for the structure
    (sections, passages, chapters) and as raw bytes for a check independent of any parsing."""

    episode: Episode
    raw_words: list[str]

    def show_notes(self) -> list[list[str]]:
        people = " ".join(f"{p.name} {p.affiliation}" for p in self.episode.people)
        title, summary = words(self.episode.title), words(self.episode.summary)
        return [title, words(people), summary, title + summary]  # a title quoted with its text


@dataclass
class Oracle:
    episodes: dict[tuple[int | None, str], Source]  # by (number, title)
    topic_titles: set[str]
    topic_episodes: dict[str, set[tuple[int | None, str]]]  # topic title → its episodes
    tokens: set[str] = field(default_factory=set)  # every word anywhere in the catalogue

    @classmethod
    def read(cls, root: Path) -> Oracle:
        catalog = load_dir(root)
        assert not catalog.problems, catalog.problems
        episodes: dict[int, Source] = {}
        tokens: set[str] = set()
        for ep in catalog.episodes:
            assert ep.number is not None
            raw = (root / ep.source).read_text(encoding="utf-8")
            _, front_text, body = raw.split("---\n", 2)
            front = yaml.safe_load(front_text)
            text = " ".join(flatten(front)) + "\n" + body
            if front.get("transcript"):
                text += "\n" + (root / front["transcript"]).read_text(encoding="utf-8")
            episodes[(ep.number, ep.title)] = Source(ep, words(text))
            tokens.update(words(text))
        topics_raw = (root / "topics.yaml").read_text(encoding="utf-8")
        tokens.update(words(topics_raw))
        tagged = {
            tp.title: {(e.number, e.title) for e in catalog.episodes if tp.slug in e.topics}
            for tp in catalog.topics
        }
        return cls(episodes, {tp.title for tp in catalog.topics}, tagged, tokens)

    @property
    def episode_titles(self) -> set[str]:
        return {s.episode.title for s in self.episodes.values()}

    def absent(self, word: str) -> bool:
        """Nothing in the catalogue could match `word`, even stemmed or as a beginning: no
        word of the catalogue shares its first three letters."""
        w = words(word)
        if len(w) != 1 or len(w[0]) < 3:
            return False
        head = w[0][:3]
        return not any(tok.startswith(head) or head.startswith(tok) for tok in self.tokens)

    # ---------------------------------------------------------------- the properties

    def check(self, reply: Reply, query: str = "") -> None:
        where = f"query {query!r} gave {reply.kind} {reply.title!r}"
        assert reply.kind in ("episode", "topic", "search", "not_found", "error"), where
        self.check_embed(reply, where)
        for ex in reply.excerpts:
            self.check_excerpt(ex, where)
        names = self.topic_titles | self.episode_titles
        labels = {self.choice_name(src.episode) for src in self.episodes.values()}
        for s in reply.suggestions:
            assert s in names or self.names_one(s, labels), (
                f"{where}: suggestion {s!r} names nothing"
            )
        fields = {f.name: f.value for f in reply.fields}
        if reply.kind == "episode":
            n = reply.episode_number
            known = [s.episode for (num, _), s in self.episodes.items() if num == n]
            titles = {
                e.title if n is None else f"{_numbered(n, e.season)}: {e.title}": e for e in known
            }
            assert reply.title in titles, f"{where}: no such episode"
            ep = titles[reply.title]
            assert reply.text == ep.summary, where
            if "Topics" in fields:
                for name in fields["Topics"].split(", "):
                    assert name in self.topic_titles, f"{where}: topic {name!r}"
            for line in fields.get("Sections", "").splitlines():
                if not line.startswith("… and "):
                    assert line[2:] in {s.heading for s in ep.sections}, f"{where}: {line!r}"
        if reply.kind == "topic":
            assert reply.title in self.topic_titles, where
            tagged = {self.label(*key) for key in self.topic_episodes[reply.title]}
            for line in fields.get("Episodes", "").splitlines():
                if not line.startswith("… and "):
                    assert line in tagged, f"{where}: {line!r} is not tagged with the topic"
            for name in (
                fields.get("Related topics", "").split(", ") if "Related topics" in fields else ()
            ):
                assert name in self.topic_titles, f"{where}: related {name!r}"
        if reply.kind == "search" and "Topics" in fields:
            for name in fields["Topics"].split(", "):
                assert name in self.topic_titles, f"{where}: topic {name!r}"

    @staticmethod
    def choice_name(ep: Episode) -> str:
        """An episode as autocomplete (and /episode's "did you mean") names it, uncut."""
        head = "" if ep.number is None else f"#{ep.number} · "
        if ep.number is not None and ep.season is not None:
            head = f"S{ep.season} E{ep.number} · "
        guests = ", ".join(p.name for p in ep.guests)
        return head + ep.title + (f" — {guests}" if guests else "")

    @staticmethod
    def names_one(name: str, labels: set[str]) -> bool:
        """`name` is one of `labels`, or one cut to Discord's 100 characters: its words before
        and after a '…' begin and end that label."""
        if name in labels:
            return True
        before, cut, after = name.partition("…")
        return (
            bool(cut)
            and len(name) <= 100
            and any(lb.startswith(before) and lb.endswith(after) and len(lb) > 100 for lb in labels)
        )

    @staticmethod
    def label(number: int | None, title: str) -> str:
        return f"Ep. {number}: {title}" if number is not None else title

    def check_excerpt(self, ex, where: str) -> None:
        cit = ex.citation
        key = (cit.episode_number, cit.episode_title)
        assert key in self.episodes, f"{where}: cites no such episode: {cit}"
        source = self.episodes[key]
        ep = source.episode
        quoted = words(ex.plain.replace(ELLIPSIS, " "))
        assert quoted, f"{where}: an empty excerpt"
        what = f"{where}: excerpt {ex.plain!r} cited as {cit.label()!r}"
        assert in_order(quoted, source.raw_words), f"{what} is not in the episode's files"
        headings = {s.heading: s for s in ep.sections}
        if cit.timestamp is not None:
            passages = [
                (i, p) for i, p in enumerate(ep.transcript) if in_order(quoted, words(p.text))
            ]
            assert passages, f"{what}: no passage says it"
            inside = []
            for i, p in passages:
                assert p.start is not None, what
                end = p.end
                if end is None:
                    nxt = ep.transcript[i + 1].start if i + 1 < len(ep.transcript) else None
                    end = nxt if nxt is not None else p.start
                inside.append(p.start <= cit.timestamp <= end)
            assert any(inside), f"{what}: {cit.timestamp}s is outside the passage"
            chapter = None
            for ch in ep.chapters:
                if ch.start <= cit.timestamp:
                    chapter = ch.title
            assert cit.section == (chapter or "transcript"), what
        elif cit.section == "transcript" or cit.section in {c.title for c in ep.chapters} - set(
            headings
        ):
            assert any(in_order(quoted, words(p.text)) for p in ep.transcript), what
        elif cit.section == "show notes":
            assert any(in_order(quoted, unit) for unit in source.show_notes()), what
        else:
            assert cit.section in headings, f"{what}: no such section"
            s = headings[cit.section]
            # The heading, the text, or the heading quoted with its text.
            assert in_order(quoted, words(s.heading) + words(s.body)), what

    @staticmethod
    def check_embed(reply: Reply, where: str) -> None:
        embed = embed_dict(reply)
        assert 0 < len(embed["title"]) <= t.EMBED_TITLE, where
        assert len(embed.get("description", "")) <= t.EMBED_DESCRIPTION, where
        assert len(embed["fields"]) <= t.EMBED_FIELDS, where
        for f in embed["fields"]:
            assert 0 < len(f["name"]) <= t.FIELD_NAME and 0 < len(f["value"]) <= t.FIELD_VALUE
        assert len(embed.get("footer", {}).get("text", "")) <= t.EMBED_FOOTER, where
        assert embed_length(embed) <= t.EMBED_TOTAL, where
        shown = [
            embed["title"],
            embed.get("description", ""),
            embed.get("footer", {}).get("text", ""),
        ]
        shown += [f["name"] + f["value"] for f in embed["fields"]]
        for text in shown:
            assert not _LIVE_MENTION.search(text), f"{where}: live mention in {text!r}"
        for b in buttons(reply):
            assert 0 < len(b.label) <= BUTTON_LABEL and b.url.startswith("https://"), where


async def ask_all(service: CatalogueService, oracle: Oracle, query: str) -> list[Reply]:
    replies = [
        await service.answer_episode(query),
        await service.answer_topic(query),
        await service.search(query),
    ]
    for reply in replies:
        oracle.check(reply, query)
    return replies


# ------------------------------------------------------------------ catalogues

MENTIONS = "Ping @everyone and @here, or <@&123456789012345678> and <@123456789012345678>."


def awkward_catalogue(root: Path) -> None:
    """The small test catalogue plus episodes that push the limits: mentions and Markdown in
    the text, a long transcript with chapters, very long notes, non-Latin scripts."""
    small_catalogue(root)
    lines = []
    for i in range(0, 3600, 20):
        word = "gradient" if i % 60 else "momentum"
        said = f"Segment {i} about hyperparameter tuning and {word} {i}."
        lines.append(f"[{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}] Zoë: {said}")
    lines.append("[01:00:05] Hugo: " + MENTIONS)
    write_transcript(root, "transcripts/020.txt", "\n".join(lines) + "\n")
    write_episode(
        root,
        Ep(
            20,
            "Tuning *Everything* _Carefully_ @everyone",
            guests=[("Zoë Ångström", "Researcher at <@&123456789012345678>")],
            topics=["causal-inference"],
            summary="Hyperparameter tuning, said in 中文 机器学习 and Ελληνικά too. " + MENTIONS,
            sections=[
                (f"Part {k}: tuning `code` and [a link](https://example.com/{k})", "Tuning " * 60)
                for k in range(30)
            ],
            chapters=[("00:00", "Intro"), ("10:00", "Search spaces"), ("45:00", "Momentum")],
            transcript="transcripts/020.txt",
        ),
    )
    write_episode(
        root,
        Ep(
            21,
            "A Very Long Episode " + "Title " * 20,
            summary=("Long notes about data pipelines and lineage. " * 300).strip(),
            sections=[("Lineage", "Lineage " * 900)],
        ),
    )


def synth_catalogue(root: Path) -> None:
    spec_path = REPO / "bench" / "synth.py"
    spec = importlib.util.spec_from_file_location("synth", spec_path)
    assert spec and spec.loader
    synth = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synth", synth)
    spec.loader.exec_module(synth)
    synth.write_catalogue(
        root,
        synth.Spec(
            episodes=80,
            transcripts=8,
            transcript_words=1500,
            note_words=150,
            topics=20,
            vocabulary=1500,
            seed=3,
        ),
    )


def shipped(root: Path) -> None:
    shutil.copytree(REPO / "content", root)


CATALOGUES = {
    "shipped": shipped,
    "awkward": awkward_catalogue,
    "synth": synth_catalogue,
    "feed": shipped,  # and a feed imported on top (see `import_feeds`)
}


def cues(lines: Sequence[str], step: int) -> bytes:
    """A WebVTT transcript: one cue per line, `step` seconds each."""
    out = ["WEBVTT", ""]
    for i, line in enumerate(lines):
        a, b = i * step, (i + 1) * step
        out += [
            f"{a // 3600:02d}:{a // 60 % 60:02d}:{a % 60:02d}.000 --> "
            f"{b // 3600:02d}:{b // 60 % 60:02d}:{b % 60:02d}.000",
            f"<v Ana>{line}",
            "",
        ]
    return "\n".join(out).encode()


async def import_feeds(store, oracle: Oracle) -> None:
    """Feed episodes through the real import (a local HTTP server): HTML notes with sections,
    entities and mentions, a WebVTT transcript with chapters, an item with no number, and the
    parser's real-shaped fixture. Each becomes a Source whose raw words are its feed item and
    the transcript files it names, as served."""
    async with FeedServer() as server, aiohttp.ClientSession() as session:
        server.files["30.vtt"] = (
            cues(
                [f"Cue {i}: latency budgets &amp; queueing theory, part {i}." for i in range(40)],
                30,
            ),
            "text/vtt",
        )
        server.files["30.json"] = (
            json.dumps(
                {
                    "chapters": [
                        {"startTime": 0, "title": "Hello"},
                        {"startTime": 600, "title": "Queueing"},
                    ]
                }
            ).encode(),
            "application/json",
        )
        notes = (
            "<p>Ana on <strong>latency budgets</strong> &amp; queues, 机器学习 too. "
            + MENTIONS
            + "</p><script>track()</script><h2>Queueing theory</h2><p>Little's law &lt;3</p>"
            "<h2>Tail latency</h2><ul><li>p99</li><li>hedged requests</li></ul>"
        )
        items = (
            episode(
                30,
                notes=notes,
                guests=("Ana Ölund",),
                transcripts=((server.url("files/30.vtt"), "text/vtt"),),
                chapters_url=server.url("files/30.json"),
            ),
            episode(31, notes="Plain notes about backpressure and retries."),
            Item(
                title="Bonus: 特別編 on backpressure",
                guid="bonus-x",
                notes="<p>Retries, again.</p>",
            ),
        )
        server.feed = feed_xml(Show(items=items))
        fixture = (REPO / "tests" / "feeds" / "fixtures" / "show.xml").read_bytes()
        fixture = fixture.replace(b"https://latent.example/t/", server.url("files/").encode())
        server.files["show.xml"] = (fixture, "application/rss+xml")
        server.files["3.json"] = (
            json.dumps(
                {"segments": [{"startTime": 1.5, "body": "Harnesses drift quietly."}]}
            ).encode(),
            "application/json",
        )
        service = FeedService(
            store,
            functools.partial(fetch, session),
            config=FeedConfig(timeout=5.0, extras_timeout=5.0),
        )
        for url in (server.url("feed.xml"), server.url("files/show.xml")):
            report = await service.read(url, FEED_NOW, announce=False, conditional=False)
            assert report.ok, report
        files = {name: body for name, (body, _) in server.files.items()}
    # An item with its channel's header: a show-wide author is every episode's host.
    items_xml = [
        doc.split(b"<item>", 1)[0] + item
        for doc in (server.feed, fixture)
        for item in re.findall(rb"<item>.*?</item>", doc, re.DOTALL)
    ]
    rows = await store.fetchall("SELECT id, guid FROM episodes WHERE origin = 'feed'")
    assert len(rows) >= 6
    for row in rows:
        ep = await catalog.get_episode(store, episode_id=row["id"], with_transcript=True)
        assert ep is not None
        item = next(
            i
            for i in items_xml
            if (ep.guid and ep.guid.encode() in i) or in_order(words(ep.title), words(i.decode()))
        ).decode()
        text = html.unescape(html.unescape(item))  # XML, then the HTML inside it
        for name, body in files.items():
            if f"/files/{name}" in item or f"/files/{name.split('.')[0]}." in item:
                text += "\n" + html.unescape(body.decode())
        oracle.episodes.setdefault((ep.number, ep.title), Source(ep, words(text)))
        oracle.tokens.update(words(text))


@pytest.fixture(params=list(CATALOGUES))
async def world(request, tmp_path):
    root = tmp_path / "content"
    CATALOGUES[request.param](root)
    oracle = Oracle.read(root)
    async with open_app(Settings(db=tmp_path / "bot.sqlite3", content_dir=root)) as opened:
        assert opened.sync_report.problems == []
        if request.param == "feed":
            await import_feeds(opened.store, oracle)
        yield opened.catalogue, oracle


# ------------------------------------------------------------------ queries

FTS_SYNTAX = [
    "NEAR(",
    "NEAR(a b, 2)",
    "AND",
    "OR",
    "NOT",
    "*",
    "^",
    '"',
    '""',
    "title:",
    "{notes}:",
    "{title people}: x",
    "(",
    ")",
    "((",
    '"unbalanced',
    "a:b",
    "-",
    "+",
    "col:*",
    "\\",
    "'",
]
HAND = [
    "11",
    "#11",
    "ep 11",
    "Ep. 11",
    "episode #11",
    "episode eleven",
    "0",
    "99999",
    "11 12",
    "the",
    "the and of",
    "...",
    "!!!",
    "🙂",
    "🙂 moats 🙂",
    "MOATS",
    "mOaTs",
    "café",
    "Zoë",
    "zoe",
    "angstrom",
    "机器学习",
    "中文",
    "Ελληνικά",
    "@everyone",
    "<@&123456789012345678>",
    "everyone",
    "here",
    "x" * 10_000,
    "moats " * 2_000,
    "momentum",
    "gradient 1800",
    "hyperparameter",
    "tuning",
    "lineage",
    "saroufim",
    "defensible moats",
    "pytor",
    "latency",
    "queueing",
    "queueing theory part 25",
    "backpressure",
    "retries",
    "harnesses",
    "drift",
    "特別編",
    "Ölund",
    "olund",
    "p99",
    "hedged requests",
    "evals",
    "priya",
    "30",
    "3",
    "pilot",
    "bonus",
    "little's law",
    "track",
    "trackPlay",
]


@st.composite
def queries(draw, oracle: Oracle) -> str:
    """Names and words from the catalogue, words from nowhere, FTS5 syntax, glued together."""
    sources = oracle.episodes.values()
    pieces = st.one_of(
        st.sampled_from(sorted(oracle.topic_titles)),
        st.sampled_from(sorted(oracle.episode_titles)),
        st.sampled_from(sorted({p.name for s in sources for p in s.episode.people})),
        st.sampled_from(sorted(oracle.tokens)),
        st.sampled_from(FTS_SYNTAX),
        st.sampled_from(HAND),
        st.text(max_size=12),
    )
    parts = draw(st.lists(pieces, min_size=1, max_size=4))
    glue = draw(st.sampled_from([" ", "", " AND ", " OR ", " NOT ", '"', "*", ":"]))
    text = glue.join(parts)
    return draw(st.sampled_from([text, text.upper(), text.lower(), f'"{text}"', f"({text}"]))


# ------------------------------------------------------------------ tests


async def test_hand_queries(world):
    service, oracle = world
    for q in HAND + FTS_SYNTAX:
        await ask_all(service, oracle, q)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_every_answer_comes_from_the_catalogue(world, data):
    service, oracle = world
    await ask_all(service, oracle, data.draw(queries(oracle)))


absent_words = st.text(alphabet="bcdfghjklmnpqrtvwxz", min_size=3, max_size=12)
noise = st.sampled_from(["", " ", "*", "^", '"', ":", "(", ")", "{}:", "🙂", "!", "-"])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_words_from_nowhere_are_not_covered(world, data):
    service, oracle = world
    parts = data.draw(st.lists(st.tuples(noise, absent_words), min_size=1, max_size=3))
    for _, w in parts:
        assume(oracle.absent(w))
    stops = data.draw(st.lists(st.sampled_from(sorted(STOP_WORDS)), max_size=2))
    q = " ".join(a + w for a, w in parts) + " " + " ".join(stops)
    for reply in await ask_all(service, oracle, q):
        assert reply.kind == "not_found", (q, reply)


# ------------------------------------------------------------------ the seed: episode 11


@pytest.fixture
async def shipped_service(tmp_path):
    root = tmp_path / "content"
    shipped(root)
    async with open_app(Settings(db=tmp_path / "bot.sqlite3", content_dir=root)) as opened:
        yield opened.catalogue, Oracle.read(root)


@pytest.mark.parametrize("q", ["11", "#11", "ep 11", "saroufim", "Mark Saroufim"])
async def test_episode_11_agrees_with_the_seed(shipped_service, q):
    service, oracle = shipped_service
    reply = await service.answer_episode(q)
    oracle.check(reply, q)
    fields = {f.name: f.value for f in reply.fields}
    # Facts of /work/shared/seeds: title, date, host, guest and what the guest does.
    assert reply.title == "Episode 11: Data Science: The Great Stagnation"
    assert fields["Released"] == "15 September 2022"
    assert fields["Host"] == "Hugo Bowne-Anderson"
    assert fields["Guest"].startswith("Mark Saroufim — ")
    assert "Meta" in fields["Guest"] and "PyTorch" in fields["Guest"]
    assert "Defensible moats" in fields["Topics"]


async def test_defensible_moats_agrees_with_the_seed(shipped_service):
    service, oracle = shipped_service
    reply = await service.answer_topic("defensible moats")
    oracle.check(reply, "defensible moats")
    assert reply.kind == "topic" and reply.title == "Defensible moats"
    assert reply.excerpts[0].citation.label() == (
        "Ep. 11: Data Science: The Great Stagnation · Defensible moats"
    )
    said = " ".join(words(reply.excerpts[0].plain))
    assert "defensible moat" in said and "competitors" in said


async def test_an_unknown_episode_quotes_the_query_back_inert_and_short(shipped_service):
    service, oracle = shipped_service
    reply = await service.answer_episode("[free nitro](https://evil.example) **now**")
    oracle.check(reply)
    assert reply.kind == "not_found"
    # Shown as typed, not as a link in bold: the reply must not lend the bot's voice to it.
    assert (
        reply.text
        == "No episode matches “\\[free nitro\\]\\(https://evil.example) \\*\\*now\\*\\*”."
    )
    long = await service.answer_episode("stagnaton " * 50)
    assert len(long.text) < 150, long.text


def _numbered(number: int, season: int | None) -> str:
    return f"Episode {number}" if season is None else f"Season {season}, Episode {number}"

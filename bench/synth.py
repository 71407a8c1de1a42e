"""Synthetic content catalogues for benchmarks: real files in the real content format.

`write_catalogue(root, Spec(...))` writes `root/episodes/NNNNN-slug.md`, `root/topics.yaml` and
`root/transcripts/NNNNN.txt` exactly as an editor would, so a bench exercises the same parsing and
sync paths as production. Text is drawn from a Zipf-distributed vocabulary (English stop words
first, then data-science words, then pronounceable made-up words) so that term frequencies look
like prose: a few words everywhere, most words rare. Deterministic for a given seed.

Reusable by any bench: put bench/ on sys.path, then `from synth import Spec, write_catalogue`.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

STOP_WORDS = (
    "the of and to a in that is it you i we for this on was with be as are so have but "
    "not they at what can do about like if or there an just from one all my by your know "
    "think yeah really which more get would people then some when out up their our how "
    "them also very these has had been because were will me he she its into than thing "
    "things could those here even well now where who going much way lot kind actually"
).split()

DOMAIN_WORDS = (
    "data science model models learning machine deep neural network networks training "
    "inference causal bayesian statistics statistical probability regression classification "
    "feature features pipeline pipelines production deployment monitoring experiment "
    "experiments testing evaluation metrics metric dataset datasets label labels labeling "
    "annotation gradient gradients optimizer optimization loss function functions python "
    "pytorch tensorflow jax numpy pandas notebook notebooks jupyter sql database warehouse "
    "lakehouse streaming batch latency throughput scaling cluster distributed compute gpu "
    "gpus hardware cloud infrastructure platform tooling library libraries framework "
    "open source community documentation marketing developer developers engineer engineers "
    "engineering research researcher researchers academia industry startup startups product "
    "products customer customers business value decision decisions forecast forecasting "
    "time series anomaly detection recommendation recommender ranking search retrieval "
    "embedding embeddings vector vectors transformer transformers attention language llm "
    "llms prompt prompts agent agents evaluation benchmark benchmarks fairness bias ethics "
    "privacy governance regulation visualization dashboard dashboards storytelling "
    "communication stakeholder stakeholders hiring career careers education teaching "
    "curriculum bootcamp simulation simulations game games moat moats stagnation essay "
    "reproducibility versioning lineage observability drift retraining sampling bootstrap "
    "hypothesis uncertainty intervals posterior prior priors survey surveys clinical trials "
    "epidemiology genomics biology climate energy finance fraud credit insurance retail "
    "marketing attribution churn retention growth analytics analyst analysts spreadsheet"
).split()

FIRST_NAMES = (
    "Ada Alan Grace Hilary Katherine Margaret Radia Barbara Frances Jean Sophie Mark Hugo "
    "Emily Peter Chloe Rachel Jeremy Vicki Soumith Andrej Chip Shreya Hamel Eugene Jacqueline "
    "Jonathan Sarah Wes Travis Stefan Brian Hadley Jenny Julia Allen Cassie Sebastian Renée "
    "José Zoë Björn Ines"
).split()
LAST_NAMES = (
    "Lovelace Turing Hopper Mason Johnson Hamilton Perlman Liskov Allen Sammet Wilson "
    "Saroufim Parker Wiggins Thomas Howard Boykis Chintala Karpathy Huyen Shankar Husain "
    "Yan Nolis Whitaker Mackenzie Oliphant Kozyrkov McKinney Oliphant Walt Granger Wickham "
    "Bryan Silge Downey Raschka Müller Nuñez Ångström Dubois Brontë"
).split()

HOST = "Hugo Bowne-Anderson"
_SYLLABLES = (
    "ba be bi bo bu da de di do du fa fe fi fo ka ke ki ko ku la le li lo lu ma me mi mo mu "
    "na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo "
    "za ze zi zo an en in on ar er ir or al el il ol"
).split()


@dataclass(frozen=True)
class Spec:
    episodes: int = 1000
    transcripts: int = 100  # the first N episodes get a transcript
    transcript_words: int = 10_000
    note_words: int = 300  # summary + sections, per episode
    sections: int = 3
    topics: int = 120
    vocabulary: int = 20_000
    seed: int = 7


@dataclass(frozen=True)
class Catalogue:
    """What was written, for building queries and checking answers."""

    root: Path
    topic_titles: tuple[str, ...]
    topic_aliases: tuple[str, ...]
    words: tuple[str, ...]  # vocabulary by frequency rank (most common first)
    guests: tuple[str, ...]
    files: int
    bytes: int
    episode_topics: dict[int, tuple[str, ...]] = field(default_factory=dict)


class _Words:
    """Zipf-distributed word source (weight 1/rank), deterministic."""

    def __init__(self, rng: random.Random, size: int) -> None:
        made_up: set[str] = set()
        while len(made_up) < max(0, size - len(STOP_WORDS) - len(DOMAIN_WORDS)):
            made_up.add("".join(rng.choices(_SYLLABLES, k=rng.choice((2, 3, 3, 4)))))
        rest = [w for w in DOMAIN_WORDS] + sorted(made_up)
        rng.shuffle(rest)
        # Domain words are common in a data-science show: keep them in the first few thousand.
        domain = set(DOMAIN_WORDS)
        head = [w for w in rest[:4000]] + [w for w in rest[4000:] if w in domain]
        tail = [w for w in rest[4000:] if w not in domain]
        self.ranked = tuple(dict.fromkeys(list(STOP_WORDS) + head + tail))
        self._cum = list(itertools.accumulate(1.0 / r for r in range(1, len(self.ranked) + 1)))
        self._rng = rng

    def take(self, n: int) -> list[str]:
        return self._rng.choices(self.ranked, cum_weights=self._cum, k=n)

    def sentence_text(self, n: int, extra: tuple[str, ...] = ()) -> str:
        words = self.take(n)
        for phrase in extra:  # sprinkle topic phrases so topic searches find their episodes
            words.insert(self._rng.randrange(len(words) + 1), phrase)
        sentences = (" ".join(words[i : i + 14]) for i in range(0, len(words), 14))
        return " ".join(s.capitalize() + "." for s in sentences)


def _topics(rng: random.Random, words: _Words, n: int) -> list[tuple[str, str, list[str]]]:
    """(slug, title, aliases) from domain-word pairs: 'Causal Monitoring', ..."""
    seen: set[str] = set()
    out: list[tuple[str, str, list[str]]] = []
    while len(out) < n:
        a, b = rng.sample(DOMAIN_WORDS, 2)
        slug = f"{a}-{b}"
        if slug in seen or a == b:
            continue
        seen.add(slug)
        alias = rng.choice(words.ranked[200:3000])
        out.append((slug, f"{a.title()} {b.title()}", [f"{alias} {b}"]))
    return out


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_catalogue(root: Path, spec: Spec = Spec()) -> Catalogue:
    rng = random.Random(spec.seed)
    words = _Words(rng, spec.vocabulary)
    topics = _topics(rng, words, spec.topics)
    root.mkdir(parents=True, exist_ok=True)
    (root / "episodes").mkdir(exist_ok=True)
    (root / "transcripts").mkdir(exist_ok=True)
    total_bytes = 0
    files = 0

    lines = ["topics:"]
    for slug, title, aliases in topics:
        related = [t[0] for t in rng.sample(topics, 2) if t[0] != slug]
        lines += [
            f"  - slug: {slug}",
            f"    title: {_yaml_str(title)}",
            f"    description: {_yaml_str(words.sentence_text(25, (title.lower(),)))}",
            f"    aliases: [{', '.join(_yaml_str(a) for a in aliases)}]",
            f"    related: [{', '.join(related)}]",
            "    questions:",
            f"      - {_yaml_str('What would you try first with ' + title.lower() + '?')}",
            f"      - {_yaml_str('Where has ' + title.lower() + ' surprised you?')}",
        ]
    data = ("\n".join(lines) + "\n").encode()
    (root / "topics.yaml").write_bytes(data)
    total_bytes += len(data)
    files += 1

    guests_all: list[str] = []
    episode_topics: dict[int, tuple[str, ...]] = {}
    width = max(3, len(str(spec.episodes)))
    per_section = max(10, spec.note_words // (spec.sections + 1))
    for number in range(1, spec.episodes + 1):
        chosen = rng.sample(topics, rng.choice((1, 2, 2, 3)))
        episode_topics[number] = tuple(t[0] for t in chosen)
        title_words = " ".join(words.take(rng.randint(2, 5))).title()
        title = f"{title_words}: {chosen[0][1]}"
        # The number keeps slugs unique, as on the real show (two titles may share words).
        slug = "-".join(title_words.lower().split()[:6]) + f"-{number}"
        guest = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        guests_all.append(guest)
        released = f"{2018 + number % 7}-{1 + number % 12:02d}-{1 + number % 28:02d}"
        transcript = number <= spec.transcripts
        front = [
            "---",
            f"number: {number}",
            f"title: {_yaml_str(title)}",
            f"released: {released}",
            f"hosts: [{HOST}]",
            "guests:",
            f"  - name: {_yaml_str(guest)}",
            f"    role: {_yaml_str(' '.join(words.take(4)).title())}",
            f"topics: [{', '.join(t[0] for t in chosen)}]",
            "links:",
            f"  episode: https://vanishinggradients.example/{number}",
            f"  audio: https://audio.example/vg/{number}.mp3",
        ]
        if transcript:
            front += [
                "chapters:",
                '  - {at: "00:00", title: Intro}',
                f'  - {{at: "05:00", title: {_yaml_str(chosen[0][1])}}}',
                f"transcript: transcripts/{number:0{width}d}.txt",
            ]
        front.append("---")
        phrases = tuple(t[1].lower() for t in chosen)
        body = [words.sentence_text(per_section, phrases[:1]), ""]
        for s in range(spec.sections):
            heading = f"{' '.join(words.take(rng.randint(2, 4))).capitalize()} {s + 1}"
            body += [f"## {heading}", words.sentence_text(per_section, phrases[s : s + 1]), ""]
        text = "\n".join(front) + "\n" + "\n".join(body)
        path = root / "episodes" / f"{number:0{width}d}-{slug}.md"
        data = text.encode()
        path.write_bytes(data)
        total_bytes += len(data)
        files += 1
        if transcript:
            data = _transcript(rng, words, spec.transcript_words, guest, phrases).encode()
            (root / "transcripts" / f"{number:0{width}d}.txt").write_bytes(data)
            total_bytes += len(data)
            files += 1

    return Catalogue(
        root=root,
        topic_titles=tuple(t[1] for t in topics),
        topic_aliases=tuple(a for t in topics for a in t[2]),
        words=words.ranked,
        guests=tuple(dict.fromkeys(guests_all)),
        files=files,
        bytes=total_bytes,
        episode_topics=episode_topics,
    )


def _transcript(
    rng: random.Random, words: _Words, n_words: int, guest: str, phrases: tuple[str, ...]
) -> str:
    """Plain text with `[hh:mm:ss] Speaker: ...` turns of ~60 words, 150 words a minute."""
    out = []
    said = 0
    speakers = (HOST.split()[0], guest.split()[0])
    turn = 0
    while said < n_words:
        n = min(rng.randint(30, 90), n_words - said)
        extra = (rng.choice(phrases),) if rng.random() < 0.05 else ()
        seconds = int(said / 150 * 60)
        stamp = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        out.append(f"[{stamp}] {speakers[turn % 2]}: {words.sentence_text(n, extra)}")
        said += n
        turn += 1
    return "\n".join(out) + "\n"


def make_queries(cat: Catalogue, n: int = 200, seed: int = 11) -> list[str]:
    """A realistic mix: topic titles and aliases, single words of every frequency, two-word
    phrases, guest surnames, typos and words that occur nowhere (misses)."""
    rng = random.Random(seed)
    out: list[str] = []
    kinds = ("topic", "alias", "common", "mid", "rare", "two", "phrase", "guest", "miss")
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "topic":
            q = rng.choice(cat.topic_titles)
        elif kind == "alias":
            q = rng.choice(cat.topic_aliases)
        elif kind == "common":
            q = rng.choice(cat.words[len(STOP_WORDS) : len(STOP_WORDS) + 200])
        elif kind == "mid":
            q = rng.choice(cat.words[300:3000])
        elif kind == "rare":
            q = rng.choice(cat.words[5000:])
        elif kind == "two":
            q = " ".join(rng.sample(cat.words[100:2000], 2))
        elif kind == "phrase":
            q = f'"{rng.choice(cat.topic_titles).lower()}"'
        elif kind == "guest":
            q = rng.choice(cat.guests).split()[-1]
        else:
            q = "".join(rng.choices("qxzjkvw", k=rng.randint(5, 9)))
        out.append(q)
    return out

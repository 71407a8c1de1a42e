"""Write small content trees (episodes, topics.yaml, transcripts) as real files for tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Ep:
    number: int
    title: str
    slug: str = ""
    released: str = "2022-09-15"
    hosts: Sequence[str] = ("Hugo Bowne-Anderson",)
    guests: Sequence[tuple[str, str]] = ()
    topics: Sequence[str] = ()
    summary: str = "A conversation about data science."
    sections: Sequence[tuple[str, str]] = ()
    chapters: Sequence[tuple[str, str]] = ()
    transcript: str | None = None  # path relative to the content root
    links: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"episodes/{self.number:03d}-{self.slug or 'episode-' + str(self.number)}.md"

    def markdown(self) -> str:
        q = json.dumps  # JSON strings are valid YAML scalars: no quoting surprises
        lines = [
            "---",
            f"number: {self.number}",
            f"title: {q(self.title)}",
            f"released: {self.released}",
            f"hosts: [{', '.join(q(h) for h in self.hosts)}]",
        ]
        if self.guests:
            lines.append("guests:")
            for name, role in self.guests:
                lines += [f"  - name: {q(name)}", f"    role: {q(role)}"]
        lines.append(f"topics: [{', '.join(self.topics)}]")
        links = self.links or {"episode": f"https://vanishinggradients.fireside.fm/{self.number}"}
        lines.append("links:")
        lines += [f"  {label}: {url}" for label, url in links.items()]
        if self.chapters:
            lines.append("chapters:")
            lines += [f"  - {{at: {q(at)}, title: {q(t)}}}" for at, t in self.chapters]
        if self.transcript:
            lines.append(f"transcript: {self.transcript}")
        lines += ["---", self.summary, ""]
        for heading, body in self.sections:
            lines += [f"## {heading}", body, ""]
        return "\n".join(lines)


def topic(
    slug: str,
    title: str,
    description: str = "",
    aliases: Sequence[str] = (),
    related: Sequence[str] = (),
) -> dict[str, object]:
    return {
        "slug": slug,
        "title": title,
        "description": description or f"What the show says about {title.lower()}.",
        "aliases": list(aliases),
        "related": list(related),
        "questions": [f"What do you think about {title.lower()}?", "Where have you seen it?"],
    }


def write_episode(root: Path, ep: Ep) -> Path:
    path = root / ep.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ep.markdown(), encoding="utf-8")
    return path


def write_topics(root: Path, topics: Sequence[dict[str, object]]) -> Path:
    path = root / "topics.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"topics": list(topics)}, indent=2), encoding="utf-8")
    return path


def write_transcript(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def small_catalogue(root: Path) -> list[Ep]:
    """Three episodes, four topics, one transcript: enough to rank and cite."""
    write_topics(
        root,
        [
            topic(
                "defensible-moats", "Defensible moats", aliases=["moats", "competitive advantage"]
            ),
            topic(
                "open-source-risk", "The risk of adopting open source", related=["defensible-moats"]
            ),
            topic("data-science-as-role-play", "Data science as role play", aliases=["LARP"]),
            topic("causal-inference", "Causal inference", aliases=["causality"]),
        ],
    )
    write_transcript(
        root,
        "transcripts/012.txt",
        "[00:00:05] Hugo: Welcome back to the show.\n"
        "[00:01:40] Ana: Competitive advantage in retail comes from defensible moats of data "
        "that nobody else can collect.\n"
        "[00:03:10] Hugo: And what about running experiments in a café?\n",
    )
    eps = [
        Ep(
            11,
            "Data Science: The Great Stagnation",
            slug="great-stagnation",
            guests=[("Mark Saroufim", "Applied AI Engineer at Meta (PyTorch)")],
            topics=["defensible-moats", "open-source-risk"],
            summary="Mark Saroufim and Hugo talk about open source and machine learning.",
            sections=[
                ("Defensible moats", "Where a business finds a lasting edge with its models."),
                (
                    "Risk of adopting open source",
                    "How a team judges a dependency before running it.",
                ),
            ],
        ),
        Ep(
            12,
            "Retail Forecasting at Scale",
            slug="retail-forecasting",
            guests=[("Ana Lopez", "Head of Data at a grocer")],
            topics=["data-science-as-role-play"],
            summary="Ana explains demand forecasting for thousands of stores.",
            sections=[("Forecasting", "Running many small models beats one big model.")],
            chapters=[("00:00", "Intro"), ("01:30", "Moats in retail")],
            transcript="transcripts/012.txt",
        ),
        Ep(
            13,
            "Causal Inference for Product Teams",
            slug="causal-inference",
            guests=[("Jo Müller", "Economist")],
            topics=["causal-inference"],
            summary="Jo explains why correlations mislead product decisions.",
            sections=[("Experiments", "Randomised experiments are the gold standard.")],
        ),
    ]
    for ep in eps:
        write_episode(root, ep)
    return eps

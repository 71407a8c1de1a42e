"""Episodes (from a feed) → `content/` files, for shows that keep their notes in git.

`episode_document` is pure: an episode in, the file's text (or why it cannot be written) out,
checked by parsing it back with the content loader, so a written file always loads with zero
problems. `write_content` writes them (and their transcripts) under a content folder and never
overwrites a file that exists: curated notes win, and a second export changes nothing.

The content format needs what a feed may lack (a number, a release date, a host); such
episodes are reported, not written: we never invent facts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core import content
from bot.core.models import Episode, Passage, Problem, format_timestamp
from bot.core.text import name_key, slugify
from bot.core.transcripts import parse_transcript
from bot.core.urls import url_trouble

log = logging.getLogger(__name__)

TRANSCRIPTS_DIR = "transcripts"
NO_NOTES = "The feed published no show notes for this episode."
_HOST_ROLES = frozenset({"host", "co-host", "cohost"})
_LINK_LABELS = {"episode page": "episode"}  # the content format's conventional label


@dataclass(frozen=True)
class Document:
    path: str  # relative to the content folder, e.g. episodes/012-feature-stores.md
    text: str
    transcript_path: str | None = None
    transcript_text: str | None = None


@dataclass
class ExportReport:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # existed already: left as they are
    problems: list[Problem] = field(default_factory=list)


class _NoAliases(yaml.SafeDumper):
    """The content loader refuses YAML anchors and aliases: never write any."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _clock(seconds: float) -> str:
    """'4:05', '1:02:05' or '4:05.25': the content format's chapter times."""
    text = format_timestamp(seconds)
    millis = round((seconds - int(seconds)) * 1000)
    if 0 < millis < 1000:
        text += f".{millis:03d}".rstrip("0")
    return text


def _people(people: Iterable[tuple[str, str]]) -> list[object]:
    return [{"name": name, "role": role} if role else name for name, role in people]


def transcript_text(passages: Sequence[Passage]) -> str:
    """Plain text with [h:mm:ss] markers where passages have a start time."""
    lines: list[str] = []
    for p in passages:
        text = " ".join(p.text.split())
        if not text:
            continue
        if p.start is not None:
            h, rem = divmod(int(p.start), 3600)
            m, s = divmod(rem, 60)
            text = f"[{h:02d}:{m:02d}:{s:02d}] {text}"
        lines.append(text)
    return "\n\n".join(lines) + "\n" if lines else ""


def _sections(ep: Episode) -> list[tuple[str, str]]:
    """Non-empty sections with headings whose slugs are distinct, as the loader demands."""
    out: list[tuple[str, str]] = []
    anchors: set[str] = set()
    for section in ep.sections:
        body = section.body.strip()
        heading = " ".join(section.heading.split()).lstrip("#").strip()
        if not body or not name_key(heading):
            continue
        base, n = heading, 1
        while name_key(heading) in anchors:
            n += 1
            heading = f"{base} ({n})"
        anchors.add(name_key(heading))
        out.append((heading, body))
    return out


def episode_document(ep: Episode) -> Document | Problem:
    """The content file for `ep`, or the Problem saying why it cannot be written."""
    where = ep.source or ep.title
    if ep.number is None:
        return Problem(
            where,
            f"{ep.title!r} has no episode number; content files are named by number: not written",
            hint="give the item an <itunes:episode> number",
        )
    if ep.released is None:
        return Problem(
            where,
            f"episode {ep.number} has no release date, which content files require: not written",
            hint="give the item a <pubDate>",
        )
    hosts = [(p.name, p.affiliation) for p in ep.people if p.role.lower() in _HOST_ROLES]
    if not hosts:
        return Problem(
            where,
            f"episode {ep.number} names no host, which content files require: not written",
            hint='add <itunes:author> or <podcast:person role="host">',
        )
    guests = [
        (p.name, p.affiliation or ("" if p.role.lower() == "guest" else p.role))
        for p in ep.people
        if p.role.lower() not in _HOST_ROLES
    ]
    slug = slugify(ep.slug) or slugify(ep.title) or "episode"
    path = f"{content.EPISODES_DIR}/{ep.number:03d}-{slug}.md"
    front: dict[str, object] = {
        "number": ep.number,
        "title": ep.title,
        "released": ep.released,
        "hosts": _people(hosts),
    }
    if guests:
        front["guests"] = _people(guests)
    front["topics"] = list(ep.topics)
    links: dict[str, str] = {}
    for link in ep.links:
        label = _LINK_LABELS.get(link.label, link.label).strip()
        if label and label not in links and url_trouble(link.url) is None:
            links[label] = link.url
    if links:
        front["links"] = links
    chapters: list[dict[str, str]] = []
    last = -1.0
    for chapter in ep.chapters:
        title = " ".join(chapter.title.split())
        if chapter.start > last and title:
            chapters.append({"at": _clock(chapter.start), "title": title})
            last = chapter.start
    if chapters:
        front["chapters"] = chapters
    transcript = transcript_text(ep.transcript)
    transcript_path = f"{TRANSCRIPTS_DIR}/{ep.number:03d}.txt" if transcript else None
    if transcript_path:
        passages, problems = parse_transcript(transcript_path, transcript.encode())
        if problems or not passages:
            transcript, transcript_path = "", None  # the episode without it beats no episode
    if transcript_path:
        front["transcript"] = transcript_path
    header = yaml.dump(front, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=100)
    summary = ep.summary.strip() or NO_NOTES
    body = [summary] + [f"## {heading}\n\n{text}" for heading, text in _sections(ep)]
    text = f"---\n{header}---\n" + "\n\n".join(body) + "\n"
    parsed, problems = content.parse_episode(path, text.encode())
    if parsed is None or problems:
        first = problems[0] if problems else Problem(path, "does not load")
        return Problem(
            where,
            f"episode {ep.number} would not load as a content file ({first}): not written",
        )
    return Document(path, text, transcript_path, transcript or None)


def write_content(root: Path, episodes: Sequence[Episode]) -> ExportReport:
    """Write each episode's document under `root` (created if needed). Existing files and
    second episodes with a number already written are left alone and reported."""
    report = ExportReport()
    topics = root / content.TOPICS_FILE
    existing_numbers: dict[int, str] = {}
    folder = root / content.EPISODES_DIR
    if folder.is_dir():
        for file in sorted(folder.glob("*.md")):
            number = file.name.split("-", 1)[0]
            if number.isdigit():
                existing_numbers.setdefault(int(number), f"{content.EPISODES_DIR}/{file.name}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not topics.exists():
            # The loader needs a topics file; feed episodes name no topics yet.
            _write(topics, "topics: []\n")
    except OSError as exc:
        report.problems.append(
            Problem(str(root), f"cannot write there: {exc.strerror or exc}", hint="check the path")
        )
        return report
    slugs = {p.rsplit("/", 1)[-1].split("-", 1)[-1] for p in existing_numbers.values()}
    this_run: dict[int, tuple[str, str]] = {}  # number → (path, title) written just now
    for ep in episodes:
        doc = episode_document(ep)
        if isinstance(doc, Problem):
            report.problems.append(doc)
            continue
        assert ep.number is not None  # a Document has one
        slug = doc.path.rsplit("/", 1)[-1].split("-", 1)[-1]
        if ep.number in this_run:
            # Not "already there": two items of this feed share a number (often a new season
            # counting from 1 again); the first one won.
            path, title = this_run[ep.number]
            report.problems.append(
                Problem(
                    doc.path,
                    f"episode {ep.number} ({ep.title!r}) has the number of {title!r}, written "
                    f"just now as {path}: not written",
                    hint="content files are named by number: give one of them another number "
                    "in the feed (<itunes:episode>), or write this one by hand",
                )
            )
            continue
        if ep.number in existing_numbers:
            report.kept.append(existing_numbers[ep.number])
            continue
        if slug in slugs:
            report.problems.append(
                Problem(doc.path, f"another file already uses the slug {slug[:-3]!r}: not written")
            )
            continue
        try:
            if doc.transcript_path and doc.transcript_text:
                transcript = root / doc.transcript_path
                if not transcript.exists():
                    transcript.parent.mkdir(parents=True, exist_ok=True)
                    _write(transcript, doc.transcript_text)
            _write(root / doc.path, doc.text)
        except OSError as exc:
            report.problems.append(Problem(doc.path, f"cannot write: {exc.strerror or exc}"))
            continue
        existing_numbers[ep.number] = doc.path
        this_run[ep.number] = (doc.path, ep.title)
        slugs.add(slug)
        report.written.append(doc.path)
    log.info(
        "content export to %s: %d written, %d kept, %d problems",
        root,
        len(report.written),
        len(report.kept),
        len(report.problems),
    )
    return report


def _write(path: Path, text: str) -> None:
    """Atomically: a crash never leaves half a file for the loader to trip on."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

"""Posts rendered from the moderators' Jinja2 templates in `prompts/`, sandboxed, sized for Discord.

`Prompts.load` reads the folder once (the only I/O here); rendering is pure. The same code renders
in production (over-long output is cut cleanly) and in `check_templates` (over-long output is a
Problem), so a template that passes the check posts exactly what the check rendered.
See prompts/README.md for the layout, the header and the names a template may use.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SecurityError

from bot.core.content import editor_dropping
from bot.core.models import (
    Catalog,
    Episode,
    Link,
    Person,
    Problem,
    Topic,
    format_timestamp,
)
from bot.core.sandbox import MAX_TEXT, RenderBudget, Sandbox, TooBig, TooMuchWork
from bot.core.text import (
    MESSAGE_CONTENT,
    THREAD_NAME,
    escape_markdown,
    first_sentence,
    truncate,
)
from bot.core.urls import web_url

log = logging.getLogger(__name__)

KINDS = ("weekly", "thread", "announce")
MESSAGE_LIMIT = MESSAGE_CONTENT  # also the first message of a forum post
TITLE_LIMIT = THREAD_NAME  # thread and forum post names

HEADER_KEYS = ("title", "about")
_STYLE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_HEADER = re.compile(r"\A(\s*)\{#-?(.*?)-?#\}", re.S)
_HEADER_LINE = re.compile(r"\s*([A-Za-z_][\w-]*)\s*:\s?(.*?)\s*\Z")

# Used when a template's header has no `title:`.
_DEFAULT_TITLES = {
    "weekly": "{{ topic.title }}",
    "thread": "{{ topic.title }}",
    "announce": (
        "{% if episode.number is not none %}Episode {{ episode.number }}: {% endif %}"
        "{{ episode.title }}"
    ),
}

# Label of the link `episode_url` points at, best first; else the episode's first link.
_EPISODE_URL_LABELS = ("episode", "episode page", "show notes", "audio")

SYNTAX_HINT = (
    "check the {{ }} and {% %} tags on that line; every {% if %} and {% for %} "
    "needs its {% endif %} / {% endfor %}"
)
UNDEFINED_HINT = (
    "use only the names listed in prompts/README.md, and wrap episode details in "
    "{% if episode %} ... {% endif %} (weekly and thread posts may have no episode)"
)
WORK_HINT = (
    "loop over fewer things (e.g. questions[:3], episode.chapters[:10]); loops inside loops "
    "multiply, and range() is rarely needed in a post"
)
SIZE_HINT = (
    f"a post is at most {MESSAGE_LIMIT:,} characters: use smaller widths, repeats and numbers, "
    "e.g. 'x'.ljust(20), not 'x'.ljust(300000000)"
)
SANDBOX_HINT = "templates may only read the documented names and their public fields"


def generic_questions(topic: Topic | None) -> tuple[str, ...]:
    """Discussion questions for a topic that has none of its own (or for no topic at all)."""
    if topic is None:
        return (
            "What stood out to you in this episode?",
            "What would you have asked the guest?",
            "What will you try differently in your own work after listening?",
        )
    return (
        f"What has your experience with {topic.title} been like so far?",
        f"What would you tell someone just getting started with {topic.title}?",
        f"What is one thing about {topic.title} you've changed your mind on?",
    )


def episode_url(episode: Episode | None) -> str | None:
    if episode is None:
        return None
    # Episodes stored before links were mended (bot.core.urls) may hold one Discord refuses.
    for label in _EPISODE_URL_LABELS:
        url = web_url(episode.link(label))
        if url:
            return url
    return web_url(episode.links[0].url) if episode.links else None


@dataclass(frozen=True)
class Context:
    """What a post is about. `when` is the moment of posting, aware, in the schedule's zone."""

    when: datetime
    guild_name: str
    topic: Topic | None = None
    episode: Episode | None = None
    thread_title: str = ""  # a moderator's own title for the thread; else the template's
    questions: tuple[str, ...] = ()  # a chosen subset; else the topic's, else generic ones

    def __post_init__(self) -> None:
        if self.when.tzinfo is None or self.when.utcoffset() is None:
            raise ValueError("Context.when must be a time-zone-aware datetime")

    def variables(self, *, markdown: bool = False) -> dict[str, Any]:
        """What templates read. `markdown` (for a message body): names and titles, which are
        plain text from feeds, content and Discord, come escaped so that a title such as
        "Why __init__ matters" shows as written (a thread's name is not Markdown)."""
        own = self.topic.questions if self.topic else ()
        episode, topic, guild_name = self.episode, self.topic, self.guild_name
        thread_title = self.thread_title
        if markdown:
            episode = _plain_names(episode) if episode is not None else None
            topic = replace(topic, title=escape_markdown(topic.title)) if topic else None
            guild_name, thread_title = escape_markdown(guild_name), escape_markdown(thread_title)
        return {
            "episode": episode,
            "topic": topic,
            "questions": list(self.questions or own or generic_questions(self.topic)),
            "guild_name": guild_name,
            "when": self.when,
            "thread_title": thread_title,
            "episode_url": episode_url(self.episode),
        }


def _plain_names(episode: Episode) -> Episode:
    """The episode with its title, people and chapter titles escaped for Markdown."""
    people = tuple(
        replace(p, name=escape_markdown(p.name), affiliation=escape_markdown(p.affiliation))
        for p in episode.people
    )
    chapters = tuple(replace(c, title=escape_markdown(c.title)) for c in episode.chapters)
    return replace(episode, title=escape_markdown(episode.title), people=people, chapters=chapters)


@dataclass(frozen=True)
class Rendered:
    title: str  # thread or forum post name, one line, at most TITLE_LIMIT characters
    body: str  # message content, at most MESSAGE_LIMIT characters, never empty


class RenderError(Exception):
    """A template could not produce a post. `reason` groups the same mistake across contexts."""

    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.reason = reason


# ---- filters: small, total over their documented inputs, clear errors otherwise ----


def timestamp(value: datetime | date, style: str = "F") -> str:
    """Discord's own timestamp markup, shown in each reader's time zone."""
    if style not in "tTdDfFR" or len(style) != 1:
        raise ValueError(f"timestamp style must be one of t T d D f F R, not {style!r}")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp needs a time-zone-aware datetime")
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(12), tzinfo=UTC)  # noon: same day for most zones
    else:
        raise TypeError(f"timestamp needs a date or datetime, not {type(value).__name__}")
    return f"<t:{int(moment.timestamp())}:{style}>"


def shorten(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word or sentence boundary with '…'."""
    return truncate(" ".join(str(value).split()), limit)


def truncate_words(text: str, count: int = 30, end: str = "…") -> str:
    words = str(text).split()
    if len(words) <= count:
        return " ".join(words)
    return " ".join(words[:count]).rstrip(",;:.") + end


def bullets(items: Iterable[object], marker: str = "-") -> str:
    return "\n".join(f"{marker} {s}" for s in (str(i).strip() for i in items) if s)


def numbered(items: Iterable[object]) -> str:
    lines = [s for s in (str(i).strip() for i in items) if s]
    return "\n".join(f"{n}. {s}" for n, s in enumerate(lines, 1))


def quote(text: str) -> str:
    """A Discord block quote, line by line (blank lines keep the quote going)."""
    return "\n".join(f"> {line}".rstrip() for line in str(text).strip().splitlines())


def names(people: Iterable[Person | str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    parts = [p.name if isinstance(p, Person) else str(p) for p in people]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def longdate(value: date) -> str:
    if not isinstance(value, date):
        raise TypeError(f"longdate needs a date, not {type(value).__name__}")
    return f"{value.day} {value:%B %Y}"


def episode_name(episode: Episode) -> str:
    """'Episode 11: Title', or the bare title of an unnumbered episode."""
    if not isinstance(episode, Episode):
        raise TypeError(f"episode_name needs an episode, not {type(episode).__name__}")
    if episode.number is None:
        return episode.title
    return f"Episode {episode.number}: {episode.title}"


def clock(seconds: float) -> str:
    """Seconds into the audio as '4:05' or '1:02:03'."""
    return format_timestamp(float(seconds))


FILTERS = {
    "episode_name": episode_name,
    "clock": clock,
    "timestamp": timestamp,
    "shorten": shorten,
    "truncate_words": truncate_words,
    "bullets": bullets,
    "numbered": numbered,
    "quote": quote,
    "names": names,
    "longdate": longdate,
    "first_sentence": first_sentence,
}


# ---- the environment ----


class _SourceLoader(jinja2.BaseLoader):
    """Serves sources read at load time, under their repo-relative paths (kept in tracebacks)."""

    def __init__(self, sources: dict[str, tuple[str, str]]) -> None:
        self._sources = sources  # template name -> (source, display path)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        if template not in self._sources:
            raise jinja2.TemplateNotFound(template)
        source, path = self._sources[template]
        return source, path, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self._sources)


def _environment(sources: dict[str, tuple[str, str]]) -> jinja2.Environment:
    env = Sandbox(
        loader=_SourceLoader(sources),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Discord Markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.budget_filters()
    return env


@dataclass(frozen=True)
class _Template:
    kind: str
    style: str
    path: str  # e.g. "prompts/weekly/question.j2"
    body: jinja2.Template
    title: jinja2.Template
    title_line: int  # the header line of `title:`, else 1
    about: str
    unknown: tuple[tuple[str, int], ...] = ()  # names no post defines, and where first read


@dataclass(frozen=True)
class _Header:
    values: dict[str, tuple[str, int]]  # key -> (value, line)
    problems: list[Problem]


def _parse_header(source: str, path: str) -> _Header:
    match = _HEADER.match(source)
    if not match:
        return _Header({}, [])
    first_line = match.group(1).count("\n") + 1
    values: dict[str, tuple[str, int]] = {}
    problems: list[Problem] = []
    hint = (
        "the first {# ... #} comment of a template is its header, one 'key: value' per line "
        f"(keys: {', '.join(HEADER_KEYS)}); put other notes in a later comment"
    )
    for offset, text in enumerate(match.group(2).split("\n")):
        line = first_line + offset
        if not text.strip():
            continue
        kv = _HEADER_LINE.match(text)
        if not kv:
            problems.append(
                Problem(
                    path, f"header line is not 'key: value': {text.strip()!r}", line=line, hint=hint
                )
            )
            continue
        key, value = kv.group(1), kv.group(2)
        if key not in HEADER_KEYS:
            problems.append(Problem(path, f"unknown header key '{key}'", line=line, hint=hint))
        elif key in values:
            problems.append(
                Problem(
                    path,
                    f"header key '{key}' appears twice",
                    line=line,
                    hint=f"keep one '{key}:' line",
                )
            )
        elif not value:
            problems.append(
                Problem(
                    path,
                    f"header key '{key}' is empty",
                    line=line,
                    hint=f"write a value after '{key}:' or remove the line",
                )
            )
        else:
            values[key] = (value, line)
    return _Header(values, problems)


_UNKNOWN_NAME = re.compile(r"No (filter|test) named '([^']*)'")


def _syntax_problem(exc: jinja2.TemplateSyntaxError, path: str) -> Problem:
    where = exc.filename or path
    return _unknown_name(exc.message or "", where, exc.lineno) or Problem(
        where, f"syntax error: {exc.message}", line=exc.lineno, hint=SYNTAX_HINT
    )


def _unknown_name(message: str, path: str, line: int | None) -> Problem | None:
    """A misspelt filter or test (found when compiling, or for a test inside a condition, when
    rendering): a typo, not a {% %} pairing, so name what exists instead."""
    unknown = _UNKNOWN_NAME.match(message)
    if not unknown:
        return None
    kind, name = unknown.groups()
    known = sorted(FILTERS) + sorted(jinja2.filters.FILTERS) if kind == "filter" else []
    known = known or sorted(jinja2.tests.TESTS)
    close = difflib.get_close_matches(name, known, n=1)
    hint = (f"did you mean '{close[0]}'? " if close else "") + (
        f"the {kind}s are: {', '.join(known)} (see prompts/README.md)"
    )
    return Problem(path, f"unknown {kind} '{name}'", line=line, hint=hint)


class Prompts:
    """Every usable template of a prompts folder, plus the problems of the unusable ones."""

    def __init__(
        self,
        templates: dict[tuple[str, str], _Template],
        problems: Sequence[Problem],
        paths: frozenset[str],
    ) -> None:
        self._templates = templates
        self.problems: tuple[Problem, ...] = tuple(problems)
        self._paths = paths

    @classmethod
    def load(cls, folder: Path) -> Prompts:
        """Read and compile `folder/<kind>/<style>.j2`. Never raises for bad files: a file that
        fails is left out of `styles()` and reported in `problems` with its file and line."""
        if not folder.is_dir():
            missing = Problem(
                folder.name,
                f"prompts folder not found: {folder}",
                hint="create it with weekly/, thread/ and announce/ inside",
            )
            return cls({}, [missing], frozenset())
        files, problems = _read_folder(folder)
        sources: dict[str, tuple[str, str]] = {}
        headers: dict[str, _Header] = {}
        for name, (source, path) in files.items():
            header = _parse_header(source, path)
            problems.extend(header.problems)
            headers[name] = header
            sources[name] = (source, path)
            if "title" in header.values:
                pattern, line = header.values["title"]
                # Padded so that errors in the title report the header's own line.
                sources[f"{name}#title"] = ("\n" * (line - 1) + pattern, path)
            else:
                sources[f"{name}#title"] = (_DEFAULT_TITLES[name.split("/")[0]], path)

        env = _environment(sources)
        templates: dict[tuple[str, str], _Template] = {}
        for name, header in headers.items():
            path = sources[name][1]
            try:
                body = env.get_template(name)
                title = env.get_template(f"{name}#title")
            except jinja2.TemplateSyntaxError as exc:
                problems.append(_syntax_problem(exc, path))
                continue
            if header.problems:
                continue  # already reported; a half-understood header is not posted
            kind, filename = name.split("/", 1)
            style = filename.removesuffix(".j2")
            templates[(kind, style)] = _Template(
                kind=kind,
                style=style,
                path=path,
                body=body,
                title=title,
                title_line=header.values.get("title", ("", 1))[1],
                about=header.values.get("about", ("", 0))[0],
                unknown=_unknown_names(env, sources[name][0], sources[f"{name}#title"][0]),
            )
        for kind in KINDS:
            if not any(k == kind for k, _ in templates):
                problems.append(
                    Problem(
                        f"{folder.name}/{kind}",
                        f"no usable '{kind}' template",
                        hint=f"add at least one {folder.name}/{kind}/<style>.j2",
                    )
                )
        log.debug("loaded %d templates from %s, %d problems", len(templates), folder, len(problems))
        return cls(templates, problems, frozenset(path for _, path in sources.values()))

    def styles(self, kind: str) -> list[str]:
        _check_kind(kind)
        return sorted(style for k, style in self._templates if k == kind)

    def about(self, kind: str, style: str) -> str:
        return self._get(kind, style).about

    def path(self, kind: str, style: str) -> str:
        return self._get(kind, style).path

    def render(self, kind: str, style: str, context: Context, *, strict: bool = False) -> Rendered:
        """Render one post. Over-long output is cut at a word or line boundary with '…' (and
        logged); with strict=True (the checker) it is a RenderError instead."""
        tpl = self._get(kind, style)
        if kind in ("weekly", "thread") and context.topic is None:
            raise RenderError(
                Problem(tpl.path, f"{kind} posts need a topic; none was given"), "missing-context"
            )
        if kind == "announce" and context.episode is None:
            raise RenderError(
                Problem(tpl.path, "announcements need an episode; none was given"),
                "missing-context",
            )
        variables = context.variables()

        if context.thread_title.strip():
            title = " ".join(context.thread_title.split())
        else:
            title = " ".join(self._run(tpl, tpl.title, variables).split())
        if not title:
            raise RenderError(
                Problem(
                    tpl.path,
                    "the title renders empty",
                    line=tpl.title_line,
                    hint="make sure 'title:' always produces some text",
                ),
                "empty-title",
            )
        if len(title) > TITLE_LIMIT:
            if strict:
                raise RenderError(
                    Problem(
                        tpl.path,
                        f"the title is {len(title)} characters; Discord allows "
                        f"{TITLE_LIMIT}: {title[:60]!r}…",
                        line=tpl.title_line,
                        hint="shorten the title pattern, e.g. {{ topic.title | shorten(60) }}",
                    ),
                    "title-too-long",
                )
            log.warning("%s: title cut to %d characters", tpl.path, TITLE_LIMIT)
            title = truncate(title, TITLE_LIMIT)

        variables = context.variables(markdown=True)
        variables["thread_title"] = escape_markdown(title)
        body = tidy(self._run(tpl, tpl.body, variables))
        if not body:
            raise RenderError(
                Problem(
                    tpl.path,
                    "the message renders empty",
                    hint="make sure some text is outside every {% if %}",
                ),
                "empty-body",
            )
        if len(body) > MESSAGE_LIMIT:
            if strict:
                raise RenderError(
                    Problem(
                        tpl.path,
                        f"the message is {len(body)} characters; Discord allows {MESSAGE_LIMIT}",
                        hint="shorten the text, or limit long fields, e.g. "
                        "{{ episode.summary | truncate_words(40) }} or questions[:3]",
                    ),
                    "body-too-long",
                )
            log.warning(
                "%s: message cut from %d to %d characters", tpl.path, len(body), MESSAGE_LIMIT
            )
            body = truncate(body, MESSAGE_LIMIT)
        return Rendered(title=title, body=body)

    def _get(self, kind: str, style: str) -> _Template:
        _check_kind(kind)
        tpl = self._templates.get((kind, style))
        if tpl is None:
            styles = ", ".join(self.styles(kind)) or "none"
            raise RenderError(
                Problem(
                    f"prompts/{kind}",
                    f"no usable '{kind}' style '{style}'",
                    hint=f"available: {styles}",
                ),
                "unknown-style",
            )
        return tpl

    def _run(self, tpl: _Template, template: jinja2.Template, variables: dict[str, Any]) -> str:
        try:
            chunks: list[str] = []
            size = 0
            with RenderBudget():  # every render, live or checked, has the same budget
                for chunk in template.generate(variables):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_TEXT:
                        # A template building megabytes is a mistake: stop before it costs
                        # memory; the length check reports it.
                        break
            return "".join(chunks)
        except TooMuchWork as exc:
            path, line = self._where(exc, tpl)
            raise RenderError(
                Problem(path, str(exc), line=line, hint=WORK_HINT), "too-much-work"
            ) from None
        except TooBig as exc:
            path, line = self._where(exc, tpl)
            raise RenderError(
                Problem(path, f"too big: {exc}", line=line, hint=SIZE_HINT), "too-big"
            ) from None
        except jinja2.TemplateSyntaxError as exc:  # an {% include %}d file that does not compile
            raise RenderError(_syntax_problem(exc, tpl.path), "syntax") from None
        except SecurityError as exc:
            path, line = self._where(exc, tpl)
            raise RenderError(
                Problem(path, f"not allowed in templates: {exc}", line=line, hint=SANDBOX_HINT),
                "sandbox",
            ) from None
        except jinja2.UndefinedError as exc:
            path, line = self._where(exc, tpl)
            message, hint = _explain_undefined(str(exc))
            raise RenderError(Problem(path, message, line=line, hint=hint), "undefined") from None
        except jinja2.TemplateNotFound as exc:
            path, line = self._where(exc, tpl)
            raise RenderError(
                Problem(
                    path,
                    f"no such template: {exc.name}",
                    line=line,
                    hint="include other templates as '<kind>/<file>.j2'",
                ),
                "not-found",
            ) from None
        except Exception as exc:  # a filter or method given the wrong thing, 1/0, ...
            path, line = self._where(exc, tpl)
            unknown = _unknown_name(str(exc), path, line)
            if unknown:
                raise RenderError(unknown, "unknown-name") from None
            raise RenderError(
                Problem(
                    path,
                    f"error while rendering: {type(exc).__name__}: {exc}",
                    line=line,
                    hint="check the values and filters on that line against prompts/README.md",
                ),
                "error",
            ) from None

    def _where(self, exc: BaseException, tpl: _Template) -> tuple[str, int | None]:
        """The innermost traceback frame in a template file (jinja2 rewrites frames of compiled
        template code to the template's file name and line)."""
        path, line = tpl.path, None
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename in self._paths:
                path, line = filename, tb.tb_lineno
            tb = tb.tb_next
        return path, line


_MODEL_CLASSES = {cls.__name__: cls for cls in (Episode, Topic, Person, Link)}
_NO_ATTRIBUTE = re.compile(r"'(?:[\w.]+\.)?(\w+)(?: object)?' has no attribute '(\w+)'")


def _explain_undefined(message: str) -> tuple[str, str]:
    """jinja2's message, with our class names short and their fields listed in the hint."""
    match = _NO_ATTRIBUTE.fullmatch(message)
    if not match:
        return message, UNDEFINED_HINT
    owner, attribute = match.groups()
    if owner == "None":
        return (
            f"cannot read '.{attribute}' of None (no episode, or no topic, in this post?)",
            "wrap it in {% if episode %} ... {% endif %} (or {% if topic %}): weekly and thread "
            "posts may have no episode, announcements may have no topic",
        )
    cls = _MODEL_CLASSES.get(owner)
    if cls is None:
        return f"'{owner}' has no attribute '{attribute}'", UNDEFINED_HINT
    public = [f.name for f in dataclasses.fields(cls)]
    public += [
        n
        for n, v in vars(cls).items()
        if not n.startswith("_") and n not in public and (isinstance(v, property) or callable(v))
    ]
    return f"{owner} has no field '{attribute}'", f"{owner} fields: {', '.join(public)}"


# Every name a post gives its template (Jinja's globals aside).
_NAMES = frozenset(Context(when=datetime(2000, 1, 1, tzinfo=UTC), guild_name="").variables())


def _unknown_names(env: jinja2.Environment, *sources: str) -> tuple[tuple[str, int], ...]:
    """Names the sources read that no post defines, each with the line it is first read on.
    Found in the syntax tree, so also in a branch the check's renders never take (a weekday
    other than the check's, an episode number no episode has)."""
    first: dict[str, int] = {}
    for source in sources:
        tree = env.parse(source)
        unknown = meta.find_undeclared_variables(tree) - _NAMES - set(env.globals)
        # A name tested with `is defined` or given a `default` is known to be optional.
        unknown -= {
            node.node.name
            for node in (*tree.find_all(nodes.Test), *tree.find_all(nodes.Filter))
            if node.name in ("defined", "undefined", "default", "d")
            and isinstance(node.node, nodes.Name)
        }
        for node in tree.find_all(nodes.Name):
            if node.name in unknown and node.ctx == "load":
                first[node.name] = min(first.get(node.name, node.lineno), node.lineno)
    return tuple(sorted(first.items(), key=lambda item: (item[1], item[0])))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown template kind {kind!r}; kinds are {', '.join(KINDS)}")


def _hidden(path: Path) -> bool:
    return editor_dropping(path.name)


def _read_folder(folder: Path) -> tuple[dict[str, tuple[str, str]], list[Problem]]:
    """Template name ('weekly/question.j2') -> (source, path shown in problems)."""
    label = folder.name
    files: dict[str, tuple[str, str]] = {}
    problems: list[Problem] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not _hidden(p)):
        if sub.name not in KINDS:
            problems.append(
                Problem(
                    f"{label}/{sub.name}",
                    f"unknown folder '{sub.name}'",
                    hint=f"template folders are {', '.join(KINDS)}",
                )
            )
    for kind in KINDS:
        if not (folder / kind).is_dir():
            continue
        for file in sorted((folder / kind).iterdir()):
            path = f"{label}/{kind}/{file.name}"
            if _hidden(file) or not file.is_file():
                continue
            if file.suffix != ".j2":
                # A copy of a template (x.j2.orig, x.j2.bak) is not to be renamed over it.
                rename = "" if ".j2" in file.name else f"rename it to {file.stem}.j2, or "
                problems.append(
                    Problem(
                        path,
                        "not a template (templates end in .j2)",
                        hint=f"{rename}move it out of {label}/{kind}",
                    )
                )
                continue
            if not _STYLE_NAME.match(file.stem):
                problems.append(
                    Problem(
                        path,
                        f"style name '{file.stem}' is not allowed",
                        hint="use lowercase letters, digits, '-' and '_', e.g. hot-take.j2",
                    )
                )
                continue
            try:
                # utf-8-sig: a BOM some editors write would hide the header, as in content files
                files[f"{kind}/{file.name}"] = (file.read_text(encoding="utf-8-sig"), path)
            except UnicodeDecodeError as exc:
                problems.append(
                    Problem(
                        path,
                        f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                        hint="save the file as UTF-8",
                    )
                )
            except OSError as exc:
                problems.append(
                    Problem(
                        path,
                        f"cannot read the file: {exc.strerror}",
                        hint="check that it is a readable file",
                    )
                )
    return files, problems


def tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, no blank lines around."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---- the checker ----

CHECK_TIME = datetime(2024, 1, 2, 17, 0, tzinfo=UTC)  # a fixed Tuesday: checks are reproducible
CHECK_GUILD = "Vanishing Gradients"

# Stand-ins when a catalogue has no topics or no episodes, so every template is still rendered.
SAMPLE_TOPIC = Topic(slug="sample-topic", title="Sample topic")
SAMPLE_EPISODE = Episode(number=1, title="Sample episode", slug="sample-episode", released=None)


def check_templates(
    prompts: Path, catalog: Catalog, *, when: datetime = CHECK_TIME, guild_name: str = CHECK_GUILD
) -> list[Problem]:
    """Every problem of every template: load problems, then each template rendered (strictly)
    with every topic and every episode, in the pairs posts meet (`_contexts`), and with no
    episode or topic where a kind allows it. The same mistake seen in many combinations is
    reported once, saying where it was first seen."""
    loaded = Prompts.load(prompts)
    problems = list(loaded.problems)
    Key = tuple[str, str, int | None, str]  # template, file at fault, line, reason
    first: dict[Key, tuple[Problem, str]] = {}
    counts: dict[Key, int] = {}
    totals: dict[str, int] = {}
    for kind in KINDS:
        for style in loaded.styles(kind):
            path = loaded.path(kind, style)
            for context in _contexts(kind, catalog, when, guild_name):
                totals[path] = totals.get(path, 0) + 1
                try:
                    loaded.render(kind, style, context, strict=True)
                except RenderError as exc:
                    key = (path, exc.problem.path, exc.problem.line, exc.reason)
                    first.setdefault(key, (exc.problem, _describe(context)))
                    counts[key] = counts.get(key, 0) + 1
    rendered_undefined = {(k[1], p.message) for k, (p, _) in first.items() if k[3] == "undefined"}
    for key, (problem, seen) in first.items():
        note = f" (first with {seen}; fails in {counts[key]} of {totals[key[0]]} renders)"
        problems.append(
            Problem(
                problem.path,
                problem.message + note,
                line=problem.line,
                field=problem.field,
                hint=problem.hint,
            )
        )
    for kind in KINDS:
        for style in loaded.styles(kind):
            tpl = loaded._get(kind, style)
            for name, line in tpl.unknown:
                message = f"'{name}' is undefined"
                if (tpl.path, message) in rendered_undefined:
                    continue  # a render already failed on it, and says with what
                close = difflib.get_close_matches(name, sorted(_NAMES), n=1)
                problems.append(
                    Problem(
                        tpl.path,
                        message + " (in a part of the template the check's renders skip)",
                        line=line,
                        hint=(f"did you mean '{close[0]}'? " if close else "") + UNDEFINED_HINT,
                    )
                )
    return problems


def _contexts(kind: str, catalog: Catalog, when: datetime, guild_name: str) -> Iterator[Context]:
    """The pairs a post can meet: an episode with each of its topics (or none), a topic with
    each of its episodes (or none), as the bot pairs them when it posts. Every topic with every
    episode grew as their product: 300 episodes and 100 topics took 22 s a reload."""
    topics: Sequence[Topic] = catalog.topics or (SAMPLE_TOPIC,)
    episodes: Sequence[Episode] = catalog.episodes
    if kind == "announce":
        by_slug = {t.slug: t for t in topics}
        for episode in episodes or (SAMPLE_EPISODE,):
            own = [by_slug[s] for s in episode.topics if s in by_slug]
            for topic in (*own, None):
                yield Context(when=when, guild_name=guild_name, topic=topic, episode=episode)
        return
    tagged: dict[str, list[Episode]] = {}
    for episode in episodes:
        for slug in episode.topics:
            tagged.setdefault(slug, []).append(episode)
    for topic in topics:
        # A topic no episode covers yet is still checked with one, as content may tag it.
        for maybe in (*(tagged.get(topic.slug) or episodes[:1]), None):
            yield Context(when=when, guild_name=guild_name, topic=topic, episode=maybe)


def _describe(context: Context) -> str:
    topic = f"topic '{context.topic.slug}'" if context.topic else "no topic"
    if context.episode is None:
        episode = "no episode"
    elif context.episode.number is not None:
        episode = f"episode {context.episode.number}"
    else:
        episode = f"episode '{context.episode.slug}'"
    return f"{topic} and {episode}"

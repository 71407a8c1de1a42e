"""The Jinja2 sandbox the moderators' templates run in: no Python internals, and bounded work.

Jinja's immutable sandbox already keeps templates away from Python internals. A template can
still ask for unbounded work (`{% for i in range(100000) %}{% for j in range(100000) %}`) or
memory (`'x'.ljust(10**9)`), which would block the event loop or the content check forever.
So every render gets a budget of steps (`RenderBudget`): each pass of a `{% for %}` loop, each
call, each filter, and each item a call or filter is handed, spends some. And whatever builds
text (string methods, `format`, `%`, `~`, `+`, a few filters) is refused before it builds more
than MAX_TEXT characters. Both are deterministic: a template that passes the check at one time
spends the same at any other, and one whose work depends on the date fails the same clear way.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    SecurityError,
)
from jinja2.utils import Namespace, _PassArg
from markupsafe import Markup

from bot.core.text import MESSAGE_CONTENT

MAX_TEXT = 50 * MESSAGE_CONTENT  # characters (or list items) one operation may build
MAX_STEPS = 100_000  # per render; the shipped templates spend at most ~30
MAX_REPEAT_ITEMS = 10_000
MAX_EXPONENT = 64
MAX_INT_BITS = 13_000  # ~3,900 digits: past Python's own 4,300-digit limit on printing ints
_CHARS_PER_STEP = 100  # handling text is much cheaper than a loop pass or a call
_BYTES_PER_STEP = 16  # of Python bytecode, about what one template node compiles to


class TooMuchWork(Exception):
    """The render spent its budget of steps."""

    def __init__(self) -> None:
        super().__init__(
            f"this template does too much work: more than {MAX_STEPS:,} steps in one render "
            "(each pass of a loop, each call and each filter is a step, and so is each item "
            f"or {_CHARS_PER_STEP} characters they go over)"
        )


class TooBig(Exception):
    """An operation would build a value larger than MAX_TEXT (or a number over MAX_INT_BITS)."""

    def __init__(self, what: str, size: int, unit: str = "characters") -> None:
        limit = MAX_INT_BITS if unit == "bits" else MAX_TEXT
        super().__init__(
            f"{what} would build about {size:,} {unit}; templates may build at most "
            f"{limit:,} at once"
        )


class _Budget:
    __slots__ = ("left",)

    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise TooMuchWork()


_current: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


class RenderBudget:
    """One budget for everything rendered inside (a template and what it includes). A context
    variable, so a render in the check's thread and one on the event loop never share it.
    A class, not @contextmanager: it runs for every render, and this is cheaper."""

    __slots__ = ("_steps", "_token")

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self._steps = steps

    def __enter__(self) -> None:
        self._token = _current.set(_Budget(self._steps))

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


def _spend(steps: int) -> None:
    budget = _current.get()
    if budget is None:  # rendered outside RenderBudget: still bounded, per operation
        budget = _Budget(MAX_STEPS)
    budget.spend(steps)


_SIZED = frozenset({list, tuple, dict, set, frozenset, range})


def _weight(value: Any) -> int:
    """Steps for handing `value` to a call or filter: its items, or its characters / 100."""
    kind = type(value)  # exact types first: this runs for every filter and call
    if kind is str:
        return len(value) // _CHARS_PER_STEP
    if kind in _SIZED:
        return len(value)
    if isinstance(value, str):
        return len(value) // _CHARS_PER_STEP
    if isinstance(value, list | tuple | dict | set | frozenset | range):
        return len(value)
    return 0


def _counted(iterable: Iterable[Any], weight: int) -> Iterator[Any]:
    budget = _current.get() or _Budget(MAX_STEPS)
    for item in iterable:
        budget.spend(weight)
        yield item


def _code_weight(func: Any) -> int:
    """Steps for running a macro's (or a recursive loop's) body once: its compiled size, as
    about one step per template node."""
    code = getattr(func, "__code__", None)
    return 1 + (len(code.co_code) // _BYTES_PER_STEP if code is not None else 0)


# ---- sizes, checked before the text is built ----


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 9 else 10**9  # any longer is far over every limit


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _check_size(what: str, size: int) -> None:
    if size > MAX_TEXT:
        raise TooBig(what, size)


def _printed_size(value: Any, limit: int) -> int:
    """About how many characters `str(value)` makes, counted without making it: a list of a
    list repeated is tiny to hold and huge to print. Stops once past `limit`."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        kind = type(item)
        if kind is str or isinstance(item, str):
            total += len(item) + 4  # quotes and a separator
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, bool | float) or item is None:
            total += 25
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2  # digits, without printing them
        elif dataclasses.is_dataclass(item):
            # Our models: about what their fields print as, without printing.
            total += 20
            stack.extend(vars(item).values())
        elif isinstance(item, Namespace):  # prints as its attributes' dict
            total += 20
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        else:
            total += len(str(item))  # dates, a macro, the context: short
    return total


def check_printed(what: str, value: Any) -> Any:
    """`value` itself, once it is known not to print past MAX_TEXT."""
    if type(value) is not str:
        _check_size(what, _printed_size(value, MAX_TEXT))
    return value


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_percent(fmt: str, values: Any) -> None:
    """`fmt % values` stays within MAX_TEXT: widths, precisions and arguments added up (every
    conversion counted as the longest argument: an upper bound, and cheap)."""
    args = values if isinstance(values, tuple) else (values,)
    texts = list(values.values()) if isinstance(values, Mapping) else list(args)
    widest = max((_text_len(t) for t in texts), default=0)
    star = max((a for a in args if isinstance(a, int)), default=0)  # a width given as `*`
    size = len(fmt)
    for spec in _PERCENT_SPEC.finditer(fmt):
        for part in spec.groups():
            size += star if part == "*" else _number(part) if part else 0
        size += widest
    _check_size("this % formatting", size)


def _check_spec(spec: str) -> None:
    """A format spec's width and precision ('>300000000', '.500000f') within MAX_TEXT."""
    for digits in re.findall(r"\d+", spec):
        _check_size(f"the format spec '{spec[:20]}'", _number(digits))


def _check_join(sep: str, items: list[Any]) -> None:
    text = sum(len(i) if isinstance(i, str) else _printed_size(i, MAX_TEXT) for i in items)
    _check_size("this join", text + len(sep) * max(len(items) - 1, 0))


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, default: Any) -> Any:
    """The first argument of a call, given by position or by `name`."""
    return args[0] if args else kwargs.get(name, default)


def _check_replace(text: str, old: str, new: str, count: int = -1) -> None:
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    _check_size("this replace", len(text) + found * max(len(new) - len(old), 0))


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Size the string methods that can build big text; returns the args to call with."""
    if name in ("ljust", "rjust", "center", "zfill"):
        width = _arg(args, kwargs, "width", 0)
        if isinstance(width, int):
            _check_size(f"{name}({width})", width)
    elif name == "expandtabs":
        tabsize = _arg(args, kwargs, "tabsize", 8)
        if isinstance(tabsize, int):
            _check_size(f"expandtabs({tabsize})", len(text) + text.count("\t") * tabsize)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        if isinstance(args[1], str):
            count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
            _check_replace(text, args[0], args[1], count)
    elif name == "join" and len(args) == 1:
        items = list(args[0])  # a generator is read once: hand the list on
        _spend(len(items))
        _check_join(text, items)
        return (items,)
    return args


class _SizedFormatter(SandboxedFormatter):
    """str.format / format_map within MAX_TEXT: each field's spec, and the running total."""

    def __init__(self, env: jinja2.Environment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec)
        text = super().format_field(value, format_spec)
        self._size += len(text)
        _check_size("this format", self._size)
        return text


class _SizedEscapeFormatter(_SizedFormatter, SandboxedEscapeFormatter):
    pass


# ---- filters ----


def _filter_check(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Jinja's built-in filters that build text from a number or a repetition."""
    if name == "format" and isinstance(value, str):
        check_percent(value, kwargs or args)
    elif name == "center":
        width = _arg(args, kwargs, "width", 80)
        if isinstance(width, int):
            _check_size(f"center({width})", width)
    elif name == "indent":
        width = _arg(args, kwargs, "width", 4)
        if isinstance(width, int):
            lines = str(value).count("\n") + 1
            _check_size(f"indent({width})", len(str(value)) + lines * width)
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        _check_replace(str(value), str(args[0]), str(args[1]), count)
    elif name == "wordwrap":
        wrap = args[3] if len(args) > 3 else kwargs.get("wrapstring", "\n")
        text = str(value)
        _check_size("this wordwrap", len(text) + (len(text) // 2 + 1) * len(str(wrap or "")))
    elif name == "slice":
        slices = _arg(args, kwargs, "slices", 0)
        if isinstance(slices, int):
            _check_size(f"slice({slices})", slices)


_SIZED_FILTERS = frozenset({"format", "center", "indent", "replace", "wordwrap", "slice"})


# Filters that print their input first (str() of a list prints all of it).
_PRINTING_FILTERS = frozenset(
    {
        "string",
        "pprint",
        "tojson",
        "e",
        "escape",
        "forceescape",
        "safe",
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "striptags",
        "wordcount",
        "urlize",
        "truncate",
    }
)


def _budgeted(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, spending a step plus the weight of its input, and checked for size."""
    skip = 0 if _PassArg.from_obj(func) is None else 1  # context/environment come first

    if name == "join":

        @functools.wraps(func)  # keeps jinja_pass_arg, so Jinja still passes the context
        def join(*args: Any, **kwargs: Any) -> Any:
            value = args[skip] if len(args) > skip else ()
            items = list(value)  # a generator is read once: hand the list on
            _spend(1 + len(items))
            sep = args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", "")
            _check_join(str(sep), items)
            return func(*args[:skip], items, *args[skip + 1 :], **kwargs)

        return join

    if name in _PRINTING_FILTERS or name in _SIZED_FILTERS:

        @functools.wraps(func)
        def sized(*args: Any, **kwargs: Any) -> Any:
            value = args[skip] if len(args) > skip else None
            _spend(1 + _weight(value))
            check_printed(f"this |{name}", value)  # they print their input first
            if name in _SIZED_FILTERS:
                _filter_check(name, value, args[skip + 1 :], kwargs)
            return func(*args, **kwargs)

        return sized

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        # _spend(1 + _weight(value)) by hand: this runs for every filter of every render
        budget = _current.get()
        if budget is not None and len(args) > skip:
            value = args[skip]
            kind = type(value)
            if kind is str:
                budget.left -= 1 + len(value) // _CHARS_PER_STEP
            else:
                budget.left -= 1 + (len(value) if kind in _SIZED else _weight(value))
            if budget.left < 0:
                raise TooMuchWork()
        return func(*args, **kwargs)

    return run


# ---- the environment ----


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with each loop's iterable counted and `~` sized. (Jinja allows
    no custom node types, so the loop's iterable is recognised when it is visited.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_weights: dict[int, int] = {}  # id of a loop's iterable -> steps per pass

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # A pass costs what its body holds: a loop over 500 comparisons is not one step a pass.
        body = [*node.body, *([node.test] if node.test else [])]
        self._loop_weights[id(node.iter)] = len(body) + sum(
            1 for part in body for _ in part.find_all(nodes.Node)
        )
        super().visit_For(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        weight = self._loop_weights.pop(id(node), None)
        if weight is None:
            return super().visit(node, *args, **kwargs)
        self.write("environment.count_steps(")
        super().visit(node, *args, **kwargs)
        self.write(f", {max(weight, 1)})")
        return None

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Each part is sized before `str_join((a, b, ))` prints it: a container may print huge.
        sized = nodes.EnvironmentAttribute("sized_part")
        parts = [nodes.Call(sized, [n], [], None, None) for n in node.nodes]
        self.write("environment.sized_concat(")
        super().visit_Concat(nodes.Concat(parts, lineno=node.lineno), frame)
        self.write(")")


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the work of a render and the size of what it builds bounded
    (see the module docstring)."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.globals["lipsum"]  # n=20000 paragraphs of lorem ipsum: no use in a post
        # Every {{ value }} is printed: a container is sized first (see _printed_size).
        given = self.finalize
        self.finalize = (
            (lambda value: given(check_printed("this value", value)))
            if given is not None
            else functools.partial(check_printed, "this value")
        )

    def sized_part(self, value: Any) -> Any:
        return check_printed("this ~", value)

    def budget_filters(self) -> None:
        """Wrap every filter (call once the filters are all in)."""
        self.filters = {name: _budgeted(name, f) for name, f in self.filters.items()}

    def count_steps(self, iterable: Any, weight: int = 1) -> Any:
        try:
            size = len(iterable)
        except TypeError:
            return _counted(iterable, weight)  # a generator (map, select, ...): as it goes
        _spend(size * weight)  # paid up front: no cost per pass, and len() still works
        return iterable

    def sized_concat(self, text: str) -> str:
        # Concat is compiled as a join of its parts; sizing the parts first would need the
        # parts as a tuple, so `~` is checked right after: at most a few parts of MAX_TEXT.
        _check_size("this ~", len(text))
        return text

    def call(
        __self,  # Jinja's own signature: a call may pass `self=` as a keyword
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, Macro):
            _spend(_code_weight(__obj._func))
        elif isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            weight = _code_weight(__obj._recurse)
            _spend(weight)
            args = (__self.count_steps(args[0], weight), *args[1:])
        else:
            _spend(1 + _weight(owner))
            if isinstance(__obj, types.BuiltinMethodType) and isinstance(owner, str):
                args = _check_str_method(owner, __obj.__name__, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, *args: Any) -> Any:
        left, right = args
        if operator == "**" and isinstance(right, int):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
            if isinstance(left, int) and left.bit_length() * right > MAX_INT_BITS:
                raise TooBig("this **", left.bit_length() * right, "bits")
        elif operator == "*":
            seq, n = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, int) and isinstance(n, int):
                if seq.bit_length() + n.bit_length() > MAX_INT_BITS:
                    raise TooBig("this *", seq.bit_length() + n.bit_length(), "bits")
            elif isinstance(seq, str | list | tuple) and isinstance(n, int):
                if len(seq) * n > MAX_REPEAT_ITEMS:
                    raise SecurityError(f"repeating beyond {MAX_REPEAT_ITEMS} items is not allowed")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _check_size("this +", len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            check_percent(left, right)
        return super().call_binop(context, operator, *args)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's own (sandbox.py), with a formatter that sizes each field."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        is_format_map = value.__name__ == "format_map"
        str_type = type(f_self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter: _SizedFormatter
            if isinstance(f_self, Markup):
                formatter = _SizedEscapeFormatter(self, escape=f_self.escape)
            else:
                formatter = _SizedFormatter(self)  # one per call: it keeps a running size
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)

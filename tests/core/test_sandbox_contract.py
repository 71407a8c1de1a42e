"""The Jinja internals bot/core/sandbox.py leans on for the template budget. pyproject pins
jinja2 below 3.2; this fails loudly if an upgrade within that range moves any of them."""

from __future__ import annotations

import inspect

import jinja2
from jinja2.compiler import CodeGenerator
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter

from bot.core.models import Topic
from bot.core.render import Context, Prompts


def test_the_internals_the_budget_uses_are_there():
    from jinja2.utils import _PassArg

    assert hasattr(_PassArg, "from_obj")
    # Macro._func and LoopContext._recurse are set on instances: the next test renders both.
    assert "func" in inspect.signature(Macro.__init__).parameters
    assert "recurse" in inspect.signature(LoopContext.__init__).parameters
    for name in ("visit_For", "visit_Concat"):
        assert callable(getattr(CodeGenerator, name))
    assert callable(getattr(SandboxedEnvironment, "wrap_str_format", None))
    assert issubclass(SandboxedFormatter, object)
    assert jinja2.__version__.startswith("3.1.")
    from jinja2.utils import Namespace

    assert object.__getattribute__(Namespace(a=1), "_Namespace__attrs") == {"a": 1}


def test_a_macro_and_a_recursive_loop_render_and_are_charged(tmp_path):
    """Through the real path: the budget wraps macros and recursive loops without breaking."""
    (tmp_path / "weekly").mkdir()
    (tmp_path / "weekly" / "t.j2").write_text(
        "{#\ntitle: T\n#}\n{% macro hi(n) %}hi {{ n }}{% endmacro %}{{ hi(1) }}"
        "{% for x in [[1, [2]], 3] recursive %}{% if x is iterable %}{{ loop(x) }}"
        "{% else %}{{ x }}{% endif %}{% endfor %}",
        encoding="utf-8",
    )
    prompts = Prompts.load(tmp_path)  # (the other kinds are missing: not this test's business)
    assert [p for p in prompts.problems if p.path.endswith("t.j2")] == []
    from datetime import UTC, datetime

    topic = Topic("t", "T", questions=("Why?", "How?"))
    context = Context(when=datetime.now(UTC), guild_name="G", topic=topic)
    body = prompts.render("weekly", "t", context).body
    assert body == "hi 1123"

"""Warnings for lava template idioms that render differently under lava-state.

lava rendered a JSON dump of a whole job action and parsed the result back;
lava-state renders each string on its own and never re-parses it (see
docs/reading.md, "Migration from lava"). Most templates render the same
either way; the idioms in :data:`LINTS` do not, and nothing fails: they store
something else. :func:`lint_structure` checks a job spec or an action before
it runs (``lava-state render`` prints its warnings).

Jinja is imported only when a string contains a template delimiter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lava_state.templating import Location, has_template, json_path

if TYPE_CHECKING:
    from jinja2.nodes import Node

#: What :func:`lint` warns about, by name.
LINTS = {
    "tojson-trim": (
        "`| tojson | trim('\"')` is lava's idiom for putting JSON text inside the JSON "
        "text lava re-parsed; lava-state renders each string on its own and never "
        "re-parses it, so this stores the text with its quotes escaped "
        '(`{\\"a\\": 1}`): write `{{ utils.tojson(x) }}` for the JSON text, or '
        "write the value as a structure"
    ),
}


def lint(text: str) -> list[str]:
    """Warnings for the lava idioms in one template (see :data:`LINTS`), each naming its line.

    A template that does not parse gives no warning: rendering reports its
    syntax error.
    """
    if not has_template(text):
        return []
    from jinja2 import Environment, TemplateSyntaxError

    try:
        # Parsing only: the sandbox's syntax is Jinja's default, as here.
        ast = Environment(autoescape=False).parse(text)  # noqa: S701 - never rendered
    except TemplateSyntaxError:
        return []
    return _lint_ast(ast)


def lint_structure(node: Any, location: Location = (), *, root: str = "$") -> list[str]:
    """:func:`lint` of every string of a structure (a job spec, an action; keys are not
    templates), each warning prefixed with its JSON path: ``$.payload.cmd: line 1: ...``."""
    if isinstance(node, str):
        return [f"{json_path(location, root)}: {warning}" for warning in lint(node)]
    if isinstance(node, Mapping):
        items: Any = node.items()
    elif isinstance(node, list | tuple):
        items = enumerate(node)
    else:
        return []
    return [w for key, value in items for w in lint_structure(value, (*location, key), root=root)]


def _lint_ast(ast: Node) -> list[str]:
    from jinja2 import nodes

    found = []
    for node in ast.find_all(nodes.Filter):
        # `x | tojson | trim('"')` (or trim(chars='"')): a trim of a tojson.
        chars = [*node.args[:1], *(kw.value for kw in node.kwargs if kw.key == "chars")]
        if (
            node.name == "trim"
            and isinstance(node.node, nodes.Filter)
            and node.node.name == "tojson"
            and any(isinstance(arg, nodes.Const) and arg.value == '"' for arg in chars)
        ):
            found.append(f"line {node.lineno}: {LINTS['tojson-trim']}")
    return found

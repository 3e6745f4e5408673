"""The sandbox behind :mod:`lava_state.templating`: Jinja's immutable sandbox, bounded
(:mod:`lava_state.template_limits`), compiled templates and what they load.

Jinja is imported on first use. The sandbox asks the renderer of the current
render (:data:`CURRENT_RESOLVER`) to resolve accesses to the state map.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Protocol, cast

from lava_state import template_calls, template_limits

if TYPE_CHECKING:
    from collections.abc import Callable

    from jinja2 import Template
    from jinja2.nodes import Node
    from jinja2.nodes import Template as TemplateNode
    from jinja2.sandbox import SandboxedEnvironment

#: A reference of a template to a context name: the name and the constant keys after it.
Reference = tuple[str, tuple[Any, ...]]

# Compiling a template costs far more than rendering it (about 0.25 ms per
# state reference), and a scheduler expands the same job specs run after run:
# compiled templates are kept, per mode, for the life of the process.
_TEMPLATE_CACHE_SIZE = 1024
# The filters the compiled templates call for `~` and for loops (see _bounded):
# not identifiers, so that no template can name them.
_CONCAT_FILTER = "lava-state.concat"
_ITER_FILTER = "lava-state.iter"


class Resolver(Protocol):
    """What resolves a template's attribute and item accesses (the renderer)."""

    def resolve(self, obj: Any, name: Any) -> tuple[bool, Any]:
        """(True, result) when resolved, else (False, None): Jinja's own lookup."""
        ...


#: The resolver of the template being rendered in this thread/context.
CURRENT_RESOLVER: ContextVar[Resolver | None] = ContextVar("lava_state_resolver", default=None)


@lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def compiled(strict: bool, text: str) -> tuple[Template, frozenset[Reference]]:
    """The compiled template for ``text`` (bounded: see :func:`_bounded`) and its references.

    Raises Jinja's TemplateSyntaxError.
    """
    env = environment(strict)
    ast = env.parse(text)
    references = _references(ast)
    return env.from_string(_bounded(ast)), references


def _bounded(ast: TemplateNode) -> TemplateNode:
    """The template with every ``~`` and every for loop's items going through the
    sandbox's bounds: Jinja compiles ``~`` to a plain join and loops to plain
    Python loops, which no sandbox hook sees."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    class Bound(NodeTransformer):
        def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
            self.generic_visit(node)  # transforms the children in place
            items = nodes.List(node.nodes, lineno=node.lineno)
            return nodes.Filter(items, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)

        def visit_For(self, node: nodes.For) -> nodes.Node:
            self.generic_visit(node)
            node.iter = nodes.Filter(
                node.iter, _ITER_FILTER, [], [], None, None, lineno=node.lineno
            )
            return node

    Bound().visit(ast)
    return ast


def _references(ast: Node) -> frozenset[Reference]:
    """Every load of a name in a template, with the constant keys that follow it.

    ``state.a['b']`` gives ``("state", ("a", "b"))``; ``state|dictsort`` or
    ``state[name]`` give ``("state", ())``: the whole map is reachable.
    """
    from jinja2 import nodes

    found: set[Reference] = set()

    def visit(node: Node) -> None:
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            keys: list[Any] = []
            inner: Node = node
            while True:
                if isinstance(inner, nodes.Getattr):
                    keys.append(inner.attr)
                elif isinstance(inner, nodes.Getitem) and isinstance(inner.arg, nodes.Const):
                    keys.append(inner.arg.value)
                else:
                    break
                inner = inner.node
            if isinstance(inner, nodes.Name):
                found.add((inner.name, tuple(reversed(keys))))
                return
            if inner is not node:
                visit(inner)
                return
        if isinstance(node, nodes.Name):
            found.add((node.name, ()))
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(ast)
    return frozenset(found)


@cache
def environment(strict: bool) -> SandboxedEnvironment:
    """The shared sandbox of one mode, built on first use (Jinja imported lazily).

    Environments are thread-safe once configured; the state tracking is per
    render, through :data:`CURRENT_RESOLVER`.
    """
    env: SandboxedEnvironment = _sandbox_class()(strict=strict)
    return env


def _resolved_or(obj: Any, key: Any, fallback: Callable[[Any, Any], Any]) -> Any:
    """What the rendering Renderer makes of ``obj.key`` / ``obj[key]``, else Jinja's own lookup."""
    resolver = CURRENT_RESOLVER.get()
    if resolver is not None:
        resolved, result = resolver.resolve(obj, key)
        if resolved:
            return result
    return fallback(obj, key)


@cache
def _sandbox_class() -> type[Any]:
    """Build the sandboxed environment class once (Jinja imported lazily)."""
    from jinja2 import StrictUndefined, Undefined, pass_context
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    @pass_context  # never folded into a constant at compile time
    def bounded_iter(context: Any, iterable: Any) -> Any:
        return template_limits.bounded_iter(iterable)

    @pass_context
    def bounded_concat(context: Any, items: Any) -> str:
        return template_limits.bounded_concat(items)

    class Sandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox (templates cannot modify the job spec, its state or
        the caller's context), raising on unsafe access even in lenient mode,
        resolving state ids, and bounding every operation that can grow a value
        (:mod:`lava_state.template_limits`)."""

        intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
        # Every piece of output (templates, macros, set blocks) is joined here.
        concat = staticmethod(template_limits.bounded_output)

        def __init__(self, *, strict: bool) -> None:
            super().__init__(
                undefined=StrictUndefined if strict else Undefined,
                # A job spec's strings are data: keep them byte for byte, trailing newline too.
                keep_trailing_newline=True,
                autoescape=False,
            )
            self.filters = {
                name: template_calls.bounded_filter(name, func)
                for name, func in self.filters.items()
            }
            self.filters[_CONCAT_FILTER] = bounded_concat
            self.filters[_ITER_FILTER] = bounded_iter
            self.globals["range"] = template_calls.bounded_range
            self.globals["lipsum"] = template_calls.bounded_lipsum(
                cast("Callable[..., Any]", self.globals["lipsum"])
            )

        def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
            # Jinja returns an Undefined here, which a lenient render prints as "":
            # a sandbox escape attempt must fail loudly instead.
            raise SecurityError(
                f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
            )

        def getattr(self, obj: Any, attribute: str) -> Any:
            return _resolved_or(obj, attribute, super().getattr)

        def getitem(self, obj: Any, argument: Any) -> Any:
            return _resolved_or(obj, argument, super().getitem)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            template_limits.check_binop(operator, left, right)
            result = super().call_binop(context, operator, left, right)
            return template_limits.check_size(result, f"the result of {operator}")

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = template_calls.checked_call(__obj, args, kwargs)
            result = super().call(__context, __obj, *args, **kwargs)
            return template_limits.check_size(result, "the result of a call")

    return Sandbox

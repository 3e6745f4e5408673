"""Jinja rendering of job specs and job actions, in Jinja's sandbox.

One renderer serves job-spec expansion (:mod:`consumer_sdk.jobspec`) and the
``state`` job action (:mod:`publisher.actions`). It renders every string of a
structure (recursively through dicts and lists; keys are left alone), names
the failing template by its JSON path and line, refuses access to Python
internals, and records which rendered strings touched a secure value so that
callers can mask them in logs. Templates also see lava's ``utils`` helpers
(:mod:`lava_state.template_utils`) unless the context names its own.

:mod:`lava_state.template_lint` finds lava idioms that render differently here.

Jinja and ``utils`` are imported only when a template is actually rendered:
the CLI and jobs that declare no templates do not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from lava_state.errors import TemplateError, TemplateSecurityError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from types import TracebackType

    from jinja2 import Template
    from jinja2.nodes import Node
    from jinja2.sandbox import SandboxedEnvironment

#: A location in a structure: the keys and indexes leading to it from the root.
Location = tuple[str | int, ...]
#: A reference of a template to a tracked name: the name and the constant keys after it.
Reference = tuple[str, tuple[Any, ...]]

# Strings without any Jinja delimiter render to themselves: skipping them saves
# a template compilation per plain string (most of a job spec).
_MARKERS = ("{{", "{%", "{#")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Secure leaves shorter than this are not searched for in rendered text: too
# many false positives. Accesses through `state` are tracked regardless.
_MIN_SECRET_TEXT = 4
# Compiling a template costs far more than rendering it (about 0.25 ms per
# state reference), and a scheduler expands the same job specs run after run:
# compiled templates are kept, per mode, for the life of the process.
_TEMPLATE_CACHE_SIZE = 1024
# The renderer whose template is being rendered in this thread/context: the
# shared sandbox reports state accesses to it.
#: Limits of the sandbox: the length (characters or items) of a repeated
#: string or list, and the largest exponent of ``**``.
MAX_RESULT_SIZE = 1_000_000
MAX_EXPONENT = 100
#: The context names whose values may hold secure material.
_TRACKED = frozenset({"state", "job"})
_MASK = "********"
_CURRENT: ContextVar[Renderer | None] = ContextVar("lava_state_renderer", default=None)


def json_path(location: Location, root: str = "$") -> str:
    """A JSON path for a location, e.g. ``$.steps[0].cmd`` or ``$.state['a/b-c']``."""
    parts = [root]
    for key in location:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif _IDENTIFIER.fullmatch(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def has_template(text: str) -> bool:
    """True if ``text`` contains a Jinja delimiter."""
    return any(marker in text for marker in _MARKERS)


def secret_texts(value: Any) -> frozenset[str]:
    """Texts whose presence in a rendered string means a secure value leaked into it."""
    texts = {repr(value), str(value)}

    def leaves(node: Any) -> None:
        if isinstance(node, Mapping):
            for item in node.values():
                leaves(item)
        elif isinstance(node, list | tuple):
            for item in node:
                leaves(item)
        elif not isinstance(node, bool) and node is not None:
            texts.add(str(node))

    leaves(value)
    return frozenset(text for text in texts if len(text) >= _MIN_SECRET_TEXT)


class Renderer:
    """Renders the strings of a structure with one Jinja context.

    ``state`` is the resolved state map exactly as placed in the context (the
    same object, so that accesses to it can be recognised); ``secure_ids``
    are the ids whose values are secure; ``secure_job_keys`` the top-level
    keys of ``job`` that hold secure material besides ``state`` (the rendered
    strings of an expanded spec). After rendering, ``secure_locations`` holds
    every rendered string that may contain secure material.

    When secure material exists, a template is taken to use it unless every
    reference it makes to ``state`` or ``job`` is a constant attribute or item
    access of a declared, non-secure id (or of a plain key of ``job``): over-
    masking is acceptable, a leak through a filter (``state|dictsort|last``)
    is not. Error details of such templates are withheld.
    """

    def __init__(
        self,
        context: Mapping[str, Any],
        *,
        strict: bool = True,
        state: Mapping[str, Any] | None = None,
        secure_ids: Collection[str] = (),
        secure_values: Collection[Any] = (),
        secure_job_keys: Collection[str] = (),
    ) -> None:
        self._context = dict(context)
        self._strict = strict
        self._state = state
        self._secure_ids = frozenset(secure_ids)
        self._secure_job_keys = frozenset(secure_job_keys)
        self._tracking = bool(self._secure_ids or self._secure_job_keys)
        # Longest first, so that a secret containing another is masked whole.
        self._secret_texts = tuple(
            sorted(
                frozenset().union(*(secret_texts(v) for v in secure_values)), key=len, reverse=True
            )
        )
        self.secure_locations: list[Location] = []

    def render(self, node: Any, location: Location = (), *, root: str = "$") -> Any:
        """A copy of ``node`` with every string rendered; other leaves are kept as they are.

        Raises:
            TemplateError: a template has a syntax error, fails at run time, or
                (strict) uses an undefined name or an undeclared state id; names
                its path and line.
            TemplateSecurityError: a template reached for Python internals, tried
                to modify data, or exceeded a size limit.
        """
        if isinstance(node, str):
            return self.render_string(node, location, root=root)
        if isinstance(node, Mapping):
            return {k: self.render(v, (*location, k), root=root) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [self.render(v, (*location, i), root=root) for i, v in enumerate(node)]
        return node

    def render_string(self, text: str, location: Location = (), *, root: str = "$") -> str:
        """Render one template (see :meth:`render`)."""
        if not has_template(text):
            return text
        from jinja2 import TemplateError as JinjaError
        from jinja2 import TemplateSyntaxError
        from jinja2.exceptions import SecurityError

        path = json_path(location, root)
        try:
            template, references = _compiled(self._strict, text)
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error at {path}, line {exc.lineno}: "
                f"{self._masked(str(exc.message))}",
                path=path,
                lineno=exc.lineno,
            ) from None
        if "utils" not in self._context:
            from lava_state.template_utils import UTILS

            self._context["utils"] = UTILS
        uses_secure = self._uses_secure(references)
        # Any reference to state or job may reach a secret, and an error message
        # may quote what it reached: withhold rather than risk it.
        withhold = self._tracking and any(name in _TRACKED for name, _ in references)
        token = _CURRENT.set(self)
        try:
            rendered = template.render(self._context)
        except SecurityError as exc:
            lineno = _template_line(exc.__traceback__)
            raise TemplateSecurityError(
                f"template at {path}{_at_line(lineno)} is not allowed: {self._masked(str(exc))} "
                "(templates run in a sandbox without access to Python internals)",
                path=path,
                lineno=lineno,
            ) from None
        except Exception as exc:
            # Jinja's runtime errors, and Python's raised by operations inside the
            # template (1/0, int('x'), RecursionError...), whose message may quote a
            # value: never a secure one.
            lineno = _template_line(exc.__traceback__)
            if withhold:
                detail = "(details withheld: the template may use a secure value)"
            elif isinstance(exc, JinjaError):
                detail = self._masked(str(exc))
            else:
                detail = self._masked(f"{type(exc).__name__}: {exc}")
            raise TemplateError(
                f"cannot render the template at {path}{_at_line(lineno)}: {detail}",
                path=path,
                lineno=lineno,
            ) from None
        finally:
            _CURRENT.reset(token)
        if uses_secure or any(secret in rendered for secret in self._secret_texts):
            self.secure_locations.append(location)
        return rendered

    def _masked(self, text: str) -> str:
        """``text`` with every known secret text replaced by the mask."""
        for secret in self._secret_texts:
            text = text.replace(secret, _MASK)
        return text

    def _uses_secure(self, references: frozenset[Reference]) -> bool:
        """Whether a template with these references may render secure material."""
        if not self._tracking:
            return False
        job = self._context.get("job")
        for name, keys in references:
            if name == "state" and not self._plain_state(keys):
                return True
            if name == "job":
                if not keys:
                    return True
                first = keys[0]
                if first == "state":
                    if not self._plain_state(keys[1:]):
                        return True
                elif (
                    not isinstance(first, str)
                    or first in self._secure_job_keys
                    or hasattr(type(job), first)  # a method such as job.values()
                ):
                    return True
        return False

    def _plain_state(self, keys: tuple[Any, ...]) -> bool:
        """True for a constant access of a declared, non-secure state id."""
        return (
            bool(keys)
            and self._state is not None
            and isinstance(keys[0], str)
            and keys[0] in self._state
            and keys[0] not in self._secure_ids
        )

    def _resolve(self, obj: Any, name: Any) -> tuple[bool, Any]:
        """Called by the sandbox on every attribute or item access in a template.

        Returns (True, result) when the access is on the state map and
        resolved here: a declared id gives its value (even one named like a
        dict method: ``state.values``), an undeclared one an Undefined that
        says so (in strict mode, dict methods too: ``state.get('x')``). Else
        (False, None): proceed normally.
        """
        if self._state is None or obj is not self._state:
            return False, None
        try:
            if name in self._state:
                return True, self._state[name]
        except TypeError:  # an unhashable key: not an id
            pass
        env = _environment(self._strict)
        # Unsafe names go on to the sandbox, which refuses them loudly; the
        # lenient mode keeps dict methods, as lava's templates may use them.
        if (
            isinstance(name, str)
            and hasattr(obj, name)
            and (not self._strict or not env.is_safe_attribute(obj, name, getattr(obj, name)))
        ):
            return False, None
        return True, env.undefined(
            hint=f"state {name!r} is not declared in the job spec's 'state' map "
            "(declare it there with a default)",
            obj=obj,
            name=name,
        )


def _at_line(lineno: int | None) -> str:
    return "" if lineno is None else f", line {lineno}"


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of a runtime error: Jinja rewrites tracebacks to point into it."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def _compiled(strict: bool, text: str) -> tuple[Template, frozenset[Reference]]:
    """The compiled template for ``text`` and its references to ``state`` and ``job``.

    Raises Jinja's TemplateSyntaxError.
    """
    env = _environment(strict)
    ast = env.parse(text)
    return env.from_string(ast), _references(ast)


def _references(ast: Node) -> frozenset[Reference]:
    """Every load of ``state`` or ``job`` in a template, with the constant keys that follow it.

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
            if isinstance(inner, nodes.Name) and inner.name in _TRACKED:
                found.add((inner.name, tuple(reversed(keys))))
                return
            if inner is not node:
                visit(inner)
                return
        if isinstance(node, nodes.Name):
            if node.name in _TRACKED:
                found.add((node.name, ()))
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(ast)
    return frozenset(found)


@cache
def _environment(strict: bool) -> SandboxedEnvironment:
    """The shared sandbox of one mode, built on first use (Jinja imported lazily).

    Environments are thread-safe once configured; the state tracking is per
    render, through :data:`_CURRENT`.
    """
    env: SandboxedEnvironment = _sandbox_class()(strict=strict)
    return env


def _resolved_or(obj: Any, key: Any, fallback: Callable[[Any, Any], Any]) -> Any:
    """What the rendering Renderer makes of ``obj.key`` / ``obj[key]``, else Jinja's own lookup."""
    renderer = _CURRENT.get()
    if renderer is not None:
        resolved, result = renderer._resolve(obj, key)
        if resolved:
            return result
    return fallback(obj, key)


@cache
def _sandbox_class() -> type[Any]:
    """Build the sandboxed environment class once (Jinja imported lazily)."""
    from jinja2 import StrictUndefined, Undefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox (templates cannot modify the job spec, its state or
        the caller's context), raising on unsafe access even in lenient mode,
        resolving state ids, and bounding ``*`` and ``**``."""

        intercepted_binops = frozenset({"*", "**"})

        def __init__(self, *, strict: bool) -> None:
            super().__init__(
                undefined=StrictUndefined if strict else Undefined,
                # A job spec's strings are data: keep them byte for byte, trailing newline too.
                keep_trailing_newline=True,
                autoescape=False,
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
            # A template is data from a job spec: it must not exhaust the
            # scheduler's memory or CPU with 'x' * 10**9 or 9**9**9.
            if operator == "**":
                if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                    raise SecurityError(
                        f"the exponent {right!r} is over the limit of {MAX_EXPONENT}"
                    )
                return left**right
            size = _repeat_size(left, right)
            if size is None:
                size = _repeat_size(right, left)
            if size is not None and size > MAX_RESULT_SIZE:
                raise SecurityError(
                    f"the result of * would have {size} items, over the limit of {MAX_RESULT_SIZE}"
                )
            return super().call_binop(context, operator, left, right)

    return Sandbox


def _repeat_size(sequence: Any, times: Any) -> int | None:
    """The length of ``sequence * times`` for a sequence repeated, else None."""
    if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
        return len(sequence) * max(times, 0)
    return None

"""Jinja rendering of job specs and job actions, in Jinja's sandbox.

One renderer serves job-spec expansion (:mod:`consumer_sdk.jobspec`) and the
``state`` job action (:mod:`publisher.actions`). It renders every string of a
structure (recursively through dicts and lists; keys are left alone), names
the failing template by its JSON path and line, refuses access to Python
internals, and records which rendered strings touched a secure value so that
callers can mask them in logs.

Jinja is imported only when a template is actually rendered: the CLI and
jobs that declare no templates do not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from lava_state.errors import TemplateError, TemplateSecurityError

if TYPE_CHECKING:
    from collections.abc import Collection
    from types import TracebackType

    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

#: A location in a structure: the keys and indexes leading to it from the root.
Location = tuple[str | int, ...]

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
    are the ids whose values are secure. After rendering, ``secure_locations``
    holds every rendered string that used a secure value.
    """

    def __init__(
        self,
        context: Mapping[str, Any],
        *,
        strict: bool = True,
        state: Mapping[str, Any] | None = None,
        secure_ids: Collection[str] = (),
        secure_values: Collection[Any] = (),
    ) -> None:
        self._context = dict(context)
        self._strict = strict
        self._state = state
        self._secure_ids = frozenset(secure_ids)
        self._secret_texts = frozenset().union(*(secret_texts(v) for v in secure_values))
        self._touched_secure = False
        self.secure_locations: list[Location] = []

    def render(self, node: Any, location: Location = (), *, root: str = "$") -> Any:
        """A copy of ``node`` with every string rendered; other leaves are kept as they are.

        Raises:
            TemplateError: a template has a syntax error, or (strict) uses an
                undefined name or an undeclared state id; names its path and line.
            TemplateSecurityError: a template reached for Python internals.
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
        self._touched_secure = False
        token = _CURRENT.set(self)
        try:
            rendered = _compiled(self._strict, text).render(self._context)
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error at {path}, line {exc.lineno}: {exc.message}",
                path=path,
                lineno=exc.lineno,
            ) from None
        except SecurityError as exc:
            lineno = _template_line(exc.__traceback__)
            raise TemplateSecurityError(
                f"template at {path}{_at_line(lineno)} is not allowed: {exc} "
                "(templates run in a sandbox without access to Python internals)",
                path=path,
                lineno=lineno,
            ) from None
        except (JinjaError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            # Jinja's runtime errors, and Python's raised by operations inside the
            # template (1/0, int('x')...), whose message may quote a value: never a secure one.
            lineno = _template_line(exc.__traceback__)
            if self._touched_secure:
                detail = "(details withheld: the template uses a secure value)"
            elif isinstance(exc, JinjaError):
                detail = str(exc)
            else:
                detail = f"{type(exc).__name__}: {exc}"
            raise TemplateError(
                f"cannot render the template at {path}{_at_line(lineno)}: {detail}",
                path=path,
                lineno=lineno,
            ) from None
        finally:
            _CURRENT.reset(token)
        if self._touched_secure or any(secret in rendered for secret in self._secret_texts):
            self.secure_locations.append(location)
        return rendered

    def _note_access(self, obj: Any, name: Any) -> Any | None:
        """Called by the sandbox on every attribute or item access in a template.

        Returns an Undefined carrying a clear message for an undeclared state
        id, else None (proceed normally). Records accesses that may reach a
        secure value: a secure id, or anything on the state map that is not a
        declared plain id (``items()``, ``values()``, ``get``...).
        """
        if self._state is None or obj is not self._state:
            return None
        declared = name in self._state
        if not declared and not (isinstance(name, str) and hasattr(obj, name)):
            return _environment(self._strict).undefined(
                hint=f"state {name!r} is not declared in the job spec's 'state' map "
                "(declare it there with a default)",
                obj=obj,
                name=name,
            )
        if name in self._secure_ids or (self._secure_ids and not declared):
            self._touched_secure = True
        return None


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
def _compiled(strict: bool, text: str) -> Template:
    """The compiled template for ``text`` (raises Jinja's TemplateSyntaxError)."""
    return _environment(strict).from_string(text)


@cache
def _environment(strict: bool) -> SandboxedEnvironment:
    """The shared sandbox of one mode, built on first use (Jinja imported lazily).

    Environments are thread-safe once configured; the state tracking is per
    render, through :data:`_CURRENT`.
    """
    env: SandboxedEnvironment = _sandbox_class()(strict=strict)
    return env


@cache
def _sandbox_class() -> type[Any]:
    """Build the sandboxed environment class once (Jinja imported lazily)."""
    from jinja2 import StrictUndefined, Undefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    class Sandbox(SandboxedEnvironment):
        """Jinja's sandbox, raising on unsafe access even in lenient mode, tracking state."""

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
            renderer = _CURRENT.get()
            undefined = None if renderer is None else renderer._note_access(obj, attribute)
            return undefined if undefined is not None else super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            renderer = _CURRENT.get()
            undefined = None if renderer is None else renderer._note_access(obj, argument)
            return undefined if undefined is not None else super().getitem(obj, argument)

    return Sandbox

"""Jinja rendering of job specs and job actions, in Jinja's sandbox.

One renderer serves job-spec expansion (:mod:`consumer_sdk.jobspec`), the
``state`` job action (:mod:`publisher.actions`) and ``lava-state get ID
TEMPLATE``. It renders every string of a structure (recursively through dicts
and lists; keys are left alone), names the failing template by its JSON path
and line, refuses access to Python internals, bounds what a template may build
and how long an expansion may run (:mod:`lava_state.template_limits`), and
records which rendered strings may hold secure material so that callers can
mask them and refuse to store them in clear.

Secure material is tracked by data flow (docs/security.md): the caller says
which context names hold secure material and where inside them; a template
that loads such a name (``state``, ``job``, ``globals``, ``job.globals``...
whatever the name) is secure unless every load of it follows constant keys
away from every secure part. Loop variables, ``set`` assignments, macros and
filters all start from such a load, so whatever they derive is secure too.

:mod:`lava_state.template_lint` finds lava idioms that render differently here.

Jinja and ``utils`` are imported only when a template is actually rendered:
the CLI and jobs that declare no templates do not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lava_state import template_limits
from lava_state.errors import TemplateError, TemplateLimitExceeded, TemplateSecurityError
from lava_state.template_limits import MAX_EXPONENT, MAX_RESULT_SIZE, TIME_BUDGET_S
from lava_state.template_sandbox import CURRENT_RESOLVER, compiled, environment

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "MAX_EXPONENT",
    "MAX_RESULT_SIZE",
    "Location",
    "Renderer",
    "has_template",
    "json_path",
    "secret_texts",
]

#: A location in a structure: the keys and indexes leading to it from the root.
Location = tuple[str | int, ...]

# Strings without any Jinja delimiter render to themselves: skipping them saves
# a template compilation per plain string (most of a job spec).
_MARKERS = ("{{", "{%", "{#")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Secure leaves shorter than this are not searched for in rendered text: too
# many false positives. Loads of secure names are tracked regardless.
_MIN_SECRET_TEXT = 4
_MASK = "********"
_NO_STEP = object()


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
    """Texts whose presence in a rendered string or a message means a secure value leaked
    into it: the value, its leaves, and their upper-case, lower-case and reversed forms."""
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
    forms = {form for text in texts for form in (text, text.upper(), text.lower(), text[::-1])}
    return frozenset(text for text in forms if len(text) >= _MIN_SECRET_TEXT)


def _at(node: Any, location: Location) -> Any:
    """The value at ``location`` in ``node`` (None when there is none)."""
    try:
        for key in location:
            node = node[key]
    except (LookupError, TypeError):
        return None
    return node


class Renderer:
    """Renders the strings of a structure with one Jinja context.

    ``secure`` maps context names to the locations inside their values that
    hold secure material (``()``: the whole value), e.g. ``{"state": [("pw",)],
    "job": [("state", "pw")]}``. ``state`` is the resolved state map exactly as
    placed in the context (the same object), so that its declared ids resolve
    even when named like dict methods and undeclared ones are reported. After
    rendering, ``secure_locations`` holds every rendered string that may
    contain secure material.

    The rule (data flow, not names): a template is secure when it loads a name
    of ``secure`` other than through constant keys that lead away from every
    secure location, or when its output contains the text of a secure value
    (also upper-cased, lower-cased or reversed). Over-marking is acceptable,
    a leak is not. Error details of templates that load a secure name are
    withheld, and every message is masked.

    One renderer is one expansion: its strings share the time and output
    budget of :mod:`lava_state.template_limits` (``time_budget`` seconds).
    """

    def __init__(
        self,
        context: Mapping[str, Any],
        *,
        strict: bool = True,
        state: Mapping[str, Any] | None = None,
        secure: Mapping[str, Iterable[Location]] | None = None,
        time_budget: float = TIME_BUDGET_S,
    ) -> None:
        self._context = dict(context)
        self._strict = strict
        self._state = state
        self._secure = {
            name: tuple(tuple(loc) for loc in locations)
            for name, locations in (secure or {}).items()
        }
        self._secure = {name: locs for name, locs in self._secure.items() if locs}
        # Every secure location and every path leading to one, by name.
        self._prefixes = {
            name: {loc[:i] for loc in locs for i in range(len(loc) + 1)}
            for name, locs in self._secure.items()
        }
        texts: set[str] = set()
        for name, locations in self._secure.items():
            for location in locations:
                texts |= secret_texts(_at(self._context.get(name), location))
        # Longest first, so that a secret containing another is masked whole.
        self._secret_texts = tuple(sorted(texts, key=len, reverse=True))
        self._budget = template_limits.Budget(seconds=time_budget)
        self.secure_locations: list[Location] = []

    def render(self, node: Any, location: Location = (), *, root: str = "$") -> Any:
        """A copy of ``node`` with every string rendered; other leaves are kept as they are.

        Raises:
            TemplateError: a template has a syntax error, fails at run time, or
                (strict) uses an undefined name or an undeclared state id; names
                its path and line.
            TemplateSecurityError: a template reached for Python internals or
                tried to modify data.
            TemplateLimitExceeded: a template crossed a size, output or time
                limit (named in the error).
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
            template, references = compiled(self._strict, text)
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
        uses_secure = any(self._reaches_secure(name, keys) for name, keys in references)
        # Any load of a name holding secure material may reach it, and an error
        # message may quote what it reached: withhold rather than risk it.
        withhold = any(name in self._secure for name, _ in references)
        self._budget.start()
        token = CURRENT_RESOLVER.set(self)
        budget_token = template_limits.CURRENT_BUDGET.set(self._budget)
        # The error is raised after the except clauses: raised inside one it
        # would keep the original exception as its __context__, whose message
        # may quote a value (a secure one), for any tool that walks the chain.
        error: TemplateError | None = None
        rendered = ""
        try:
            rendered = template.render(self._context)
            self._budget.add_output(len(rendered))
        except template_limits.LimitExceeded as exc:
            lineno = _template_line(exc.__traceback__)
            # The message may quote an operand (an exponent): withheld like any other.
            detail = "a limit was crossed" if withhold else self._masked(str(exc))
            error = TemplateLimitExceeded(
                f"template at {path}{_at_line(lineno)} is not allowed: {detail} "
                f"(limit {exc.limit}; see lava_state.template_limits)",
                limit=exc.limit,
                path=path,
                lineno=lineno,
            )
        except SecurityError as exc:
            lineno = _template_line(exc.__traceback__)
            error = TemplateSecurityError(
                f"template at {path}{_at_line(lineno)} is not allowed: {self._masked(str(exc))} "
                "(templates run in a sandbox without access to Python internals)",
                path=path,
                lineno=lineno,
            )
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
            error = TemplateError(
                f"cannot render the template at {path}{_at_line(lineno)}: {detail}",
                path=path,
                lineno=lineno,
            )
        finally:
            template_limits.CURRENT_BUDGET.reset(budget_token)
            CURRENT_RESOLVER.reset(token)
        if error is not None:
            raise error from None
        if uses_secure or any(secret in rendered for secret in self._secret_texts):
            self.secure_locations.append(location)
        return rendered

    def _masked(self, text: str) -> str:
        """``text`` with every known secret text replaced by the mask."""
        for secret in self._secret_texts:
            text = text.replace(secret, _MASK)
        return text

    def _reaches_secure(self, name: str, keys: tuple[Any, ...]) -> bool:
        """Whether loading ``name`` followed by the constant ``keys`` may reach secure material.

        Conservative: an access that is not a plain key of a map or index of a
        list (a method such as ``job.items``, a missing key) is taken to reach
        everything below it.
        """
        locations = self._secure.get(name)
        if not locations:
            return False
        prefixes = self._prefixes[name]
        node = self._context.get(name)
        path: tuple[Any, ...] = ()
        for access in keys:
            if path in locations:
                return True  # inside a secure value
            if path not in prefixes:
                return False  # nothing secure below
            node, key = self._step(node, access)
            if node is _NO_STEP:
                return True
            path = (*path, key)
        return path in prefixes  # a secure value, or something holding one

    def _step(self, node: Any, key: Any) -> tuple[Any, Any]:
        """The child of ``node`` a template reaches with ``key``, and the key as stored;
        (_NO_STEP, key) when it is not a plain key or index."""
        if isinstance(node, Mapping):
            # Jinja's attribute access prefers a method (job.items) to a key,
            # except on the state map, whose ids resolve first (see resolve).
            if isinstance(key, str) and hasattr(node, key) and node is not self._state:
                return _NO_STEP, key
            try:
                return (node[key], key) if key in node else (_NO_STEP, key)
            except TypeError:  # an unhashable key
                return _NO_STEP, key
        if (
            isinstance(node, list | tuple)
            and isinstance(key, int)
            and -len(node) <= key < len(node)
        ):
            return node[key], key % len(node)
        return _NO_STEP, key

    def resolve(self, obj: Any, name: Any) -> tuple[bool, Any]:
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
        env = environment(self._strict)
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

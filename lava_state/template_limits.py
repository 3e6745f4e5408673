"""The bounds on what templates may build: a template is data from a job spec, and
rendering it must not exhaust the scheduler's memory or CPU.

Every operation that can grow a value is checked *before* it runs (so a
too-large value is never allocated) and its result after:

- binary operators: ``**`` (exponent at most :data:`MAX_EXPONENT`, result at
  most :data:`MAX_INT_DIGITS` digits), ``*`` (a repeated string or list at
  most :data:`MAX_RESULT_SIZE` long; a product of ints at most
  :data:`MAX_INT_DIGITS` digits), ``+`` and ``~`` on strings and lists, ``%``
  formatting (widths and precisions count towards the size);
- filters: ``format``, ``center``, ``indent``, ``wordwrap``, ``join``,
  ``replace``, ``batch``, ``slice``, ``tojson``, ``urlize``; every other
  filter's result is size-checked;
- calls: ``str`` methods that pad or repeat (``center``, ``ljust``, ``rjust``,
  ``zfill``, ``expandtabs``, ``replace``, ``join``, ``translate``, ``format``,
  ``format_map``), ``re.sub`` and ``subn`` (``utils.re``); every call's
  result is size-checked; ``lipsum`` is bounded;
- ``range``: at most :data:`MAX_RANGE` items (Jinja's sandbox's own limit);
- the output: one template renders at most :data:`MAX_OUTPUT` characters (its
  macros and ``{% set %}`` blocks included), one expansion (every string of a
  job spec or action) at most :data:`MAX_TOTAL_OUTPUT`;
- time: one expansion runs at most :data:`TIME_BUDGET_S` seconds of wall
  clock, checked at every operator, filter, call and loop iteration.

A limit crossed raises :class:`LimitExceeded` inside the render, which the
renderer turns into :class:`~lava_state.errors.TemplateLimitExceeded` naming
the limit. Pure Python: Jinja is imported by the caller.
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: The largest string, list, tuple, dict or set one operation may build.
MAX_RESULT_SIZE = 1_000_000
#: The largest exponent of ``**``.
MAX_EXPONENT = 100
#: The most digits an int may have (Python's own limit for printing one).
MAX_INT_DIGITS = 4300
#: The most items ``range`` may give (Jinja's sandbox's own limit, raised as ours).
MAX_RANGE = 100_000
#: The most characters one template may render.
MAX_OUTPUT = 1_000_000
#: The most characters one expansion (all the strings of a spec or action) may render.
MAX_TOTAL_OUTPUT = 10_000_000
#: The wall-clock budget of one expansion, in seconds.
TIME_BUDGET_S = 10.0

_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.33)  # log2(10) ~ 3.32
_MAX_JSON_INDENT = 100
_MAX_LIPSUM = 100
# A %-format conversion: its width and precision are the groups ('*' takes an argument).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")
# str methods whose first argument is the width of the result.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class LimitExceeded(Exception):
    """A template crossed a bound: ``limit`` names it (e.g. ``MAX_RESULT_SIZE``)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class Budget:
    """The time and output budget of one expansion, shared by all its templates."""

    def __init__(self, *, seconds: float = TIME_BUDGET_S, total: int = MAX_TOTAL_OUTPUT) -> None:
        self.seconds = seconds
        self.total = total
        self.rendered = 0
        self.deadline: float | None = None

    def start(self) -> None:
        """Start the clock (once: later calls keep the first deadline)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise LimitExceeded(
                "TIME_BUDGET_S",
                f"the expansion took over its time budget of {self.seconds:g} s",
            )

    def add_output(self, size: int) -> None:
        self.rendered += size
        if self.rendered > self.total:
            raise LimitExceeded(
                "MAX_TOTAL_OUTPUT",
                f"the expansion rendered over {self.total} characters in all",
            )


#: The budget of the expansion rendering in this thread/context.
CURRENT_BUDGET: ContextVar[Budget | None] = ContextVar("lava_state_budget", default=None)


def check_time() -> None:
    """Raise LimitExceeded when the current expansion is over its time budget."""
    budget = CURRENT_BUDGET.get()
    if budget is not None:
        budget.check_time()


def size_of(value: Any) -> int | None:
    """The size a bound applies to: length of a container or text, None for others."""
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return len(value)
    return None


def check_size(value: Any, what: str) -> Any:
    """``value``, if within :data:`MAX_RESULT_SIZE` (and an int within :data:`MAX_INT_DIGITS`)."""
    size = size_of(value)
    if size is not None and size > MAX_RESULT_SIZE:
        raise LimitExceeded(
            "MAX_RESULT_SIZE",
            f"{what} would have {size} items or characters, over the limit of {MAX_RESULT_SIZE}",
        )
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        _too_many_digits(what)
    return value


def _expect(size: int, what: str) -> None:
    if size > MAX_RESULT_SIZE:
        raise LimitExceeded(
            "MAX_RESULT_SIZE",
            f"{what} would have about {size} items or characters, over the limit of "
            f"{MAX_RESULT_SIZE}",
        )


def _too_many_digits(what: str) -> None:
    raise LimitExceeded(
        "MAX_INT_DIGITS", f"{what} would have over {MAX_INT_DIGITS} digits, over the limit"
    )


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left <operator> right`` when its result would cross a bound."""
    check_time()
    if operator == "**":
        if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise LimitExceeded(
                "MAX_EXPONENT", f"the exponent {right!r} is over the limit of {MAX_EXPONENT}"
            )
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and left.bit_length() * right > _MAX_INT_BITS
        ):
            _too_many_digits("the result of **")
    elif operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
                _expect(len(sequence) * max(times, 0), "the result of *")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1
        ):
            _too_many_digits("the result of *")
    elif operator == "+":
        left_size, right_size = size_of(left), size_of(right)
        if left_size is not None and right_size is not None:
            _expect(left_size + right_size, "the result of +")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


def check_percent_format(fmt: str, args: Any) -> None:
    """Refuse a ``%`` format whose widths and precisions would build too much text."""
    values = args if isinstance(args, tuple) else (args,)
    size = len(fmt) + sum(len(str(v)) for v in values if isinstance(v, str | int | float))
    for match in _PERCENT_SPEC.finditer(fmt):
        for group in match.groups():
            if group == "*":
                size += sum(abs(_whole(v)) for v in values)
            elif group:
                size += int(group)
    _expect(size, "the %-formatted string")


def check_brace_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a ``str.format`` whose widths and precisions would build too much text."""
    size = len(fmt)
    numbers = [abs(_whole(v)) for v in (*args, *kwargs.values())]
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec:
            size += sum(int(n) for n in _NUMBER.findall(spec))
            if "{" in spec:  # a nested field: its value is one of the arguments
                size += sum(numbers)
    _expect(size, "the formatted string")


def bounded_concat(items: Iterable[Any]) -> str:
    """``~``: the items' texts joined, if within :data:`MAX_RESULT_SIZE`."""
    check_time()
    texts = [str(item) for item in items]
    _expect(sum(map(len, texts)), "the result of ~")
    return "".join(texts)


def bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    """A for loop's items, the time budget checked at each."""
    budget = CURRENT_BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.check_time()
        yield item


def bounded_output(pieces: Iterable[str]) -> str:
    """The environment's ``concat``: a template's (or macro's, or block's) output pieces
    joined, at most :data:`MAX_OUTPUT` characters. Counted piece by piece: a loop
    printing a large value many times is stopped before the pieces are joined."""
    collected: list[str] = []
    append = collected.append
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_OUTPUT:
            raise LimitExceeded(
                "MAX_OUTPUT", f"the template renders over {MAX_OUTPUT} characters, the limit"
            )
        append(piece)
    return "".join(collected)


def checked_call(
    obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments to call ``obj`` with, bounded; refuse a call of a ``str`` method
    that would pad, repeat or format too much.

    Two calls get bounded arguments: ``str.join`` of an iterator (listed first,
    so that its size is known) and ``re.sub``/``subn`` (``utils.re``, compiled
    patterns), whose replacement is counted as it is made.
    """
    check_time()
    method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if method in (re.sub, re.subn) or (isinstance(owner, re.Pattern) and name in ("sub", "subn")):
        return _counted_sub(isinstance(owner, re.Pattern), args, kwargs)
    if not isinstance(owner, str | bytes):
        return args, kwargs
    if name == "join" and args and not isinstance(args[0], list | tuple | str | bytes):
        args = (_listed(args[0], "the items of .join()"), *args[1:])
    _check_str_method(owner, name, args, kwargs)
    return args, kwargs


def _listed(iterable: Any, what: str) -> list[Any]:
    items: list[Any] = []
    for item in iterable:
        items.append(item)
        if len(items) > MAX_RESULT_SIZE:
            _expect(len(items), what)
    return items


def _counted_sub(
    bound: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``re.sub``'s arguments with the replacement made by a function that counts
    what it adds (a template ``\\g<0>\\g<0>`` or an empty pattern can multiply the text)."""
    at = 0 if bound else 1  # Pattern.sub(repl, string) / re.sub(pattern, repl, string)
    if len(args) > at:
        repl = args[at]
    elif "repl" in kwargs:
        repl = kwargs["repl"]
    else:
        return args, kwargs  # re reports the missing argument
    added = 0

    def counted(match: re.Match[Any]) -> Any:
        nonlocal added
        piece = match.expand(repl) if isinstance(repl, str | bytes) else repl(match)
        added += len(piece)
        if added > MAX_RESULT_SIZE:
            _expect(added, "the replacements of re.sub")
        check_time()
        return piece

    if len(args) > at:
        return (*args[:at], counted, *args[at + 1 :]), kwargs
    return args, {**kwargs, "repl": counted}


def _check_str_method(
    owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    what = f"the result of .{name}()"
    first = args[0] if args else None
    if name in _WIDTH_METHODS:
        _expect(_whole(kwargs.get("width", first)), what)
    elif name == "expandtabs":
        tabsize = _whole(kwargs.get("tabsize", first if args else 8))
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        _expect(len(owner) + tabs * tabsize, what)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            count = owner.count(old) if old else len(owner) + 1  # type: ignore[arg-type]
            limit = _whole(args[2]) if len(args) > 2 else _whole(kwargs.get("count", -1))
            if limit >= 0:
                count = min(count, limit)
            _expect(len(owner) + count * max(len(new) - len(old), 0), what)
    elif name == "join" and args and isinstance(first, list | tuple):
        _expect(sum(size_of(x) or 0 for x in first) + len(owner) * len(first), what)
    elif name == "translate" and isinstance(first, Mapping):
        longest = max((size_of(v) or 1 for v in first.values()), default=1)
        _expect(len(owner) * longest, what)
    elif name == "format" and isinstance(owner, str):
        check_brace_format(owner, args, kwargs)
    elif name == "format_map" and isinstance(owner, str) and isinstance(first, Mapping):
        check_brace_format(owner, (), first)


# ------------------------------------------------------------------ filters and globals


def _pre_format(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        check_percent_format(value, tuple(args) if args else tuple(kwargs.values()))


def _pre_center(value: Any, width: Any = 80) -> None:
    _expect(_whole(width), "the result of center")


def _pre_indent(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> None:
    prefix = len(width) if isinstance(width, str) else _whole(width)
    text = str(s)
    _expect(len(text) + (text.count("\n") + 1) * prefix, "the result of indent")


def _pre_wordwrap(
    s: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    break_on_hyphens: Any = True,
) -> None:
    text = str(s)
    lines = len(text) // max(_whole(width), 1) + text.count("\n") + 1
    _expect(len(text) + lines * len(str(wrapstring or "\n")), "the result of wordwrap")


def _pre_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old_text, new_text = str(s), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if count is not None and _whole(count) >= 0:
        times = min(times, _whole(count))
    _expect(len(text) + times * max(len(new_text) - len(old_text), 0), "the result of replace")


def _pre_batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    if fill_with is not None:
        _expect(_whole(linecount), "a batch")


def _pre_slice(value: Any, slices: Any, fill_with: Any = None) -> None:
    _expect(_whole(slices), "the slices")


def _pre_tojson(value: Any, indent: Any = None) -> None:
    if _whole(indent) > _MAX_JSON_INDENT:
        raise LimitExceeded("MAX_JSON_INDENT", f"tojson's indent is limited to {_MAX_JSON_INDENT}")


def _pre_urlize(value: Any, *args: Any, **kwargs: Any) -> None:
    extra = sum(len(str(v)) for v in (*args, *kwargs.values()) if isinstance(v, str))
    _expect(len(str(value)) * (1 + extra), "the result of urlize")


# The filters that can grow a value: a check before they run, on their arguments
# after the one Jinja passes (context, environment) when the filter asks for it.
_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "format": _pre_format,
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "tojson": _pre_tojson,
    "urlize": _pre_urlize,
}


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` (a Jinja filter) with its growth checked before and its result after."""
    check = _FILTER_CHECKS.get(name)
    passes_arg = hasattr(func, "jinja_pass_arg")

    if name == "join":

        @functools.wraps(func)
        def join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
            check_time()
            items = list(value)
            if attribute is None:
                _expect(
                    sum(len(str(x)) for x in items) + len(str(d)) * len(items),
                    "the result of join",
                )
            return check_size(func(eval_ctx, items, d, attribute), "the result of join")

        return join

    @functools.wraps(func)  # keeps Jinja's jinja_pass_arg marker
    def bounded(*args: Any, **kwargs: Any) -> Any:
        check_time()
        if check is not None:
            check(*args[1 if passes_arg else 0 :], **kwargs)
        return check_size(func(*args, **kwargs), f"the result of the filter {name}")

    return bounded


def bounded_range(*args: int) -> range:
    """``range``, at most :data:`MAX_RANGE` items."""
    check_time()
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise LimitExceeded(
            "MAX_RANGE", f"range() would give {len(numbers)} numbers, over {MAX_RANGE}"
        )
    return numbers


def bounded_lipsum(original: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's ``lipsum`` with at most 100 paragraphs of at most 100 words."""

    @functools.wraps(original)
    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        if _whole(n) > _MAX_LIPSUM or _whole(max) > _MAX_LIPSUM or _whole(min) > _MAX_LIPSUM:
            raise LimitExceeded(
                "MAX_LIPSUM", f"lipsum is limited to {_MAX_LIPSUM} paragraphs and words"
            )
        return original(n, html, min, max)

    return lipsum

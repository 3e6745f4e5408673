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
the limit. Calls, filters and globals are bounded in
:mod:`lava_state.template_calls`. Pure Python: Jinja is imported by the caller.
"""

from __future__ import annotations

import re
import string
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

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
# A %-format conversion: its width and precision are the groups ('*' takes an argument).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")


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


def expect_size(size: int, what: str) -> None:
    """Refuse an operation whose result would have ``size`` items or characters."""
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


def whole(value: Any) -> int:
    """``value`` if an int (not a bool), else 0: for arguments that may be anything."""
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
                expect_size(len(sequence) * max(times, 0), "the result of *")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1
        ):
            _too_many_digits("the result of *")
    elif operator == "+":
        left_size, right_size = size_of(left), size_of(right)
        if left_size is not None and right_size is not None:
            expect_size(left_size + right_size, "the result of +")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


def check_percent_format(fmt: str, args: Any) -> None:
    """Refuse a ``%`` format whose widths and precisions would build too much text."""
    values = args if isinstance(args, tuple) else (args,)
    size = len(fmt) + sum(len(str(v)) for v in values if isinstance(v, str | int | float))
    for match in _PERCENT_SPEC.finditer(fmt):
        for group in match.groups():
            if group == "*":
                size += sum(abs(whole(v)) for v in values)
            elif group:
                size += int(group)
    expect_size(size, "the %-formatted string")


def check_brace_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a ``str.format`` whose widths and precisions would build too much text."""
    size = len(fmt)
    numbers = [abs(whole(v)) for v in (*args, *kwargs.values())]
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec:
            size += sum(int(n) for n in _NUMBER.findall(spec))
            if "{" in spec:  # a nested field: its value is one of the arguments
                size += sum(numbers)
    expect_size(size, "the formatted string")


def bounded_concat(items: Iterable[Any]) -> str:
    """``~``: the items' texts joined, if within :data:`MAX_RESULT_SIZE`."""
    check_time()
    texts = [str(item) for item in items]
    expect_size(sum(map(len, texts)), "the result of ~")
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

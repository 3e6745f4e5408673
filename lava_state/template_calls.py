"""Bounded calls, filters and globals of the template sandbox (:mod:`lava_state.template_limits`
has the limits): ``str`` methods that pad, repeat or format, ``re.sub``, the
growing filters, ``range`` and ``lipsum``. Pure Python: Jinja is imported by
the caller.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lava_state.template_limits import (
    MAX_RANGE,
    MAX_RESULT_SIZE,
    LimitExceeded,
    check_brace_format,
    check_percent_format,
    check_size,
    check_time,
    expect_size,
    size_of,
    whole,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_MAX_JSON_INDENT = 100
_MAX_LIPSUM = 100
# str methods whose first argument is the width of the result.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


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
            expect_size(len(items), what)
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
            expect_size(added, "the replacements of re.sub")
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
        expect_size(whole(kwargs.get("width", first)), what)
    elif name == "expandtabs":
        tabsize = whole(kwargs.get("tabsize", first if args else 8))
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        expect_size(len(owner) + tabs * tabsize, what)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            count = owner.count(old) if old else len(owner) + 1  # type: ignore[arg-type]
            limit = whole(args[2]) if len(args) > 2 else whole(kwargs.get("count", -1))
            if limit >= 0:
                count = min(count, limit)
            expect_size(len(owner) + count * max(len(new) - len(old), 0), what)
    elif name == "join" and args and isinstance(first, list | tuple):
        expect_size(sum(size_of(x) or 0 for x in first) + len(owner) * len(first), what)
    elif name == "translate" and isinstance(first, Mapping):
        longest = max((size_of(v) or 1 for v in first.values()), default=1)
        expect_size(len(owner) * longest, what)
    elif name == "format" and isinstance(owner, str):
        check_brace_format(owner, args, kwargs)
    elif name == "format_map" and isinstance(owner, str) and isinstance(first, Mapping):
        check_brace_format(owner, (), first)


# ------------------------------------------------------------------ filters and globals


def _pre_format(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        check_percent_format(value, tuple(args) if args else tuple(kwargs.values()))


def _pre_center(value: Any, width: Any = 80) -> None:
    expect_size(whole(width), "the result of center")


def _pre_indent(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> None:
    prefix = len(width) if isinstance(width, str) else whole(width)
    text = str(s)
    expect_size(len(text) + (text.count("\n") + 1) * prefix, "the result of indent")


def _pre_wordwrap(
    s: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    break_on_hyphens: Any = True,
) -> None:
    text = str(s)
    lines = len(text) // max(whole(width), 1) + text.count("\n") + 1
    expect_size(len(text) + lines * len(str(wrapstring or "\n")), "the result of wordwrap")


def _pre_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old_text, new_text = str(s), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if count is not None and whole(count) >= 0:
        times = min(times, whole(count))
    expect_size(len(text) + times * max(len(new_text) - len(old_text), 0), "the result of replace")


def _pre_batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    if fill_with is not None:
        expect_size(whole(linecount), "a batch")


def _pre_slice(value: Any, slices: Any, fill_with: Any = None) -> None:
    expect_size(whole(slices), "the slices")


def _pre_tojson(value: Any, indent: Any = None) -> None:
    if whole(indent) > _MAX_JSON_INDENT:
        raise LimitExceeded("MAX_JSON_INDENT", f"tojson's indent is limited to {_MAX_JSON_INDENT}")


def _pre_urlize(value: Any, *args: Any, **kwargs: Any) -> None:
    extra = sum(len(str(v)) for v in (*args, *kwargs.values()) if isinstance(v, str))
    expect_size(len(str(value)) * (1 + extra), "the result of urlize")


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
                expect_size(
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
        if whole(n) > _MAX_LIPSUM or whole(max) > _MAX_LIPSUM or whole(min) > _MAX_LIPSUM:
            raise LimitExceeded(
                "MAX_LIPSUM", f"lipsum is limited to {_MAX_LIPSUM} paragraphs and words"
            )
        return original(n, html, min, max)

    return lipsum

"""The commands that react: ``watch`` (print changes as they happen) and ``wait`` (until
an item exists, or a condition on it holds)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from lava_state.model import SECRET_MASK, StateType
from lava_state_cli.errors import UsageError
from lava_state_cli.output import to_json
from lava_state_cli.parser import client_options

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from types import FrameType

    from consumer_sdk.changes import StateChange
    from lava_state.model import StateItem


def cmd_watch(args: argparse.Namespace) -> int:
    """``watch [ID ...] [--prefix P] [--catch-up] [--json]``: one line per change until
    Ctrl-C or SIGTERM, then unsubscribe and delete the queue; exit 0.

    Raises:
        UsageError: neither ids nor a prefix.
        LavaStateError: subscribing, receiving or reading failed.
    """
    from consumer_sdk.client import StateClient

    if not args.state_ids and args.prefix is None:
        raise UsageError("give the ids to watch, --prefix, or both")
    client = StateClient(**client_options(args))
    with _interruptible():
        try:
            subscription = client.subscribe(
                args.state_ids or None, prefix=args.prefix, catch_up=args.catch_up
            )
        except KeyboardInterrupt:
            return 0  # the subscription removed what it had set up
        try:
            what = ", ".join([*map(repr, args.state_ids), *_prefix(args.prefix)])
            print(f"# watching {what} in realm {client.realm!r}; Ctrl-C stops", file=sys.stderr)
            sys.stderr.flush()
            for change in subscription:
                print(_as_json(change) if args.json else _as_line(change), flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            with _signals_ignored():  # a second Ctrl-C must not cut the cleanup short
                subscription.close()
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """``wait ID [--timeout S] [--until EXPR] [--mode M] [-q]``: exit 0 once the item
    exists (and EXPR holds), printing its value as ``get`` does unless ``-q``.

    Raises:
        UsageError: EXPR is not a Jinja expression; a negative timeout.
        WaitTimeout: not satisfied in time (exit 1).
        TemplateError: EXPR failed on the value (exit 1).
        LavaStateError: a read or the subscription failed.
    """
    from consumer_sdk.client import StateClient

    if args.timeout < 0:
        raise UsageError(f"--timeout {args.timeout:g}: give seconds >= 0")
    predicate = None if args.until is None else _until(args.until)
    client = StateClient(**client_options(args))
    with _interruptible():
        item = client.wait_for(args.state_id, predicate, timeout=args.timeout, mode=args.mode)
    if not args.quiet:
        print(item.value if isinstance(item.value, str) else to_json(item.value))
    return 0


def _until(expression: str) -> Callable[[StateItem], bool]:
    """The predicate of ``--until``: the Jinja expression, ``state`` bound to the value,
    rendered in the sandbox (strict: an undefined name is an error, not false).

    Raises:
        UsageError: the expression does not parse.
    """
    from lava_state.errors import TemplateError
    from lava_state.templating import Renderer

    template = "{% if " + expression + " %}true{% endif %}"
    try:
        Renderer({"state": None}, strict=False).render_string(template, root="--until")
    except TemplateError as exc:
        if "syntax error" in str(exc):
            raise UsageError(f"--until {expression!r} is not a Jinja expression: {exc}") from None

    def holds(item: StateItem) -> bool:
        rendered = Renderer({"state": item.value}).render_string(template, root="--until")
        return rendered == "true"

    return holds


def _as_line(change: StateChange) -> str:
    """``TIMESTAMP EVENT ID vVERSION [by PUBLISHER] [VALUE] [(ORIGIN)]``; secure values masked."""
    parts = [change.timestamp or "-", change.kind.value, change.state_id, f"v{change.version}"]
    if change.publisher:
        parts.append(f"by {change.publisher}")
    shown = _shown_value(change)
    if shown is not _NOTHING:
        parts.append(shown if isinstance(shown, str) else to_json(shown))
    elif change.value_omitted:
        parts.append("(value omitted: read it with get)")
    if change.origin != "notification":
        parts.append(f"({change.origin.value} read)")
    return " ".join(parts)


def _as_json(change: StateChange) -> str:
    """The change message (``lava-state.change/1``) plus ``origin``; secure values masked."""
    message: dict[str, Any] = dict(change.to_message())
    shown = _shown_value(change)
    if shown is not _NOTHING:
        message["value"] = shown
    message["origin"] = change.origin.value
    return to_json(message)


_NOTHING = object()


def _shown_value(change: StateChange) -> Any:
    if change.type is StateType.SECURE and change.kind.value == "put":
        return SECRET_MASK  # never notified, never read decrypted here: masked all the same
    return change.value if change.has_value else _NOTHING


def _prefix(prefix: str | None) -> list[str]:
    return [] if prefix is None else [f"ids starting with {prefix!r}"]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt meanwhile, as Ctrl-C does: the subscription's
    queue is removed on either. (Signal handlers belong to the main thread: elsewhere,
    nothing changes.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Which change is newer than what a subscription already yielded, per state_id.

A subscription learns an item's states from two sources that order
differently:

- **notifications** carry the stream ``sequence``: between notifications it
  is exact (it increases along the item's history, across deletes);
- **reads** (catch-up, settle, resync: consistent reads) carry no sequence,
  only the item's ``version`` (which restarts at 1 after a delete or expiry)
  and ``timestamp`` (whole seconds, the writer's clock).

:class:`ChangeOrder` keeps, per id, a cursor: the last state yielded and its
stream position, exact when it came from a notification, a lower bound when
it came from a read. The rules:

1. A notification after an exact cursor is newer iff its sequence is higher.
2. A read is issued after every notification decided so far was received,
   so it is never older than the cursor: it is newer iff its state differs
   (existence, version, timestamp). Its position is only bounded below by
   the highest sequence received for the id before it.
3. A notification after a read's cursor is older if its sequence is at or
   below that bound. If it carries the read's own state, it is that write:
   dropped, and its sequence makes the cursor exact again. Otherwise it is
   placed by the writers' timestamps when they are more than
   :data:`CLOCK_TOLERANCE_S` apart, else by version within the read's
   generation: a put of a higher version, or a delete/expiry at or above the
   read's version, is newer; after a read that found nothing, only a put at
   version 0 or 1 (a new generation) is. Anything else is dropped.

A *baseline* read (the silent first read of a subscription without catch-up)
is not a yielded state: it gates later reads only (a read yields what differs
from it), never notifications, so that the changes already queued for a
durable subscription, or in flight when subscribing, are still yielded.

Rule 3 is exact unless the item was deleted and re-created within about a
second while notifications of the old generation were still in flight across
the read: a stale event may then be yielded, and the next read yields the
current state again. Dropping a change that was in fact newer only delays
it to the next read. Either way the subscriber converges.

Pure: no AWS call, no clock of its own (``now`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from lava_state.events import ChangeKind

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lava_state.events import ChangeEvent
    from lava_state.model import StateItem

#: Timestamps (whole seconds, written by each writer's clock) order two states
#: only when they are further apart than this; closer ones are ordered by version.
CLOCK_TOLERANCE_S = 1.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state of an item as a subscription knows it.

    ``exists`` is False after a delete or expiry; ``version`` and
    ``timestamp`` (epoch seconds) are then the last ones known before it.
    ``expires`` is the item's TTL (epoch seconds), known from reads only.
    """

    exists: bool
    version: int = 0
    timestamp: float | None = None
    expires: int | None = None

    def same_as(self, other: Snapshot) -> bool:
        """Whether both describe the same state (an unknown timestamp matches any)."""
        if self.exists != other.exists:
            return False
        if not self.exists:
            return True
        return self.version == other.version and (
            self.timestamp is None or other.timestamp is None or self.timestamp == other.timestamp
        )


@dataclass(slots=True)
class _Cursor:
    state: Snapshot
    sequence: int | None  # exact position, or a lower bound when not exact
    exact: bool


class ChangeOrder:
    """Per state_id: the last state yielded, and whether a new change is newer than it.

    Not thread-safe: one subscription drives it from one thread.
    """

    def __init__(self) -> None:
        self._cursors: dict[str, _Cursor] = {}
        self._baselines: dict[str, _Cursor] = {}  # silent reads, for ids without a cursor
        self._received: dict[str, int] = {}  # highest sequence received, yielded or not

    def seed(self, state_id: str, version: int) -> None:
        """Start from ``version`` of ``state_id`` as already handled (a durable
        subscription's ``since``): only what is newer is yielded."""
        self._cursors[state_id] = _Cursor(Snapshot(True, version), None, exact=False)

    def last(self, state_id: str) -> Snapshot | None:
        """The last state yielded (or seeded, or read as a baseline); None when unknown."""
        cursor = self._cursors.get(state_id) or self._baselines.get(state_id)
        return None if cursor is None else cursor.state

    def existing(self) -> Iterator[str]:
        """The ids whose last known state exists (a read must tell if they are gone)."""
        known = {**self._baselines, **self._cursors}
        return (sid for sid, cursor in known.items() if cursor.state.exists)

    def notification(self, event: ChangeEvent) -> bool:
        """Whether ``event`` is newer than what was yielded for its id; if so it becomes
        the cursor (the caller yields it).

        Raises:
            ValueError: the event's sequence is not a decimal number.
        """
        sequence = int(event.sequence)
        sid = event.state_id
        self._received[sid] = max(self._received.get(sid, sequence), sequence)
        state = Snapshot(
            exists=event.kind is ChangeKind.PUT,
            version=event.version,
            timestamp=_epoch(event.timestamp),
        )
        cursor = self._cursors.get(sid)
        if cursor is None:
            newer = True
        elif cursor.exact:
            newer = cursor.sequence is None or sequence > cursor.sequence
        elif cursor.sequence is not None and sequence <= cursor.sequence:
            newer = False
        elif state.same_as(cursor.state):
            # The read's own write: now its position is known.
            cursor.sequence, cursor.exact = sequence, True
            newer = False
        else:
            newer = _after_read(state, cursor.state)
        if newer:
            self._cursors[sid] = _Cursor(state, sequence, exact=True)
            self._baselines.pop(sid, None)
        return newer

    def read(
        self, state_id: str, item: StateItem | None, *, now: float, baseline: bool = False
    ) -> ChangeKind | None:
        """What a consistent read of ``state_id`` (``item``; None: absent or expired)
        shows that was not yielded: PUT (yield ``item``), DELETE or EXPIRE (the last
        known state is gone; EXPIRE when its TTL had passed at ``now``), or None.

        The read becomes the cursor; with ``baseline``, for an id without one,
        it becomes the baseline instead (nothing to yield). Call it only after
        every notification received before the read was issued has been
        passed to :meth:`notification`.
        """
        bound = self._received.get(state_id)
        if baseline and state_id not in self._cursors:
            self._baselines.pop(state_id, None)
            self._baselines[state_id] = _Cursor(_snapshot(item), bound, exact=False)
            return None
        cursor = self._cursors.get(state_id) or self._baselines.pop(state_id, None)
        if item is None:
            state = Snapshot(False)
            if cursor is not None:
                last = cursor.state
                state = Snapshot(False, last.version, last.timestamp)
            if cursor is not None and not cursor.state.exists:
                _raise_bound(cursor, bound)
                self._cursors[state_id] = cursor
                return None
            self._cursors[state_id] = _Cursor(state, bound, exact=False)
            if cursor is None:
                return None
            expires = cursor.state.expires
            return (
                ChangeKind.EXPIRE if expires is not None and expires <= now else ChangeKind.DELETE
            )
        state = _snapshot(item)
        if cursor is not None and state.same_as(cursor.state):
            if cursor.state.expires != state.expires or cursor.state.timestamp is None:
                cursor.state = replace(
                    cursor.state, expires=state.expires, timestamp=state.timestamp
                )
            _raise_bound(cursor, bound)
            self._cursors[state_id] = cursor
            return None
        self._cursors[state_id] = _Cursor(state, bound, exact=False)
        return ChangeKind.PUT


def _snapshot(item: StateItem | None) -> Snapshot:
    if item is None:
        return Snapshot(False)
    stamp = None if item.timestamp is None else item.timestamp.timestamp()
    return Snapshot(True, item.version, stamp, item.ttl)


def _raise_bound(cursor: _Cursor, bound: int | None) -> None:
    """A read that found the cursor's state again: every notification received before it
    is at or before that state."""
    if not cursor.exact and bound is not None:
        cursor.sequence = bound if cursor.sequence is None else max(cursor.sequence, bound)


def _after_read(new: Snapshot, read: Snapshot) -> bool:
    """Whether a notified state (not the read's own) comes after a read's state (rule 3)."""
    apart = _clock_order(new.timestamp, read.timestamp)
    if not read.exists:
        # Only a new generation follows a read that found nothing; an older
        # write (before the timestamp last known) certainly does not.
        return new.exists and apart >= 0 and new.version <= 1
    if apart:
        return apart > 0
    return new.version > read.version if new.exists else new.version >= read.version


def _clock_order(a: float | None, b: float | None) -> int:
    """1 if ``a`` is clearly later than ``b``, -1 if clearly earlier, else 0."""
    if a is None or b is None or abs(a - b) <= CLOCK_TOLERANCE_S:
        return 0
    return 1 if a > b else -1


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None

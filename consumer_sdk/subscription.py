"""Subscriptions: an informer over a realm's changes (list + watch + resync).

A :class:`Subscription` subscribes an SQS queue to the change topics of its
ids (and, for a prefix, to the realm-wide topic with a filter policy), reads
the ids once (the catch-up, or a silent baseline), then yields the changes
notified through the queue, dropping what is not newer than what it already
yielded for an id (:mod:`consumer_sdk.ordering`). It reads again once the
processor's missing-topic window has passed (the settle read) and every
``resync`` seconds, yielding only what is newer: a lost notification delays
a change, it never loses the final state. Messages are deleted from the
queue only after the caller consumed their event (at least once).

Use :meth:`consumer_sdk.StateClient.subscribe` to open one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from consumer_sdk._receive import MAX_WAIT_SECONDS, ChangeQueue
from consumer_sdk.changes import (
    Origin,
    StateChange,
    checked_ids,
    checked_since,
    durable_queue_name,
    notified_change,
    read_change,
    sequence_key,
)
from lava_state.constants import DEFAULT_MISSING_TOPIC_TTL_S, DEFAULT_RESYNC_S
from lava_state.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from consumer_sdk._receive import Delivery
    from consumer_sdk.client import StateClient
    from lava_state.events import ChangeEvent

LOG = logging.getLogger(__name__)

#: The settle read comes this long after the missing-topic window: clocks and
#: the pipeline's own latency.
SETTLE_MARGIN_S = 1.0


@dataclass(eq=False)
class _Held:
    """A change not yet consumed, and the messages that carried it (by message id)."""

    change: StateChange
    deliveries: dict[str, Delivery] = field(default_factory=dict)


class Subscription:
    """Changes of some state ids (or of ids under a prefix) of one realm, as they happen.

    Iterate it (``for change in sub``: blocks), or take changes with
    :meth:`events` (until a deadline) or :meth:`poll` (never waits for SQS).
    Each yields :class:`StateChange` objects, per id in the item's history order
    and never one that is not newer than one already yielded.

    With ``auto_ack`` (default), a change is consumed when the caller asks for
    the next one: only then are its messages deleted from the queue. Otherwise
    :meth:`ack` consumes. A change not consumed is delivered again by SQS (to
    the next process, for a durable subscription).

    Not thread-safe. Close it (or leave its ``with`` block): it unsubscribes
    and deletes the queue it created, unless durable (``name``).
    """

    def __init__(
        self,
        client: StateClient,
        state_ids: Iterable[str] | None = None,
        *,
        prefix: str | None = None,
        catch_up: bool = False,
        name: str | None = None,
        queue_url: str | None = None,
        since: Mapping[str, int] | None = None,
        resync: float | None = DEFAULT_RESYNC_S,
        include_values: bool = True,
        missing_topic_ttl: float = DEFAULT_MISSING_TOPIC_TTL_S,
        auto_ack: bool = True,
        visibility_timeout: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """See :meth:`consumer_sdk.StateClient.subscribe`, which opens one.

        Raises:
            InvalidInput: no ids and no prefix, a bad id, name, ``since`` or interval.
            ConfigurationError: the realm cannot name SNS topics.
        """
        ids = checked_ids(state_ids)
        if prefix is not None and not isinstance(prefix, str):
            raise InvalidInput(f"prefix must be a string, not {type(prefix).__name__}")
        if not ids and prefix is None:
            raise InvalidInput("subscribe to state ids, a prefix, or both")
        if resync is not None and not (math.isfinite(resync) and resync > 0):
            raise InvalidInput(f"resync must be a number of seconds > 0 or None, not {resync!r}")
        if not (math.isfinite(missing_topic_ttl) and missing_topic_ttl >= 0):
            raise InvalidInput(f"missing_topic_ttl must be >= 0 seconds, not {missing_topic_ttl!r}")
        self.client = client
        self.realm = client.realm
        self.state_ids = tuple(ids)
        self.prefix = prefix
        self.name = name
        self.catch_up = catch_up
        self.resync = resync
        self.include_values = include_values
        self.missing_topic_ttl = missing_topic_ttl
        self.auto_ack = auto_ack
        self._clock = clock
        self._wanted_ids = frozenset(ids)
        self._since = checked_since(since)
        from consumer_sdk.ordering import ChangeOrder

        self._order = ChangeOrder()
        for sid, version in self._since.items():
            self._order.seed(sid, version)
        aws = client.store.aws
        self._queue = ChangeQueue(
            self.realm,
            queue_url=queue_url,
            queue_name=None if name is None else durable_queue_name(self.realm, name),
            durable=name is not None,
            visibility_timeout=visibility_timeout,
            sns=aws.sns,
            sqs=aws.sqs,
        )
        self._buffer: deque[_Held] = deque()
        self._current: _Held | None = None  # yielded, not consumed yet
        self._unacked: dict[int, _Held] = {}  # manual mode: yielded, by id() of the change
        self._in_hand: dict[str, _Held] = {}  # message id -> its change not consumed yet
        self._done: list[Delivery] = []  # handled messages, deleted before the next receive
        self._settle_at: float | None = None
        self._resync_at: float | None = None
        self._started = False
        self.closed = False

    # -- opening and closing

    def start(self) -> Subscription:
        """Subscribe the queue to the topics, then read the ids (the catch-up, or a silent
        baseline that tells the later reads what is new). Done once; on failure,
        what was set up is removed and the error raised.

        Raises:
            LavaStateError: SNS, SQS or DynamoDB refused (e.g. ``AccessDenied``).
        """
        if self._started:
            return self
        self._started = True
        try:
            topics = [self._queue.state_topic(sid) for sid in self.state_ids]
            realm_topic = self._queue.realm_topic() if self.prefix is not None else None
            self._queue.allow(*topics, *([realm_topic] if realm_topic else []))
            for topic in topics:
                self._queue.subscribe(topic)
            if realm_topic is not None:
                policy = {"state_id": [{"prefix": self.prefix}]} if self.prefix else None
                self._queue.subscribe(realm_topic, filter_policy=policy)
            now = self._clock()
            if self.missing_topic_ttl > 0:
                self._settle_at = now + self.missing_topic_ttl + SETTLE_MARGIN_S
            if self.resync is not None:
                self._resync_at = now + self.resync
            self._read(Origin.CATCH_UP)
        except BaseException:
            self.closed = True
            with contextlib.suppress(Exception):
                self._queue.close()
            raise
        return self

    def __enter__(self) -> Subscription:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def queue_url(self) -> str:
        """The URL of the subscription's queue."""
        return self._queue.queue_url

    @property
    def durable(self) -> bool:
        """True for a named subscription: closing keeps its queue and topic subscriptions."""
        return self.name is not None

    def close(self, *, remove: bool = False) -> None:
        """Delete the messages of consumed changes, give back the others, then unsubscribe
        and delete the queue this subscription created. A durable one keeps both,
        unless ``remove`` (its end: the next subscription of that name starts
        afresh); a queue given by URL is kept and unsubscribed. Closing again
        does nothing.

        Raises:
            LavaStateError: a cleanup call failed (the others were still tried).
        """
        if self.closed:
            return
        self.closed = True
        keep = self.durable and not remove
        try:
            if self._started:
                self._flush()
                unconsumed = [
                    delivery
                    for held in (self._current, *self._buffer, *self._unacked.values())
                    if held is not None
                    for delivery in held.deliveries.values()
                ]
                if unconsumed and (keep or not self._queue.created):
                    self._queue.release(*unconsumed)
        finally:
            self._queue.close(remove=not keep)

    # -- taking changes

    def __iter__(self) -> Iterator[StateChange]:
        return self

    def __next__(self) -> StateChange:
        """The next change, waiting as long as it takes.

        Raises:
            StopIteration: the subscription is closed.
            LavaStateError: a receive or read failed.
        """
        if self.closed:
            raise StopIteration
        change = self._next(None)  # without a deadline: None only if closed meanwhile
        if change is None:
            raise StopIteration
        return change

    def events(self, timeout: float | None = None) -> Iterator[StateChange]:
        """The changes arriving within ``timeout`` seconds from now (None: forever).

        The deadline is honoured to within a second (SQS waits whole seconds).

        Raises:
            LavaStateError: a receive or read failed.
        """
        deadline = None if timeout is None else self._clock() + timeout
        while not self.closed:
            change = self._next(deadline)
            if change is None:
                return
            yield change

    def poll(self) -> StateChange | None:
        """The next change available now, or None; never waits for SQS (a due settle or
        resync read is made).

        Raises:
            LavaStateError: a receive or read failed.
        """
        return None if self.closed else self._next(self._clock())

    def ack(self, change: StateChange | None = None) -> None:
        """Consume ``change`` (or every change yielded so far): its messages are deleted
        before the next receive (or when closing). Needed in manual mode; in auto mode,
        it consumes the last change now (e.g. before leaving a loop with ``break``).

        Raises:
            ValueError: ``change`` was not yielded by this subscription, or already consumed.
        """
        if change is None:
            held = [*self._unacked.values(), *([self._current] if self._current else [])]
            self._unacked.clear()
            self._current = None
        elif self._current is not None and self._current.change is change:
            held, self._current = [self._current], None
        elif id(change) in self._unacked:
            held = [self._unacked.pop(id(change))]
        else:
            raise ValueError(f"{change!r} is not a change of this subscription awaiting ack")
        for entry in held:
            self._consume(entry)

    def _next(self, deadline: float | None) -> StateChange | None:
        self._advance()
        while True:
            if self._buffer:
                return self._take()
            origin = self._due_read()
            if origin is not None:
                self._read(origin)
                continue
            now = self._clock()
            waits = [
                at - now for at in (deadline, self._settle_at, self._resync_at) if at is not None
            ]
            wait = min([*waits, float(MAX_WAIT_SECONDS)])
            self._receive(0 if wait <= 0 else min(MAX_WAIT_SECONDS, math.ceil(wait)))
            if not self._buffer and deadline is not None and self._clock() >= deadline:
                return None

    def _take(self) -> StateChange:
        held = self._buffer.popleft()
        self._current = held
        return held.change

    def _advance(self) -> None:
        """The caller asked for another change: the one yielded before is consumed (auto
        mode) or waits for :meth:`ack` (manual mode)."""
        held, self._current = self._current, None
        if held is None:
            return
        if self.auto_ack:
            self._consume(held)
        else:
            self._unacked[id(held.change)] = held

    def _consume(self, held: _Held) -> None:
        for message_id, delivery in held.deliveries.items():
            self._in_hand.pop(message_id, None)
            self._done.append(delivery)

    def _flush(self) -> None:
        if self._done:
            done, self._done = self._done, []
            self._queue.ack(*done)

    # -- notifications

    def _receive(self, wait_seconds: int) -> None:
        self._flush()
        fresh: dict[str, Delivery] = {}
        for delivery in self._queue.receive(wait_seconds=wait_seconds):
            held = self._in_hand.get(delivery.message_id)
            if held is not None:
                # SQS delivered it again (its visibility timeout passed) while its change
                # is still unconsumed: keep the newer receipt handle, yield nothing.
                held.deliveries[delivery.message_id] = delivery
            else:
                fresh[delivery.message_id] = delivery
        notified: list[tuple[ChangeEvent, Delivery]] = []
        for delivery in fresh.values():
            try:
                event = delivery.event()
            except InvalidInput as exc:
                LOG.warning("message %s is not a change notification: %s", delivery.message_id, exc)
                self._done.append(delivery)
                continue
            if self._wants(event):
                notified.append((event, delivery))
            else:
                self._done.append(delivery)
        # A batch may hold an id's changes out of order: apply them in stream order.
        notified.sort(key=lambda pair: sequence_key(pair[0]))
        for event, delivery in notified:
            try:
                newer = self._order.notification(event)
            except ValueError:
                LOG.warning("message %s has no decimal sequence: dropped", delivery.message_id)
                newer = False
            if not newer:
                self._done.append(delivery)
                continue
            held = _Held(
                notified_change(event, include_values=self.include_values, reader=self.client.get),
                {delivery.message_id: delivery},
            )
            self._in_hand[delivery.message_id] = held
            self._buffer.append(held)

    def _wants(self, event: ChangeEvent) -> bool:
        # Topic names are ambiguous across realms named like `dev` and `dev-x`.
        if event.realm != self.realm:
            return False
        return event.state_id in self._wanted_ids or (
            self.prefix is not None and event.state_id.startswith(self.prefix)
        )

    # -- reads

    def _due_read(self) -> Origin | None:
        now = self._clock()
        origin = None
        if self._settle_at is not None and now >= self._settle_at:
            origin, self._settle_at = Origin.SETTLE, None
        if self._resync_at is not None and now >= self._resync_at:
            origin = origin or Origin.RESYNC
        if origin is not None and self.resync is not None:
            self._resync_at = now + self.resync  # a settle read counts as one too
        return origin

    def _read(self, origin: Origin) -> None:
        """One batched consistent read of every id the subscription knows of; what is newer
        than what was yielded is buffered (at the catch-up: only with ``catch_up`` or for
        the ids of ``since``; otherwise it is the baseline)."""
        ids = list(self.state_ids)
        if self.prefix is not None:
            from consumer_sdk.listing import list_states

            ids.extend(summary.state_id for summary in list_states(self.client, self.prefix))
            ids.extend(sid for sid in self._order.existing() if sid.startswith(self.prefix))
            ids = list(dict.fromkeys(ids))
        if not ids:
            return
        items = self.client.get_many(ids, decrypt=False, partial=True)
        now = time.time()
        for sid in ids:
            if sid in items.errors:
                LOG.warning("%s read of %r failed: %s", origin.value, sid, items.errors[sid])
                continue
            item = items.get(sid)
            last = self._order.last(sid)
            # Without catch-up, the first read is a baseline: it yields nothing, and
            # the changes already queued or in flight are still yielded.
            baseline = origin is Origin.CATCH_UP and not self.catch_up and sid not in self._since
            kind = self._order.read(sid, item, now=now, baseline=baseline)
            if kind is not None:
                self._buffer.append(
                    _Held(
                        read_change(
                            self.realm,
                            sid,
                            kind,
                            item,
                            last,
                            origin,
                            include_values=self.include_values,
                            reader=self.client.get,
                        )
                    )
                )

    def __repr__(self) -> str:
        what = [*map(repr, self.state_ids), *([f"prefix={self.prefix!r}"] if self.prefix else [])]
        return f"Subscription(realm={self.realm!r}, {', '.join(what)})"

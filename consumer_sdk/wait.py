"""Waiting for a state item: :meth:`consumer_sdk.StateClient.wait_for`.

Three ways to wait, all checking the current value first (so a change made
before the call is never missed):

- ``react``: subscribe to the id (catch-up read included) and read the item
  when a change is notified; a few reads whatever the wait's length;
- ``poll``: consistent reads with capped, jittered exponential backoff
  (:data:`POLL_BASE_S` doubling up to :data:`POLL_CAP_S`);
- ``auto``: react, and poll instead when subscribing fails (no SNS or SQS
  permissions, a realm that cannot name topics, no SNS endpoint...).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

from lava_state.errors import (
    AwsError,
    ConfigurationError,
    InvalidInput,
    TableNotFound,
    WaitTimeout,
)
from lava_state.events import ChangeKind
from lava_state.model import StateType
from lava_state.retry import backoff

if TYPE_CHECKING:
    from collections.abc import Callable

    from consumer_sdk.client import StateClient
    from consumer_sdk.subscription import Subscription
    from lava_state.model import StateItem

LOG = logging.getLogger(__name__)

WaitMode = Literal["auto", "react", "poll"]
WAIT_MODES: tuple[WaitMode, ...] = ("auto", "react", "poll")
#: Polling: the first wait, doubled after each read (jittered), at most the cap.
POLL_BASE_S = 0.05
POLL_CAP_S = 2.0


def wait_for(
    client: StateClient,
    state_id: str,
    predicate: Callable[[StateItem], bool] | None = None,
    *,
    timeout: float | None,
    mode: WaitMode = "auto",
) -> StateItem:
    """See :meth:`consumer_sdk.StateClient.wait_for`."""
    if mode not in WAIT_MODES:
        raise InvalidInput(f"mode must be one of {', '.join(WAIT_MODES)}, not {mode!r}")
    if timeout is not None and not timeout >= 0:
        raise InvalidInput(f"timeout must be a number of seconds >= 0 or None, not {timeout!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting = _Waiting(client, state_id, predicate, timeout, deadline)
    item = waiting.satisfied(client.get(state_id))
    if item is not None:
        return item
    if mode == "poll":
        return waiting.poll()
    try:
        subscription = client.subscribe([state_id], catch_up=True)
    except (AwsError, ConfigurationError) as exc:
        if mode == "react" or isinstance(exc, TableNotFound):
            raise
        LOG.info("cannot subscribe to %r (%s): polling instead", state_id, exc)
        return waiting.poll()
    with subscription:
        return waiting.react(subscription)


class _Waiting:
    def __init__(
        self,
        client: StateClient,
        state_id: str,
        predicate: Callable[[StateItem], bool] | None,
        timeout: float | None,
        deadline: float | None,
    ) -> None:
        self.client = client
        self.state_id = state_id
        self.predicate = predicate
        self.timeout = timeout
        self.deadline = deadline
        self.last: StateItem | None = None

    def satisfied(self, item: StateItem | None) -> StateItem | None:
        """``item`` if it exists and satisfies the predicate, else None."""
        if item is None:
            return None
        self.last = item
        return item if self.predicate is None or self.predicate(item) else None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def timed_out(self) -> WaitTimeout:
        return WaitTimeout(
            self.state_id, self.client.realm, timeout=self.timeout or 0.0, last=self.last
        )

    def poll(self) -> StateItem:
        retry = 0
        while True:
            remaining = self.remaining()
            if remaining is not None and remaining <= 0:
                raise self.timed_out()
            retry += 1
            pause = backoff(retry, base=POLL_BASE_S, cap=POLL_CAP_S)
            time.sleep(pause if remaining is None else min(pause, remaining))
            # After the last pause, one more read at the deadline.
            item = self.satisfied(self.client.get(self.state_id))
            if item is not None:
                return item

    def react(self, subscription: Subscription) -> StateItem:
        for change in subscription.events(self.remaining()):
            if change.kind is not ChangeKind.PUT:
                continue
            if change.item is None:
                item = change.fetch()  # notified: read it (decrypted, and all of it)
            elif change.item.type is StateType.SECURE:
                item = self.client.store.decrypt(change.item)  # the read left it encrypted
            else:
                item = change.item
            found = self.satisfied(item)
            if found is not None:
                subscription.ack()
                return found
        raise self.timed_out()

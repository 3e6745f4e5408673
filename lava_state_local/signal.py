"""The local server's write signal: stream runners wait on it instead of polling.

Every GetRecords call leaks an iterator in moto, so an idle stream must not
be polled at all: the local server bumps a generation counter on every
DynamoDB write it handles, and the runners wait for it to change.
"""

from __future__ import annotations

import threading


class WriteSignal:
    """A generation counter bumped on every DynamoDB write the local server handles."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        """The number of writes signalled so far."""
        with self._condition:
            return self._generation

    def notify(self) -> None:
        """A write happened."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(
        self, since: int, timeout: float | None = None, *, cancel: threading.Event | None = None
    ) -> bool:
        """Wait until a write after generation ``since`` (or ``cancel`` is set).

        Returns False on timeout. ``timeout`` None waits as long as it takes.
        """

        def done() -> bool:
            return self._generation != since or (cancel is not None and cancel.is_set())

        with self._condition:
            return self._condition.wait_for(done, timeout)

    def wake(self) -> None:
        """Wake the waiters to look at their ``cancel`` events; no write is signalled.

        Waiters whose event is not set keep waiting: one runner's stop does not
        make the others poll.
        """
        with self._condition:
            self._condition.notify_all()

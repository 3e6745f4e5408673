"""The live changes of a realm, for every page at once: one realm-wide subscription,
read by one thread, fanned out to each page's event stream.

Each change is enriched once (a consistent read of the item's metadata, never
decrypted) so that a page can update its row without a read of its own, and
kept in a short history per id for the detail panel.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from lava_state.errors import LavaStateError
from lava_state.events import ChangeKind
from lava_state_ui.views import Change, change_of, item_row

if TYPE_CHECKING:
    from types import TracebackType

    from consumer_sdk.changes import StateChange
    from consumer_sdk.client import StateClient
    from consumer_sdk.subscription import Subscription
    from lava_state_ui.views import Row

LOG = logging.getLogger(__name__)

#: Changes kept per id for the detail panel, and ids kept (least recently changed go first).
HISTORY = 20
HISTORY_IDS = 10_000
#: Changes a page may fall behind by before its stream is ended (it reconnects and reloads).
BACKLOG = 1_000
#: How long the reading thread waits for SQS at a time: the bound on how long closing takes.
POLL_S = 1.0
#: After a failed receive, before the next one.
RETRY_S = 2.0
#: Between the subscription's full reads (a Scan of the realm and a read of every item):
#: rarer than a subscription's default, as a realm may be large. A lost notification
#: shows within this time, or when the page reloads.
RESYNC_S = 600.0


class Listener:
    """One page's share of the feed: what arrives while it listens, in order.

    :meth:`get` returns a change, None after ``timeout`` seconds without one,
    or raises :class:`EOFError` once the feed closed or the page fell too far
    behind (it should reconnect and reload).
    """

    def __init__(self, feed: ChangeFeed, backlog: int) -> None:
        self._feed = feed
        self._queue: queue.Queue[Change | None] = queue.Queue(maxsize=backlog)
        self.ended = False

    def get(self, timeout: float) -> Change | None:
        """The next change, or None after ``timeout`` seconds.

        Raises:
            EOFError: the feed closed, or this listener fell behind and was dropped.
        """
        if self.ended:
            raise EOFError("the change feed ended")
        try:
            change = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if change is None:
            self.ended = True
            raise EOFError("the change feed ended")
        return change

    def offer(self, change: Change | None) -> bool:
        """Queue ``change`` (None: the end); False when the queue is full."""
        try:
            self._queue.put_nowait(change)
        except queue.Full:
            return False
        return True

    def end(self) -> None:
        """End this listener's stream (room is made for the end mark)."""
        while not self.offer(None):
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()

    def __enter__(self) -> Listener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._feed.remove(self)


class ChangeFeed:
    """A realm's changes as they happen, shared by every page of the view.

    :meth:`start` subscribes (in its own thread: a large realm's first read
    does not hold up the server) to every id of the client's realm
    (``subscribe(prefix="")``, the realm-wide topic), values left out.
    :meth:`close` stops the thread, which closes the subscription: its queue
    and topic subscription are deleted, nothing is left behind.
    """

    def __init__(
        self,
        client: StateClient,
        *,
        history: int = HISTORY,
        history_ids: int = HISTORY_IDS,
        backlog: int = BACKLOG,
        poll: float = POLL_S,
    ) -> None:
        self.client = client
        self._history = history
        self._history_ids = history_ids
        self._backlog = backlog
        self._poll = poll
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()
        self._recent: OrderedDict[str, deque[Change]] = OrderedDict()
        self._stop = threading.Event()
        self._live = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        #: The queue of the subscription while it is open (None before and after).
        self.queue_url: str | None = None

    @property
    def live(self) -> bool:
        """True while the subscription is open and delivering."""
        return self._live.is_set()

    def wait_live(self, timeout: float) -> bool:
        """Whether the subscription opened within ``timeout`` seconds."""
        return self._live.wait(timeout)

    def start(self) -> ChangeFeed:
        """Start the reading thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="lava-state-ui-feed", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Stop reading, close the subscription (deleting its queue), end every stream.

        Waits up to ``timeout`` seconds for the thread (a receive in progress
        ends within :data:`POLL_S` seconds, plus the cleanup calls).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                LOG.warning("the change feed did not stop within %.0f s", timeout)
        with self._lock:
            listeners, self._listeners = list(self._listeners), set()
        for listener in listeners:
            listener.end()

    def __enter__(self) -> ChangeFeed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def listen(self) -> Listener:
        """A new listener: it gets every change from now on (use it in a ``with`` block)."""
        listener = Listener(self, self._backlog)
        with self._lock:
            if self._stop.is_set():
                listener.end()
            else:
                self._listeners.add(listener)
        return listener

    def remove(self, listener: Listener) -> None:
        """Stop delivering to ``listener``."""
        with self._lock:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        """How many pages listen now."""
        with self._lock:
            return len(self._listeners)

    def recent(self, state_id: str) -> list[Change]:
        """The changes of ``state_id`` seen since the view started, newest first."""
        with self._lock:
            return list(reversed(self._recent.get(state_id, ())))

    # -- the reading thread

    def _run(self) -> None:
        try:
            subscription = self.client.subscribe(prefix="", include_values=False, resync=RESYNC_S)
        except LavaStateError as exc:
            self.error = f"cannot subscribe to the realm's changes: {exc}"
            LOG.warning("%s", self.error)
            return
        self.queue_url = subscription.queue_url
        self._live.set()
        try:
            self._read(subscription)
        finally:
            self._live.clear()
            try:
                subscription.close()
            except LavaStateError as exc:
                LOG.warning("closing the realm subscription failed: %s", exc)
            self.queue_url = None

    def _read(self, subscription: Subscription) -> None:
        while not self._stop.is_set():
            try:
                for change in subscription.events(timeout=self._poll):
                    self.publish(change)
                    if self._stop.is_set():
                        return
            except LavaStateError as exc:
                LOG.warning("receiving the realm's changes failed (retrying): %s", exc)
                self._stop.wait(RETRY_S)

    def publish(self, change: StateChange) -> Change:
        """Record ``change`` and send it to every listener (those too far behind are ended)."""
        shown = change_of(change, row=self._row_after(change), seen=time.time())
        with self._lock:
            history = self._recent.get(change.state_id)
            if history is None:
                history = self._recent[change.state_id] = deque(maxlen=self._history)
            self._recent.move_to_end(change.state_id)
            history.append(shown)
            while len(self._recent) > self._history_ids:
                self._recent.popitem(last=False)
            behind = [listener for listener in self._listeners if not listener.offer(shown)]
            self._listeners.difference_update(behind)
        for listener in behind:
            LOG.info("a page fell %d changes behind: its stream is ended", self._backlog)
            listener.end()
        return shown

    def _row_after(self, change: StateChange) -> Row | None:
        """The item's row after a put: as the read found it, or read now (metadata only
        matters: the value is not decrypted)."""
        if change.kind is not ChangeKind.PUT:
            return None
        if change.item is not None:
            return item_row(change.item)
        try:
            item = self.client.get(change.state_id, decrypt=False)
        except LavaStateError as exc:
            LOG.warning("reading %r after its change failed: %s", change.state_id, exc)
            return None
        return None if item is None else item_row(item)

    def snapshot(self) -> dict[str, Any]:
        """The feed's status for the page."""
        return {"live": self.live, "error": self.error}

"""The write signal: runners wait for writes, and only a write or their own stop wakes them."""

from __future__ import annotations

import threading

from lava_state_local import WriteSignal


class Waiter(threading.Thread):
    """A thread waiting on the signal; ``result`` is what ``wait`` returned."""

    def __init__(
        self,
        signal: WriteSignal,
        since: int,
        timeout: float | None,
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.signal, self.since, self.timeout, self.cancel = signal, since, timeout, cancel
        self.result: bool | None = None

    def run(self) -> None:
        self.result = self.signal.wait(self.since, self.timeout, cancel=self.cancel)


def test_each_write_bumps_the_generation() -> None:
    signal = WriteSignal()
    assert signal.generation == 0
    signal.notify()
    signal.notify()
    assert signal.generation == 2


def test_a_write_wakes_a_waiter() -> None:
    signal = WriteSignal()
    waiter = Waiter(signal, since=signal.generation, timeout=10.0)
    waiter.start()
    signal.notify()
    waiter.join(10.0)
    assert waiter.result is True


def test_a_write_made_before_the_wait_is_not_missed() -> None:
    signal = WriteSignal()
    since = signal.generation
    signal.notify()
    assert signal.wait(since, timeout=0) is True


def test_without_a_write_the_wait_times_out() -> None:
    signal = WriteSignal()
    assert signal.wait(signal.generation, timeout=0.05) is False


def test_wake_releases_only_the_waiters_whose_cancel_is_set() -> None:
    signal = WriteSignal()
    stopping, running = threading.Event(), threading.Event()
    stopped = Waiter(signal, since=0, timeout=10.0, cancel=stopping)
    staying = Waiter(signal, since=0, timeout=0.3, cancel=running)
    stopped.start()
    staying.start()
    stopping.set()
    # Wake again and again while the other waiter waits: it must sleep through all of it.
    while staying.is_alive():
        signal.wake()
        staying.join(0.01)
    stopped.join(10.0)
    assert stopped.result is True
    assert staying.result is False
    assert signal.generation == 0  # waking is not a write

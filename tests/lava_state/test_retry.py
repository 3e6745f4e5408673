"""The one owner of application-level retries: bounded, jittered, nothing dropped."""

from __future__ import annotations

import pytest

from lava_state.errors import AwsUnavailable, InvalidInput
from lava_state.retry import backoff, batch_rounds, retry_after, retrying

FAST = {"base_wait": 0.0, "max_wait": 0.0}


def test_one_round_when_nothing_is_left() -> None:
    sent: list[list[int]] = []
    rounds = batch_rounds(lambda p: sent.append(p) or None, [1, 2], what="w", **FAST)
    assert (rounds.left, rounds.error, rounds.rounds) == (None, None, 1)
    assert sent == [[1, 2]]


def test_what_is_left_is_sent_again_until_done() -> None:
    sent: list[list[int]] = []

    def send(pending: list[int]) -> list[int]:
        sent.append(pending)
        return pending[1:]  # one item done per call

    rounds = batch_rounds(send, [1, 2, 3], what="w", attempts=5, **FAST)
    assert sent == [[1, 2, 3], [2, 3], [3]]
    assert (rounds.left, rounds.error, rounds.rounds) == (None, None, 3)


def test_what_is_still_left_at_the_bound_is_returned_not_dropped() -> None:
    rounds = batch_rounds(lambda p: p[1:], [1, 2, 3, 4, 5], what="w", attempts=2, **FAST)
    assert (rounds.left, rounds.error, rounds.rounds) == ([3, 4, 5], None, 2)


def test_an_error_stops_the_rounds_and_returns_what_was_pending() -> None:
    failure = AwsUnavailable("throttled")

    def send(pending: list[int]) -> list[int]:
        if len(pending) < 3:
            raise failure
        return pending[1:]

    rounds = batch_rounds(send, [1, 2, 3], what="w", attempts=5, **FAST)
    assert (rounds.left, rounds.error, rounds.rounds) == ([2, 3], failure, 2)


def test_an_error_that_is_not_ours_propagates() -> None:
    def send(pending: list[int]) -> list[int]:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        batch_rounds(send, [1], what="w", **FAST)


def test_a_deadline_bounds_the_rounds() -> None:
    calls = 0

    def send(pending: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        return pending

    rounds = batch_rounds(send, [1], what="w", deadline=0.0, base_wait=0.01, max_wait=0.01)
    assert rounds.left == [1]
    assert calls == 1  # no wait may end past the deadline: no second call


def test_retry_after_counts_the_failure_already_seen() -> None:
    calls = 0

    def fn() -> str:
        nonlocal calls
        calls += 1
        raise InvalidInput("still failing")

    policy = retrying(lambda exc: isinstance(exc, InvalidInput), attempts=3, **FAST)
    with pytest.raises(InvalidInput):
        retry_after(InvalidInput("first"), fn, policy)
    assert calls == 2  # 3 attempts in all, the first already made


def test_backoff_is_jittered_and_capped() -> None:
    waits = [backoff(retry, base=0.1, cap=0.3) for retry in (1, 2, 3, 4) for _ in range(20)]
    assert all(0.05 <= w <= 0.3 for w in waits)
    assert len(set(waits)) > 1
    assert max(backoff(9, base=0.1, cap=0.3) for _ in range(20)) <= 0.3

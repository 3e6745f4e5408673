"""Application-level retries: the one place that uses tenacity.

Retries have one owner per failure class. botocore's "standard" mode owns
throttling, 5xx and connection errors on every client lava-state builds
(:mod:`lava_state.aws`); this module owns the few retries botocore cannot
do, each with an explicit predicate, a bound (attempts or a deadline) and a
jittered exponential wait:

- :func:`retrying`: a call that failed for a named, transient reason
  (a TransactionConflict, a lost compare-and-set).
- :func:`batch_rounds`: a batch call that answered with part of its work
  undone (``UnprocessedKeys``, ``UnprocessedItems``, failed PublishBatch
  entries): what is left is sent again, and what is still left at the bound
  is returned to the caller to report per item, never dropped.

tenacity is imported only when a retry is needed: the fast path pays nothing.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from lava_state.constants import APP_RETRY_BASE_WAIT_S, APP_RETRY_MAX_ATTEMPTS, APP_RETRY_MAX_WAIT_S
from lava_state.errors import LavaStateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tenacity import Retrying

LOG = logging.getLogger(__name__)
P = TypeVar("P")
T = TypeVar("T")


def retrying(
    retry_if: Callable[[BaseException], bool],
    *,
    attempts: int = APP_RETRY_MAX_ATTEMPTS,
    deadline: float | None = None,
    base_wait: float = APP_RETRY_BASE_WAIT_S,
    max_wait: float = APP_RETRY_MAX_WAIT_S,
) -> Retrying:
    """A bounded, jittered tenacity policy: ``attempts`` calls in all, or until
    ``deadline`` seconds from now when given. The last failure is re-raised."""
    from tenacity import (
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        stop_before_delay,
        wait_random_exponential,
    )

    return Retrying(
        retry=retry_if_exception(retry_if),
        # stop_before_delay: no wait may end past the deadline (stop_after_delay
        # would still sleep a whole backoff first).
        stop=stop_after_attempt(attempts) if deadline is None else stop_before_delay(deadline),
        wait=wait_random_exponential(multiplier=base_wait, max=max_wait),
        reraise=True,
    )


def backoff(retry: int, *, base: float, cap: float) -> float:
    """The jittered wait before retry number ``retry`` (1-based) of a loop tenacity does
    not drive (the local event-source runner's, which bisects and dead-letters as
    Lambda does): between half and all of ``base * 2**(retry-1)``, at most ``cap``."""
    delay = min(cap, base * 2 ** (retry - 1))
    return random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not crypto


def retry_after(failure: BaseException, fn: Callable[[], T], policy: Retrying) -> T:
    """Retry ``fn``, which has just failed with ``failure``, under ``policy``.

    That failure counts as the policy's first attempt: it waits before calling
    again, and its attempt bound includes the call already made.
    """
    replayed = False

    def attempt() -> T:
        nonlocal replayed
        if not replayed:
            replayed = True
            raise failure
        return fn()

    return policy(attempt)


@dataclass(frozen=True)
class Rounds(Generic[P]):
    """How a batch's rounds ended.

    ``left`` is what was not done: still unprocessed after the last round, or
    pending when ``error`` (the failure that stopped the rounds) was raised.
    ``None`` when everything was done. ``rounds`` counts the calls made.
    """

    left: P | None
    error: LavaStateError | None
    rounds: int


class _Unprocessed(Exception):
    """A round left work undone: the retry predicate."""


def batch_rounds(
    send: Callable[[P], P | None],
    pending: P,
    *,
    what: str,
    attempts: int = APP_RETRY_MAX_ATTEMPTS,
    deadline: float | None = None,
    base_wait: float = APP_RETRY_BASE_WAIT_S,
    max_wait: float = APP_RETRY_MAX_WAIT_S,
) -> Rounds[P]:
    """Call ``send(pending)``; while it returns work left undone, send that again.

    ``send`` returns what the call left undone (empty or None: all done) or
    raises a :class:`LavaStateError`, which stops the rounds. Rounds are
    bounded by ``attempts`` calls, or by ``deadline`` seconds from now, with a
    jittered exponential wait between them. Errors other than LavaStateError
    propagate.
    """
    rounds = 0

    def round_() -> None:
        nonlocal pending, rounds
        rounds += 1
        left = send(pending)
        if left:
            LOG.debug("%s: round %d left work undone", what, rounds)
            pending = left
            raise _Unprocessed

    try:
        try:
            round_()  # the common case: done in one call, without importing tenacity
        except _Unprocessed as undone:
            policy = retrying(
                lambda exc: isinstance(exc, _Unprocessed),
                attempts=attempts,
                deadline=deadline,
                base_wait=base_wait,
                max_wait=max_wait,
            )
            retry_after(undone, round_, policy)
    except _Unprocessed:
        LOG.warning("%s: work left undone after %d rounds; reported per item", what, rounds)
        return Rounds(pending, None, rounds)
    except LavaStateError as exc:
        LOG.warning("%s failed: %s", what, exc)
        return Rounds(pending, exc, rounds)
    return Rounds(None, None, rounds)

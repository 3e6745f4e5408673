"""The publisher's application-level retry policy (botocore owns transport retries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lava_state.constants import (
    APP_RETRY_BASE_WAIT_S,
    APP_RETRY_MAX_ATTEMPTS,
    APP_RETRY_MAX_WAIT_S,
    UPDATE_MAX_RETRIES,
)
from lava_state.errors import InvalidInput
from lava_state.retry import retrying

if TYPE_CHECKING:
    from collections.abc import Callable

    from tenacity import Retrying


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """The publisher's application-level retries (botocore owns transport retries).

    ``attempts`` bounds the rounds of a batch call that leaves items
    unprocessed (``UnprocessedItems``/``UnprocessedKeys``), waiting a jittered
    exponential backoff between ``base_wait`` and ``max_wait`` seconds;
    ``update_retries`` is :meth:`StatePublisher.update`'s default number of
    compare-and-set retries, with the same backoff.

    Raises InvalidInput (from the constructor) for bounds that cannot work.
    """

    attempts: int = APP_RETRY_MAX_ATTEMPTS
    base_wait: float = APP_RETRY_BASE_WAIT_S
    max_wait: float = APP_RETRY_MAX_WAIT_S
    update_retries: int = UPDATE_MAX_RETRIES

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.update_retries < 0:
            raise InvalidInput("RetryPolicy needs attempts >= 1 and update_retries >= 0")
        if self.base_wait < 0 or self.max_wait < self.base_wait:
            raise InvalidInput("RetryPolicy needs 0 <= base_wait <= max_wait")

    def retrying(self, retry_if: Callable[[BaseException], bool], *, attempts: int) -> Retrying:
        """A tenacity ``Retrying`` for ``retry_if`` (tenacity is imported only when called)."""
        return retrying(
            retry_if, attempts=attempts, base_wait=self.base_wait, max_wait=self.max_wait
        )

"""What botocore's attempts of one call did, and a retry quota that a committed resend refunds.

botocore's retries hide every attempt's failure but the last: a write whose
first attempt was applied (its answer lost) and whose last attempt was
throttled ends in a throttling error. :func:`instrument` puts hooks on a
client (built by :func:`lava_state.aws.get_client` or injected) that record
each attempt of the call in progress (:func:`recording`), so that
:func:`lava_state.aws.call` can say whether any attempt may have been applied.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ConnectionError

from lava_state.constants import BOTOCORE_MAX_ATTEMPTS

if TYPE_CHECKING:
    from collections.abc import Iterator

T = TypeVar("T")


@dataclass
class Attempts:
    """What botocore's attempts of one :func:`lava_state.aws.call` did (retries hide all but one).

    ``may_have_applied`` is True when any attempt may have been applied by
    AWS: it was sent and its answer lost (a read timeout, a connection closed
    mid-response) or AWS answered with a 5xx, which for a DynamoDB write means
    "it may or may not have succeeded". A throttle or a failure to connect
    never applied anything.
    """

    sent: int = 0
    may_have_applied: bool = False


# The attempts of the call in progress in this thread (botocore runs hooks in the caller's).
_attempts: contextvars.ContextVar[Attempts | None] = contextvars.ContextVar(
    "lava_state_attempts", default=None
)
_HOOK_ID = "lava-state-attempts"


def _record_attempt(
    response: tuple[Any, Any] | None = None, caught_exception: Exception | None = None, **_: Any
) -> None:
    """``needs-retry`` hook: botocore emits it after every attempt, the last one included."""
    attempts = _attempts.get()
    if attempts is None:
        return
    attempts.sent += 1
    if caught_exception is not None:
        # A failure to connect (ConnectionError) sent nothing; any other may have.
        if not isinstance(caught_exception, ConnectionError):
            attempts.may_have_applied = True
    elif response is not None and getattr(response[0], "status_code", 0) >= 500:
        attempts.may_have_applied = True


def _refunding_quota_checker(quota: Any, detector: Any) -> Any:
    from botocore.retries.standard import RetryQuotaChecker

    class RefundingQuotaChecker(RetryQuotaChecker):
        """botocore's retry quota, refunded when a resend ends in a failed condition.

        A resent conditional write that committed the first time fails its own
        condition (HTTP 400): for the idempotent path that is the success it
        was, but botocore refunds a retry's cost only on a 2xx, so a client
        that meets a few dozen lost replies would stop retrying altogether.
        """

        def release_retry_quota(
            self, context: Any, http_response: Any, parsed: Any = None, **kwargs: Any
        ) -> None:
            super().release_retry_quota(context, http_response, **kwargs)
            code = (parsed or {}).get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException" and "retry_quota_capacity" in context:
                quota.release(context["retry_quota_capacity"])

    return RefundingQuotaChecker(quota, detector)


def _register_refunding_retries(client: Any) -> None:
    """botocore's standard retry handler, with a quota refunded by a resend's failed condition.

    Built from botocore's own standard-mode parts, as
    ``botocore.retries.standard.register_retry_handler`` builds them, and put
    in place of the handler botocore registered (same unique id).
    """
    from botocore.retries import quota, standard

    retries = client.meta.config.retries or {}
    if retries.get("mode") != "standard":
        return
    service = client.meta.service_model.service_id.hyphenize()
    adapter = standard.RetryEventAdapter()
    detector = standard.ThrottlingErrorDetector(adapter)
    bucket = quota.RetryQuota()
    checker = _refunding_quota_checker(bucket, detector)
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(
            retry_checker=standard.StandardRetryConditions(
                max_attempts=retries.get("total_max_attempts", BOTOCORE_MAX_ATTEMPTS)
            ),
            retry_backoff=standard.ExponentialBackoff(
                service_name=service, throttling_detector=detector
            ),
        ),
        retry_event_adapter=adapter,
        retry_quota=checker,
        service_name=service,
    )
    events = client.meta.events
    unique_id = f"retry-config-{service}"
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    events.register(f"after-call.{service}", checker.release_retry_quota)
    events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)


_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def instrument(client: T) -> T:
    """Prepare a client for lava-state's outcome checks (once per client; built or injected).

    Records what each attempt of a :func:`call` did (see :class:`Attempts`)
    and, for DynamoDB in botocore's standard retry mode, refunds the retry
    quota when a resend ends in a failed condition. Both are hooks on the
    client's own event system; a client that is not used through :func:`call`
    behaves as before.
    """
    with _lock:
        if client in _instrumented:
            return client
        _instrumented.add(client)
    meta = cast("Any", client).meta
    meta.events.register("needs-retry", _record_attempt, unique_id=_HOOK_ID)
    if meta.service_model.service_name == "dynamodb":
        _register_refunding_retries(client)
    return client


@contextlib.contextmanager
def recording(attempts: Attempts) -> Iterator[Attempts]:
    """Record into ``attempts`` what the attempts of the calls made inside do (this thread)."""
    token = _attempts.set(attempts)
    try:
        yield attempts
    finally:
        _attempts.reset(token)

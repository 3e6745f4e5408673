"""The one boundary to AWS: client factory, retry policy and error translation.

Retries have one owner per failure class. botocore's "standard" mode owns
throttling, 5xx and connection errors on every client built here; tenacity
owns the application-level retries, which are few and named (see
:data:`APP_RETRYABLE_CODES`), and is imported only when one happens so that a
CLI call pays nothing for it on the fast path.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from lava_state.constants import (
    APP_RETRY_BASE_WAIT_S,
    APP_RETRY_MAX_ATTEMPTS,
    APP_RETRY_MAX_WAIT_S,
    BOTOCORE_MAX_ATTEMPTS,
)
from lava_state.errors import (
    AccessDenied,
    AwsError,
    AwsUnavailable,
    ConfigurationError,
    EncryptionError,
    LavaStateError,
    TableNotFound,
    VersionConflict,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tenacity import Retrying

    from lava_state.item import StateItem

    #: Decodes the raw item returned with a failed condition; None when expired.
    CurrentDecoder = Callable[[Mapping[str, Any]], StateItem | None]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

#: Client errors that botocore's standard mode does not retry but that go away
#: on their own: a concurrent transaction holding the item.
APP_RETRYABLE_CODES = frozenset({"TransactionConflictException"})

_THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TooManyRequestsException",
        "InternalServerError",
        "ServiceUnavailable",
        "KMSInternalException",
        "DependencyTimeoutException",
    }
)
_ACCESS_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "ExpiredTokenException",
    }
)
_KMS_CODES = frozenset(
    {
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "DisabledException",
        "KeyUnavailableException",
        "InvalidKeyUsageException",
        "KMSInvalidStateException",
        "NotFoundException",
    }
)

_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": BOTOCORE_MAX_ATTEMPTS},
    connect_timeout=5,
    read_timeout=30,
)

_lock = threading.Lock()
_default_sessions: dict[tuple[str | None, str | None], boto3.session.Session] = {}
_clients: weakref.WeakKeyDictionary[
    boto3.session.Session, dict[tuple[str, str | None, str | None], Any]
] = weakref.WeakKeyDictionary()


def reset_clients() -> None:
    """Forget the cached sessions and clients: the next ones see the current environment
    (endpoint, credentials), e.g. after a local AWS started or stopped."""
    with _lock:
        _default_sessions.clear()
        _clients.clear()


def botocore_config() -> Config:
    """The client configuration every lava-state client uses."""
    return _CONFIG


def get_session(*, profile: str | None = None, region: str | None = None) -> boto3.session.Session:
    """The process-wide boto3 session for a profile and region, built once.

    Raises:
        ConfigurationError: the profile does not exist.
    """
    key = (profile, region)
    with _lock:
        session = _default_sessions.get(key)
        if session is None:
            try:
                session = boto3.session.Session(profile_name=profile, region_name=region)
            except BotoCoreError as exc:
                raise ConfigurationError(f"cannot use AWS profile {profile!r}: {exc}") from exc
            _default_sessions[key] = session
        return session


def get_client(
    service: str,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> Any:
    """A client for ``service``, built once per session, endpoint and region and reused.

    boto3 clients are thread-safe; sessions are not, hence the lock around building.

    Raises:
        ConfigurationError: no region is configured.
    """
    session = session if session is not None else get_session()
    key = (service, endpoint_url, region)
    with _lock:
        per_session = _clients.setdefault(session, {})
        client = per_session.get(key)
        if client is None:
            try:
                client = session.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=endpoint_url,
                    region_name=region,
                    config=_CONFIG,
                )
            except NoRegionError as exc:
                raise ConfigurationError(
                    "no AWS region configured: pass --region or set AWS_DEFAULT_REGION"
                ) from exc
            per_session[key] = client
        return client


def is_app_retryable(exc: BaseException) -> bool:
    """The predicate of the application-level retry: a named, transient client error."""
    return isinstance(exc, ClientError) and error_code(exc) in APP_RETRYABLE_CODES


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def app_retrying(
    retry_if: Callable[[BaseException], bool] = is_app_retryable,
    *,
    attempts: int = APP_RETRY_MAX_ATTEMPTS,
    deadline: float | None = None,
    base_wait: float = APP_RETRY_BASE_WAIT_S,
    max_wait: float = APP_RETRY_MAX_WAIT_S,
) -> Retrying:
    """A bounded, jittered tenacity policy for application-level retries.

    Bounded by ``attempts``, or by ``deadline`` seconds from now when given.
    """
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


def call(
    fn: Callable[..., T],
    /,
    *,
    what: str,
    state_id: str = "",
    decode_current: CurrentDecoder | None = None,
    **kwargs: Any,
) -> T:
    """Call an AWS API, retrying application-level transient errors, translating failures.

    ``what`` says what was being done, for the error message (e.g.
    ``"put state item 'x' in lava.dev.state"``). For a conditional write,
    ``state_id`` and ``decode_current`` (which turns the ``ALL_OLD`` item into
    a StateItem, or None when it is expired) give the VersionConflict its
    ``current`` item.

    Raises:
        LavaStateError: the translated failure, chained to the botocore error.
    """
    try:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if not is_app_retryable(exc):
                raise
            LOG.debug("retrying %s after %s", what, error_code(exc))
            first_failure: ClientError | None = exc

        def replay_then_call(**kw: Any) -> T:
            # tenacity's attempt count and waits start with the failure already seen.
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return fn(**kw)

        return app_retrying()(replay_then_call, **kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate_client_error(
            exc, what=what, state_id=state_id, decode_current=decode_current
        ) from exc


def translate_client_error(
    exc: BaseException,
    *,
    what: str,
    state_id: str = "",
    decode_current: CurrentDecoder | None = None,
) -> LavaStateError:
    """Map a botocore error to the lava-state error for it (the one choke point).

    A failed condition becomes a VersionConflict carrying the item stored at
    that moment, as DynamoDB returned it with the failure
    (``ReturnValuesOnConditionCheckFailure=ALL_OLD``: no second read). The
    caller raises the result ``from exc``.
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or code
        operation = str(getattr(exc, "operation_name", ""))
        detail = f"cannot {what}: {code}: {message}"
        if code == "ConditionalCheckFailedException":
            return _version_conflict(exc, what=what, state_id=state_id, decode=decode_current)
        # Of the services lava-state calls, only DynamoDB answers ResourceNotFoundException.
        if code == "ResourceNotFoundException":
            return TableNotFound(
                f"cannot {what}: the table does not exist (create it with `lava-state local up` "
                "locally or deploy the realm's stack)",
                aws_code=code,
                operation=operation,
            )
        if code in _ACCESS_CODES:
            return AccessDenied(detail, aws_code=code, operation=operation)
        if code in _KMS_CODES:
            return EncryptionError(detail, aws_code=code)
        if code in _THROTTLING_CODES or code in APP_RETRYABLE_CODES:
            return AwsUnavailable(f"{detail} (after retries)", aws_code=code, operation=operation)
        return AwsError(detail, aws_code=code, operation=operation)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigurationError(
            f"cannot {what}: no AWS credentials found (configure a profile, or run "
            "`lava-state local up` and export what it prints)"
        )
    if isinstance(exc, NoRegionError):
        return ConfigurationError(
            f"cannot {what}: no AWS region configured (set AWS_DEFAULT_REGION)"
        )
    if isinstance(exc, ConnectionError | HTTPClientError):
        return AwsUnavailable(f"cannot {what}: AWS could not be reached: {exc}")
    return AwsError(f"cannot {what}: {exc}")


def _version_conflict(
    exc: ClientError, *, what: str, state_id: str, decode: CurrentDecoder | None
) -> VersionConflict:
    from lava_state.constants import ATTR_VERSION
    from lava_state.item import attributes_expired  # lava_state.item imports this module

    stored: Mapping[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
    # The message comes from the raw item; ``current`` is decoded only when
    # asked for (a publisher first checks whether the stored write is its own).
    # The version only: never a value, which may be secret.
    if stored is not None and decode is not None and not attributes_expired(stored):
        version = stored.get(ATTR_VERSION, {}).get("N", "0")
        found = f"the stored item is at version {version}"
    elif stored is not None and decode is not None:
        found = "the stored item has expired"
    elif decode is not None:
        found = "no item is stored"
    else:
        found = "the condition on the item failed"
    load = None if stored is None or decode is None else (lambda: decode(stored))
    return VersionConflict(
        state_id, f"cannot {what}: {found}", stored_attributes=stored, load_current=load
    )

"""The one boundary to AWS: client factory, retry policy and error translation.

Retries have one owner per failure class. botocore's "standard" mode owns
throttling, 5xx and connection errors on every client built here;
:mod:`lava_state.retry` owns the application-level retries, which are few
and named (see :data:`APP_RETRYABLE_CODES`).

boto3 itself is imported when the first session is built, not when this
module is: the pure core (naming, TTL, codec, events) never pays for it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, cast, overload

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from lava_state import codec
from lava_state.attempts import Attempts, instrument, recording
from lava_state.constants import ATTR_VERSION, BOTOCORE_MAX_ATTEMPTS
from lava_state.errors import (
    AccessDenied,
    AwsError,
    AwsUnavailable,
    ConfigurationError,
    CorruptStateItem,
    EncryptionError,
    LavaStateError,
    TableNotFound,
    VersionConflict,
)
from lava_state.retry import retry_after, retrying

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from lava_state.model import StateItem

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
# Transport failures after which the request may have reached AWS (a failure
# to connect never did).
_MAYBE_SENT = (ReadTimeoutError, ConnectionClosedError)

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
    import boto3

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


ServiceName = Literal["dynamodb", "dynamodbstreams", "kms", "sns", "sqs"]


@overload
def get_client(
    service: Literal["dynamodb"],
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> DynamoDBClient: ...
@overload
def get_client(
    service: Literal["dynamodbstreams"],
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> DynamoDBStreamsClient: ...
@overload
def get_client(
    service: Literal["kms"],
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> KMSClient: ...
@overload
def get_client(
    service: Literal["sns"],
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> SNSClient: ...
@overload
def get_client(
    service: Literal["sqs"],
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> SQSClient: ...
def get_client(
    service: ServiceName,
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
            # One call for every service: the stubs type each service's overload.
            build = cast("Callable[..., Any]", session.client)
            try:
                client = build(
                    service, endpoint_url=endpoint_url, region_name=region, config=_CONFIG
                )
            except NoRegionError as exc:
                raise ConfigurationError(
                    "no AWS region configured: pass --region or set AWS_DEFAULT_REGION"
                ) from exc
            per_session[key] = client
    return instrument(client)


class AwsOptions(TypedDict, total=False):
    """How a component reaches AWS: injected clients, or a session, endpoint and region
    to build them from (the process-wide default session when none is given)."""

    session: boto3.session.Session | None
    endpoint_url: str | None
    region: str | None
    dynamodb: DynamoDBClient | None
    kms: KMSClient | None
    sns: SNSClient | None
    sqs: SQSClient | None


class AwsClients:
    """The clients of one component: the injected ones as given, the others built on
    first use by :func:`get_client` (shared per process) and kept."""

    def __init__(
        self,
        *,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        dynamodb: DynamoDBClient | None = None,
        kms: KMSClient | None = None,
        sns: SNSClient | None = None,
        sqs: SQSClient | None = None,
    ) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.region = region
        # Injected clients get the hooks that built ones have (see instrument()).
        self._dynamodb = None if dynamodb is None else instrument(dynamodb)
        self._kms = kms
        self._sns = sns
        self._sqs = sqs

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        if self._dynamodb is None:
            self._dynamodb = get_client("dynamodb", **self._where())
        return self._dynamodb

    @property
    def kms(self) -> KMSClient:
        """The KMS client (built only when a secure item needs it)."""
        if self._kms is None:
            self._kms = get_client("kms", **self._where())
        return self._kms

    @property
    def sns(self) -> SNSClient:
        """The SNS client."""
        if self._sns is None:
            self._sns = get_client("sns", **self._where())
        return self._sns

    @property
    def sqs(self) -> SQSClient:
        """The SQS client."""
        if self._sqs is None:
            self._sqs = get_client("sqs", **self._where())
        return self._sqs

    def _where(self) -> _Where:
        return {"session": self.session, "endpoint_url": self.endpoint_url, "region": self.region}


class _Where(TypedDict):
    session: boto3.session.Session | None
    endpoint_url: str | None
    region: str | None


def is_app_retryable(exc: BaseException) -> bool:
    """The predicate of the application-level retry: a named, transient client error."""
    return isinstance(exc, ClientError) and error_code(exc) in APP_RETRYABLE_CODES


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def call(fn: Callable[..., T], /, *, what: str, state_id: str = "", **kwargs: Any) -> T:
    """Call an AWS API, retrying application-level transient errors, translating failures.

    ``what`` says what was being done, for the error message (e.g.
    ``"put state item 'x' in lava.dev.state"``). For a conditional write of a
    state item, ``state_id`` names it: a failed condition then raises a
    VersionConflict carrying the item stored at that moment.

    Raises:
        LavaStateError: the translated failure, chained to the botocore error.
    """
    attempts = Attempts()
    try:
        with recording(attempts):
            try:
                return fn(**kwargs)
            except ClientError as exc:
                if not is_app_retryable(exc):
                    raise
                LOG.debug("retrying %s after %s", what, error_code(exc))
                return retry_after(exc, lambda: fn(**kwargs), retrying(is_app_retryable))
    except (ClientError, BotoCoreError) as exc:
        raise translate_client_error(
            exc, what=what, state_id=state_id, may_have_applied=attempts.may_have_applied
        ) from exc


def retry_attempts(exc: ClientError) -> int:
    """How many times botocore resent the request that failed (0: sent once)."""
    return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)


def translate_client_error(
    exc: BaseException, *, what: str, state_id: str = "", may_have_applied: bool = False
) -> LavaStateError:
    """Map a botocore error to the lava-state error for it (the one choke point).

    A failed condition on a state item (``state_id`` given) becomes a
    VersionConflict carrying the item stored at that moment, as DynamoDB
    returned it with the failure (``ReturnValuesOnConditionCheckFailure=ALL_OLD``:
    no second read), decoded but not decrypted. ``may_have_applied`` says
    that an attempt of the call before this failure may have been applied
    (:class:`Attempts`): it is carried on AwsUnavailable and VersionConflict.
    The caller raises the result ``from exc``.
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or code
        operation = str(getattr(exc, "operation_name", ""))
        attempts = retry_attempts(exc)
        detail = f"cannot {what}: {code}: {message}"
        if code == "ConditionalCheckFailedException":
            return _version_conflict(
                exc, what=what, state_id=state_id, may_have_applied=may_have_applied
            )
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
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _THROTTLING_CODES or code in APP_RETRYABLE_CODES or status >= 500:
            return AwsUnavailable(
                f"{detail} (after retries)",
                aws_code=code,
                operation=operation,
                retry_attempts=attempts,
                may_have_reached_aws=may_have_applied,
            )
        return AwsError(detail, aws_code=code, operation=operation, retry_attempts=attempts)
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
        return AwsUnavailable(
            f"cannot {what}: AWS could not be reached: {exc}",
            may_have_reached_aws=isinstance(exc, _MAYBE_SENT) or may_have_applied,
        )
    return AwsError(f"cannot {what}: {exc}")


def _version_conflict(
    exc: ClientError, *, what: str, state_id: str, may_have_applied: bool
) -> LavaStateError:
    """The conflict of a failed condition, with the item returned with it (if any)."""
    if not state_id:
        return VersionConflict(state_id, f"cannot {what}: the condition on the item failed")
    returned = "Item" in exc.response
    return version_conflict(
        state_id,
        cast("Mapping[str, Any] | None", exc.response.get("Item")),
        what=what,
        item_returned=returned,
        resent=retry_attempts(exc) > 0,
        may_have_applied=may_have_applied,
    )


def version_conflict(
    state_id: str,
    stored: Mapping[str, Any] | None,
    *,
    what: str,
    item_returned: bool = True,
    resent: bool = False,
    may_have_applied: bool = False,
) -> LavaStateError:
    """The conflict of a failed condition on ``state_id``, given the item stored.

    ``stored`` is the raw item (None: nothing stored), as DynamoDB returned it
    with the failure or as a consistent read found it; ``item_returned`` is
    False when the failure came without an item, which may mean "nothing
    stored" or a DynamoDB-compatible store that ignores
    ``ReturnValuesOnConditionCheckFailure``: the message then claims nothing.
    An unexpired stored item that cannot be decoded is a CorruptStateItem: a
    conflict whose ``current`` is None would read as "nothing is stored".
    """
    current: StateItem | None = None
    # The version only in the message: never a value, which may be secret.
    if stored is None:
        found = "no item is stored" if item_returned else "the condition on the item failed"
    elif codec.attributes_expired(stored):
        found = "the stored item has expired"
    else:
        found = f"the stored item is at version {stored.get(ATTR_VERSION, {}).get('N', '0')}"
        try:
            current = codec.decode_item(stored)
        except CorruptStateItem as corrupt:
            return corrupt
    return VersionConflict(
        state_id,
        f"cannot {what}: {found}",
        current=current,
        stored_attributes=stored,
        resent=resent,
        item_returned=item_returned,
        may_have_applied=may_have_applied,
    )

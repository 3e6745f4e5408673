"""The exceptions raised by lava-state.

Every error lava-state raises derives from :class:`LavaStateError`::

    LavaStateError
    ├── ConfigurationError           missing realm, bad setting, no region/credentials
    ├── InvalidInput (also ValueError)
    │   ├── InvalidRealm             not letters, digits, '-', '_' (also a ConfigurationError)
    │   ├── InvalidStateId
    │   │   └── ReservedStateId      ids starting with "lava" cannot be posted
    │   ├── UnknownStateType         "No such state type", as lava says
    │   ├── InvalidStateValue
    │   │   └── StateValueTooLarge   over the DynamoDB item or KMS plaintext limit
    │   ├── InvalidTTL
    │   ├── InvalidJobSpec           a job spec's `state` map is malformed
    │   ├── InvalidAction            a `state` job action has a missing or unknown key
    │   └── TemplateError            a template failed to render; carries .path, .lineno
    │       └── TemplateSecurityError  a template reached for Python internals (sandbox)
    │           └── TemplateLimitExceeded  a template crossed a size, output or time limit
    ├── StateNotFound (also KeyError) absent or expired
    ├── CorruptStateItem             a stored item that cannot be decoded
    ├── VersionConflict              a conditional write lost; carries .current
    ├── UnsupportedInItemFormat      a version feature asked for in lava8 format
    ├── EncryptionError              KMS refused to encrypt or decrypt
    ├── MalformedStreamRecord        a stream record that is not a lava-state change (poison)
    ├── WaitTimeout (also TimeoutError) wait_for's condition did not hold in time
    └── AwsError                     any other AWS failure; carries .aws_code
        ├── AwsUnavailable           throttled, unreachable or 5xx after retries
        │   ├── BatchReadIncomplete  UnprocessedKeys left at the deadline; carries .state_ids
        │   └── ItemNotProcessed     a batch left the item unprocessed after retries
        ├── AccessDenied
        ├── TableNotFound
        ├── WriteOutcomeUnknown      a write that may have applied, and the item changed since
        └── ChangeNotPublished       SNS refused a change notification (per record)

AWS ``ClientError``\\ s are translated in one place,
:func:`lava_state.aws.translate_client_error`, which chains the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lava_state.model import StateItem


class LavaStateError(Exception):
    """Root of every lava-state error."""


class ConfigurationError(LavaStateError):
    """A required setting is missing or invalid."""


class InvalidInput(LavaStateError, ValueError):
    """An argument was rejected before any AWS call; nothing was written."""


class InvalidRealm(InvalidInput, ConfigurationError):
    """The realm cannot name the realm's resources: it must be 1 to 36 letters, digits,
    ``-`` or ``_`` (see :func:`lava_state.naming.validate_realm`).

    Also a :class:`ConfigurationError`: the realm usually comes from ``LAVA_REALM``,
    and code that caught a bad realm as a configuration error keeps working.
    """


class InvalidStateId(InvalidInput):
    """The state_id is not a non-empty string of at most 1024 UTF-8 bytes."""


class ReservedStateId(InvalidStateId):
    """The state_id starts with the reserved prefix ``lava``."""


class UnknownStateType(InvalidInput):
    """The state type is not one of json, raw, secure."""


class InvalidStateValue(InvalidInput):
    """The value cannot be stored with the requested type."""


class StateValueTooLarge(InvalidStateValue):
    """The encoded value exceeds a storage limit."""


class InvalidTTL(InvalidInput):
    """The TTL is unparsable, not positive, or over the realm maximum."""


class StateNotFound(LavaStateError, KeyError):
    """No unexpired item exists for the state_id.

    Also a ``KeyError``: lava's ``LavaStateItem.get`` raised ``KeyError`` for a
    missing item, and callers written for it keep working.
    """

    def __init__(self, state_id: str, realm: str) -> None:
        super().__init__(
            f"state item {state_id!r} not found in realm {realm!r} (absent or expired)"
        )
        self.state_id = state_id
        self.realm = realm

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message.
        return str(self.args[0])


class CorruptStateItem(LavaStateError):
    """A stored item exists but cannot be decoded."""

    def __init__(self, state_id: str, reason: str) -> None:
        super().__init__(f"state item {state_id!r} cannot be read: {reason}")
        self.state_id = state_id


class VersionConflict(LavaStateError):
    """A conditional write found another version; ``current`` is what is stored.

    ``current`` is the stored item, decoded but with a secure value left
    :class:`~lava_state.model.Encrypted`; None when no unexpired item is
    stored. ``stored_attributes`` is the raw item DynamoDB returned with the
    failure (``ALL_OLD``) or a consistent read found after it, which the
    publisher uses to recognise its own committed write on a retry.
    ``resent`` is True when botocore sent the request more than once;
    ``may_have_applied`` when one of those earlier attempts may have been
    applied (its answer was lost, or was a 5xx): only then can the conflict
    be with our own earlier write. ``item_returned`` is False when the
    failure came without an item (nothing stored, or a store that ignores
    ``ReturnValuesOnConditionCheckFailure``): the publisher then reads the
    item before deciding anything.
    """

    def __init__(
        self,
        state_id: str,
        message: str,
        *,
        current: StateItem | None = None,
        stored_attributes: Mapping[str, Any] | None = None,
        resent: bool = False,
        item_returned: bool = True,
        may_have_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.state_id = state_id
        self.current = current
        self.stored_attributes = stored_attributes
        self.resent = resent
        self.item_returned = item_returned
        self.may_have_applied = may_have_applied


class UnsupportedInItemFormat(LavaStateError):
    """The feature needs the ``version`` attribute, which the lava8 format omits."""


class EncryptionError(LavaStateError):
    """KMS could not encrypt or decrypt a secure value."""

    def __init__(self, message: str, *, aws_code: str | None = None) -> None:
        super().__init__(message)
        self.aws_code = aws_code


class AwsError(LavaStateError):
    """An AWS call failed; ``aws_code`` is the AWS error code, if any.

    ``retry_attempts`` is how many times botocore resent the request (from
    the response's ``ResponseMetadata``; 0 when unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        aws_code: str | None = None,
        operation: str = "",
        retry_attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.aws_code = aws_code
        self.operation = operation
        self.retry_attempts = retry_attempts


class AwsUnavailable(AwsError):
    """AWS throttled, timed out or failed after the bounded retries.

    ``may_have_reached_aws`` is True when any attempt of the call (not only
    the last) may have been applied: it was sent and its answer lost (a read
    timeout, a connection closed mid-response) or AWS answered 5xx. The
    publisher never reports such a write as failed without reading it back.
    """

    def __init__(
        self,
        message: str,
        *,
        aws_code: str | None = None,
        operation: str = "",
        retry_attempts: int = 0,
        may_have_reached_aws: bool = False,
    ) -> None:
        super().__init__(
            message, aws_code=aws_code, operation=operation, retry_attempts=retry_attempts
        )
        self.may_have_reached_aws = may_have_reached_aws


class ItemNotProcessed(AwsUnavailable):
    """A batch call left the item unprocessed after the bounded retries: it was not written."""


class WriteOutcomeUnknown(AwsError):
    """A write may have been applied, and the item changed since: its outcome cannot be told.

    Raised only after the publisher read the item back: an attempt may have
    been applied (its answer was lost, or was a 5xx), the item does not hold
    our write, and it is no longer what our write expected either, so ours
    may have committed and been overwritten, or never committed. ``found`` is
    the item read (None: nothing unexpired stored, or it could not be read),
    a secure value left :class:`~lava_state.model.Encrypted`;
    ``stored_attributes`` its raw attributes. Never retried automatically
    (retrying could apply the change twice).
    """

    def __init__(
        self,
        state_id: str,
        message: str,
        *,
        aws_code: str | None = None,
        found: StateItem | None = None,
        stored_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, aws_code=aws_code)
        self.state_id = state_id
        self.found = found
        self.stored_attributes = stored_attributes


class AccessDenied(AwsError):
    """The credentials in use are not allowed to make the call."""


class TableNotFound(AwsError):
    """The realm's state table does not exist."""


class InvalidJobSpec(InvalidInput):
    """A job spec's ``state`` map is not a map of valid state ids to defaults."""


class InvalidAction(InvalidInput):
    """A ``state`` job action is missing a required key or has an unknown one."""


class TemplateError(InvalidInput):
    """A Jinja template failed to render.

    ``path`` locates the template (a JSON path such as ``$.steps[0].cmd``),
    ``lineno`` is its line (1-based) when Jinja knows it.
    """

    def __init__(self, message: str, *, path: str = "", lineno: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.lineno = lineno


class TemplateSecurityError(TemplateError):
    """A template tried to reach Python internals, which the sandbox forbids."""


class BatchReadIncomplete(AwsUnavailable):
    """DynamoDB still returned ``UnprocessedKeys`` at the read deadline.

    ``state_ids`` are the ids that were never read (nothing is silently dropped).
    """

    def __init__(self, message: str, *, state_ids: tuple[str, ...]) -> None:
        super().__init__(message, aws_code=None, operation="BatchGetItem")
        self.state_ids = state_ids


class MalformedStreamRecord(LavaStateError):
    """A DynamoDB stream record that cannot be turned into a change event (a poison record)."""

    def __init__(self, sequence: str | None, reason: str) -> None:
        super().__init__(f"stream record {sequence or '?'} is not a lava-state change: {reason}")
        self.sequence = sequence


class ChangeNotPublished(AwsError):
    """SNS did not accept the notification of a change (after bounded retries).

    ``sender_fault`` is SNS's verdict: True means retrying cannot help.
    """

    def __init__(
        self, message: str, *, aws_code: str | None = None, sender_fault: bool = False
    ) -> None:
        super().__init__(message, aws_code=aws_code, operation="PublishBatch")
        self.sender_fault = sender_fault


class WaitTimeout(LavaStateError, TimeoutError):
    """:meth:`~consumer_sdk.StateClient.wait_for` gave up: the item did not exist, or did not
    satisfy the condition, within the timeout.

    Also a ``TimeoutError``, so callers that handle timeouts generically catch it.
    ``last`` is the last item read (None when the item never existed); the
    message never quotes a value.
    """

    def __init__(
        self, state_id: str, realm: str, *, timeout: float, last: StateItem | None = None
    ) -> None:
        found = (
            "it does not exist"
            if last is None
            else f"it exists at version {last.version} but the condition does not hold"
        )
        super().__init__(
            f"timed out after {timeout:g} s waiting for state item {state_id!r} "
            f"in realm {realm!r}: {found}"
        )
        self.state_id = state_id
        self.realm = realm
        self.timeout = timeout
        self.last = last

    def __str__(self) -> str:
        # OSError.__str__ would format errno and strerror.
        return str(self.args[0])


class TemplateLimitExceeded(TemplateSecurityError):
    """A template crossed a bound of :mod:`lava_state.template_limits`: a value too large
    (``MAX_RESULT_SIZE``, ``MAX_INT_DIGITS``, ``MAX_EXPONENT``...), too much output
    (``MAX_OUTPUT``, ``MAX_TOTAL_OUTPUT``) or too long a render (``TIME_BUDGET_S``).

    ``limit`` names the bound crossed.
    """

    def __init__(
        self, message: str, *, limit: str, path: str = "", lineno: int | None = None
    ) -> None:
        super().__init__(message, path=path, lineno=lineno)
        self.limit = limit

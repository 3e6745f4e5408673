"""Writes: :class:`StatePublisher`, the retrying writer behind every posting path.

Versions and compare-and-set
    Every write increments ``version`` atomically (one UpdateItem with
    ``if_not_exists(version, 0) + 1``, no read first). ``if_version=n`` and
    ``if_absent=True`` add a ConditionExpression; a failed condition raises
    :class:`VersionConflict` carrying the stored item, which DynamoDB returns
    with the failure (``ReturnValuesOnConditionCheckFailure=ALL_OLD``).
    Version 0 means "no version": nothing stored, an expired item, or an item
    written by lava 8.x (which has no ``version`` attribute).

Idempotent retries
    botocore retries a request whose response was lost (a timeout after the
    write committed). Every write stores a fresh random ``write_token``; when a
    retried write then fails its condition, the item returned with the failure
    carries our own token, so the write is reported as the success it was,
    with the version it got. Unconditional puts are guarded by the token too
    (``write_token <> :token``), so a retried commit does not bump the version
    twice. When a resent conditional write fails against another writer's
    token, whether ours committed cannot be told: WriteOutcomeUnknown.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Unpack

from lava_state import aws, crypto
from lava_state.codec import (
    AttributeValue,
    check_item_size,
    encode_plain_value,
    secure_plaintext,
    value_as_stored,
)
from lava_state.constants import (
    APP_RETRY_BASE_WAIT_S,
    APP_RETRY_MAX_ATTEMPTS,
    APP_RETRY_MAX_WAIT_S,
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    ATTR_WRITE_TOKEN,
    BATCH_GET_MAX_KEYS,
    BATCH_WRITE_MAX_ITEMS,
    ENVELOPE_MAX_OVERHEAD_BYTES,
    PUBLISHER_API,
    UPDATE_MAX_RETRIES,
)
from lava_state.errors import (
    AwsUnavailable,
    InvalidInput,
    ItemNotProcessed,
    LavaStateError,
    UnsupportedInItemFormat,
    VersionConflict,
    WriteOutcomeUnknown,
)
from lava_state.model import StateItem, StateType
from lava_state.naming import validate_posted_state_id
from lava_state.retry import batch_rounds, retrying
from lava_state.settings import ItemFormat, Settings
from lava_state.store import StateStore
from lava_state.ttl import Duration, ttl_seconds

if TYPE_CHECKING:
    from tenacity import Retrying

LOG = logging.getLogger(__name__)

# Expression placeholders for every attribute: several are DynamoDB reserved words.
_NAMES = {
    "#sid": ATTR_STATE_ID,
    "#type": ATTR_TYPE,
    "#value": ATTR_VALUE,
    "#ts": ATTR_TIMESTAMP,
    "#ttl": ATTR_TTL,
    "#pub": ATTR_PUBLISHER,
    "#ver": ATTR_VERSION,
    "#tok": ATTR_WRITE_TOKEN,
}
_PLACEHOLDER = re.compile(r"[#:][A-Za-z_]+")
_UPDATE = (
    "SET #type = :type, #value = :value, #ts = :ts, #ttl = :ttl, #pub = :pub, #tok = :tok, "
    "#ver = if_not_exists(#ver, :zero) + :one"
)
# Conditions. ":now" is the current time rounded up, so that "ttl < :now"
# agrees with the read path, which treats ttl < time.time() as expired.
_NOT_OUR_RETRY = "attribute_not_exists(#tok) OR #tok <> :tok"
_ABSENT = "attribute_not_exists(#sid) OR #ttl < :now"
_UNVERSIONED = "attribute_not_exists(#sid) OR attribute_not_exists(#ver) OR #ttl < :now"
_AT_VERSION = "#ver = :expected AND (attribute_not_exists(#ttl) OR #ttl >= :now)"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """The publisher's application-level retries (botocore owns transport retries).

    ``attempts`` bounds the rounds of a batch call that leaves items
    unprocessed (``UnprocessedItems``/``UnprocessedKeys``), waiting a jittered
    exponential backoff between ``base_wait`` and ``max_wait`` seconds;
    ``update_retries`` is :meth:`StatePublisher.update`'s default number of
    compare-and-set retries, with the same backoff.
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


@dataclass(frozen=True, kw_only=True)
class PutSpec:
    """One item for :meth:`StatePublisher.put_many`; None fields take put_many's defaults."""

    state_id: str
    value: Any = field(repr=False)  # may be a secret
    type: StateType | str | None = None
    ttl: Duration | None = None
    kms_key: str | None = None
    publisher: str | None = None
    if_version: int | None = None
    if_absent: bool = False


@dataclass(frozen=True, kw_only=True)
class PutResult:
    """The outcome of one item of :meth:`StatePublisher.put_many`.

    Exactly one of ``item`` (as stored, with its version) and ``error`` (why
    it was not written: VersionConflict, ItemNotProcessed, EncryptionError,
    AwsError...) is set.
    """

    state_id: str
    item: StateItem | None = None
    error: LavaStateError | None = None

    @property
    def ok(self) -> bool:
        """True if the item was written."""
        return self.error is None


@dataclass(frozen=True, kw_only=True)
class _Write:
    """A validated write, ready to encode and send."""

    state_id: str
    type: StateType
    value: Any = field(repr=False)
    plaintext: bytes | None = field(default=None, repr=False)  # secure values only
    encoded: AttributeValue | None = None  # json and raw values, encoded once
    kms_key: str
    publisher: str
    timestamp: datetime
    expires: int
    if_version: int | None
    if_absent: bool
    token: str

    @property
    def conditional(self) -> bool:
        return self.if_version is not None or self.if_absent


class StatePublisher:
    """Publishes state items to a realm's table.

    Every write increments the item's ``version`` atomically (one UpdateItem,
    no read first) unless the realm writes the lava8 item format, which has no
    version: there, compare-and-set, :meth:`update` and conditional deletes
    raise UnsupportedInItemFormat.
    """

    def __init__(
        self,
        realm: str | None = None,
        *,
        publisher: str | None = None,
        retry: RetryPolicy | None = None,
        settings: Settings | None = None,
        **aws_options: Unpack[aws.AwsOptions],
    ) -> None:
        """``aws_options``: injected clients (``dynamodb``, ``kms``...) or the ``session``,
        ``endpoint_url`` and ``region`` to build them from (:class:`~lava_state.aws.AwsOptions`).

        Raises ConfigurationError when no realm is given or configured.
        """
        self.store = StateStore(realm, settings=settings, **aws_options)
        self.publisher = publisher or self.store.settings.job_id or PUBLISHER_API
        self.retry = retry or RetryPolicy()

    @property
    def realm(self) -> str:
        """The realm written to."""
        return self.store.realm

    @property
    def _lava8(self) -> bool:
        return self.store.settings.item_format is ItemFormat.LAVA8

    # ------------------------------------------------------------------ single writes

    def put(
        self,
        state_id: str,
        value: Any,
        *,
        type: StateType | str = StateType.JSON,
        ttl: Duration | None = None,
        kms_key: str | None = None,
        publisher: str | None = None,
        if_version: int | None = None,
        if_absent: bool = False,
    ) -> StateItem:
        """Store a state item and return it as stored (with its new version).

        ``if_version=n`` writes only if the stored version is ``n`` (0: nothing
        unexpired is stored, or a lava 8.x item); ``if_absent=True`` only if no
        unexpired item exists. Everything is validated before the first AWS
        call; a rejected put writes nothing. A retry of a write that had in
        fact committed returns that write's result, never a conflict.

        Raises:
            InvalidStateId, ReservedStateId, UnknownStateType, InvalidStateValue,
            StateValueTooLarge, InvalidTTL, InvalidInput: bad input (nothing written).
            VersionConflict: the condition failed; ``.current`` is the stored
                item (None if none is stored), its secure value not decrypted.
            WriteOutcomeUnknown: a conditional write (``if_version``/``if_absent``)
                was resent by botocore after a timeout or lost connection, and
                then failed its condition against another writer's item, or
                botocore's retries ran out after a request that may have
                reached DynamoDB: ours may or may not have committed. Read the
                item to find out; never retried automatically.
            UnsupportedInItemFormat: ``if_version`` in the lava8 item format.
            EncryptionError: KMS refused a secure value.
            AwsError: the write failed after retries.
        """
        write = self._validate(
            state_id,
            value,
            type=type,
            ttl=ttl,
            kms_key=kms_key,
            publisher=publisher,
            if_version=if_version,
            if_absent=if_absent,
        )
        return self._put_one(write)

    def update(
        self,
        state_id: str,
        fn: Callable[[Any], Any],
        *,
        type: StateType | str | None = None,
        ttl: Duration | None = None,
        kms_key: str | None = None,
        publisher: str | None = None,
        retries: int | None = None,
    ) -> StateItem:
        """Read-modify-write with compare-and-set: store ``fn(current value)``.

        ``fn`` receives the current value (None when absent or expired; secure
        values decrypted) and returns the new one. The write is conditional on
        the version read; on a conflict ``fn`` is called again with the value
        returned with the conflict (no extra read), up to ``retries`` times
        (default: the RetryPolicy's ``update_retries``) with jittered backoff.
        ``type`` defaults to the current item's type (json when absent).
        ``fn`` may be called more than once: keep it free of side effects.

        Raises:
            VersionConflict: still conflicting after ``retries`` retries;
                ``.current`` is the stored item, a secure value left Encrypted.
            WriteOutcomeUnknown: a write was resent by botocore and its outcome
                cannot be told (see :meth:`put`); not retried, so ``fn`` is never
                applied twice. Read the item to find out.
            UnsupportedInItemFormat: the realm writes the lava8 item format.
            InvalidInput (and subclasses): bad arguments, or ``fn`` returned a
                value that cannot be stored (nothing written).
            EncryptionError, CorruptStateItem, AwsError: reading or writing failed.
            Whatever ``fn`` raises (nothing written).
        """
        state_id = validate_posted_state_id(state_id)
        if not callable(fn):
            raise InvalidInput(f"update({state_id!r}, fn): fn must be callable")
        retries = self.retry.update_retries if retries is None else retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInput(f"retries must be a whole number >= 0, not {retries!r}")
        self._refuse_lava8("update() (compare-and-set)")
        explicit_type = None if type is None else StateType.parse(type)
        settings = self.store.settings
        ttl_seconds(ttl, default=settings.default_ttl, maximum=settings.max_ttl)
        current = self._read(state_id)
        conflicts = 0
        # The last conflict: its item is decrypted only when fn needs it, and
        # never onto the conflict itself, whose ``current`` stays Encrypted.
        lost_to: VersionConflict | None = None

        def attempt() -> StateItem:
            nonlocal current, conflicts, lost_to
            if lost_to is not None:
                stored = lost_to.current
                current = None if stored is None else self.store.decrypt(stored)
                lost_to = None
            state_type = explicit_type or (current.type if current else StateType.JSON)
            write = self._validate(
                state_id,
                fn(None if current is None else current.value),
                type=state_type,
                ttl=ttl,
                kms_key=kms_key,
                publisher=publisher,
                if_version=None if current is None else current.version,
                if_absent=current is None,
            )
            try:
                return self._put_one(write)
            except VersionConflict as conflict:
                conflicts += 1
                LOG.debug("update of %r conflicted (%d so far)", state_id, conflicts)
                lost_to = conflict
                raise

        result: StateItem = self.retry.retrying(
            lambda exc: isinstance(exc, VersionConflict), attempts=retries + 1
        )(attempt)
        return result

    def delete(self, state_id: str, *, if_version: int | None = None) -> None:
        """Delete a state item (absent is fine: deleting is idempotent).

        With ``if_version=n``, delete only if the stored version is ``n``. If
        no unexpired item is stored, there is nothing to delete and no error
        (this is also what a retried delete that had committed finds).

        Raises:
            InvalidStateId, ReservedStateId, InvalidInput: bad arguments (nothing deleted).
            VersionConflict: another version is stored; ``.current`` is it.
            UnsupportedInItemFormat: ``if_version`` in the lava8 item format.
            AwsError: the delete failed after retries.
        """
        state_id = validate_posted_state_id(state_id)
        what = f"delete state item {state_id!r} from {self.store.table}"
        if if_version is None:
            aws.call(
                self.store.dynamodb.delete_item,
                what=what,
                TableName=self.store.table,
                Key={ATTR_STATE_ID: {"S": state_id}},
            )
            return
        self._check_conditions(state_id, if_version, if_absent=False)
        condition = _UNVERSIONED if if_version == 0 else _AT_VERSION
        try:
            aws.call(
                self.store.dynamodb.delete_item,
                what=what,
                state_id=state_id,
                TableName=self.store.table,
                Key={ATTR_STATE_ID: {"S": state_id}},
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **_expression_attributes(
                    condition, {":expected": {"N": str(if_version)}, ":now": _now()}
                ),
            )
        except VersionConflict as conflict:
            if conflict.current is not None:
                raise

    # ------------------------------------------------------------------ batch writes

    def put_many(
        self,
        items: Mapping[str, Any] | Iterable[PutSpec],
        *,
        type: StateType | str = StateType.JSON,
        ttl: Duration | None = None,
        kms_key: str | None = None,
        publisher: str | None = None,
    ) -> list[PutResult]:
        """Store many items; one result per item, in input order.

        ``items`` maps state_ids to values (written with ``type``, ``ttl``...)
        or is a sequence of :class:`PutSpec`. Unconditional items are written
        with BatchWriteItem, 25 per call. BatchWriteItem can carry neither a
        condition nor an update expression, so versions are read and written
        one group of up to 100 items at a time: a consistent BatchGetItem of
        the group's versions, then immediately the group's BatchWriteItem
        chunks, each item written as the version read + 1. This is not atomic:
        if another writer writes one of the group's ids between that read and
        write, the batch's item overwrites it (last writer wins, as with lava's
        put) and its batch-written version repeats the other writer's, or goes
        back below it if that writer wrote more than once. Use :meth:`put` or
        :meth:`update` when that matters; put_many is for bulk loads where one
        writer owns the ids. Ids in later groups are read after earlier groups
        are written, so they never get a version read before the call began.
        Conditional items (``if_version``/``if_absent``) are written one
        conditional UpdateItem each, so that a conflict fails that item alone.
        ``UnprocessedItems``/``UnprocessedKeys`` are retried with jittered
        backoff (RetryPolicy ``attempts``); what remains is reported per item
        as ItemNotProcessed, never dropped.

        Raises:
            InvalidInput (and subclasses): any item is invalid, or a state_id
                repeats; the message names the item. Nothing is written.
            UnsupportedInItemFormat: ``if_version`` in the lava8 item format.
        """
        specs = _as_specs(items)
        now = _timestamp()  # one timestamp for the whole batch
        writes: list[_Write] = []
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            try:
                write = self._validate(
                    spec.state_id,
                    spec.value,
                    type=spec.type if spec.type is not None else type,
                    ttl=spec.ttl if spec.ttl is not None else ttl,
                    kms_key=spec.kms_key or kms_key,
                    publisher=spec.publisher or publisher,
                    if_version=spec.if_version,
                    if_absent=spec.if_absent,
                    now=now,
                )
            except InvalidInput as exc:
                # Same class, so callers catching e.g. InvalidTTL still do.
                raise exc.__class__(f"put_many item #{index}: {exc}") from None
            if write.state_id in seen:
                raise InvalidInput(
                    f"put_many item #{index}: state_id {write.state_id!r} appears more than "
                    "once; pass each id once"
                )
            seen.add(write.state_id)
            writes.append(write)

        results: dict[str, PutResult] = {}
        batched: list[tuple[_Write, AttributeValue]] = []
        for write in writes:
            if write.conditional:
                try:
                    item = self._put_one(write)
                    results[write.state_id] = PutResult(state_id=write.state_id, item=item)
                except LavaStateError as exc:
                    results[write.state_id] = PutResult(state_id=write.state_id, error=exc)
                continue
            try:
                batched.append((write, self._encode(write)))
            except LavaStateError as exc:
                results[write.state_id] = PutResult(state_id=write.state_id, error=exc)
        results.update(self._batch_write(batched))
        return [results[write.state_id] for write in writes]

    # ------------------------------------------------------------------ internals

    def _refuse_lava8(self, feature: str) -> None:
        if self._lava8:
            raise UnsupportedInItemFormat(
                f"{feature} needs the version attribute, which realm {self.realm!r} does not "
                f"write (item format {ItemFormat.LAVA8.value}); use item format "
                f"{ItemFormat.LAVA_STATE.value} once no lava 8.x worker reads this realm"
            )

    def _check_conditions(self, state_id: str, if_version: int | None, *, if_absent: bool) -> None:
        if if_version is not None:
            if isinstance(if_version, bool) or not isinstance(if_version, int) or if_version < 0:
                raise InvalidInput(
                    f"if_version for state item {state_id!r} must be a whole number >= 0 "
                    f"(0: no version stored), not {if_version!r}"
                )
            if if_absent:
                raise InvalidInput(
                    f"state item {state_id!r}: pass if_version or if_absent, not both"
                )
            self._refuse_lava8("if_version (compare-and-set)")
        elif not isinstance(if_absent, bool):
            raise InvalidInput(f"if_absent must be True or False, not {if_absent!r}")

    def _validate(
        self,
        state_id: str,
        value: Any,
        *,
        type: StateType | str,
        ttl: Duration | None,
        kms_key: str | None,
        publisher: str | None,
        if_version: int | None,
        if_absent: bool,
        now: datetime | None = None,
    ) -> _Write:
        """Check everything that needs no AWS call (KMS included)."""
        state_id = validate_posted_state_id(state_id)
        state_type = StateType.parse(type)
        settings = self.store.settings
        ttl_s = ttl_seconds(ttl, default=settings.default_ttl, maximum=settings.max_ttl)
        self._check_conditions(state_id, if_version, if_absent=if_absent)
        now = now or _timestamp()
        write = _Write(
            state_id=state_id,
            type=state_type,
            value=value,
            kms_key=kms_key or self.store.default_kms_key,
            publisher=publisher or self.publisher,
            timestamp=now,
            expires=int(now.timestamp()) + ttl_s,
            if_version=if_version,
            if_absent=if_absent,
            token=uuid.uuid4().hex,
        )
        if state_type is StateType.SECURE:
            plaintext = secure_plaintext(value, state_id=state_id, envelope=not self._lava8)
            # The ciphertext is at most this much larger than the plaintext:
            # check the size now rather than after a KMS call.
            placeholder = {"B": b"\0" * (len(plaintext) + ENVELOPE_MAX_OVERHEAD_BYTES)}
            check_item_size(self._attributes(write, placeholder), state_id=state_id)
            return replace(write, plaintext=plaintext)
        encoded = encode_plain_value(state_type, value, state_id=state_id)
        check_item_size(self._attributes(write, encoded), state_id=state_id)
        return replace(write, encoded=encoded)

    def _encode(self, write: _Write) -> AttributeValue:
        """The value attribute (KMS encryption for secure values)."""
        if write.encoded is not None:
            return write.encoded
        # _validate sets exactly one of encoded and plaintext.
        assert write.plaintext is not None
        context = None if self._lava8 else crypto.encryption_context(self.realm, write.state_id)
        blob = crypto.encrypt(
            self.store.kms,
            write.plaintext,
            key_id=write.kms_key,
            context=context,
            state_id=write.state_id,
        )
        return {"B": blob}

    def _attributes(
        self,
        write: _Write,
        value_av: AttributeValue,
        *,
        version: int | None = 1,
        token: bool = True,
    ) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            ATTR_STATE_ID: {"S": write.state_id},
            ATTR_TYPE: {"S": write.type.value},
            ATTR_VALUE: value_av,
            ATTR_TIMESTAMP: {"S": write.timestamp.isoformat()},
            ATTR_TTL: {"N": str(write.expires)},
            ATTR_PUBLISHER: {"S": write.publisher},
        }
        if not self._lava8:
            if token:
                attributes[ATTR_WRITE_TOKEN] = {"S": write.token}
            if version is not None:
                attributes[ATTR_VERSION] = {"N": str(version)}
        return attributes

    def _stored(self, write: _Write, value_av: AttributeValue, version: int) -> StateItem:
        if write.plaintext is not None:
            # A secure value as a read returns it: its JSON plaintext, decoded.
            value = json.loads(write.plaintext)
        else:
            value = value_as_stored(write.type, write.value, value_av)
        return StateItem(
            state_id=write.state_id,
            type=write.type,
            value=value,
            timestamp=write.timestamp,
            ttl=write.expires,
            publisher=write.publisher,
            version=version,
        )

    def _read(self, state_id: str) -> StateItem | None:
        """The current item, strongly consistent, decrypted; None if absent or expired."""
        return self.store.read(state_id, decrypt=True)

    def _put_one(self, write: _Write) -> StateItem:
        value_av = self._encode(write)
        attributes = self._attributes(write, value_av, version=None)
        check_item_size({**attributes, ATTR_VERSION: {"N": "1"}}, state_id=write.state_id)
        what = f"put state item {write.state_id!r} in {self.store.table}"
        if self._lava8:
            return self._put_lava8(write, attributes, value_av, what=what)
        if write.if_absent:
            condition = _ABSENT
        elif write.if_version is not None:
            condition = _UNVERSIONED if write.if_version == 0 else _AT_VERSION
        else:
            condition = _NOT_OUR_RETRY
        values = {
            ":type": attributes[ATTR_TYPE],
            ":value": value_av,
            ":ts": attributes[ATTR_TIMESTAMP],
            ":ttl": attributes[ATTR_TTL],
            ":pub": attributes[ATTR_PUBLISHER],
            ":tok": attributes[ATTR_WRITE_TOKEN],
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":expected": {"N": str(write.if_version or 0)},
            ":now": _now(),
        }
        try:
            response = aws.call(
                self.store.dynamodb.update_item,
                what=what,
                state_id=write.state_id,
                TableName=self.store.table,
                Key={ATTR_STATE_ID: attributes[ATTR_STATE_ID]},
                UpdateExpression=_UPDATE,
                ConditionExpression=condition,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **_expression_attributes(f"{_UPDATE} {condition}", values),
            )
            version = int(response["Attributes"][ATTR_VERSION]["N"])
        except VersionConflict as conflict:
            stored = conflict.stored_attributes or {}
            if stored.get(ATTR_WRITE_TOKEN, {}).get("S") != write.token:
                if conflict.resent:
                    # Our first attempt may have committed and been overwritten
                    # by another writer before botocore's resend: a conflict
                    # would be a lie half the time, and update() would apply
                    # its fn twice.
                    raise _outcome_unknown(write.state_id, what) from conflict
                raise
            # Our own write committed and its response was lost; botocore's
            # retry then failed the condition against it. It succeeded.
            LOG.info("write of %r had committed before its retry", write.state_id)
            version = int(stored[ATTR_VERSION]["N"])
        except AwsUnavailable as exc:
            if write.conditional and exc.may_have_reached_aws:
                # botocore's retries ran out on a request that may have reached
                # DynamoDB: the write may have committed.
                raise _outcome_unknown(write.state_id, what) from exc
            raise
        return self._stored(write, value_av, version)

    def _put_lava8(
        self,
        write: _Write,
        attributes: dict[str, AttributeValue],
        value_av: AttributeValue,
        *,
        what: str,
    ) -> StateItem:
        if not write.if_absent:
            aws.call(
                self.store.dynamodb.put_item, what=what, TableName=self.store.table, Item=attributes
            )
            return self._stored(write, value_av, 0)
        try:
            aws.call(
                self.store.dynamodb.put_item,
                what=what,
                state_id=write.state_id,
                TableName=self.store.table,
                Item=attributes,
                ConditionExpression=_ABSENT,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **_expression_attributes(_ABSENT, {":now": _now()}),
            )
        except VersionConflict as conflict:
            # lava 8.x items have no write token: the stored item being exactly
            # ours (same second, value, publisher) identifies a committed retry.
            if conflict.stored_attributes != attributes:
                if conflict.resent:
                    raise _outcome_unknown(write.state_id, what) from conflict
                raise
        return self._stored(write, value_av, 0)

    def _batch_write(self, batched: list[tuple[_Write, AttributeValue]]) -> dict[str, PutResult]:
        """Write unconditional items, one group of up to 100 ids at a time.

        Each group's versions are read (one BatchGetItem) immediately before
        that group is written (its BatchWriteItem chunks of 25), so a rival
        writer can only be overwritten with a stale version inside the window
        of one group, never by a version read at the start of a long call.
        """
        results: dict[str, PutResult] = {}
        fatal: LavaStateError | None = None
        group_size = BATCH_GET_MAX_KEYS if not self._lava8 else BATCH_WRITE_MAX_ITEMS
        for group_start in range(0, len(batched), group_size):
            group = batched[group_start : group_start + group_size]
            if fatal is None and not self._lava8:
                versions, failed, fatal = self._read_versions([w.state_id for w, _ in group])
                for state_id, read_error in failed.items():
                    results[state_id] = PutResult(state_id=state_id, error=read_error)
            else:
                versions = {}
            pending = [(w, av) for w, av in group if w.state_id not in results]
            for start in range(0, len(pending), BATCH_WRITE_MAX_ITEMS):
                chunk = pending[start : start + BATCH_WRITE_MAX_ITEMS]
                if fatal is not None:
                    for write, _ in chunk:
                        results[write.state_id] = PutResult(state_id=write.state_id, error=fatal)
                    continue
                written, error = self._write_chunk(chunk, versions)
                results.update(written)
                fatal = _fatal([error])
        return results

    def _write_chunk(
        self, chunk: list[tuple[_Write, AttributeValue]], versions: Mapping[str, int]
    ) -> tuple[dict[str, PutResult], LavaStateError | None]:
        """One BatchWriteItem chunk (at most 25 items), with its unprocessed-item rounds.

        Returns the results and the error that stopped the rounds, if any.
        """
        requests = [
            {
                "PutRequest": {
                    # No write token: a batch put is idempotent as it is
                    # (a retry writes the same item again).
                    "Item": self._attributes(
                        write,
                        value_av,
                        version=None if self._lava8 else versions.get(write.state_id, 0) + 1,
                        token=False,
                    )
                }
            }
            for write, value_av in chunk
        ]
        not_written, error = self._batch_rounds(requests, "BatchWriteItem", self._write_round)
        results: dict[str, PutResult] = {}
        for (write, value_av), request in zip(chunk, requests, strict=True):
            state_id = write.state_id
            if state_id in not_written:
                failure = error or ItemNotProcessed(
                    f"state item {state_id!r} was not written: BatchWriteItem left it "
                    f"unprocessed after {self.retry.attempts} attempts; put it again later"
                )
                results[state_id] = PutResult(state_id=state_id, error=failure)
                continue
            item = request["PutRequest"]["Item"]
            version = int(item[ATTR_VERSION]["N"]) if ATTR_VERSION in item else 0
            results[state_id] = PutResult(
                state_id=state_id, item=self._stored(write, value_av, version)
            )
        return results, error

    def _read_versions(
        self, state_ids: list[str]
    ) -> tuple[dict[str, int], dict[str, LavaStateError], LavaStateError | None]:
        """Stored versions of at most 100 ids (absent: not in the result).

        Also returns the ids that could not be read, and the error if it is
        one that would fail every later call too (see :func:`_fatal`).
        """
        request = {
            "Keys": [{ATTR_STATE_ID: {"S": state_id}} for state_id in state_ids],
            "ConsistentRead": True,
            "ProjectionExpression": "#sid, #ver",
            "ExpressionAttributeNames": {"#sid": ATTR_STATE_ID, "#ver": ATTR_VERSION},
        }
        found: list[Mapping[str, Any]] = []

        def round_(pending: Any) -> Any:
            response = aws.call(
                self.store.dynamodb.batch_get_item,
                what=f"read versions in {self.store.table}",
                RequestItems={self.store.table: pending},
            )
            found.extend(response.get("Responses", {}).get(self.store.table, []))
            return response.get("UnprocessedKeys", {}).get(self.store.table)

        not_read, error = self._batch_rounds(request, "BatchGetItem", round_)
        versions = {
            attributes[ATTR_STATE_ID]["S"]: int(attributes.get(ATTR_VERSION, {}).get("N", "0"))
            for attributes in found
        }
        failed: dict[str, LavaStateError] = {
            state_id: error
            or ItemNotProcessed(
                f"state item {state_id!r} was not written: BatchGetItem left its version "
                f"unread after {self.retry.attempts} attempts; put it again later"
            )
            for state_id in state_ids
            if state_id in not_read
        }
        return versions, failed, _fatal([error])

    def _write_round(self, pending: Any) -> Any:
        response = aws.call(
            self.store.dynamodb.batch_write_item,
            what=f"write state items in {self.store.table}",
            RequestItems={self.store.table: pending},
        )
        return response.get("UnprocessedItems", {}).get(self.store.table)

    def _batch_rounds(
        self,
        request: Any,
        operation: str,
        send: Callable[[Any], Any],
    ) -> tuple[set[str], LavaStateError | None]:
        """Send, then resend what comes back unprocessed (:func:`lava_state.retry.batch_rounds`).

        Returns the state_ids that were not processed (left unprocessed after
        the last round, or pending when a round failed) and the error that
        stopped the rounds, if any. Ids an earlier round processed are never
        among them: they were written (or read).
        """
        rounds = batch_rounds(
            send,
            request,
            what=operation,
            attempts=self.retry.attempts,
            base_wait=self.retry.base_wait,
            max_wait=self.retry.max_wait,
        )
        return set(_state_ids(rounds.left)) if rounds.left else set(), rounds.error

    def __repr__(self) -> str:
        return f"StatePublisher(realm={self.realm!r}, publisher={self.publisher!r})"


def _outcome_unknown(state_id: str, what: str) -> WriteOutcomeUnknown:
    return WriteOutcomeUnknown(
        state_id,
        f"cannot tell whether the write succeeded ({what}): the request was resent after a "
        "timeout or lost connection, so the write may or may not have committed; read the item "
        "to find out",
    )


def _timestamp() -> datetime:
    """The item timestamp: UTC, whole seconds (as lava writes it)."""
    return datetime.now(UTC).replace(microsecond=0)


def _now() -> AttributeValue:
    return {"N": str(math.ceil(time.time()))}


def _expression_attributes(expression: str, values: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """The names and values an expression uses: DynamoDB rejects unused ones."""
    used = set(_PLACEHOLDER.findall(expression))
    result: dict[str, Any] = {
        "ExpressionAttributeNames": {k: v for k, v in _NAMES.items() if k in used}
    }
    used_values = {k: v for k, v in values.items() if k in used}
    if used_values:
        result["ExpressionAttributeValues"] = used_values
    return result


def _as_specs(items: Mapping[str, Any] | Iterable[PutSpec]) -> list[PutSpec]:
    if isinstance(items, Mapping):
        return [PutSpec(state_id=state_id, value=value) for state_id, value in items.items()]
    specs = list(items)
    for index, spec in enumerate(specs):
        if not isinstance(spec, PutSpec):
            raise InvalidInput(
                f"put_many item #{index} is a {type(spec).__name__}: pass a mapping of "
                "state_id to value, or PutSpec objects"
            )
    return specs


def _fatal(errors: Iterable[LavaStateError | None]) -> LavaStateError | None:
    """The first error that would fail every later call the same way (no table, no access).

    A transient one (throttling, unprocessed items) is not: later calls may succeed.
    """
    return next((e for e in errors if e is not None and not isinstance(e, AwsUnavailable)), None)


def _state_ids(requests: Any) -> list[str]:
    """The state_ids in a BatchWriteItem request list or a BatchGetItem KeysAndAttributes."""
    if isinstance(requests, Mapping):
        return [key[ATTR_STATE_ID]["S"] for key in requests.get("Keys", [])]
    return [r["PutRequest"]["Item"][ATTR_STATE_ID]["S"] for r in requests]

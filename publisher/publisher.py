"""The façade: :class:`StatePublisher` (put / update / delete / put_many), the writer behind
every posting path.

Versions and compare-and-set
    Every write increments ``version`` atomically (one UpdateItem with
    ``if_not_exists(version, 0) + 1``, no read first). ``if_version=n`` and
    ``if_absent=True`` add a ConditionExpression; a failed condition raises
    :class:`VersionConflict` carrying the stored item, which DynamoDB returns
    with the failure (``ReturnValuesOnConditionCheckFailure=ALL_OLD``).
    Version 0 means "no version": nothing stored, an expired item, or an item
    written by lava 8.x (which has no ``version`` attribute).

The jobs behind it: validating and building a write (:mod:`publisher.write`),
the realm's item format (:mod:`publisher.formats`), recognising a resent
write as the success it was (:mod:`publisher.idempotency`, where idempotent
retries are explained) and ``put_many`` (:mod:`publisher.batch`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Unpack

from lava_state import aws
from lava_state.constants import ATTR_STATE_ID, PUBLISHER_API
from lava_state.errors import InvalidInput, VersionConflict
from lava_state.model import StateItem, StateType
from lava_state.naming import validate_posted_state_id
from lava_state.store import StateStore
from lava_state.ttl import Duration, ttl_seconds
from publisher.batch import BatchWriter, PutResult, PutSpec, validate_all
from publisher.formats import write_format
from publisher.idempotency import holds, nothing_stored, reader, send_once
from publisher.policy import RetryPolicy
from publisher.write import (
    Write,
    check_conditions,
    expression_attributes,
    now_value,
    timestamp,
    validate,
    version_condition,
    with_expiry,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from lava_state.settings import Settings
    from lava_state.transfer import ParsedLine
    from publisher.importer import ImportMode, ImportResult

LOG = logging.getLogger(__name__)


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
        # The realm's item format, chosen once: what differs between formats is behind it.
        self._format = write_format(self.store)

    @property
    def realm(self) -> str:
        """The realm written to."""
        return self.store.realm

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
        fact committed returns that write's result, never a conflict (see
        :mod:`publisher.idempotency`).

        Raises:
            InvalidStateId, ReservedStateId, UnknownStateType, InvalidStateValue,
            StateValueTooLarge, InvalidTTL, InvalidInput: bad input (nothing written).
            VersionConflict: the condition failed; ``.current`` is the stored
                item (None if none is stored), its secure value not decrypted.
            WriteOutcomeUnknown: an attempt may have been applied (its answer
                was lost, or was a 5xx), and the item read back is neither ours
                nor what the write expected: ours may have committed and been
                overwritten. ``.found`` is what was read; never retried
                automatically. A write found applied is a success, one found
                not applied is sent again (see :mod:`publisher.idempotency`).
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
        return self._format.put(write)

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
            WriteOutcomeUnknown: a write may have been applied and the item
                changed since (see :meth:`put`); not retried, so ``fn`` is never
                applied twice. ``.found`` is what was read.
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
        self._format.require_versions("update() (compare-and-set)")
        explicit_type = None if type is None else StateType.parse(type)
        settings = self.store.settings
        ttl_seconds(ttl, default=settings.default_ttl, maximum=settings.max_ttl)
        current = self.store.read(state_id, decrypt=True)
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
                return self._format.put(write)
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
            WriteOutcomeUnknown: an attempt may have been applied and another
                writer's item is stored now: ours may or may not have committed
                (see :mod:`publisher.idempotency`).
            UnsupportedInItemFormat: ``if_version`` in the lava8 item format.
            AwsError: the delete failed after retries.
        """
        state_id = validate_posted_state_id(state_id)
        what = f"delete state item {state_id!r} from {self.store.table}"
        conditions: dict[str, Any] = {}
        if if_version is not None:
            check_conditions(state_id, if_version, if_absent=False, rules=self._format)
            condition = version_condition(if_version)
            values = {":expected": {"N": str(if_version)}, ":now": now_value()}
            conditions = {
                "ConditionExpression": condition,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **expression_attributes(condition, values),
            }

        def send() -> None:
            aws.call(
                self.store.dynamodb.delete_item,
                what=what,
                state_id=state_id,
                TableName=self.store.table,
                Key={ATTR_STATE_ID: {"S": state_id}},
                **conditions,
            )

        send_once(
            send,
            ours=nothing_stored,
            expected=holds(if_version=if_version, if_absent=False),
            read=reader(self.store, state_id),
            state_id=state_id,
            what=what,
        )

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
        conditional put each, so that a conflict fails that item alone.
        The lava8 item format reads no versions and writes none.
        ``UnprocessedItems``/``UnprocessedKeys`` are retried with jittered
        backoff (RetryPolicy ``attempts``); what remains is reported per item
        as ItemNotProcessed, never dropped. Items whose BatchWriteItem may have
        been applied before it failed are read back: written, not written
        (AwsUnavailable) or WriteOutcomeUnknown, per item.

        Raises:
            InvalidInput (and subclasses): any item is invalid, or a state_id
                repeats; the message names the item. Nothing is written.
            UnsupportedInItemFormat: ``if_version`` in the lava8 item format.
        """
        now = timestamp()  # one timestamp for the whole batch

        def validate_spec(spec: PutSpec) -> Write:
            # Expiries after every item passed (with_expiry may read lava.realms).
            return self._validate(
                spec.state_id,
                spec.value,
                type=spec.type if spec.type is not None else type,
                ttl=spec.ttl if spec.ttl is not None else ttl,
                kms_key=spec.kms_key or kms_key,
                publisher=spec.publisher or publisher,
                if_version=spec.if_version,
                if_absent=spec.if_absent,
                now=now,
                expiry=False,
            )

        writes = validate_all(items, validate_spec, expiry=self._with_expiry)
        return BatchWriter(store=self.store, item_format=self._format, retry=self.retry).put_many(
            writes
        )

    def import_records(
        self,
        records: Iterable[StateItem | ParsedLine],
        *,
        mode: ImportMode | str = "if-absent",
        dry_run: bool = False,
        on_result: Callable[[ImportResult], None] | None = None,
    ) -> list[ImportResult]:
        """Import exported records (:meth:`StateClient.export`, or the lines of an export
        file parsed by :func:`lava_state.transfer.parse_lines`); one result per record,
        in input order, each also passed to ``on_result`` as it is known.

        ``mode``: ``if-absent`` (default) leaves stored ids alone, ``overwrite``
        replaces them unless equal, ``newer`` when the record's timestamp is
        later. Batched, versions continuing, idempotent on a re-run; a record
        that fails (malformed, duplicate or reserved id, a ciphertext that does
        not decrypt in this realm...) is a failed result, never an exception.
        See :mod:`publisher.importer`.

        Raises:
            InvalidInput: ``mode`` is not one of the three.
        """
        from publisher.importer import Importer

        importer = Importer(
            self, item_format=self._format, mode=mode, dry_run=dry_run, on_result=on_result
        )
        return importer.run(records)

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
        expiry: bool = True,
    ) -> Write:
        return validate(
            state_id,
            value,
            type=type,
            ttl=ttl,
            kms_key=kms_key or self.store.default_kms_key,
            publisher=publisher or self.publisher,
            if_version=if_version,
            if_absent=if_absent,
            settings=self.store.settings if expiry else None,
            rules=self._format,
            now=now,
        )

    def _with_expiry(self, write: Write) -> Write:
        return with_expiry(write, self.store.settings)

    def __repr__(self) -> str:
        return f"StatePublisher(realm={self.realm!r}, publisher={self.publisher!r})"

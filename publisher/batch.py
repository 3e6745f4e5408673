"""The ``put_many`` pipeline: :class:`PutSpec` in, one :class:`PutResult` per item out.

Unconditional items are written one group of up to 100 ids at a time: a
consistent BatchGetItem of the group's versions (when the item format has
versions), then immediately the group's BatchWriteItem chunks of 25.
Conditional items are single puts, so that a conflict fails that item alone.
Items a batch call leaves unprocessed are resent by
:func:`lava_state.retry.batch_rounds` and what remains is reported per item,
never dropped. A failure that would fail every later call the same way (no
table, no access) is reported on every remaining item without more calls; a
transient one (throttling) only on the items of the call that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lava_state import aws
from lava_state.constants import (
    ATTR_STATE_ID,
    ATTR_VERSION,
    BATCH_GET_MAX_KEYS,
    BATCH_WRITE_MAX_ITEMS,
)
from lava_state.errors import (
    AwsUnavailable,
    InvalidInput,
    ItemNotProcessed,
    LavaStateError,
    WriteOutcomeUnknown,
)
from lava_state.retry import batch_rounds
from publisher.idempotency import is_item as has_item
from publisher.idempotency import outcome_unknown

if TYPE_CHECKING:
    from lava_state.codec import AttributeValue
    from lava_state.model import StateItem, StateType
    from lava_state.store import StateStore
    from lava_state.ttl import Duration
    from publisher.formats import WriteFormat
    from publisher.policy import RetryPolicy
    from publisher.write import Write


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


def validate_all(
    items: Mapping[str, Any] | Iterable[PutSpec],
    validate: Callable[[PutSpec], Write],
    *,
    expiry: Callable[[Write], Write],
) -> list[Write]:
    """Validate every item before anything is written, then give each its ``expiry``
    (which may read the realm's configuration: only once every item passed).

    Raises:
        InvalidInput (and subclasses): an item is invalid (the message names
            it; same class, so callers catching e.g. InvalidTTL still do), an
            item is not a PutSpec, or a state_id repeats.
        UnsupportedInItemFormat: ``if_version`` in the lava8 item format.
    """
    writes: list[Write] = []
    seen: set[str] = set()
    for index, spec in enumerate(_as_specs(items)):
        try:
            write = validate(spec)
        except InvalidInput as exc:
            raise exc.__class__(f"put_many item #{index}: {exc}") from None
        if write.state_id in seen:
            raise InvalidInput(
                f"put_many item #{index}: state_id {write.state_id!r} appears more than "
                "once; pass each id once"
            )
        seen.add(write.state_id)
        writes.append(write)
    expiring = []
    for index, write in enumerate(writes):
        try:
            expiring.append(expiry(write))
        except InvalidInput as exc:
            raise exc.__class__(f"put_many item #{index}: {exc}") from None
    return expiring


class BatchWriter:
    """Writes validated items with batch calls, reporting each item's outcome."""

    def __init__(self, *, store: StateStore, item_format: WriteFormat, retry: RetryPolicy) -> None:
        self.store = store
        self.format = item_format
        self.retry = retry

    def put_many(self, writes: list[Write]) -> list[PutResult]:
        """Write ``writes``; one result per write, in order. Never raises for one item."""
        results: dict[str, PutResult] = {}
        batched: list[tuple[Write, AttributeValue]] = []
        for write in writes:
            try:
                if write.conditional:
                    item = self.format.put(write)
                    results[write.state_id] = PutResult(state_id=write.state_id, item=item)
                else:
                    batched.append((write, self.format.encode(write)))
            except LavaStateError as exc:
                results[write.state_id] = PutResult(state_id=write.state_id, error=exc)
        results.update(self._write_groups(batched))
        return [results[write.state_id] for write in writes]

    def _write_groups(self, batched: list[tuple[Write, AttributeValue]]) -> dict[str, PutResult]:
        """Write unconditional items, one group of up to 100 ids at a time.

        Each group's versions are read (one BatchGetItem) immediately before
        that group is written (its BatchWriteItem chunks of 25), so a rival
        writer can only be overwritten with a stale version inside the window
        of one group, never by a version read at the start of a long call.
        """
        results: dict[str, PutResult] = {}
        fatal: LavaStateError | None = None
        for group_start in range(0, len(batched), BATCH_GET_MAX_KEYS):
            group = batched[group_start : group_start + BATCH_GET_MAX_KEYS]
            versions: dict[str, int] = {}
            if fatal is None and self.format.reads_versions:
                versions, failed, fatal = self._read_versions([w.state_id for w, _ in group])
                for state_id, read_error in failed.items():
                    results[state_id] = PutResult(state_id=state_id, error=read_error)
            pending = [(w, av) for w, av in group if w.state_id not in results]
            for start in range(0, len(pending), BATCH_WRITE_MAX_ITEMS):
                chunk = pending[start : start + BATCH_WRITE_MAX_ITEMS]
                if fatal is not None:
                    for write, _ in chunk:
                        results[write.state_id] = PutResult(state_id=write.state_id, error=fatal)
                    continue
                written, error = self._write_chunk(chunk, versions)
                results.update(written)
                fatal = _fatal(error)
        return results

    def _write_chunk(
        self, chunk: list[tuple[Write, AttributeValue]], versions: Mapping[str, int]
    ) -> tuple[dict[str, PutResult], LavaStateError | None]:
        """One BatchWriteItem chunk (at most 25 items), with its unprocessed-item rounds.

        Returns the results and the error that stopped the rounds, if any.
        """
        items = [
            self.format.batch_item(write, value_av, versions.get(write.state_id, 0))
            for write, value_av in chunk
        ]
        requests = [{"PutRequest": {"Item": item}} for item, _ in items]

        def round_(pending: Any) -> Any:
            response = aws.call(
                self.store.dynamodb.batch_write_item,
                what=f"write state items in {self.store.table}",
                RequestItems={self.store.table: pending},
            )
            return response.get("UnprocessedItems", {}).get(self.store.table)

        not_written, error = self._rounds(requests, "BatchWriteItem", round_)
        results: dict[str, PutResult] = {}
        outcomes: dict[str, LavaStateError | None] = {}
        if isinstance(error, AwsUnavailable) and error.may_have_reached_aws and not_written:
            sent = {w.state_id: item for (w, _), (item, _) in zip(chunk, items, strict=True)}
            outcomes = self._read_back(
                {state_id: sent[state_id] for state_id in not_written}, versions, error
            )
        for (write, value_av), (_, version) in zip(chunk, items, strict=True):
            state_id = write.state_id
            if state_id in outcomes:
                outcome = outcomes[state_id]
                if outcome is None:
                    results[state_id] = PutResult(
                        state_id=state_id, item=write.stored(value_av, version)
                    )
                else:
                    results[state_id] = PutResult(state_id=state_id, error=outcome)
            elif state_id in not_written:
                failure = error or self._not_processed(
                    state_id, "BatchWriteItem left it unprocessed"
                )
                results[state_id] = PutResult(state_id=state_id, error=failure)
            else:
                item = write.stored(value_av, version)
                results[state_id] = PutResult(state_id=state_id, item=item)
        return results, error

    def _read_back(
        self,
        sent: Mapping[str, Mapping[str, Any]],
        versions: Mapping[str, int],
        error: AwsUnavailable,
    ) -> dict[str, LavaStateError | None]:
        """The true outcome of items whose BatchWriteItem may have been applied before it failed.

        Each item is read back (one consistent BatchGetItem): exactly the item
        sent → written (None); still at the version read before the write → not
        written (a clean AwsUnavailable); anything else → WriteOutcomeUnknown
        with what was found (the lava8 format, which has no version, cannot
        tell "unchanged" apart: unknown too). See :mod:`publisher.idempotency`.
        """
        request = {"Keys": [{ATTR_STATE_ID: {"S": state_id}} for state_id in sent]}
        found: dict[str, Mapping[str, Any]] = {}

        def round_(pending: Any) -> Any:
            items, left = self.store.read_round(
                pending, what=f"read state items back from {self.store.table}"
            )
            for attributes in items:
                found[attributes[ATTR_STATE_ID]["S"]] = attributes
            return left

        not_read, read_error = self._rounds(request, "BatchGetItem", round_)
        what = f"write state items in {self.store.table}"
        outcomes: dict[str, LavaStateError | None] = {}
        for state_id, item in sent.items():
            stored = found.get(state_id)
            if state_id in not_read:
                outcomes[state_id] = WriteOutcomeUnknown(
                    state_id,
                    f"cannot tell whether state item {state_id!r} was written: BatchWriteItem "
                    f"may have been applied, and reading it back failed ({read_error}); "
                    "read the item to find out",
                )
            elif has_item(item)(stored):
                outcomes[state_id] = None
            elif self.format.reads_versions and _version(stored) == versions.get(state_id, 0):
                outcomes[state_id] = AwsUnavailable(
                    f"state item {state_id!r} was not written (read back): {error}",
                    aws_code=error.aws_code,
                    operation=error.operation,
                    retry_attempts=error.retry_attempts,
                )
            else:
                outcomes[state_id] = outcome_unknown(state_id, what, stored)
        return outcomes

    def _read_versions(
        self, state_ids: list[str]
    ) -> tuple[dict[str, int], dict[str, LavaStateError], LavaStateError | None]:
        """Stored versions of at most 100 ids (absent: not in the result).

        Also returns the ids that could not be read, and the error if it is
        one that would fail every later call too (see :func:`_fatal`).
        """
        request = {
            "Keys": [{ATTR_STATE_ID: {"S": state_id}} for state_id in state_ids],
            "ProjectionExpression": "#sid, #ver",
            "ExpressionAttributeNames": {"#sid": ATTR_STATE_ID, "#ver": ATTR_VERSION},
        }
        found: list[Mapping[str, Any]] = []

        def round_(pending: Any) -> Any:
            items, left = self.store.read_round(
                pending, what=f"read versions in {self.store.table}"
            )
            found.extend(items)
            return left

        not_read, error = self._rounds(request, "BatchGetItem", round_)
        versions = {
            attributes[ATTR_STATE_ID]["S"]: int(attributes.get(ATTR_VERSION, {}).get("N", "0"))
            for attributes in found
        }
        failed = {
            state_id: error or self._not_processed(state_id, "BatchGetItem left its version unread")
            for state_id in state_ids
            if state_id in not_read
        }
        return versions, failed, _fatal(error)

    def _rounds(
        self, request: Any, operation: str, send: Callable[[Any], Any]
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

    def _not_processed(self, state_id: str, how: str) -> ItemNotProcessed:
        return ItemNotProcessed(
            f"state item {state_id!r} was not written: {how} after "
            f"{self.retry.attempts} attempts; put it again later"
        )


def _as_specs(items: Mapping[str, Any] | Iterable[PutSpec]) -> list[PutSpec]:
    if isinstance(items, Mapping):
        return [PutSpec(state_id=state_id, value=value) for state_id, value in items.items()]
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise InvalidInput(
            f"put_many takes a mapping of state_id to value or PutSpec objects, not "
            f"{type(items).__name__}"
        )
    specs = list(items)
    for index, spec in enumerate(specs):
        if not isinstance(spec, PutSpec):
            raise InvalidInput(
                f"put_many item #{index} is a {type(spec).__name__}: pass a mapping of "
                "state_id to value, or PutSpec objects"
            )
    return specs


def _fatal(error: LavaStateError | None) -> LavaStateError | None:
    """The error if it would fail every later call the same way (no table, no access).

    A transient one (throttling, unprocessed items) is not: later calls may succeed.
    """
    return None if isinstance(error, AwsUnavailable) else error


def _version(stored: Mapping[str, Any] | None) -> int:
    """The stored version; 0 for nothing stored (or expired: a put continues from it)."""
    return int((stored or {}).get(ATTR_VERSION, {}).get("N", "0"))


def _state_ids(requests: Any) -> list[str]:
    """The state_ids in a BatchWriteItem request list or a BatchGetItem KeysAndAttributes."""
    if isinstance(requests, Mapping):
        return [key[ATTR_STATE_ID]["S"] for key in requests.get("Keys", [])]
    return [r["PutRequest"]["Item"][ATTR_STATE_ID]["S"] for r in requests]

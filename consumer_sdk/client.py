"""Reads: :class:`StateClient`, strongly consistent and expiry-aware."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from lava_state import aws, codec
from lava_state.constants import (
    ATTR_STATE_ID,
    ATTR_TYPE,
    BATCH_GET_DEADLINE_S,
    BATCH_GET_MAX_CONCURRENCY,
    BATCH_GET_MAX_KEYS,
    DECRYPT_MAX_CONCURRENCY,
    DEFAULT_MISSING_TOPIC_TTL_S,
    DEFAULT_RESYNC_S,
)
from lava_state.errors import (
    BatchReadIncomplete,
    InvalidInput,
    LavaStateError,
    StateNotFound,
)
from lava_state.model import StateItem, StateType
from lava_state.naming import validate_state_id, validate_state_ids
from lava_state.retry import batch_rounds
from lava_state.store import StateStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from consumer_sdk.subscription import Subscription
    from consumer_sdk.wait import WaitMode
    from lava_state.settings import Settings

_MISSING: Any = object()
_T = TypeVar("_T")
_R = TypeVar("_R")

RawItem = dict[str, Any]


class StateItems(dict[str, StateItem]):
    """What :meth:`StateClient.get_many` returns: the items found, by state_id, in input order.

    Absent and expired ids are simply not keys. ``errors`` maps each id whose
    stored item could not be decoded or decrypted to its error; it is empty
    unless the read was asked for partial results.
    """

    def __init__(
        self,
        items: Iterable[tuple[str, StateItem]] = (),
        *,
        errors: Mapping[str, LavaStateError] | None = None,
    ) -> None:
        super().__init__(items)
        self.errors: dict[str, LavaStateError] = dict(errors or {})


class StateClient:
    """Reads state items of one realm.

    Every read is strongly consistent, and an item whose TTL has passed is
    treated as absent (DynamoDB deletes expired items only lazily, up to days late).
    """

    def __init__(
        self,
        realm: str | None = None,
        *,
        settings: Settings | None = None,
        **aws_options: Unpack[aws.AwsOptions],
    ) -> None:
        """``aws_options``: injected clients (``dynamodb``, ``kms``...) or the ``session``,
        ``endpoint_url`` and ``region`` to build them from (:class:`~lava_state.aws.AwsOptions`).

        Raises ConfigurationError when no realm is given or configured.
        """
        self.store = StateStore(realm, settings=settings, **aws_options)

    @property
    def realm(self) -> str:
        """The realm read from."""
        return self.store.realm

    def get(self, state_id: str, *, decrypt: bool = True) -> StateItem | None:
        """The current item, or None when absent or expired.

        Reading ids with the reserved ``lava`` prefix is allowed.

        Raises:
            InvalidStateId: not a valid id.
            CorruptStateItem: the stored item cannot be decoded.
            EncryptionError: a secure value could not be decrypted.
            AwsError: the read failed after retries.
        """
        return self.store.read(validate_state_id(state_id), decrypt=decrypt)

    def get_value(self, state_id: str, default: Any = _MISSING, *, decrypt: bool = True) -> Any:
        """The current value; ``default`` when absent or expired.

        Raises:
            StateNotFound: absent or expired and no default was given.
            (and what :meth:`get` raises)
        """
        item = self.get(state_id, decrypt=decrypt)
        if item is not None:
            return item.value
        if default is _MISSING:
            raise StateNotFound(state_id, self.realm)
        return default

    def get_many(
        self,
        state_ids: Iterable[str],
        *,
        decrypt: bool = True,
        partial: bool = False,
        deadline: float = BATCH_GET_DEADLINE_S,
    ) -> StateItems:
        """Read many items with strongly consistent BatchGetItem calls.

        Ids are deduplicated (first occurrence wins the order) and read in
        chunks of 100 keys (the BatchGetItem limit), chunks concurrently.
        ``UnprocessedKeys`` are retried with jittered backoff until done or
        ``deadline`` seconds have passed since the call began. Absent and expired
        ids are left out of the result. Secure values are decrypted (one KMS
        call per item, concurrently) unless ``decrypt`` is False, in which case
        they are :class:`~lava_state.model.Encrypted`.

        With ``partial=True`` an item that cannot be decoded or decrypted is
        reported in the result's ``errors`` and the other ids are returned;
        otherwise its error is raised (the first failing id in input order).

        Raises:
            InvalidInput: ``state_ids`` is a string, None or anything else than a
                collection of ids.
            InvalidStateId: an id is not valid (nothing is read); the message gives its position.
            BatchReadIncomplete: keys were still unprocessed at the deadline; ``state_ids``
                names them.
            CorruptStateItem: a stored item cannot be decoded (unless ``partial``).
            EncryptionError: a secure value could not be decrypted (unless ``partial``).
            AwsError: a read failed after retries.
        """
        ids = validate_state_ids(state_ids)
        if not ids:
            return StateItems()
        deadline_at = time.monotonic() + deadline
        chunks = [ids[i : i + BATCH_GET_MAX_KEYS] for i in range(0, len(ids), BATCH_GET_MAX_KEYS)]
        results = _map_bounded(
            lambda chunk: self._read_chunk(chunk, deadline_at),
            chunks,
            max_workers=BATCH_GET_MAX_CONCURRENCY,
            name="lava-state-read",
        )
        raw: dict[str, RawItem] = {}
        left: list[str] = []
        for items, unprocessed in results:
            raw.update((attributes[ATTR_STATE_ID]["S"], attributes) for attributes in items)
            left.extend(unprocessed)
        if left:
            raise BatchReadIncomplete(
                f"cannot read {len(left)} of {len(ids)} state items from {self.store.table}: "
                f"DynamoDB still returned them as UnprocessedKeys after {deadline:g} s "
                f"(ids left: {', '.join(map(repr, left))}); the table is throttled: retry later "
                "or raise its capacity",
                state_ids=tuple(left),
            )
        now = time.time()
        live = [
            (sid, raw[sid])
            for sid in ids
            if sid in raw and not codec.attributes_expired(raw[sid], now)
        ]
        return self._decode_many(live, decrypt=decrypt, partial=partial)

    def get_prefix(
        self,
        prefix: str,
        *,
        decrypt: bool = True,
        partial: bool = False,
        deadline: float = BATCH_GET_DEADLINE_S,
    ) -> StateItems:
        """The live items whose state_id starts with ``prefix``, sorted by id.

        One listing finds the ids, then :meth:`get_many` reads them (strongly
        consistent, batched). The listing is a **Scan**
        (:func:`consumer_sdk.listing.list_states`): DynamoDB reads the metadata of
        every item in the table, whatever the prefix, and bills for it; values are
        read only for the matching ids. An item deleted or expired between the
        listing and the read is left out; one created meanwhile may be missed.
        An empty prefix reads every live item.

        ``decrypt``, ``partial`` and ``deadline`` are :meth:`get_many`'s.

        Raises:
            InvalidInput: ``prefix`` is not a string.
            InvalidStateId: ``prefix`` breaks the id rules (a lone surrogate, over 1024 bytes).
            (and what :meth:`get_many` raises, and the listing's AwsError)
        """
        from consumer_sdk.listing import list_states

        if not isinstance(prefix, str):
            raise InvalidInput(f"prefix must be a string, not {type(prefix).__name__}")
        if prefix:
            # An id's start obeys the id rules (valid UTF-8, at most 1024 bytes).
            validate_state_id(prefix)
        ids = sorted(summary.state_id for summary in list_states(self, prefix))
        return self.get_many(ids, decrypt=decrypt, partial=partial, deadline=deadline)

    def export(
        self, *, prefix: str | None = None, segments: int = 1, decrypt_secure: bool = False
    ) -> Iterator[StateItem]:
        """Yield every live item (whose id starts with ``prefix``) for an export: parallel
        Scans of ``segments`` segments; secure values Encrypted unless ``decrypt_secure``.
        See :func:`consumer_sdk.export.export_items`, which says what it raises.
        """
        from consumer_sdk.export import export_items

        return export_items(self, prefix=prefix, segments=segments, decrypt_secure=decrypt_secure)

    def _read_chunk(
        self, ids: Sequence[str], deadline_at: float
    ) -> tuple[list[RawItem], list[str]]:
        """One BatchGetItem of at most 100 keys; returns (items, ids still unprocessed)."""
        what = f"read {len(ids)} state items from {self.store.table}"
        items: list[RawItem] = []

        def send(pending: dict[str, Any]) -> dict[str, Any] | None:
            found, left = self.store.read_round(pending, what=what)
            items.extend(found)
            return left

        rounds = batch_rounds(
            send,
            {"Keys": [{ATTR_STATE_ID: {"S": sid}} for sid in ids]},
            what=what,
            deadline=max(0.0, deadline_at - time.monotonic()),
        )
        if rounds.error is not None:
            raise rounds.error
        left = rounds.left["Keys"] if rounds.left is not None else []
        return items, [key[ATTR_STATE_ID]["S"] for key in left]

    def _decode_many(
        self, live: list[tuple[str, RawItem]], *, decrypt: bool, partial: bool
    ) -> StateItems:
        """Decode the live items, decrypting secure ones concurrently.

        Without ``partial``, the error of the first failing id in input order
        is raised (secure items after a known failure are not decrypted);
        with it, every item is attempted and failures are in the result's
        ``errors``.
        """
        decoded: dict[str, StateItem] = {}
        errors: dict[str, LavaStateError] = {}
        secure: list[tuple[str, RawItem]] = []
        for sid, attributes in live:
            if decrypt and attributes.get(ATTR_TYPE, {}).get("S") == StateType.SECURE:
                secure.append((sid, attributes))
                continue
            try:
                decoded[sid] = codec.decode_item(attributes)
            except LavaStateError as exc:
                errors[sid] = exc
        if errors and not partial:
            # Only a secure item before the first failure could fail first in input order.
            first = next(i for i, (sid, _) in enumerate(live) if sid in errors)
            before = {sid for sid, _ in live[:first]}
            secure = [entry for entry in secure if entry[0] in before]
        if secure:

            def decrypt_one(entry: tuple[str, RawItem]) -> StateItem | LavaStateError:
                try:
                    return self.store.decrypt(codec.decode_item(entry[1]))
                except LavaStateError as exc:
                    return exc

            outcomes = _map_bounded(
                decrypt_one, secure, max_workers=DECRYPT_MAX_CONCURRENCY, name="lava-state-kms"
            )
            for (sid, _), outcome in zip(secure, outcomes, strict=True):
                if isinstance(outcome, StateItem):
                    decoded[sid] = outcome
                else:
                    errors[sid] = outcome
        if errors and not partial:
            raise next(errors[sid] for sid, _ in live if sid in errors)
        order = [sid for sid, _ in live if sid in decoded]
        return StateItems(((sid, decoded[sid]) for sid in order), errors=errors)

    def subscribe(
        self,
        state_ids: Iterable[str] | None = None,
        *,
        prefix: str | None = None,
        catch_up: bool = False,
        name: str | None = None,
        queue_url: str | None = None,
        since: Mapping[str, int] | None = None,
        resync: float | None = DEFAULT_RESYNC_S,
        include_values: bool = True,
        missing_topic_ttl: float = DEFAULT_MISSING_TOPIC_TTL_S,
        auto_ack: bool = True,
        visibility_timeout: int | None = None,
    ) -> Subscription:
        """Subscribe to the changes of ``state_ids``, of the ids starting with ``prefix``,
        or both; returns the open :class:`~consumer_sdk.subscription.Subscription`
        (iterate it; close it, or use it in a ``with`` block).

        Each id's changes come through its own SNS topic (created if missing,
        named as the stream processor names it); a ``prefix`` subscribes to
        the realm-wide topic ``lava-state-<realm>-all`` with a filter policy on
        the ``state_id`` message attribute (``""``: every id), which the
        processor feeds only when ``LAVA_STATE_REALM_TOPIC=true``. An SQS queue
        is created for it (``lava-state-<realm>-sub-<random>``), or the durable
        queue of ``name`` (kept, and reused by the next subscription of that
        name), or ``queue_url`` is used as it is (its policy must let the
        topics send to it).

        ``catch_up`` yields the current state of each id first (one batched
        consistent read); ``since`` ({id: version}) names versions already
        handled, and the first read yields what is newer. ``resync`` is the
        interval of the periodic consistent reads (None: none); a read also
        comes once ``missing_topic_ttl`` seconds (the processor's
        ``LAVA_STATE_MISSING_TOPIC_TTL``) after subscribing. ``include_values``
        False leaves values out of the changes (``fetch()`` reads them).
        ``auto_ack`` False consumes changes only through ``ack()``.
        ``visibility_timeout`` is the created queue's (SQS's default: 30 s).

        Raises:
            InvalidInput: no ids and no prefix, or a bad id, name or interval.
            ConfigurationError: the realm cannot name SNS topics.
            AccessDenied: SNS, SQS or DynamoDB refused (nothing is left behind).
            AwsError: another AWS failure (nothing is left behind).
        """
        from consumer_sdk.subscription import Subscription

        return Subscription(
            self,
            state_ids,
            prefix=prefix,
            catch_up=catch_up,
            name=name,
            queue_url=queue_url,
            since=since,
            resync=resync,
            include_values=include_values,
            missing_topic_ttl=missing_topic_ttl,
            auto_ack=auto_ack,
            visibility_timeout=visibility_timeout,
        ).start()

    def wait_for(
        self,
        state_id: str,
        predicate: Callable[[StateItem], bool] | None = None,
        *,
        timeout: float | None,
        mode: WaitMode = "auto",
    ) -> StateItem:
        """Wait until ``state_id`` exists and satisfies ``predicate`` (given the item,
        decrypted); return that item.

        The current value is checked first. ``mode="react"`` then subscribes
        (see :meth:`subscribe`) and reads the item when a change is notified;
        ``"poll"`` reads with capped, jittered exponential backoff (50 ms
        doubling to 2 s); ``"auto"`` reacts, and polls when it cannot subscribe.
        ``timeout`` is in seconds (None: no limit). An exception raised by
        ``predicate`` propagates.

        Raises:
            WaitTimeout: not satisfied within ``timeout`` (also a ``TimeoutError``).
            InvalidInput: a bad mode or timeout.
            InvalidStateId: not a valid id.
            AccessDenied, AwsError: in ``react`` mode, subscribing failed; in any
                mode, a read failed.
            CorruptStateItem, EncryptionError: as :meth:`get`.
        """
        from consumer_sdk.wait import wait_for

        return wait_for(self, state_id, predicate, timeout=timeout, mode=mode)

    def __repr__(self) -> str:
        return f"StateClient(realm={self.realm!r})"


def _map_bounded(
    fn: Callable[[_T], _R], args: Sequence[_T], *, max_workers: int, name: str
) -> list[_R]:
    """``fn`` over ``args`` in order: inline for one (no thread), else on a bounded pool."""
    if len(args) <= 1:
        return [fn(arg) for arg in args]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(
        max_workers=min(len(args), max_workers), thread_name_prefix=name
    ) as pool:
        return list(pool.map(fn, args))

"""A write's reported outcome is the true one: resent writes count once, unknowns are resolved.

botocore resends a request whose response it did not get (a read timeout,
a connection closed mid-response, a 5xx), even when the first attempt
committed, and its last attempt may fail without reaching DynamoDB (a
throttle, a refused connection) after an earlier one committed. Each write
carries what tells its own commit apart:

- **lava-state format**: every single put stores a fresh random
  ``write_token``. Unconditional puts are guarded by it
  (``attribute_not_exists(write_token) OR write_token <> :token``), so a
  resent commit does not increment the version twice.
- **lava8 format**: items have no token; the stored item being exactly the
  one sent (same second, value, publisher) is ours.
- **conditional delete**: no unexpired item stored is ours (deleting is
  idempotent).
- **batch puts** (BatchWriteItem, :mod:`publisher.batch`) carry neither a
  condition nor a token: an item read back equal to the one sent is ours.

How :func:`send_once` decides, when a write may have reached DynamoDB
(any attempt's answer lost or a 5xx, :class:`lava_state.aws.Attempts`):

1. the item holding our write (returned with a failed condition, or read
   back consistently after botocore's retries ran out) → the write
   succeeded: its result is returned;
2. the item as our write expected it (its condition holds again: ours was
   not applied and nothing is in the way) → sent again, a bounded number of
   rounds; at the bound, a clean ``AwsUnavailable`` ("not written");
3. anything else → :class:`~lava_state.errors.WriteOutcomeUnknown` carrying
   the item found: ours may have committed and been overwritten. Never
   retried automatically (``update()`` would apply its ``fn`` twice).

When no attempt can have been applied (throttles, refused connections), a
failed condition is a real :class:`~lava_state.errors.VersionConflict` and
running out of retries a clean ``AwsUnavailable``. A failed condition that
came without the item (a store that ignores
``ReturnValuesOnConditionCheckFailure``) is never taken for "nothing
stored": the item is read consistently first. Our own write is recognised
from the raw stored attributes, before anything is decoded or decrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lava_state import aws, codec
from lava_state.constants import ATTR_VERSION, ATTR_WRITE_TOKEN
from lava_state.errors import (
    AwsError,
    AwsUnavailable,
    CorruptStateItem,
    VersionConflict,
    WriteOutcomeUnknown,
)

if TYPE_CHECKING:
    from lava_state.model import StateItem
    from lava_state.store import StateStore

LOG = logging.getLogger(__name__)

#: A raw stored item; None when nothing is stored.
Stored = Mapping[str, Any] | None
#: Whether a stored item shows our write (or, for a delete, its effect).
Recognise = Callable[[Stored], bool]
#: Rounds of botocore's retries a write gets when a read back shows it was not applied.
SEND_ROUNDS = 3


def send_once(
    send: Callable[[], Stored],
    *,
    ours: Recognise,
    expected: Recognise,
    read: Callable[[], Stored],
    state_id: str,
    what: str,
    rounds: int = SEND_ROUNDS,
) -> Stored:
    """Send a write whose reported outcome must be true; return what ``send`` returns.

    ``ours`` tells whether a stored item holds our write; ``expected``
    whether our write's condition holds on it (ours not applied, nothing in
    the way); ``read`` reads the raw item consistently. When our write is
    found committed, the stored attributes are returned. See the module
    docstring for the rules.

    Raises:
        VersionConflict: a real conflict (no attempt can have been applied).
        WriteOutcomeUnknown: an attempt may have been applied and the item changed since.
        AwsError: the write failed after retries, and was not applied.
    """
    last: AwsError | None = None
    for _ in range(rounds):
        try:
            return send()
        except VersionConflict as conflict:
            stored = conflict.stored_attributes if conflict.item_returned else None
            if not conflict.item_returned:
                # No item with the failure: absent, or a store that ignores
                # ReturnValuesOnConditionCheckFailure. Never infer absence.
                stored = _read_back(read, state_id, what, conflict)
            if ours(stored):
                # Our own write committed and its response was lost; botocore's
                # resend then failed the condition against it. It succeeded.
                LOG.info("%s had committed before its retry", what)
                return stored
            if not conflict.may_have_applied:
                if conflict.item_returned:
                    raise
                raise aws.version_conflict(
                    state_id, stored, what=what, resent=conflict.resent
                ) from conflict
            if not expected(stored):
                raise outcome_unknown(state_id, what, stored) from conflict
            last = conflict_as_unavailable(conflict, what)
        except AwsUnavailable as exc:
            if not exc.may_have_reached_aws:
                raise  # no attempt can have been applied: "not written" is true
            stored = _read_back(read, state_id, what, exc)
            if ours(stored):
                LOG.info("%s had committed before botocore gave up", what)
                return stored
            if not expected(stored):
                raise outcome_unknown(state_id, what, stored) from exc
            last = exc
        LOG.info("%s was not applied (read back); sending it again", what)
    assert last is not None
    raise AwsUnavailable(
        f"{last} (read back after the last attempt: not written; put it again later)",
        aws_code=last.aws_code,
        operation=last.operation,
        retry_attempts=last.retry_attempts,
    ) from last


def conflict_as_unavailable(conflict: VersionConflict, what: str) -> AwsUnavailable:
    """The failure to report if the rounds end after a conflict whose item became expected."""
    return AwsUnavailable(f"cannot {what}: the item changed during the write ({conflict})")


def _read_back(read: Callable[[], Stored], state_id: str, what: str, cause: Exception) -> Stored:
    try:
        return read()
    except AwsError as exc:
        raise WriteOutcomeUnknown(
            state_id,
            f"cannot tell whether the write succeeded ({what}): an attempt may have been "
            f"applied, and reading the item back failed too ({exc}); read the item to find out",
        ) from cause


def reader(store: StateStore, state_id: str) -> Callable[[], Stored]:
    """A consistent read of ``state_id``'s raw item (None: nothing stored)."""

    def read() -> Stored:
        return store.read_attributes(state_id, what="read back state item")

    return read


def has_token(token: str) -> Recognise:
    """Ours if the stored item carries our write token (the lava-state format)."""
    return lambda stored: bool((stored or {}).get(ATTR_WRITE_TOKEN, {}).get("S") == token)


def is_item(item: Mapping[str, Any]) -> Recognise:
    """Ours if the stored item is exactly the one we sent (lava8 and batch puts: no token)."""
    return lambda stored: stored == item


def nothing_stored(stored: Stored) -> bool:
    """A delete is done when no unexpired item is stored (whoever deleted it)."""
    return stored is None or codec.attributes_expired(stored)


def holds(*, if_version: int | None, if_absent: bool) -> Recognise:
    """Whether a write's condition holds on a stored item (an unconditional one always does).

    As :func:`publisher.write.version_condition` and ``ABSENT`` say it on
    the server: version 0 is "no version" (absent, expired or lava 8.x's).
    """

    def check(stored: Stored) -> bool:
        live = not nothing_stored(stored)
        if if_absent:
            return not live
        if if_version is None:
            return True
        version = int((stored or {}).get(ATTR_VERSION, {}).get("N", "0")) if live else 0
        return version == if_version and (if_version == 0 or live)

    return check


def found_item(stored: Stored) -> StateItem | None:
    """The stored item decoded (secure values not decrypted); None if absent, expired or corrupt."""
    if nothing_stored(stored):
        return None
    assert stored is not None
    try:
        return codec.decode_item(stored)
    except CorruptStateItem:
        return None


def outcome_unknown(state_id: str, what: str, stored: Stored) -> WriteOutcomeUnknown:
    """The error for a write that may have committed before the item changed."""
    found = found_item(stored)
    now = (
        "nothing is stored now"
        if found is None
        else f"it is now at version {found.version}, not written by this call"
    )
    return WriteOutcomeUnknown(
        state_id,
        f"cannot tell whether the write succeeded ({what}): an attempt may have been applied "
        "(its answer was lost) and the item has changed since, so the write may or may not "
        f"have committed: {now}; read the item to decide",
        found=found,
        stored_attributes=stored,
    )

"""Idempotent retries: a resent write counts once, and its reported outcome is the true one.

botocore resends a request whose response it did not get (a read timeout,
a connection closed mid-response), even when the first attempt committed.
For a conditional write the resend then fails its own condition, and the
item DynamoDB returns with the failure (``ALL_OLD``) tells what happened:

- **lava-state format**: every single put stores a fresh random
  ``write_token``. If the stored item carries our token, our write
  committed: the call returns the success it was, with the version the
  write got. Unconditional puts are guarded by the token too
  (``attribute_not_exists(write_token) OR write_token <> :token``), so a
  resent commit does not increment the version twice.
- **lava8 format**: items have no token; a resent ``if_absent`` put that
  finds exactly the item it sent (same second, value, publisher) is its own.
- **conditional delete**: a resend that finds no unexpired item is done
  (deleting is idempotent).
- **batch puts** (BatchWriteItem) carry neither a condition nor a token: a
  resend writes the same item again.

The check recognises the write as ours only while the item still holds it.
When a resent conditional write (``if_version``/``if_absent``, every
``update()`` attempt, a conditional delete) fails against anything else,
another writer came in between and whether ours committed cannot be told:
:class:`~lava_state.errors.WriteOutcomeUnknown`, never retried
automatically (``update()`` would apply its ``fn`` twice). The same when
botocore's retries ran out after a request that may have reached DynamoDB
(``AwsUnavailable.may_have_reached_aws``); a failure to connect stays
AwsUnavailable. A conflict on a request that was not resent is a real
VersionConflict.

Our own write is recognised from the raw stored attributes, before
anything is decoded or decrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from lava_state.constants import ATTR_WRITE_TOKEN
from lava_state.errors import AwsUnavailable, VersionConflict, WriteOutcomeUnknown

LOG = logging.getLogger(__name__)

#: Whether a failed condition shows that our own write already committed.
Recognise = Callable[[VersionConflict], bool]


def send_once(
    send: Callable[[], Mapping[str, Any] | None],
    *,
    ours: Recognise,
    conditional: bool,
    state_id: str,
    what: str,
) -> Mapping[str, Any] | None:
    """Send a write whose resend must count once; return what ``send`` returns.

    When the write fails its condition against our own committed write
    (``ours``), that is its success: the stored attributes are returned.
    ``conditional`` says whether the caller asked for a condition: only then
    is running out of retries after the request may have arrived an unknown
    outcome (an unconditional write may simply be sent again).

    Raises:
        VersionConflict: a real conflict, on a request sent once.
        WriteOutcomeUnknown: see the module docstring.
        AwsError: the write failed after retries.
    """
    try:
        return send()
    except VersionConflict as conflict:
        if not ours(conflict):
            if conflict.resent:
                # Our first attempt may have committed and been overwritten by
                # another writer before botocore's resend: a conflict would be a
                # lie half the time, and update() would apply its fn twice.
                raise outcome_unknown(state_id, what) from conflict
            raise
        # Our own write committed and its response was lost; botocore's resend
        # then failed the condition against it. It succeeded.
        LOG.info("%s had committed before its retry", what)
        return conflict.stored_attributes
    except AwsUnavailable as exc:
        if conditional and exc.may_have_reached_aws:
            # botocore's retries ran out on a request that may have reached
            # DynamoDB: the write may have committed.
            raise outcome_unknown(state_id, what) from exc
        raise


def has_token(token: str) -> Recognise:
    """Ours if the stored item carries our write token (the lava-state format)."""

    def recognise(conflict: VersionConflict) -> bool:
        stored = conflict.stored_attributes or {}
        return bool(stored.get(ATTR_WRITE_TOKEN, {}).get("S") == token)

    return recognise


def is_item(item: Mapping[str, Any]) -> Recognise:
    """Ours if the stored item is exactly the one we sent (lava8: no token to compare)."""
    return lambda conflict: conflict.stored_attributes == item


def nothing_stored(conflict: VersionConflict) -> bool:
    """A delete is done when no unexpired item is stored (whoever deleted it)."""
    return conflict.current is None


def outcome_unknown(state_id: str, what: str) -> WriteOutcomeUnknown:
    """The error for a write that may or may not have committed."""
    return WriteOutcomeUnknown(
        state_id,
        f"cannot tell whether the write succeeded ({what}): the request was resent after a "
        "timeout or lost connection, so the write may or may not have committed; read the item "
        "to find out",
    )

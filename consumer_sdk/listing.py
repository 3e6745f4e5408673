"""Listing state items: a paginated scan that never reads values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lava_state import aws, codec
from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VERSION,
)
from lava_state.errors import InvalidInput
from lava_state.model import expiry

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from consumer_sdk.client import StateClient

# Values are never projected: listing must not read (or print) secure values,
# and it keeps the scan's read cost to the metadata.
_PROJECTION = "#sid, #type, #ttl, #ver, #ts, #pub"
_NAMES = {
    "#sid": ATTR_STATE_ID,
    "#type": ATTR_TYPE,
    "#ttl": ATTR_TTL,
    "#ver": ATTR_VERSION,
    "#ts": ATTR_TIMESTAMP,
    "#pub": ATTR_PUBLISHER,
}


@dataclass(frozen=True, kw_only=True)
class StateSummary:
    """An item's metadata, without its value."""

    state_id: str
    type: str
    version: int
    timestamp: str | None
    ttl: int | None
    publisher: str | None

    @property
    def expires_at(self) -> datetime | None:
        """When the item expires (UTC), or None if it has no TTL."""
        return expiry(self.ttl)


def list_states(
    client: StateClient, prefix: str | None = None, *, page_size: int | None = None
) -> Iterator[StateSummary]:
    """Yield the unexpired items whose state_id starts with ``prefix``, in scan order.

    A strongly consistent, paginated Scan with a ``begins_with`` filter;
    ``page_size`` caps the items DynamoDB evaluates per page (default: its 1 MB
    pages). Expired items that DynamoDB has not deleted yet are skipped.

    Raises:
        InvalidInput: ``page_size`` is not a positive whole number.
        CorruptStateItem: an item's version or ttl is not a whole number.
        AwsError: the scan failed after retries.
    """
    if page_size is not None and (
        isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1
    ):
        raise InvalidInput(f"page_size must be a whole number >= 1, not {page_size!r}")
    store = client.store
    request: dict[str, Any] = {
        "TableName": store.table,
        "ConsistentRead": True,
        "ProjectionExpression": _PROJECTION,
        "ExpressionAttributeNames": dict(_NAMES),
    }
    if prefix:
        request["FilterExpression"] = "begins_with(#sid, :prefix)"
        request["ExpressionAttributeValues"] = {":prefix": {"S": prefix}}
    if page_size is not None:
        request["Limit"] = page_size
    while True:
        response = aws.call(
            store.dynamodb.scan, what=f"list state items in {store.table}", **request
        )
        for attributes in response.get("Items", []):
            summary = _summary(attributes)  # checks ttl before it is compared
            if codec.attributes_expired(attributes):
                continue
            yield summary
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return
        request["ExclusiveStartKey"] = last_key


def _summary(attributes: dict[str, Any]) -> StateSummary:
    """The metadata of one scanned item.

    Raises:
        CorruptStateItem: its version or ttl is not a whole number.
    """
    state_id = attributes[ATTR_STATE_ID]["S"]
    return StateSummary(
        state_id=state_id,
        type=attributes.get(ATTR_TYPE, {}).get("S", "?"),
        version=codec.whole_number(attributes.get(ATTR_VERSION), ATTR_VERSION, state_id) or 0,
        timestamp=attributes.get(ATTR_TIMESTAMP, {}).get("S"),
        ttl=codec.whole_number(attributes.get(ATTR_TTL), ATTR_TTL, state_id),
        publisher=attributes.get(ATTR_PUBLISHER, {}).get("S"),
    )

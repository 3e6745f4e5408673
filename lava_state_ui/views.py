"""What the page is sent: an item's row (metadata, never the value), its value as shown
(secure values masked: the server never decrypts one), a change as it arrived."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from lava_state import codec
from lava_state.model import SECRET_MASK, StateType

if TYPE_CHECKING:
    from consumer_sdk.changes import StateChange
    from consumer_sdk.listing import StateSummary
    from lava_state.model import StateItem


class Row(TypedDict):
    """One line of the page's table: an item's metadata."""

    state_id: str
    type: str
    version: int
    publisher: str | None
    timestamp: str | None
    #: Epoch seconds of the expiry (None: never), which the page counts down to.
    ttl: int | None


class Shown(TypedDict):
    """An item as its detail panel shows it."""

    row: Row
    #: The value as text: JSON pretty-printed, a raw string as it is, a secure one masked.
    value: str
    masked: bool


class Change(TypedDict):
    """A change as the live panel shows it (never a value)."""

    kind: str
    state_id: str
    version: int
    timestamp: str | None
    publisher: str | None
    type: str | None
    origin: str
    #: Epoch seconds when the view learnt of it.
    seen: float
    #: The item as read after the change (None: deleted, expired, or unreadable).
    row: Row | None


def summary_row(summary: StateSummary) -> Row:
    """The row of a listed item."""
    return Row(
        state_id=summary.state_id,
        type=summary.type,
        version=summary.version,
        publisher=summary.publisher,
        timestamp=summary.timestamp,
        ttl=summary.ttl,
    )


def item_row(item: StateItem) -> Row:
    """The row of a read item."""
    return Row(
        state_id=item.state_id,
        type=item.type.value,
        version=item.version,
        publisher=item.publisher,
        timestamp=None if item.timestamp is None else item.timestamp.isoformat(),
        ttl=item.ttl,
    )


def shown_item(item: StateItem) -> Shown:
    """The item with its value as text; a secure value is the mask, whatever it holds."""
    if item.type is StateType.SECURE:
        return Shown(row=item_row(item), value=SECRET_MASK, masked=True)
    value = item.value
    if isinstance(value, str) and item.type is StateType.RAW:
        text = value
    else:
        text = json.dumps(value, indent=2, default=codec.display_default, ensure_ascii=False)
    return Shown(row=item_row(item), value=text, masked=False)


def change_of(change: StateChange, *, row: Row | None, seen: float) -> Change:
    """The live panel's line for ``change``."""
    return Change(
        kind=change.kind.value,
        state_id=change.state_id,
        version=change.version,
        timestamp=change.timestamp,
        publisher=change.publisher,
        type=None if change.type is None else change.type.value,
        origin=change.origin.value,
        seen=seen,
        row=row,
    )


def to_json(data: Any) -> str:
    """Compact JSON for the wire (values already made text by :func:`shown_item`)."""
    return json.dumps(data, separators=(",", ":"), default=codec.display_default)

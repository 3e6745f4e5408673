"""Change events: what the stream processor publishes for every change to a state item.

The wire shape (schema ``lava-state.change/1``) is the JSON body of each SNS
message; :class:`ChangeEvent` is its value object, shared by the processor
that writes it and the consumers that read it.

Delivery is at least once and, on standard topics, unordered: a consumer
drops a duplicate or stale event by comparing ``sequence`` (a decimal string;
compare as integers, increasing per state_id) with the last one it applied.
``version`` increases by one per write of an item but starts again at 1 after
a delete, so it orders the puts between two deletes only.

Subscribers read the body off SQS: as sent with raw message delivery, or
wrapped in SNS's JSON envelope (``{"Type": "Notification", "Message": ...}``)
without it; :func:`decode_message` and :meth:`ChangeEvent.from_message` take both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from lava_state.constants import CHANGE_SCHEMA
from lava_state.errors import InvalidInput
from lava_state.model import StateType

#: The ``Type`` of the JSON envelope SNS wraps a notification in (raw delivery off).
SNS_NOTIFICATION = "Notification"


def decode_message(message: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object of a change notification, from the body as received.

    ``message`` is the body as JSON text or already decoded, either the change
    message itself (raw delivery) or SNS's envelope around it, whose
    ``Message`` is the change message's text. The object is not validated:
    :meth:`ChangeEvent.from_message` does that.

    Raises:
        InvalidInput: not JSON, not a JSON object, or an envelope without a message.
    """
    decoded = _json_object(message, "notification body")
    if decoded.get("Type") == SNS_NOTIFICATION and "Message" in decoded:
        inner = decoded["Message"]
        if not isinstance(inner, str):
            raise InvalidInput("malformed SNS envelope: its Message is not text")
        return _json_object(inner, "SNS envelope's Message")
    return decoded


def _json_object(message: object, what: str) -> dict[str, Any]:
    if isinstance(message, str | bytes | bytearray):
        try:
            message = json.loads(message)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidInput(f"{what} is not JSON: {exc}") from None
    if not isinstance(message, Mapping):
        raise InvalidInput(f"{what} is not a JSON object but {type(message).__name__}")
    return dict(message)


class ChangeKind(StrEnum):
    """What happened to the item."""

    PUT = "put"  # created or overwritten (stream INSERT or MODIFY)
    DELETE = "delete"  # deleted by a caller (stream REMOVE)
    EXPIRE = "expire"  # deleted by DynamoDB's TTL service (REMOVE by dynamodb.amazonaws.com)


class ChangeMessage(TypedDict):
    """The JSON body of a change notification."""

    schema: str
    realm: str
    state_id: str
    event: str
    version: int
    timestamp: str | None
    publisher: str | None
    type: str | None
    sequence: str
    approximate_creation_time: str | None
    # Present for json and raw items on a put; never for secure items.
    value: NotRequired[Any]
    # True when the value was left out: too large for SNS, or not representable
    # in JSON (NaN, Infinity); value_omitted_reason says which.
    value_omitted: NotRequired[bool]
    value_omitted_reason: NotRequired[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeEvent:
    """One change to a state item, as notified.

    ``value`` is meaningful only when ``has_value`` is true: puts of json and
    raw items carry the decoded value; deletes, expiries and secure items
    never do (subscribers read and decrypt the item themselves).
    """

    realm: str
    state_id: str
    kind: ChangeKind
    version: int
    sequence: str
    timestamp: str | None = None
    publisher: str | None = None
    type: StateType | None = None
    value: Any = None
    has_value: bool = False
    value_omitted: bool = False
    approximate_creation_time: datetime | None = None

    def __repr__(self) -> str:
        # The value stays out of reprs (and so out of logs), whatever the type.
        return (
            f"ChangeEvent(realm={self.realm!r}, state_id={self.state_id!r}, "
            f"kind={self.kind.value!r}, version={self.version}, sequence={self.sequence!r})"
        )

    def to_message(self) -> ChangeMessage:
        """The wire shape of this event."""
        created = self.approximate_creation_time
        message: ChangeMessage = {
            "schema": CHANGE_SCHEMA,
            "realm": self.realm,
            "state_id": self.state_id,
            "event": self.kind.value,
            "version": self.version,
            "timestamp": self.timestamp,
            "publisher": self.publisher,
            "type": None if self.type is None else self.type.value,
            "sequence": self.sequence,
            "approximate_creation_time": None if created is None else created.isoformat(),
        }
        if self.has_value and self.type is not StateType.SECURE:
            message["value"] = self.value
        if self.value_omitted:
            message["value_omitted"] = True
        return message

    @classmethod
    def from_message(cls, message: str | bytes | Mapping[str, Any]) -> ChangeEvent:
        """Parse a notification body: JSON text or decoded, raw or in SNS's envelope.

        Raises:
            InvalidInput: not a ``lava-state.change/1`` message (see :func:`decode_message`).
        """
        message = decode_message(message)
        if message.get("schema") != CHANGE_SCHEMA:
            raise InvalidInput(f"not a {CHANGE_SCHEMA} message: schema {message.get('schema')!r}")
        try:
            created = message.get("approximate_creation_time")
            state_type = message.get("type")
            return cls(
                realm=str(message["realm"]),
                state_id=str(message["state_id"]),
                kind=ChangeKind(message["event"]),
                version=int(message["version"]),
                sequence=str(message["sequence"]),
                timestamp=message.get("timestamp"),
                publisher=message.get("publisher"),
                type=None if state_type is None else StateType(state_type),
                value=message.get("value"),
                has_value="value" in message,
                value_omitted=bool(message.get("value_omitted", False)),
                approximate_creation_time=(
                    None if created is None else datetime.fromisoformat(created).astimezone(UTC)
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed {CHANGE_SCHEMA} message: {exc}") from None

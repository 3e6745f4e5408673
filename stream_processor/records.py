"""Stream records (Lambda's DynamoDB Streams event shape) to change events.

Pure Python, no AWS calls: this runs once per record and is the handler's
hot path, so it reads the record dict directly instead of deserialising
whole images.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lava_state.codec import as_number, whole_number
from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    TTL_SERVICE_PRINCIPAL,
)
from lava_state.errors import ConfigurationError, CorruptStateItem, MalformedStreamRecord
from lava_state.events import ChangeEvent, ChangeKind
from lava_state.model import StateType
from lava_state.naming import realm_from_table_name

_PUT_EVENTS = frozenset({"INSERT", "MODIFY"})


@dataclass(frozen=True, slots=True)
class StreamSource:
    """Where a record came from: the realm and the SNS ARN prefix of its region and account."""

    realm: str
    topic_arn_prefix: str

    @classmethod
    def from_arn(cls, event_source_arn: str, *, realm: str | None = None) -> StreamSource:
        """Parse ``arn:<partition>:dynamodb:<region>:<account>:table/<table>/stream/<label>``.

        ``realm`` (from LAVA_REALM) wins over the table name.

        Raises:
            ConfigurationError: not a DynamoDB stream ARN of a lava state table.
        """
        parts = event_source_arn.split(":", 5)
        resource = parts[5].split("/") if len(parts) == 6 else []
        if len(resource) < 2 or parts[2] != "dynamodb" or resource[0] != "table":
            raise ConfigurationError(f"{event_source_arn!r} is not a DynamoDB stream ARN")
        partition, region, account = parts[1], parts[3], parts[4]
        return cls(
            realm=realm or realm_from_table_name(resource[1]),
            topic_arn_prefix=f"arn:{partition}:sns:{region}:{account}:",
        )


def change_event(record: Mapping[str, Any], *, realm: str) -> ChangeEvent | None:
    """The change event of one stream record, or None when it changes nothing notifiable.

    None is returned for an INSERT or MODIFY whose new image holds only the
    key: DynamoDB (and moto, which emits such a record before the complete
    one when UpdateItem creates an item) can produce it, and it is not a state.

    Raises:
        MalformedStreamRecord: the record is not a lava-state change (a poison record).
    """
    dynamodb = record.get("dynamodb")
    sequence = dynamodb.get("SequenceNumber") if isinstance(dynamodb, Mapping) else None
    if not isinstance(dynamodb, Mapping) or not isinstance(sequence, str):
        raise MalformedStreamRecord(None, "it has no dynamodb.SequenceNumber")
    kind, image = _kind_and_image(record, dynamodb, sequence)
    state_id = _string(image, ATTR_STATE_ID) or _string(dynamodb.get("Keys") or {}, ATTR_STATE_ID)
    if state_id is None:
        raise MalformedStreamRecord(sequence, f"no string {ATTR_STATE_ID} in the record")
    if kind is ChangeKind.PUT and ATTR_TYPE not in image and ATTR_VALUE not in image:
        return None
    type_name = _string(image, ATTR_TYPE)
    state_type: StateType | None = None
    if type_name is not None:
        try:
            state_type = StateType(type_name)
        except ValueError:
            raise MalformedStreamRecord(sequence, f"unknown state type {type_name!r}") from None
    elif kind is ChangeKind.PUT:
        raise MalformedStreamRecord(sequence, f"the item has no string {ATTR_TYPE}")
    has_value = kind is ChangeKind.PUT and state_type is not StateType.SECURE
    value = _value(image, state_type, sequence) if has_value else None
    created = dynamodb.get("ApproximateCreationDateTime")
    return ChangeEvent(
        realm=realm,
        state_id=state_id,
        kind=kind,
        version=_version(image, sequence),
        sequence=sequence,
        timestamp=_string(image, ATTR_TIMESTAMP),
        publisher=_string(image, ATTR_PUBLISHER),
        type=state_type,
        value=value,
        has_value=has_value,
        approximate_creation_time=(
            datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None
        ),
    )


def _kind_and_image(
    record: Mapping[str, Any], dynamodb: Mapping[str, Any], sequence: str
) -> tuple[ChangeKind, Mapping[str, Any]]:
    name = record.get("eventName")
    if name in _PUT_EVENTS:
        image = dynamodb.get("NewImage")
        if not isinstance(image, Mapping):
            raise MalformedStreamRecord(
                sequence, "a put without NewImage (the stream view must include new images)"
            )
        return ChangeKind.PUT, image
    if name == "REMOVE":
        identity = record.get("userIdentity")
        expired = (
            isinstance(identity, Mapping)
            and identity.get("type") == "Service"
            and identity.get("principalId") == TTL_SERVICE_PRINCIPAL
        )
        image = dynamodb.get("OldImage") or dynamodb.get("Keys") or {}
        return (ChangeKind.EXPIRE if expired else ChangeKind.DELETE), image
    raise MalformedStreamRecord(sequence, f"unknown eventName {name!r}")


def _value(image: Mapping[str, Any], state_type: StateType | None, sequence: str) -> Any:
    value_av = image.get(ATTR_VALUE)
    if not isinstance(value_av, Mapping):
        raise MalformedStreamRecord(sequence, f"the item has no {ATTR_VALUE}")
    if state_type is StateType.JSON:
        return _json_value(value_av, sequence)
    return _native(value_av, sequence)


def _string(image: Mapping[str, Any], name: str) -> str | None:
    av = image.get(name)
    if isinstance(av, Mapping):
        value = av.get("S")
        if isinstance(value, str):
            return value
    return None


def _version(image: Mapping[str, Any], sequence: str) -> int:
    try:
        # Absent on items lava 8.x wrote, which have no versions.
        return whole_number(image.get(ATTR_VERSION), ATTR_VERSION, "?") or 0
    except CorruptStateItem:
        raise MalformedStreamRecord(sequence, f"{ATTR_VERSION} is not an integer") from None


def _json_value(av: Mapping[str, Any], sequence: str) -> Any:
    text = av.get("S")
    if not isinstance(text, str):
        raise MalformedStreamRecord(sequence, "a json item's value is not a string")
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedStreamRecord(sequence, "a json item's value is not valid JSON") from None


def _native(av: Mapping[str, Any], sequence: str) -> Any:
    """A raw DynamoDB attribute value (Lambda's JSON shape) as JSON-ready Python.

    Numbers become int or float, sets become lists, and binary stays the
    base64 text Lambda delivers (JSON has no bytes).
    """
    try:
        ((kind, value),) = av.items()
        if kind in ("S", "B", "BOOL"):
            return value
        if kind == "N":
            return as_number(value)
        if kind == "NULL":
            return None
        if kind == "M":
            return {k: _native(v, sequence) for k, v in value.items()}
        if kind == "L":
            return [_native(v, sequence) for v in value]
        if kind == "NS":
            return [as_number(v) for v in value]
        if kind in ("SS", "BS"):
            return list(value)
    except (AttributeError, TypeError, ValueError, ArithmeticError):
        pass
    raise MalformedStreamRecord(sequence, "a raw item's value is not a DynamoDB attribute value")

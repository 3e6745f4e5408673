"""Bad input gets a clear error, before any AWS call, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.errors import (
    ConfigurationError,
    CorruptStateItem,
    InvalidInput,
    InvalidStateId,
    InvalidStateValue,
    InvalidTTL,
    ReservedStateId,
    StateValueTooLarge,
    UnknownStateType,
)
from lava_state.naming import table_name
from publisher import LavaStateItem, StatePublisher

BIG = "x" * 410_000


@pytest.mark.parametrize(
    ("state_id", "value", "kwargs", "error", "message"),
    [
        ("", 1, {}, InvalidStateId, "must not be empty"),
        ("x" * 1025, 1, {}, InvalidStateId, "at most 1024"),
        (42, 1, {}, InvalidStateId, "must be a string"),
        ("lava-x", 1, {}, ReservedStateId, "reserved"),
        ("LAVAx", 1, {}, ReservedStateId, "reserved"),
        ("sid", 1, {"type": "blob"}, UnknownStateType, "No such state type"),
        ("sid", {"x": object()}, {}, InvalidStateValue, "cannot be JSON-encoded"),
        ("sid", {"x": {1, 2}}, {}, InvalidStateValue, "cannot be JSON-encoded"),
        ("sid", float("nan"), {}, InvalidStateValue, "cannot be JSON-encoded"),
        ("sid", float("inf"), {"type": "raw"}, InvalidStateValue, "cannot store"),
        ("sid", BIG, {}, StateValueTooLarge, "at most 409600"),
        ("sid", BIG, {"type": "raw"}, StateValueTooLarge, "at most 409600"),
        ("sid", BIG, {"type": "secure"}, StateValueTooLarge, "409600"),
        ("sid", 1, {"ttl": "-5m"}, InvalidTTL, "positive"),
        ("sid", 1, {"ttl": "2D"}, InvalidTTL, "lower case"),
        ("sid", 1, {"ttl": "abc"}, InvalidTTL, "not a duration"),
        ("sid", 1, {"ttl": "0"}, InvalidTTL, "positive"),
        ("sid", 1, {"ttl": 0}, InvalidTTL, "positive"),
        ("sid", 1, {"ttl": "400d"}, InvalidTTL, "over the maximum"),
    ],
)
def test_put_refuses_and_writes_nothing(
    publisher: StatePublisher,
    stored: Any,
    state_id: Any,
    value: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message) as info:
        publisher.put(state_id, value, **kwargs)
    assert isinstance(info.value, InvalidInput)
    assert isinstance(info.value, ValueError)
    assert stored() == {}


def test_lava8_format_keeps_the_kms_limit_for_secure_values(
    realm: str, stored: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lava 8.x cannot read the envelope format, so lava8 writes keep direct KMS's 4096 bytes."""
    monkeypatch.setenv("LAVA_STATE_ITEM_FORMAT", "lava8")
    with pytest.raises(StateValueTooLarge, match="4096"):
        StatePublisher(realm).put("sid", "s" * 4095, type="secure")
    assert stored() == {}


def test_lava_api_refuses_and_writes_nothing(realm: str, stored: Any) -> None:
    with pytest.raises(ReservedStateId):
        LavaStateItem.new("json", "lava_thing", realm, 1)
    with pytest.raises(InvalidTTL):
        LavaStateItem.new("json", "sid", realm, 1, ttl="2D")
    item = LavaStateItem.new("json", "sid", realm, 1)
    item.value = {"bad": object()}
    with pytest.raises(InvalidStateValue):
        item.put()
    assert stored() == {}


def test_missing_realm(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="LAVA_REALM"):
        StatePublisher()
    with pytest.raises(ConfigurationError, match="LAVA_REALM"):
        LavaStateItem.new("json", "sid", "", 1)
    monkeypatch.setenv("LAVA_REALM", "somewhere")
    assert StatePublisher().realm == "somewhere"


def test_unknown_item_format_setting(realm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVA_STATE_ITEM_FORMAT", "lava9")
    with pytest.raises(ConfigurationError, match="lava8"):
        StatePublisher(realm)


@pytest.mark.parametrize(
    ("type_", "value", "reason"),
    [
        ("json", {"S": "{bad json"}, "not valid JSON"),
        ("json", {"N": "1"}, "must be a string"),
        ("secure", {"S": "not binary"}, "must be binary"),
        ("mystery", {"S": "1"}, "not one of json, raw, secure"),
    ],
)
def test_corrupt_stored_values_name_the_state_id(
    client: StateClient, dynamodb: Any, realm: str, type_: str, value: dict[str, str], reason: str
) -> None:
    dynamodb.put_item(
        TableName=table_name(realm),
        Item={
            "state_id": {"S": "broken"},
            "type": {"S": type_},
            "value": value,
            "timestamp": {"S": "2026-01-01T00:00:00+00:00"},
            "ttl": {"N": "4000000000"},
        },
    )
    with pytest.raises(CorruptStateItem, match=f"'broken'.*{reason}"):
        client.get("broken")

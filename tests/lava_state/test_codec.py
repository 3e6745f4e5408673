"""The pure codec: values to and from DynamoDB attribute values, sizes, decoding."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lava_state.codec import (
    check_item_size,
    decode_item,
    encode_raw,
    json_encode,
    secure_plaintext,
)
from lava_state.errors import (
    CorruptStateItem,
    InvalidStateValue,
    StateValueTooLarge,
)


def test_json_converts_what_lava_converts() -> None:
    value = {
        "dt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "d": date(2026, 1, 2),
        "t": time(3, 4, 5),
        "td": timedelta(minutes=2),
        "int": Decimal("3"),
        "float": Decimal("2.5"),
    }
    assert json.loads(json_encode(value, state_id="x")) == {
        "dt": "2026-01-02T03:04:05+00:00",
        "d": "2026-01-02",
        "t": "03:04:05",
        "td": "120.0",
        "int": 3,
        "float": 2.5,
    }


@pytest.mark.parametrize("bad", [object(), {1, 2}, b"bytes", float("nan"), float("inf")])
def test_json_refuses_rather_than_str(bad: object) -> None:
    with pytest.raises(InvalidStateValue, match="'x'"):
        json_encode({"v": bad}, state_id="x")


def test_raw_floats_become_exact_decimals() -> None:
    assert encode_raw({"a": 0.1, "b": [1.5, 2]}, state_id="x") == {
        "M": {"a": {"N": "0.1"}, "b": {"L": [{"N": "1.5"}, {"N": "2"}]}}
    }


@pytest.mark.parametrize("bad", [float("nan"), {"a": float("-inf")}, object()])
def test_raw_refuses_unstorable(bad: object) -> None:
    with pytest.raises(InvalidStateValue):
        encode_raw(bad, state_id="x")


def test_secure_plaintext_limit() -> None:
    assert len(secure_plaintext("a" * 4094, state_id="x")) == 4096
    with pytest.raises(StateValueTooLarge, match="4096"):
        secure_plaintext("a" * 4095, state_id="x")


def test_item_size_limit() -> None:
    check_item_size({"value": {"S": "a" * 400_000}}, state_id="x")
    with pytest.raises(StateValueTooLarge, match="409600"):
        check_item_size({"value": {"S": "a" * 409_600}}, state_id="x")


def _stored(**overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    item = {
        "state_id": {"S": "sid"},
        "type": {"S": "json"},
        "value": {"S": '{"lines": "45"}'},
        "timestamp": {"S": "2026-11-28T10:00:00+11:00"},
        "ttl": {"N": "1900000000"},
        "publisher": {"S": "job"},
    }
    item.update(overrides)
    return item


def test_lava_written_item_decodes_with_version_zero() -> None:
    item = decode_item(_stored())
    assert item.value == {"lines": "45"}
    assert item.version == 0
    assert item.timestamp == datetime(2026, 11, 28, 10, tzinfo=UTC) + timedelta(hours=-11)
    assert item.expires_at == datetime.fromtimestamp(1900000000, UTC)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"value": {"S": "{not json"}}, "not valid JSON"),
        ({"value": {"N": "3"}}, "must be a string"),
        ({"type": {"S": "blob"}}, "not one of json, raw, secure"),
        ({"type": {"S": "secure"}}, "must be binary"),
        ({"ttl": {"S": "soon"}}, "'ttl' is not a number"),
        ({"timestamp": {"S": "yesterday"}}, "timestamp"),
    ],
)
def test_corrupt_items_name_the_state_id(overrides: dict[str, dict[str, str]], reason: str) -> None:
    with pytest.raises(CorruptStateItem, match=f"'sid'.*{reason}"):
        decode_item(_stored(**overrides))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_json_round_trip(value: object) -> None:
    stored = _stored(value={"S": json_encode(value, state_id="sid")})
    assert decode_item(stored).value == value

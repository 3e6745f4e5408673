"""lava_state_cli.output: what is printed (JSON of values and items, secure values masked)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from lava_state.model import SECRET_MASK, StateItem, StateType
from lava_state.naming import table_name
from lava_state_cli.output import item_as_json, metadata_as_json, to_json

from .conftest import run_in_process as run


def test_raw_binary_values_print_as_base64(
    dynamodb: Any, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Raw items as another writer (lava's raw type stores native DynamoDB types) leaves them.
    for state_id, value in (
        ("bin", {"B": b"\x00\xffraw"}),
        ("nested", {"M": {"b": {"B": b"\x01"}}}),
    ):
        dynamodb.put_item(
            TableName=table_name(realm),
            Item={
                "state_id": {"S": state_id},
                "type": {"S": "raw"},
                "value": value,
                "timestamp": {"S": "2024-01-01T00:00:00+00:00"},
                "ttl": {"N": str(int(time.time()) + 3600)},
            },
        )
    encoded = base64.b64encode(b"\x00\xffraw").decode()

    code, out, err = run(capsys, "get", "-r", realm, "bin")
    assert (code, err) == (0, "")
    assert json.loads(out) == encoded

    code, out, _ = run(capsys, "get", "-r", realm, "--json", "bin")
    assert (code, json.loads(out)["value"]) == (0, encoded)

    code, out, _ = run(capsys, "get", "-r", realm, "-m", "bin", "nested")
    assert (code, json.loads(out)) == (0, {"bin": encoded, "nested": {"b": "AQ=="}})


def test_numbers_sets_and_binary_as_read_print_as_json() -> None:
    value = {"n": Decimal("2"), "f": Decimal("1.5"), "s": {"b", "a"}, "b": b"\x01"}

    assert json.loads(to_json(value)) == {"n": 2, "f": 1.5, "s": ["a", "b"], "b": "AQ=="}


SECURE = StateItem(
    state_id="tok",
    type=StateType.SECURE,
    value={"pw": "hunter2"},
    timestamp=datetime(2026, 11, 28, 17, 56, 19, tzinfo=UTC),
    ttl=1_800_000_000,
    publisher="job/7",
    version=3,
)


def test_an_item_masks_a_secure_value_unless_revealed() -> None:
    masked = item_as_json(SECURE, reveal=False)
    revealed = item_as_json(SECURE, reveal=True)

    assert masked["value"] == SECRET_MASK
    assert "hunter2" not in to_json(masked)
    assert revealed["value"] == {"pw": "hunter2"}
    # The value after the type: the order people read.
    assert list(masked) == [
        "state_id",
        "type",
        "value",
        "version",
        "timestamp",
        "ttl",
        "expires_at",
        "publisher",
    ]
    assert masked == {**revealed, "value": SECRET_MASK}


def test_metadata_never_holds_the_value() -> None:
    assert metadata_as_json(SECURE) == {
        "state_id": "tok",
        "type": "secure",
        "version": 3,
        "timestamp": "2026-11-28T17:56:19+00:00",
        "ttl": 1_800_000_000,
        "expires_at": "2027-01-15T08:00:00+00:00",
        "publisher": "job/7",
    }

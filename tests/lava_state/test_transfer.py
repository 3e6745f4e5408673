"""The export format: records to lines and back, and the errors a line can have."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary

from lava_state.model import Encrypted, StateItem, StateType
from lava_state.transfer import (
    EXPORT_FORMAT,
    ExportFormatError,
    decode_record,
    encode_record,
    from_dynamodb_json,
    header,
    parse_lines,
    read_header,
    to_dynamodb_json,
)

WHEN = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def item(**kwargs: object) -> StateItem:
    fields: dict[str, object] = {
        "state_id": "a",
        "type": StateType.JSON,
        "value": {"n": 1.5},
        "timestamp": WHEN,
        "ttl": 1_900_000_000,
        "publisher": "job",
        "version": 3,
    }
    fields.update(kwargs)
    return StateItem(**fields)  # type: ignore[arg-type]


def test_a_raw_value_keeps_decimal_digits_sets_and_binary() -> None:
    value = {
        "n": Decimal("1.5000000000000000000000000000000000001"),
        "b": Binary(b"\x00\x01"),
        "ns": {Decimal("1"), Decimal("2.5")},
        "ss": {"x", "y"},
        "bs": {Binary(b"\xff")},
        "l": [None, True, "s"],
    }
    line = encode_record(item(type=StateType.RAW, value=value))
    record = json.loads(line)
    assert record["value"]["M"]["n"] == {"N": "1.5000000000000000000000000000000000001"}
    assert record["value"]["M"]["b"] == {"B": "AAE="}
    back = decode_record(line)
    assert back == item(type=StateType.RAW, value=value)
    assert back.value["n"] == value["n"]
    assert str(back.value["n"]) == "1.5000000000000000000000000000000000001"


def test_a_secure_ciphertext_is_base64_and_a_decrypted_value_is_plain() -> None:
    encrypted = encode_record(item(type=StateType.SECURE, value=Encrypted(b"\x01secret")))
    assert "value" not in json.loads(encrypted)
    assert decode_record(encrypted).value == Encrypted(b"\x01secret")
    plain = encode_record(item(type=StateType.SECURE, value={"password": "p"}))
    assert json.loads(plain)["value"] == {"password": "p"}
    assert decode_record(plain).value == {"password": "p"}


def test_json_values_timestamps_ttl_and_versions_round_trip() -> None:
    original = item(value=[1, 2.25, "x", {"k": None}], ttl=None, publisher=None, version=0)
    assert decode_record(encode_record(original)) == original


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"state_id": "a", "type": "json", "value": 1, "extra": 1}', "unknown field(s) extra"),
        ('{"type": "json", "value": 1}', "'state_id' must be a non-empty string"),
        ('{"state_id": "a", "type": "xml", "value": 1}', "'type' must be one of"),
        ('{"state_id": "a", "type": "json"}', "has a 'value'"),
        ('{"state_id": "a", "type": "secure"}', "exactly one of 'value' and 'ciphertext'"),
        ('{"state_id": "a", "type": "secure", "ciphertext": "!!"}', "not valid base64"),
        ('{"state_id": "a", "type": "raw", "value": 1}', "DynamoDB attribute value"),
        ('{"state_id": "a", "type": "raw", "value": {"N": "x"}}', "is not a number"),
        ('{"state_id": "a", "type": "raw", "value": {"N": "NaN"}}', "not a finite number"),
        ('{"state_id": "a", "type": "raw", "value": {"SS": []}}', "non-empty list"),
        ('{"state_id": "a", "type": "json", "value": 1, "ttl": "1"}', "'ttl' must be"),
        ('{"state_id": "a", "type": "json", "value": 1, "version": -1}', "'version' must be >= 0"),
        ('{"state_id": "a", "type": "json", "value": 1, "timestamp": "x"}', "ISO 8601"),
        ('{"state_id": "a", "type": "json", "value": 1, "publisher": 1}', "'publisher'"),
    ],
)
def test_a_malformed_line_says_why(line: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        decode_record(line)
    assert message in str(caught.value)


def test_parse_lines_numbers_items_and_errors_and_skips_blank_lines() -> None:
    lines = [
        header(realm="dev", exported_at=WHEN, prefix=None, decrypted=False),
        encode_record(item(state_id="a")),
        "",
        "{broken",
        encode_record(item(state_id="b")),
    ]
    parsed = list(parse_lines(lines))
    assert [(p.line, p.item.state_id if p.item else None) for p in parsed] == [
        (2, "a"),
        (4, None),
        (5, "b"),
    ]
    assert parsed[1].error is not None
    assert "not valid JSON" in parsed[1].error


@pytest.mark.parametrize(
    "first", ["", "{}", '{"format": "lava-state.export/2"}', "not json", '{"state_id": "a"}']
)
def test_a_missing_or_other_header_is_refused_before_any_item(first: str) -> None:
    lines = iter([first, encode_record(item())])
    with pytest.raises(ExportFormatError, match="nothing was imported"):
        next(parse_lines(lines))


def test_the_header_names_format_realm_and_time() -> None:
    text = header(realm="dev", exported_at=WHEN, prefix="job.", decrypted=True)
    assert read_header(text) == {
        "format": EXPORT_FORMAT,
        "realm": "dev",
        "exported_at": "2026-12-01T02:00:00+00:00",
        "prefix": "job.",
        "decrypted": True,
    }


def test_dynamodb_json_converts_binary_inside_lists_and_maps() -> None:
    av = {"M": {"l": {"L": [{"B": b"\x00"}, {"BS": [b"\x01"]}]}}}
    as_json = to_dynamodb_json(av)
    assert as_json == {"M": {"l": {"L": [{"B": "AA=="}, {"BS": ["AQ=="]}]}}}
    assert from_dynamodb_json(as_json) == av
    with pytest.raises(ValueError, match=r"'value'.l\[0\]"):
        from_dynamodb_json({"M": {"l": {"L": [{"X": 1}]}}})


def test_importing_the_format_loads_no_aws_sdk() -> None:
    import subprocess
    import sys

    code = "import sys, lava_state.transfer; print(sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "lava_state.transfer" in loaded
    assert "'boto3" not in loaded
    assert "'botocore" not in loaded

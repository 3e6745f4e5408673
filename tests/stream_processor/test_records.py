"""Stream records → change events (pure, from the JSON fixtures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lava_state import ConfigurationError
from lava_state.errors import InvalidInput, MalformedStreamRecord
from lava_state.events import ChangeEvent, ChangeKind
from lava_state.model import StateType
from stream_processor.publish import build_outgoing
from stream_processor.records import StreamSource, change_event

FIXTURES = Path(__file__).parent.parent / "fixtures"


def records(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())["Records"]  # type: ignore[no-any-return]


def events() -> list[ChangeEvent | None]:
    return [change_event(r, realm="fixture") for r in records("stream_changes.json")]


def test_key_only_insert_is_not_a_change() -> None:
    # moto's first INSERT of an UpdateItem-created item carries only the key.
    assert events()[0] is None


def test_json_put_carries_the_decoded_value_and_its_metadata() -> None:
    first, second = events()[1:3]
    assert first is not None and second is not None
    assert (first.kind, first.version, first.value) == (ChangeKind.PUT, 1, {"lines": "45"})
    assert (second.kind, second.version, second.value) == (ChangeKind.PUT, 2, {"lines": "46"})
    message = second.to_message()
    assert message == {
        "schema": "lava-state.change/1",
        "realm": "fixture",
        "state_id": "sid",
        "event": "put",
        "version": 2,
        "timestamp": "2026-11-28T17:56:19+00:00",
        "publisher": "jobs/line-counter",
        "type": "json",
        "sequence": records("stream_changes.json")[2]["dynamodb"]["SequenceNumber"],
        "approximate_creation_time": datetime.fromtimestamp(1795888579, UTC).isoformat(),
        "value": {"lines": "46"},
    }
    assert int(first.sequence) < int(second.sequence)


def test_raw_value_with_binary_attributes_becomes_json_ready() -> None:
    blob = events()[3]
    assert blob is not None and blob.type is StateType.RAW
    assert blob.value == {
        "bytes": "AAEC/w==",  # binary stays base64 text
        "count": 42,
        "ratio": 0.25,
        "tags": ["a", "b"],
        "chunks": ["AQ==", "Ag=="],
        "none": None,
        "ok": True,
        "list": [1, "x"],
    }
    json.dumps(blob.to_message())  # serialisable as is


def test_secure_put_carries_neither_plaintext_nor_ciphertext() -> None:
    raw = records("stream_changes.json")[4]
    ciphertext = raw["dynamodb"]["NewImage"]["value"]["B"]
    secure = change_event(raw, realm="fixture")
    assert secure is not None and secure.type is StateType.SECURE
    outgoing = build_outgoing(secure, position=4, fifo=False)
    body = json.loads(outgoing.entry["Message"])
    assert "value" not in body and "value_omitted" not in body
    assert ciphertext not in outgoing.entry["Message"]
    assert ciphertext[:16] not in repr(secure)
    assert outgoing.entry["MessageAttributes"]["type"]["StringValue"] == "secure"


def test_lava8_item_without_version_reads_as_version_0() -> None:
    legacy = events()[5]
    assert legacy is not None and (legacy.version, legacy.value) == (0, 7)


def test_remove_by_a_caller_is_delete_and_by_the_ttl_service_is_expire() -> None:
    deleted, expired = events()[6:8]
    assert deleted is not None and expired is not None
    assert (deleted.kind, deleted.state_id, deleted.version) == (ChangeKind.DELETE, "sid", 2)
    assert (expired.kind, expired.state_id) == (ChangeKind.EXPIRE, "blob")
    for event in (deleted, expired):
        assert "value" not in event.to_message()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["dynamodb"].pop("SequenceNumber"), "SequenceNumber"),
        (lambda r: r.update(eventName="UPSERT"), "eventName"),
        (lambda r: r["dynamodb"].pop("NewImage"), "NewImage"),
        (lambda r: r["dynamodb"]["NewImage"].update(type={"S": "bogus"}), "state type"),
        (lambda r: r["dynamodb"]["NewImage"].pop("type"), "type"),
        (lambda r: r["dynamodb"]["NewImage"].update(value={"S": "{nope"}), "JSON"),
        (lambda r: r["dynamodb"]["NewImage"].update(value={"N": "1"}), "string"),
        (lambda r: r["dynamodb"]["NewImage"].update(version={"S": "x"}), "version"),
        (
            lambda r: (r["dynamodb"]["NewImage"].pop("state_id"), r["dynamodb"].pop("Keys")),
            "state_id",
        ),
    ],
)
def test_poison_records_are_rejected_with_a_reason(mutate: Any, reason: str) -> None:
    record = records("stream_changes.json")[1]
    mutate(record)
    with pytest.raises(MalformedStreamRecord, match=reason):
        change_event(record, realm="fixture")


def test_realm_comes_from_the_table_name_unless_configured() -> None:
    arn = records("stream_changes.json")[0]["eventSourceARN"]
    assert StreamSource.from_arn(arn) == StreamSource(
        "fixture", "arn:aws:sns:us-east-1:123456789012:"
    )
    assert StreamSource.from_arn(arn, realm="prod").realm == "prod"
    with pytest.raises(ConfigurationError, match="not a lava state table"):
        StreamSource.from_arn(arn.replace("lava.fixture.state", "orders"))
    with pytest.raises(ConfigurationError, match="not a DynamoDB stream ARN"):
        StreamSource.from_arn("arn:aws:sqs:us-east-1:1:queue")


def test_a_value_over_the_sns_limit_is_omitted_and_flagged() -> None:
    record = records("stream_changes.json")[1]
    big = {"blob": "x" * (300 * 1024)}
    record["dynamodb"]["NewImage"]["value"] = {"S": json.dumps(big)}
    event = change_event(record, realm="fixture")
    assert event is not None and event.value == big
    outgoing = build_outgoing(event, position=0, fifo=False)
    body = json.loads(outgoing.entry["Message"])
    assert body["value_omitted"] is True and "value" not in body
    assert outgoing.size <= 256 * 1024


def test_change_messages_round_trip() -> None:
    for event in events():
        if event is None:
            continue
        parsed = ChangeEvent.from_message(json.loads(json.dumps(event.to_message())))
        assert parsed.to_message() == event.to_message()
    with pytest.raises(InvalidInput, match="schema"):
        ChangeEvent.from_message({"schema": "other/1"})

"""Change events: the wire shape round-trips; any body a subscriber gets parses or is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lava_state.errors import InvalidInput
from lava_state.events import ChangeEvent, ChangeKind, decode_message
from lava_state.model import StateType

EVENT = ChangeEvent(
    realm="dev",
    state_id="sid",
    kind=ChangeKind.PUT,
    version=2,
    sequence="4100000000017454423001",
    timestamp="2026-11-28T17:56:19+00:00",
    publisher="jobs/line-counter",
    type=StateType.JSON,
    value={"lines": "46"},
    has_value=True,
    approximate_creation_time=datetime(2026, 11, 28, 17, 56, 19, tzinfo=UTC),
)
BODY = json.dumps(EVENT.to_message())


def envelope(message: str) -> dict[str, Any]:
    """SNS's JSON envelope, as an SQS queue receives it with raw message delivery off."""
    return {
        "Type": "Notification",
        "MessageId": "5b3f7c0e-0000-0000-0000-000000000000",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:lava-state-dev-sid",
        "Message": message,
        "Timestamp": "2026-11-28T17:56:20.000Z",
        "MessageAttributes": {"state_id": {"Type": "String", "Value": "sid"}},
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(BODY, id="raw text"),
        pytest.param(BODY.encode(), id="raw bytes"),
        pytest.param(json.loads(BODY), id="raw decoded"),
        pytest.param(json.dumps(envelope(BODY)), id="envelope text"),
        pytest.param(envelope(BODY), id="envelope decoded"),
    ],
)
def test_a_body_parses_as_text_or_decoded_raw_or_in_its_envelope(body: Any) -> None:
    parsed = ChangeEvent.from_message(body)
    assert parsed == EVENT
    assert decode_message(body) == EVENT.to_message()


def test_a_secure_event_never_carries_its_value_on_the_wire() -> None:
    secure = ChangeEvent(
        realm="dev",
        state_id="token",
        kind=ChangeKind.PUT,
        version=1,
        sequence="1",
        type=StateType.SECURE,
        value="hunter2",
        has_value=True,
    )
    parsed = ChangeEvent.from_message(json.dumps(secure.to_message()))
    assert not parsed.has_value
    assert parsed.value is None
    assert "hunter2" not in repr(parsed)


def test_delete_and_expire_round_trip() -> None:
    for kind in (ChangeKind.DELETE, ChangeKind.EXPIRE):
        event = ChangeEvent(realm="dev", state_id="sid", kind=kind, version=3, sequence="9")
        assert ChangeEvent.from_message(json.dumps(event.to_message())) == event


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("not json", id="not json"),
        pytest.param(b"\xff\xfe", id="not utf-8"),
        pytest.param("[1, 2]", id="a JSON array"),
        pytest.param("42", id="a JSON number"),
        pytest.param("null", id="JSON null"),
        pytest.param(["schema"], id="a list"),
        pytest.param(None, id="None"),
        pytest.param({"schema": "other/1"}, id="another schema"),
        pytest.param({**json.loads(BODY), "event": "moved"}, id="unknown event"),
        pytest.param({**json.loads(BODY), "version": "two"}, id="version not a number"),
        pytest.param({**json.loads(BODY), "version": [2]}, id="version a list"),
        pytest.param({**json.loads(BODY), "type": "bogus"}, id="unknown type"),
        pytest.param({**json.loads(BODY), "approximate_creation_time": 5}, id="time a number"),
        pytest.param(
            {k: v for k, v in json.loads(BODY).items() if k != "sequence"}, id="no sequence"
        ),
        pytest.param(envelope("not json"), id="envelope around non-JSON"),
        pytest.param(envelope("[1]"), id="envelope around an array"),
        pytest.param({**envelope(BODY), "Message": {"schema": 1}}, id="envelope Message not text"),
        pytest.param(
            json.dumps(envelope(json.dumps(envelope(BODY)))), id="envelope in an envelope"
        ),
        pytest.param({"Type": "Notification"}, id="envelope without a Message"),
    ],
)
def test_anything_else_is_invalid_input_never_another_error(body: Any) -> None:
    with pytest.raises(InvalidInput):
        ChangeEvent.from_message(body)

"""Per-id ordering when SNS refuses entries, with an in-memory SNS (moto cannot throttle entries).

Also the pure parts of publishing: chunking, the missing-topic cache, messages.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lava_state.events import ChangeEvent, ChangeKind
from lava_state.model import StateType
from lava_state.naming import realm_topic_name
from stream_processor import ProcessorSettings, StreamProcessor
from stream_processor.publish import Outgoing, TopicPublisher, build_outgoing, chunks

REALM = "order"
ACCOUNT_PREFIX = "arn:aws:sns:us-east-1:123456789012:"
REALM_TOPIC = ACCOUNT_PREFIX + realm_topic_name(REALM)
STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/lava.order.state/stream/2026-11-28T17:56:19.435"
)


class MemorySns:
    """PublishBatch in memory: existing topics only; throttles chosen entries (by Id).

    ``throttle`` maps an entry Id to how many times SNS refuses it (None: always).
    Every call is kept as (topic, ids sent, ids taken).
    """

    def __init__(self, topics: set[str], throttle: dict[str, int | None]) -> None:
        self.topics = topics
        self.throttle = dict(throttle)
        self.calls: list[tuple[str, list[str], list[str]]] = []

    def publish_batch(
        self, *, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if TopicArn not in self.topics:
            raise ClientError(
                {"Error": {"Code": "NotFound", "Message": "Topic does not exist"}}, "PublishBatch"
            )
        ok, failed = [], []
        for entry in PublishBatchRequestEntries:
            left = self.throttle.get(entry["Id"], 0)
            if left is None or left > 0:
                if left is not None:
                    self.throttle[entry["Id"]] = left - 1
                failed.append(
                    {"Id": entry["Id"], "Code": "Throttled", "SenderFault": False, "Message": "x"}
                )
            else:
                ok.append({"Id": entry["Id"], "MessageId": "m-" + entry["Id"]})
        self.calls.append(
            (TopicArn, [e["Id"] for e in PublishBatchRequestEntries], [o["Id"] for o in ok])
        )
        return {"Successful": ok, "Failed": failed}


def record(position: int, state_id: str, version: int) -> dict[str, Any]:
    """A Lambda-shaped MODIFY record of a json item."""
    image = {
        "state_id": {"S": state_id},
        "type": {"S": "json"},
        "value": {"S": json.dumps({"v": version})},
        "version": {"N": str(version)},
    }
    return {
        "eventID": f"{position:032x}",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795888579,
            "Keys": {"state_id": {"S": state_id}},
            "SequenceNumber": f"{4100000000017454423000 + position}",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": image,
        },
        "eventSourceARN": STREAM_ARN,
    }


def batch(*changes: str) -> dict[str, Any]:
    """Records from "id:version" strings, in that (stream) order."""
    records = []
    for position, change in enumerate(changes):
        state_id, version = change.split(":")
        records.append(record(position, state_id, int(version)))
    return {"Records": records}


def run(
    event: dict[str, Any], throttle: dict[str, int | None], topics: set[str]
) -> tuple[MemorySns, list[str]]:
    sns = MemorySns(topics, throttle)
    processor = StreamProcessor(
        sns=sns,  # type: ignore[arg-type]
        settings=ProcessorSettings(realm=REALM, realm_topic=True, tracing="off"),
    )
    response = processor.handle(event)
    return sns, [f["itemIdentifier"] for f in response["batchItemFailures"]]


def sequence_of(event: dict[str, Any], position: int) -> str:
    return str(event["Records"][position]["dynamodb"]["SequenceNumber"])


def assert_no_overtaking(event: dict[str, Any], sns: MemorySns) -> None:
    """No call carries a change of an id while an earlier change of it is unpublished.

    An earlier change sent in the *same* call is fine: SNS takes a batch as a whole.
    """
    ids = {str(p): r["dynamodb"]["Keys"]["state_id"]["S"] for p, r in enumerate(event["Records"])}
    for topic in {call[0] for call in sns.calls}:
        taken: set[str] = set()
        for call_topic, sent, ok in sns.calls:
            if call_topic != topic:
                continue
            for entry in sent:
                for earlier in range(int(entry)):
                    if ids[str(earlier)] == ids[entry] and str(earlier) not in (*taken, *sent):
                        pytest.fail(f"{entry} sent on {topic} before {earlier} was published")
            taken.update(ok)


# Ten changes fill the first PublishBatch; the second holds later changes of a and b.
CHANGES = ("a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1", "i:1", "j:1")
CHANGES += ("a:2", "b:2", "a:3", "c:2", "b:3")


def test_a_change_throttled_always_holds_back_later_changes_of_its_id_in_later_chunks(
    caplog: Any,
) -> None:
    event = batch(*CHANGES)
    with caplog.at_level(logging.WARNING):
        sns, failed = run(event, {"0": None}, {REALM_TOPIC})
    # Five attempts of a:1 (the first with its chunk), then the second chunk without a.
    assert sns.calls == [
        (REALM_TOPIC, [str(p) for p in range(10)], [str(p) for p in range(1, 10)]),
        *[(REALM_TOPIC, ["0"], [])] * 4,
        (REALM_TOPIC, ["11", "13", "14"], ["11", "13", "14"]),
    ]
    assert failed == [sequence_of(event, p) for p in (0, 10, 12)]
    assert_no_overtaking(event, sns)
    held = [r for r in caplog.records if "held back" in getattr(r, "reason", "")]
    assert sorted(r.sequence for r in held) == [sequence_of(event, p) for p in (10, 12)]


def test_a_change_throttled_once_passes_on_retry_and_later_changes_follow_it() -> None:
    event = batch(*CHANGES)
    sns, failed = run(event, {"0": 1}, {REALM_TOPIC})
    assert sns.calls == [
        (REALM_TOPIC, [str(p) for p in range(10)], [str(p) for p in range(1, 10)]),
        (REALM_TOPIC, ["0"], ["0"]),
        (REALM_TOPIC, [str(p) for p in range(10, 15)], [str(p) for p in range(10, 15)]),
    ]
    assert failed == []
    assert_no_overtaking(event, sns)


@pytest.mark.parametrize("times", [1, None])
def test_a_failed_change_is_not_retried_after_a_later_change_of_its_id_went_out(
    times: int | None, caplog: Any
) -> None:
    # a:1 and a:2 share a call; SNS takes a:2 and refuses a:1: retrying a:1 now
    # would publish it after a:2. It is reported failed (Lambda redelivers it)
    # and a:3, in a later call, is held back.
    event = batch("a:1", "a:2", *CHANGES[1:9], "a:3", "b:2")
    with caplog.at_level(logging.WARNING):
        sns, failed = run(event, {"0": times}, {REALM_TOPIC})
    assert sns.calls == [
        (REALM_TOPIC, [str(p) for p in range(10)], [str(p) for p in range(1, 10)]),
        (REALM_TOPIC, ["11"], ["11"]),
    ]
    assert failed == [sequence_of(event, p) for p in (0, 10)]
    held = [r for r in caplog.records if "held back" in getattr(r, "reason", "")]
    assert [r.sequence for r in held] == [sequence_of(event, 10)]  # a:2 was sent: not "held"


def test_a_failure_on_the_own_topic_holds_back_the_realm_topic_too() -> None:
    own_a = ACCOUNT_PREFIX + "lava-state-order-a"
    event = batch(*CHANGES)
    sns, failed = run(event, {"0": None}, {REALM_TOPIC, own_a})
    # a's own topic first: a:1 refused in the call that took a:2 and a:3, so not retried.
    assert [call for call in sns.calls if call[0] == own_a] == [
        (own_a, ["0", "10", "12"], ["10", "12"])
    ]
    # On the realm topic a:1 is tried (five times) but a:2 and a:3 never go out.
    assert [call for call in sns.calls if call[0] == REALM_TOPIC] == [
        (REALM_TOPIC, [str(p) for p in range(10)], [str(p) for p in range(1, 10)]),
        *[(REALM_TOPIC, ["0"], [])] * 4,
        (REALM_TOPIC, ["11", "13", "14"], ["11", "13", "14"]),
    ]
    assert failed == [sequence_of(event, p) for p in (0, 10, 12)]
    assert_no_overtaking(event, sns)


# ----------------------------------------------------------------------------- pure parts


def _outgoing(position: int, size: int) -> Outgoing:
    return Outgoing(
        position=position,
        state_id="x",
        sequence=str(position),
        entry={"Id": str(position)},
        size=size,
    )


def test_chunks_split_at_256_kib_and_at_10_entries() -> None:
    sizes = [len(chunk) for chunk in chunks([_outgoing(p, 54_000) for p in range(10)])]
    assert sizes == [4, 4, 2]  # 4 x 54 KB fit in 256 KiB, 5 do not
    assert [len(c) for c in chunks([_outgoing(p, 100) for p in range(25)])] == [10, 10, 5]
    exact = chunks([_outgoing(0, 256 * 1024 - 1), _outgoing(1, 1), _outgoing(2, 1)])
    assert [len(c) for c in exact] == [2, 1]
    assert chunks([]) == []


def test_the_missing_topic_cache_is_bounded() -> None:
    now = [0.0]
    sns = MemorySns(set(), {})
    publisher = TopicPublisher(
        sns=sns,  # type: ignore[arg-type]
        missing_topic_ttl=10,
        clock=lambda: now[0],
        missing_topic_cache_size=100,
    )
    item = _outgoing(0, 10)
    for n in range(100):
        assert publisher.publish(f"t{n}", [item], failed_from={}).missing
    assert publisher.missing_topics_cached() == 100
    # GIVEN the first 100 expired WHEN more topics turn out missing THEN they are pruned
    now[0] = 11.0
    for n in range(100, 150):
        publisher.publish(f"t{n}", [item], failed_from={})
    assert publisher.missing_topics_cached() == 50
    assert publisher.known_missing("t149")
    # Even when none has expired, the cache never grows past its bound (oldest go first).
    for n in range(150, 400):
        publisher.publish(f"t{n}", [item], failed_from={})
    assert publisher.missing_topics_cached() == 100
    assert publisher.known_missing("t399")
    assert not publisher.known_missing("t150")


def _event(value: Any, state_type: StateType = StateType.JSON) -> ChangeEvent:
    return ChangeEvent(
        realm=REALM,
        state_id="n",
        kind=ChangeKind.PUT,
        version=1,
        sequence="1",
        type=state_type,
        value=value,
        has_value=True,
    )


@pytest.mark.parametrize("value", [math.nan, [1, math.inf], {"x": -math.inf}])
def test_nan_and_infinity_are_left_out_and_the_message_stays_json(value: Any) -> None:
    body = build_outgoing(_event(value), position=0, fifo=False).entry["Message"]
    # strict JSON: NaN and Infinity are not JSON
    message = json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} in {body}"))
    assert "value" not in message
    assert message["value_omitted"] is True
    assert message["value_omitted_reason"] == "not representable in JSON"
    assert ChangeEvent.from_message(message).value_omitted


def test_a_plain_value_is_kept() -> None:
    body = build_outgoing(_event({"x": 1.5}), position=0, fifo=False).entry["Message"]
    message = json.loads(body)
    assert message["value"] == {"x": 1.5}
    assert "value_omitted" not in message

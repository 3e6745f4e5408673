"""The handler against the embedded SNS/SQS (Stubber only for failures moto cannot produce)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.stub import Stubber

from lava_state.naming import realm_topic_name, topic_name
from lava_state_local import LocalAws
from stream_processor import StreamProcessor

from .conftest import clone


def sequences(event: dict[str, Any], *positions: int) -> list[str]:
    return [event["Records"][p]["dynamodb"]["SequenceNumber"] for p in positions]


def test_changes_reach_the_subscribers_of_their_state_id(
    load_event: Any, subscribe_id: Any, receive: Any, make_processor: Any
) -> None:
    # GIVEN subscribers of "sid" and of "blob"; nobody subscribed to the others
    sid_queue = subscribe_id("sid")
    blob_queue = subscribe_id("blob")
    event = load_event("stream_changes.json")
    # WHEN the batch is processed
    response = make_processor().handle(clone(event))
    # THEN nothing failed and each queue got its id's changes, in stream order
    assert response == {"batchItemFailures": []}
    sid = receive(sid_queue, 3)
    assert [(m["body"]["event"], m["body"]["version"]) for m in sid] == [
        ("put", 1),
        ("put", 2),
        ("delete", 2),
    ]
    assert sid[1]["body"]["value"] == {"lines": "46"}
    assert sid[1]["attributes"] == {"state_id": "sid", "event": "put", "type": "json"}
    assert [m["body"]["sequence"] for m in sid] == sequences(event, 1, 2, 6)
    blob = receive(blob_queue, 2)
    assert [m["body"]["event"] for m in blob] == ["put", "expire"]
    assert blob[0]["body"]["value"]["bytes"] == "AAEC/w=="


def test_a_missing_topic_costs_no_error_and_is_cached_for_a_while(
    load_event: Any, subscribe_id: Any, receive: Any, make_processor: Any
) -> None:
    now = [1000.0]
    processor = make_processor(missing_topic_ttl=30, clock=lambda: now[0])
    event = load_event("stream_changes.json")
    assert processor.handle(clone(event)) == {"batchItemFailures": []}
    # WHEN someone subscribes right after, the cached "missing" still holds...
    queue = subscribe_id("sid")
    processor.handle(clone(event))
    assert receive(queue, 1, timeout=1.5) == []
    # ...until it expires: then the new subscriber receives.
    now[0] += 31
    processor.handle(clone(event))
    assert len(receive(queue, 3)) == 3


def test_poison_records_fail_alone(
    load_event: Any, subscribe_id: Any, receive: Any, make_processor: Any, caplog: Any
) -> None:
    queue = subscribe_id("good-1")
    for state_id in ("good-2", "good-3"):
        subscribe_id(state_id, queue_url=queue)
    event = load_event("stream_poison.json")
    with caplog.at_level(logging.ERROR):
        response = make_processor().handle(clone(event))
    poison_logs = [r for r in caplog.records if r.getMessage().startswith("poison record")]
    assert [r.sequence for r in poison_logs] == sequences(event, 1, 3)
    assert "unknown state type 'bogus'" in poison_logs[0].reason
    assert response == {
        "batchItemFailures": [{"itemIdentifier": s} for s in sequences(event, 1, 3)]
    }
    assert sorted(m["body"]["state_id"] for m in receive(queue, 3)) == [
        "good-1",
        "good-2",
        "good-3",
    ]


def test_a_batch_of_only_poison_is_a_function_error(load_event: Any, make_processor: Any) -> None:
    event = load_event("stream_poison.json")
    event["Records"] = [event["Records"][1], event["Records"][3]]
    with pytest.raises(BatchProcessingError):
        make_processor().handle(event)


def _publish_batch_response(
    entries: list[dict[str, Any]], failed: dict[str, str]
) -> dict[str, Any]:
    return {
        "Successful": [
            {"Id": e["Id"], "MessageId": f"m-{e['Id']}"} for e in entries if e["Id"] not in failed
        ],
        "Failed": [
            {"Id": i, "Code": code, "SenderFault": code == "InvalidParameter", "Message": code}
            for i, code in failed.items()
        ],
    }


class ThrottlingSns:
    """A real botocore SNS client whose PublishBatch answers are stubbed (Stubber).

    A ``before-parameter-build`` hook, run ahead of the Stubber's, records the
    entry Ids of every PublishBatch call: an unexpected extra call shows up in
    ``calls`` even though the Stubber's error for it (UnStubbedResponseError,
    a BotoCoreError) is reported by the publisher as a failed publish.
    """

    def __init__(self, local_aws: LocalAws, topic_arn: str) -> None:
        self.client = local_aws.client("sns")
        self.stubber = Stubber(self.client)
        self.topic_arn = topic_arn
        self.calls: list[list[str]] = []
        # Counted when the call's parameters are built: for a call it has no
        # answer queued for, the Stubber raises right after (registered later, so
        # it runs after this hook; botocore runs the wildcard node first).
        self.client.meta.events.register_first(
            "before-parameter-build.*.*", self._count, unique_id="count-publish-batch"
        )

    def _count(self, params: dict[str, Any], event_name: str, **kwargs: Any) -> None:
        if event_name == "before-parameter-build.sns.PublishBatch":
            self.calls.append([e["Id"] for e in params["PublishBatchRequestEntries"]])

    def expect(self, entries: list[dict[str, Any]], failed: dict[str, str]) -> None:
        self.stubber.add_response(
            "publish_batch",
            _publish_batch_response(entries, failed),
            {"TopicArn": self.topic_arn, "PublishBatchRequestEntries": entries},
        )


def nobody_subscribed(processor: StreamProcessor, event: dict[str, Any], *state_ids: str) -> None:
    """Remember these ids' own topics as missing (for the processor's missing-topic TTL,
    longer than any test), so the stubbed client sees no call for them."""
    source = processor.source(event["Records"][0]["eventSourceARN"])
    for state_id in state_ids:
        processor.publisher.remember_missing(processor.topic_arns(source, state_id)[0])


def _entries(processor: StreamProcessor, event: dict[str, Any], positions: list[int]) -> list[Any]:
    from stream_processor.publish import build_outgoing
    from stream_processor.records import change_event

    result = []
    for position in positions:
        change = change_event(
            event["Records"][position],
            realm=processor.source(event["Records"][position]["eventSourceARN"]).realm,
        )
        assert change is not None
        result.append(build_outgoing(change, position=position, fifo=False).entry)
    return result


def _good_1(local_aws: LocalAws, load_event: Any, make_processor: Any, realm: str) -> Any:
    """One change (good-1, position 0) bound for an existing topic; good-2's topic missing."""
    from lava_state.naming import topic_name

    event = load_event("stream_poison.json")
    event["Records"] = [event["Records"][0], event["Records"][2]]
    sns = ThrottlingSns(
        local_aws, f"arn:aws:sns:us-east-1:123456789012:{topic_name(realm, 'good-1')}"
    )
    processor = make_processor(sns=sns.client)
    nobody_subscribed(processor, event, "good-2")
    return event, sns, processor, _entries(processor, event, [0])


def test_a_throttled_entry_is_attempted_exactly_five_times(
    local_aws: LocalAws, load_event: Any, make_processor: Any, realm: str
) -> None:
    event, sns, processor, entries = _good_1(local_aws, load_event, make_processor, realm)
    for _ in range(5):
        sns.expect(entries, {"0": "Throttling"})
    with sns.stubber:
        response = processor.handle(clone(event))
        sns.stubber.assert_no_pending_responses()
    assert sns.calls == [["0"]] * 5  # the documented 5 attempts in all, not one more
    assert response == {"batchItemFailures": [{"itemIdentifier": sequences(event, 0)[0]}]}


def test_a_throttled_entry_in_a_call_where_a_later_change_of_its_id_passed_is_not_retried(
    local_aws: LocalAws, load_event: Any, make_processor: Any, realm: str
) -> None:
    # GIVEN one topic (the realm's) carrying every change, and SNS throttling
    # entry 2 (sid v2) inside the 200 response of the one call that also takes
    # entry 6 (sid's delete)
    event = load_event("stream_changes.json")
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{realm_topic_name(realm)}"
    sns = ThrottlingSns(local_aws, topic_arn)
    processor = make_processor(sns=sns.client, realm_topic=True)
    nobody_subscribed(processor, event, "sid", "blob", "db/password", "legacy")
    first = _entries(processor, event, [1, 2, 3, 4, 5, 6, 7])
    sns.expect(first, {"2": "Throttling"})
    with sns.stubber:
        response = processor.handle(clone(event))
        sns.stubber.assert_no_pending_responses()
    # THEN sid v2 is not retried (that would publish it after sid's delete) but
    # reported failed, so Lambda redelivers from it; nothing else failed.
    assert sns.calls == [["1", "2", "3", "4", "5", "6", "7"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": sequences(event, 2)[0]}]}


def test_a_throttled_entry_that_passes_on_retry_is_not_reported(
    local_aws: LocalAws, load_event: Any, make_processor: Any, realm: str
) -> None:
    event, sns, processor, entries = _good_1(local_aws, load_event, make_processor, realm)
    sns.expect(entries, {"0": "Throttling"})
    sns.expect(entries, {})
    with sns.stubber:
        assert processor.handle(clone(event)) == {"batchItemFailures": []}
        sns.stubber.assert_no_pending_responses()
    assert sns.calls == [["0"], ["0"]]


def test_a_sender_fault_is_never_retried(
    local_aws: LocalAws, load_event: Any, make_processor: Any, realm: str
) -> None:
    event, sns, processor, entries = _good_1(local_aws, load_event, make_processor, realm)
    sns.expect(entries, {"0": "InvalidParameter"})
    with sns.stubber:
        response = processor.handle(clone(event))
        sns.stubber.assert_no_pending_responses()
    assert sns.calls == [["0"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": sequences(event, 0)[0]}]}


def test_the_realm_topic_gets_every_change(
    load_event: Any, subscribe_realm: Any, receive: Any, make_processor: Any, realm: str
) -> None:
    queue = subscribe_realm()
    make_processor(realm_topic=True).handle(load_event("stream_changes.json"))
    messages = receive(queue, 7)
    assert [m["body"]["state_id"] for m in messages] == [
        "sid",
        "sid",
        "blob",
        "db/password",
        "legacy",
        "sid",
        "blob",
    ]


def test_fifo_topics_group_by_state_id_and_deduplicate_redeliveries(
    load_event: Any, subscribe_id: Any, sqs: Any, make_processor: Any
) -> None:
    queue = subscribe_id("sid", fifo=True)
    processor = make_processor(fifo=True)
    event = load_event("stream_changes.json")
    processor.handle(clone(event))
    processor.handle(clone(event))  # at-least-once: the same records again
    response = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
    )
    messages = response["Messages"]
    assert [json.loads(m["Body"])["version"] for m in messages] == [1, 2, 2]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"sid"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == sequences(
        event, 1, 2, 6
    )


def test_logs_are_structured_and_never_hold_a_secure_value(
    load_event: Any, make_processor: Any, caplog: Any
) -> None:
    from stream_processor.handler import logger

    event = load_event("stream_changes.json")
    ciphertext = event["Records"][4]["dynamodb"]["NewImage"]["value"]["B"]
    logger.setLevel(logging.INFO)  # the Lambda's default: one line per change
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            make_processor().handle(clone(event))
    finally:
        logger.setLevel(logging.INFO)
    # Formatted as the Lambda writes them: one JSON object per line.
    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records]
    routed = [line for line in lines if line["message"] == "change routed"]
    assert {(r["state_id"], r["event"]) for r in routed} >= {
        ("db/password", "put"),
        ("blob", "expire"),
    }
    assert all(r["sequence"].isdigit() for r in routed)
    assert len(routed) == 7 and all(isinstance(r["version"], int) for r in routed)
    assert not any("value" in r for r in routed)
    assert any(line["message"] == "batch processed" for line in lines)
    assert not any(ciphertext[:12] in json.dumps(line) for line in lines)


def test_the_batch_log_counts_poison_and_unpublished_records_as_failed(
    local_aws: LocalAws, load_event: Any, make_processor: Any, realm: str, caplog: Any
) -> None:
    from stream_processor.handler import logger

    # GIVEN the poison batch (2 poison records), SNS refusing good-1's change,
    # and nobody subscribed to good-2 or good-3
    event = load_event("stream_poison.json")
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{topic_name(realm, 'good-1')}"
    sns = ThrottlingSns(local_aws, topic_arn)
    processor = make_processor(sns=sns.client)
    nobody_subscribed(processor, event, "good-2", "good-3")
    sns.expect(_entries(processor, event, [0]), {"0": "InvalidParameter"})
    # WHEN the batch is processed
    with sns.stubber, caplog.at_level(logging.INFO, logger=logger.name):
        response = processor.handle(clone(event))
        sns.stubber.assert_no_pending_responses()
    # THEN the refused record and the poison ones are reported, and the batch
    # line counts them all among the batch's records (poison ones are reported
    # first; Lambda only reads the lowest sequence number)
    reported = sorted(f["itemIdentifier"] for f in response["batchItemFailures"])
    assert reported == sequences(event, 0, 1, 3)
    (line,) = [
        json.loads(logger.registered_formatter.format(r))
        for r in caplog.records
        if r.getMessage() == "batch processed"
    ]
    assert {k: line[k] for k in ("realm", "records", "changes", "failed")} == {
        "realm": realm,
        "records": 5,
        "changes": 3,
        "failed": 3,
    }
    assert (line["sns_calls"], line["missing_topics"]) == (1, 2)

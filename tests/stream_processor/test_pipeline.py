"""The whole pipeline on the embedded stack: put → stream → runner → handler → SNS → SQS."""

from __future__ import annotations

import json
from typing import Any

from lava_state.naming import table_name
from lava_state_local import LocalAws, RunnerSettings
from publisher import StatePublisher


def test_a_put_reaches_an_sqs_subscriber(
    publisher: StatePublisher, subscribe_id: Any, receive: Any, start_runner: Any
) -> None:
    queue = subscribe_id("sid")
    subscribe_id("token", queue_url=queue)
    start_runner()
    publisher.put("sid", {"lines": "45"})
    publisher.put("token", {"secret": "hunter2"}, type="secure")
    messages = {m["body"]["state_id"]: m for m in receive(queue, 2)}
    assert messages["sid"]["body"]["value"] == {"lines": "45"}
    assert messages["sid"]["body"]["version"] == 1
    assert messages["sid"]["body"]["publisher"] == "tests"
    assert "value" not in messages["token"]["body"]
    assert "hunter2" not in json.dumps(messages["token"])


def test_1000_changes_across_50_ids_arrive_in_version_order(
    publisher: StatePublisher, subscribe_id: Any, receive: Any, start_runner: Any
) -> None:
    # One queue per id: moto's SQS slows down quadratically with queue depth.
    ids = [f"job-{n:02d}" for n in range(50)]
    queues = {state_id: subscribe_id(state_id) for state_id in ids}
    start_runner()
    for round_ in range(20):
        for state_id in ids:
            publisher.put(state_id, {"round": round_})
    for state_id, queue in queues.items():
        seen: set[str] = set()
        versions: list[int] = []
        for message in receive(queue, 20, timeout=20):
            body = message["body"]
            assert body["state_id"] == state_id
            if body["sequence"] in seen:
                continue  # at-least-once: a redelivery
            seen.add(body["sequence"])
            versions.append(body["version"])
        assert versions == list(range(1, 21)), state_id


def test_a_poison_record_ends_in_the_dead_letter_queue_and_the_rest_flows(
    local_aws: LocalAws,
    realm: str,
    publisher: StatePublisher,
    subscribe_id: Any,
    receive: Any,
    start_runner: Any,
    sqs: Any,
) -> None:
    queue = subscribe_id("after")
    runner = start_runner(settings=RunnerSettings(max_retries=1, retry_backoff=0.01))
    # An item no lava-state writer produces: its type is unknown.
    local_aws.client("dynamodb").put_item(
        TableName=table_name(realm),
        Item={"state_id": {"S": "poison"}, "type": {"S": "bogus"}, "value": {"S": "1"}},
    )
    publisher.put("after", "still delivered")
    assert [m["body"]["value"] for m in receive(queue, 1)] == ["still delivered"]
    dead = sqs.receive_message(QueueUrl=runner.dlq_url, WaitTimeSeconds=5).get("Messages", [])
    assert len(dead) == 1
    info = json.loads(dead[0]["Body"])["DDBStreamBatchInfo"]
    assert info["streamArn"] == runner.stream_arn
    assert runner.stats.dead_lettered >= 1
    # The batch starts at the poison record itself (the lowest failed sequence number).
    streams = local_aws.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(
        StreamArn=runner.stream_arn,
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    first = streams.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    assert first["dynamodb"]["NewImage"]["type"] == {"S": "bogus"}


def test_an_expired_item_is_swept_and_notified_as_expire(
    local_aws: LocalAws,
    realm: str,
    publisher: StatePublisher,
    subscribe_id: Any,
    receive: Any,
    start_runner: Any,
    client: Any,
) -> None:
    queue = subscribe_id("short-lived")
    start_runner()
    sweeper = local_aws.start_ttl_sweeper(realm, interval=0.2)
    try:
        publisher.put("short-lived", "soon gone", ttl="1s")
        publisher.put("long-lived", "stays", ttl="1h")
        events = [m["body"]["event"] for m in receive(queue, 2, timeout=8)]
    finally:
        sweeper.stop()
    assert events == ["put", "expire"]
    assert client.get("long-lived") is not None

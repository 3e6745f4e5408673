"""The whole pipeline on the embedded stack: put → stream → runner → handler → SNS → SQS."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.stub import Stubber

from lava_state.naming import table_name
from lava_state_local import LocalAws
from lava_state_local.streams import RunnerSettings, StreamRunner, TtlMarks
from publisher import StatePublisher


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


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


def _function(calls: list[list[str]], fail: Any) -> Any:
    """A handler recording the state_ids of each invocation; ``fail`` decides the outcome."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        ids = [r["dynamodb"]["Keys"]["state_id"]["S"] for r in event["Records"]]
        calls.append(ids)
        return {"batchItemFailures": fail(event["Records"], len(calls))}

    return handler


def test_the_runner_retries_from_the_lowest_failed_sequence_number(
    realm: str, publisher: StatePublisher, start_runner: Any
) -> None:
    calls: list[list[str]] = []

    def fail_b_once(records: list[dict[str, Any]], attempt: int) -> list[dict[str, str]]:
        return [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
            for r in records
            if r["dynamodb"]["Keys"]["state_id"]["S"] == "b" and attempt == 1
        ][:1]

    # Write first, then start: the runner reads all three in one batch.
    for state_id in ("a", "b", "c"):
        publisher.put(state_id, 1)
    start_runner(handler=_function(calls, fail_b_once))
    assert wait_for(lambda: len(calls) >= 2)
    # UpdateItem-created items appear twice in moto's stream (key-only, then full).
    assert calls[0] == ["a", "a", "b", "b", "c", "c"]
    assert calls[1] == ["b", "b", "c", "c"]


def test_the_runner_bisects_a_failing_batch_and_dead_letters_the_culprit(
    publisher: StatePublisher, start_runner: Any, sqs: Any
) -> None:
    calls: list[list[str]] = []

    def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
        ids = [r["dynamodb"]["Keys"]["state_id"]["S"] for r in event["Records"]]
        calls.append(ids)
        if "boom" in ids:
            raise RuntimeError("function error")
        return {"batchItemFailures": []}

    for state_id in ("a", "boom", "c", "d"):
        publisher.put(state_id, 1)
    runner = start_runner(
        handler=boom, settings=RunnerSettings(max_retries=2, retry_backoff=0.01, idle_poll=0.5)
    )
    dead = sqs.receive_message(QueueUrl=runner.dlq_url, WaitTimeSeconds=5).get("Messages", [])
    assert len(dead) == 1
    assert json.loads(dead[0]["Body"])["DDBStreamBatchInfo"]["batchSize"] <= 2

    def delivered() -> set[str]:
        return {i for ids in list(calls) if "boom" not in ids for i in ids}

    # The second half of the first bisection runs after the culprit is dead-lettered.
    assert wait_for(lambda: delivered() == {"a", "c", "d"}, timeout=5)
    assert calls[0] == ["a", "a", "boom", "boom", "c", "c", "d", "d"]


def test_an_expired_iterator_is_reacquired_after_the_checkpoint(
    local_aws: LocalAws, realm: str
) -> None:
    streams = local_aws.client("dynamodbstreams")
    stubber = Stubber(streams)
    calls: list[list[str]] = []
    runner = StreamRunner(
        table_name(realm),
        handler=_function(calls, lambda records, attempt: []),
        dynamodb=local_aws.client("dynamodb"),
        streams=streams,
        sqs=local_aws.client("sqs"),
        marks=TtlMarks(),
    )
    arn = runner.stream_arn

    def record(sequence: str) -> dict[str, Any]:
        return {
            "eventID": sequence,
            "eventName": "INSERT",
            "dynamodb": {"Keys": {"state_id": {"S": sequence}}, "SequenceNumber": sequence},
        }

    stubber.add_response(
        "describe_stream",
        {"StreamDescription": {"Shards": [{"ShardId": "shardId-00000001541626099285-f35f62ef"}]}},
        {"StreamArn": arn},
    )
    stubber.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-1"},
        {
            "StreamArn": arn,
            "ShardId": "shardId-00000001541626099285-f35f62ef",
            "ShardIteratorType": "TRIM_HORIZON",
        },
    )
    stubber.add_response(
        "get_records", {"Records": [record("1" * 21)], "NextShardIterator": "it-2"}, None
    )
    stubber.add_client_error("get_records", "ExpiredIteratorException", "Iterator expired")
    stubber.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-3"},
        {
            "StreamArn": arn,
            "ShardId": "shardId-00000001541626099285-f35f62ef",
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "SequenceNumber": "1" * 21,
        },
    )
    stubber.add_response(
        "get_records",
        {"Records": [record("1" * 20 + "2")], "NextShardIterator": "it-4"},
        {"ShardIterator": "it-3", "Limit": 100},
    )
    with stubber:
        # The renewed iterator is read at once: no write may come to signal the record.
        assert [runner.poll_once() for _ in range(2)] == [1, 1]
        stubber.assert_no_pending_responses()
    assert calls == [["1" * 21], ["1" * 20 + "2"]]
    assert runner.stats.iterator_renewals == 1


def count_get_records(runner: StreamRunner) -> list[int]:
    """Count the runner's GetRecords calls (a hook on its own client)."""
    calls: list[int] = []
    runner._streams.meta.events.register(
        "before-call.dynamodb-streams.GetRecords", lambda **kwargs: calls.append(1)
    )
    return calls


def test_the_runner_does_not_poll_an_idle_stream(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, start_runner: Any
) -> None:
    calls: list[list[str]] = []
    runner = start_runner(handler=_function(calls, lambda records, attempt: []))
    time.sleep(0.5)  # its first read, from TRIM_HORIZON, is done
    get_records = count_get_records(runner)
    # WHEN nothing is written for a couple of seconds THEN nothing is read
    time.sleep(2.0)
    assert get_records == []
    # WHEN small batches are written THEN each costs one GetRecords, not a second one
    for n in range(3):
        publisher.put(f"idle-{n}", n)
        assert wait_for(lambda n=n: len(calls) == n + 1)
        time.sleep(0.3)
        assert len(get_records) == n + 1
    # WHEN another runner (another realm) stops THEN this one is not woken to poll
    other = f"{realm}x"
    local_aws.provision_realm(other)  # DynamoDB writes: this runner may poll
    time.sleep(0.5)
    before = len(get_records)
    local_aws.start_stream_runner(other, handler=_function([], lambda r, a: [])).stop()
    time.sleep(0.5)
    assert len(get_records) == before


def test_a_full_batch_is_followed_by_an_immediate_poll(
    publisher: StatePublisher, start_runner: Any
) -> None:
    calls: list[list[str]] = []
    for n in range(3):  # six records in moto's stream (key-only, then complete)
        publisher.put(f"full-{n}", n)
    start_runner(
        handler=_function(calls, lambda records, attempt: []),
        settings=RunnerSettings(batch_size=4, idle_poll=0.5),
    )
    assert wait_for(lambda: sum(map(len, calls)) == 6)
    assert [len(c) for c in calls] == [4, 2]


def test_a_dead_letter_queue_failure_keeps_the_checkpoint(
    publisher: StatePublisher, start_runner: Any, sqs: Any
) -> None:
    calls: list[list[str]] = []
    publisher.put("dlq", 1)
    runner = start_runner(
        handler=_function(
            calls,
            lambda records, attempt: (
                [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
                if attempt <= 2
                else []
            ),
        ),
        settings=RunnerSettings(max_retries=0, retry_backoff=0.01, idle_poll=0.2),
    )
    runner.dlq_url += "-gone"  # sending to the dead-letter queue fails
    # THEN the batch is not dropped: it is read and invoked again until it passes
    assert wait_for(lambda: len(calls) >= 3)
    assert calls[0] == calls[1] == calls[2] == ["dlq", "dlq"]
    assert runner._thread is not None and runner._thread.is_alive()


def test_the_runner_survives_any_exception_and_skips_closed_shards(
    local_aws: LocalAws, realm: str
) -> None:
    streams = local_aws.client("dynamodbstreams")
    stubber = Stubber(streams)
    runner = StreamRunner(
        table_name(realm),
        handler=_function([], lambda records, attempt: []),
        dynamodb=local_aws.client("dynamodb"),
        streams=streams,
        sqs=local_aws.client("sqs"),
        settings=RunnerSettings(idle_poll=0.05),
    )
    arn, closed, child = (
        runner.stream_arn,
        "shardId-00000001541626099285-00000001",
        "shardId-00000001541626099285-00000002",
    )
    shards = {"StreamDescription": {"Shards": [{"ShardId": closed}, {"ShardId": child}]}}
    stubber.add_response("describe_stream", shards, {"StreamArn": arn})
    stubber.add_response("get_shard_iterator", {"ShardIterator": "it-closed"}, None)
    stubber.add_response("get_records", {"Records": []}, None)  # closed: no NextShardIterator
    stubber.add_response("get_shard_iterator", {"ShardIterator": "it-child"}, None)
    stubber.add_response("get_records", {"Records": [], "NextShardIterator": "it-2"}, None)
    # The closed shard makes the runner look again: it is still listed, never re-read.
    stubber.add_response("describe_stream", shards, {"StreamArn": arn})
    stubber.add_response("get_records", {"Records": [], "NextShardIterator": "it-3"}, None)
    with stubber:
        runner.poll_once()
        runner.poll_once()
        stubber.assert_no_pending_responses()
    # Not a ClientError: the runner's thread logs it and goes on.
    seen: list[int] = []

    def broken() -> int:
        seen.append(1)
        if len(seen) == 1:
            raise KeyError("surprise")
        runner._stop.set()
        return 0

    runner.poll_once = broken  # type: ignore[method-assign]
    runner.start()
    assert wait_for(lambda: len(seen) == 2, timeout=5)
    runner.stop()

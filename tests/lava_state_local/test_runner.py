"""The event-source runner: Lambda's stream semantics, with recording handlers, on moto."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.stub import Stubber

from lava_state.naming import table_name
from lava_state_local import LocalAws, RunnerSettings, StreamRunner, TtlMarks
from publisher import StatePublisher
from tests.conftest import wait_until

from .conftest import no_failures, recording_handler


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
    runner = start_runner(handler=recording_handler(calls, fail_b_once))
    assert wait_until(lambda: len(calls) >= 2)
    # UpdateItem-created items appear twice in moto's stream (key-only, then full).
    assert calls[0] == ["a", "a", "b", "b", "c", "c"]
    assert calls[1] == ["b", "b", "c", "c"]
    assert runner.stats.partial_failures == 1


def test_the_runner_bisects_a_failing_batch_and_dead_letters_the_culprit(
    local_aws: LocalAws, publisher: StatePublisher, start_runner: Any
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
    sqs = local_aws.client("sqs")
    dead = sqs.receive_message(QueueUrl=runner.dlq_url, WaitTimeSeconds=5).get("Messages", [])
    assert len(dead) == 1
    assert json.loads(dead[0]["Body"])["DDBStreamBatchInfo"]["batchSize"] <= 2

    def delivered() -> set[str]:
        return {i for ids in list(calls) if "boom" not in ids for i in ids}

    # The second half of the first bisection runs after the culprit is dead-lettered.
    assert wait_until(lambda: delivered() == {"a", "c", "d"}, timeout=5)
    assert calls[0] == ["a", "a", "boom", "boom", "c", "c", "d", "d"]


def test_an_expired_iterator_is_reacquired_after_the_checkpoint(
    local_aws: LocalAws, realm: str
) -> None:
    streams = local_aws.client("dynamodbstreams")
    stubber = Stubber(streams)
    calls: list[list[str]] = []
    runner = StreamRunner(
        table_name(realm),
        handler=recording_handler(calls, no_failures),
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


def test_the_runner_does_not_poll_an_idle_stream(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, start_runner: Any
) -> None:
    calls: list[list[str]] = []
    # Count the runner's GetRecords calls: a hook on the client it is given.
    streams = local_aws.client("dynamodbstreams")
    get_records: list[int] = []
    streams.meta.events.register(
        "before-call.dynamodb-streams.GetRecords", lambda **kwargs: get_records.append(1)
    )
    runner = start_runner(handler=recording_handler(calls, no_failures), streams=streams)
    assert runner.wait_idle()  # its first read, from TRIM_HORIZON, is done
    read = len(get_records)
    assert read >= 1
    # WHEN nothing is written for a couple of seconds THEN nothing is read
    assert not wait_until(lambda: len(get_records) > read, timeout=2.0)
    # WHEN small batches are written THEN each costs one GetRecords, not a second one
    for n in range(3):
        publisher.put(f"idle-{n}", n)
        assert wait_until(lambda n=n: len(calls) == n + 1)
        assert runner.wait_idle()
        assert len(get_records) == read + n + 1
    # WHEN another runner (another realm) stops THEN this one is not woken to poll
    other = f"{realm}x"
    local_aws.provision_realm(other)  # DynamoDB writes: this runner may poll
    assert runner.wait_idle()
    before = len(get_records)
    local_aws.start_stream_runner(other, handler=recording_handler([], no_failures)).stop()
    assert not wait_until(lambda: len(get_records) > before, timeout=0.5)


def test_a_full_batch_is_followed_by_an_immediate_poll(
    publisher: StatePublisher, start_runner: Any
) -> None:
    calls: list[list[str]] = []
    for n in range(3):  # six records in moto's stream (key-only, then complete)
        publisher.put(f"full-{n}", n)
    start_runner(
        handler=recording_handler(calls, no_failures),
        settings=RunnerSettings(batch_size=4, idle_poll=0.5),
    )
    assert wait_until(lambda: sum(map(len, calls)) == 6)
    assert [len(c) for c in calls] == [4, 2]


def test_a_dead_letter_queue_failure_keeps_the_checkpoint(
    publisher: StatePublisher, start_runner: Any
) -> None:
    calls: list[list[str]] = []
    publisher.put("dlq", 1)
    runner = start_runner(
        handler=recording_handler(
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
    assert wait_until(lambda: len(calls) >= 3)
    assert calls[0] == calls[1] == calls[2] == ["dlq", "dlq"]
    assert runner.is_running


def test_the_runner_survives_any_exception_and_skips_closed_shards(
    local_aws: LocalAws, realm: str, caplog: Any
) -> None:
    streams = local_aws.client("dynamodbstreams")
    stubber = Stubber(streams)
    runner = StreamRunner(
        table_name(realm),
        handler=recording_handler([], no_failures),
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
        return 0

    runner.poll_once = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="lava_state_local.runner"):
        runner.start()
        assert wait_until(lambda: len(seen) >= 2, timeout=5)
        assert runner.is_running
        runner.stop()
    assert not runner.is_running
    assert any("polling failed" in r.getMessage() for r in caplog.records)

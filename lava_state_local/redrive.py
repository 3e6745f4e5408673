"""Redrive: put the stream batches the runner dead-lettered back through the processor.

Like Lambda's on-failure destination, the runner's dead-letter queue holds a
description of each batch it gave up on (shard and sequence range:
:func:`lava_state_local.lambda_event.on_failure_record`), not the records,
which stay in the stream for 24 hours. :func:`redrive` reads each batch
back from the stream, hands it to the handler in Lambda's shape, and deletes
the message once the handler processed every record; a batch that fails
again stays on the queue (visible again after ``visibility_timeout``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lava_state_local.lambda_event import LocalLambdaContext, failed_identifiers, to_lambda_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

    from lava_state_local.runner import Handler

LOG = logging.getLogger(__name__)


@dataclass
class Redriven:
    """What a redrive did: batches (messages) and records handed on, batches that failed again."""

    messages: int = 0
    records: int = 0
    failed: int = 0


def redrive(
    *,
    dlq_url: str,
    sqs: SQSClient,
    streams: DynamoDBStreamsClient,
    handler: Handler,
    function_name: str = "lava-state-stream-processor",
    visibility_timeout: int = 30,
    wait_seconds: int = 0,
) -> Redriven:
    """Hand every batch described on the dead-letter queue ``dlq_url`` to ``handler`` again.

    Records are read from the stream by their sequence range (their TTL
    marks are not kept: a TTL deletion redriven is an ordinary delete).
    Each message is tried once per call; the messages of batches that fail
    again are left on the queue, visible again after ``visibility_timeout``
    seconds. ``wait_seconds`` is each receive's long poll. Returns the
    counts. botocore errors propagate.
    """
    result = Redriven()
    tried: set[str] = set()
    while True:
        messages = [
            message
            for message in sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_seconds,
            ).get("Messages", [])
            if message["MessageId"] not in tried
        ]
        if not messages:
            return result
        for message in messages:
            tried.add(message["MessageId"])
            info = json.loads(message["Body"])["DDBStreamBatchInfo"]
            batch = [
                to_lambda_record(record, stream_arn=info["streamArn"])
                for record in read_batch(streams, info)
            ]
            try:
                response = handler({"Records": batch}, LocalLambdaContext(function_name))
                failed = bool(failed_identifiers(response))
            except Exception:
                LOG.warning("redrive: function error on %d records", len(batch), exc_info=True)
                failed = True
            if failed:
                result.failed += 1
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            result.messages += 1
            result.records += len(batch)


def read_batch(streams: DynamoDBStreamsClient, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream records of a dead-lettered batch (``DDBStreamBatchInfo``), in order.

    Fewer than the batch had if the stream no longer holds them (24 hours).
    """
    iterator: str | None = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    ).get("ShardIterator")
    end = int(info["endSequenceNumber"])
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page["Records"]:
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return records
            records.append(dict(record))
        if not page["Records"]:
            return records
        iterator = page.get("NextShardIterator")
    return records

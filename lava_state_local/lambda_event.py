"""What Lambda's DynamoDB Streams event source mapping hands to a function, and takes back.

The local event-source runner speaks Lambda's shapes so that the stream
processor runs locally exactly as deployed: the records of an event
(:func:`to_lambda_record`), the context object (:class:`LocalLambdaContext`),
the ``batchItemFailures`` of a response (:func:`failed_identifiers`) and the
on-failure destination's record for a batch given up (:func:`on_failure_record`).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lava_state.constants import TTL_SERVICE_PRINCIPAL

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The userIdentity DynamoDB puts on REMOVE records caused by TTL expiry.
TTL_USER_IDENTITY = {"type": "Service", "principalId": TTL_SERVICE_PRINCIPAL}
LOCAL_ACCOUNT = "123456789012"  # moto's default account


def _lambda_attribute(av: Mapping[str, Any]) -> dict[str, Any]:
    """botocore's attribute value (bytes for binary) as Lambda delivers it (base64 text)."""
    ((kind, value),) = av.items()
    if kind == "B":
        return {"B": base64.b64encode(value).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode("ascii") for v in value]}
    if kind == "M":
        return {"M": {k: _lambda_attribute(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [_lambda_attribute(v) for v in value]}
    return {kind: value}


def to_lambda_record(
    record: Mapping[str, Any], *, stream_arn: str, ttl_deletion: bool = False
) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda's event source mapping delivers.

    ``ApproximateCreationDateTime`` becomes epoch seconds, binary attributes
    base64 text, and the record gains ``eventSourceARN`` (and the TTL
    service's ``userIdentity`` for a TTL deletion).
    """
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = {k: _lambda_attribute(v) for k, v in dynamodb[image].items()}
    result = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if ttl_deletion:
        result["userIdentity"] = dict(TTL_USER_IDENTITY)
    return result


@dataclass(frozen=True)
class LocalLambdaContext:
    """The parts of Lambda's context object handlers and Powertools read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        """The function's ARN in the local account."""
        return f"arn:aws:lambda:us-east-1:{LOCAL_ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Local invocations have no deadline."""
        return 900_000


def failed_identifiers(response: object) -> list[str]:
    """The ``itemIdentifier``\\ s of a ``ReportBatchItemFailures`` response, as Lambda reads it:
    anything but a dict reports no failure."""
    if not isinstance(response, dict):
        return []
    failures = response.get("batchItemFailures") or []
    return [str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)]


def on_failure_record(
    batch: Sequence[Mapping[str, Any]],
    *,
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    attempts: int,
    error: str | None,
) -> dict[str, Any]:
    """The record Lambda's on-failure destination receives for a stream batch given up.

    Like Lambda's, it describes the batch (shard and sequence range), not its
    records: those stay in the stream for 24 hours. ``error`` is the
    function error (``"Unhandled"``), None when the batch failed by
    ``batchItemFailures``.
    """
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": error,
        },
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


def _iso(epoch: object) -> str | None:
    if isinstance(epoch, int | float):
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    return None

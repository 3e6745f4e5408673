"""The shapes Lambda's stream event source mapping hands to a function and takes back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from lava_state_local import TTL_USER_IDENTITY, LocalLambdaContext, to_lambda_record
from lava_state_local.lambda_event import failed_identifiers, on_failure_record

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/lava.t.state/stream/2026-01-01"


def get_records_record(**dynamodb: Any) -> dict[str, Any]:
    """A record as botocore's GetRecords returns it (datetime, bytes)."""
    return {
        "eventID": "e1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 28, 17, 56, 19, tzinfo=UTC),
            "Keys": {"state_id": {"S": "blob"}},
            "SequenceNumber": "4100000000017454423001",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            **dynamodb,
        },
    }


def test_binary_attributes_become_base64_text_at_any_depth() -> None:
    record = get_records_record(
        NewImage={
            "value": {"B": b"\x00\x01\x02\xff"},
            "set": {"BS": [b"\x00", b"\xff"]},
            "map": {"M": {"inner": {"B": b"\x01"}, "n": {"N": "1"}}},
            "list": {"L": [{"B": b"\x02"}, {"S": "x"}]},
        }
    )
    image = to_lambda_record(record, stream_arn=STREAM_ARN)["dynamodb"]["NewImage"]
    assert image == {
        "value": {"B": "AAEC/w=="},
        "set": {"BS": ["AA==", "/w=="]},
        "map": {"M": {"inner": {"B": "AQ=="}, "n": {"N": "1"}}},
        "list": {"L": [{"B": "Ag=="}, {"S": "x"}]},
    }


def test_the_record_gains_the_source_arn_and_epoch_creation_time() -> None:
    record = get_records_record(OldImage={"state_id": {"S": "blob"}})
    original = copy.deepcopy(record)
    result = to_lambda_record(record, stream_arn=STREAM_ARN)
    assert result["eventSourceARN"] == STREAM_ARN
    assert result["eventSource"] == "aws:dynamodb"
    assert result["dynamodb"]["ApproximateCreationDateTime"] == 1795888579.0
    assert result["dynamodb"]["OldImage"] == {"state_id": {"S": "blob"}}
    assert "userIdentity" not in result
    assert record == original  # the caller's record is left as it was


def test_a_ttl_deletion_carries_the_ttl_services_identity() -> None:
    result = to_lambda_record(
        get_records_record(OldImage={"state_id": {"S": "blob"}}),
        stream_arn=STREAM_ARN,
        ttl_deletion=True,
    )
    assert result["userIdentity"] == TTL_USER_IDENTITY
    assert TTL_USER_IDENTITY == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_the_context_names_the_function_and_has_no_deadline() -> None:
    context = LocalLambdaContext(function_name="f")
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert context.get_remaining_time_in_millis() > 0
    assert context.aws_request_id != LocalLambdaContext(function_name="f").aws_request_id


def test_batch_item_failures_are_read_as_lambda_reads_them() -> None:
    assert failed_identifiers(None) == []
    assert failed_identifiers({"batchItemFailures": []}) == []
    assert failed_identifiers({"batchItemFailures": None}) == []
    assert failed_identifiers(
        {"batchItemFailures": [{"itemIdentifier": "2"}, "junk", {"itemIdentifier": 3}]}
    ) == ["2", "3"]


def test_the_on_failure_record_describes_the_batch_not_its_records() -> None:
    batch = [
        to_lambda_record(get_records_record(SequenceNumber=s), stream_arn=STREAM_ARN)
        for s in ("101", "102", "103")
    ]
    body = on_failure_record(
        batch,
        shard_id="shard-1",
        stream_arn=STREAM_ARN,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
        attempts=4,
        error="Unhandled",
    )
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 4
    assert body["responseContext"]["functionError"] == "Unhandled"
    assert body["DDBStreamBatchInfo"] == {
        "shardId": "shard-1",
        "startSequenceNumber": "101",
        "endSequenceNumber": "103",
        "approximateArrivalOfFirstRecord": "2026-11-28T17:56:19+00:00",
        "approximateArrivalOfLastRecord": "2026-11-28T17:56:19+00:00",
        "batchSize": 3,
        "streamArn": STREAM_ARN,
    }
    assert "Records" not in body and "blob" not in str(body)

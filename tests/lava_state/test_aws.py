"""The retry policy and the ClientError translation (Stubber: moto cannot throttle or conflict)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from lava_state import aws
from lava_state.constants import APP_RETRY_MAX_ATTEMPTS
from lava_state.errors import (
    AccessDenied,
    AwsError,
    AwsUnavailable,
    ConfigurationError,
    CorruptStateItem,
    EncryptionError,
    TableNotFound,
    VersionConflict,
)
from lava_state.model import Encrypted


@pytest.fixture
def stubbed() -> Any:
    client = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    ).client("dynamodb", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stub:
        yield client, stub


KEY = {"TableName": "lava.r.state", "Key": {"state_id": {"S": "x"}}}


def test_transaction_conflict_is_retried_then_succeeds(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_client_error("delete_item", "TransactionConflictException", expected_params=KEY)
    stub.add_client_error("delete_item", "TransactionConflictException", expected_params=KEY)
    stub.add_response("delete_item", {}, expected_params=KEY)
    aws.call(client.delete_item, what="delete", **KEY)
    stub.assert_no_pending_responses()


def test_app_retries_are_bounded(stubbed: Any) -> None:
    client, stub = stubbed
    calls: list[str] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.DeleteItem", lambda **_: calls.append("DeleteItem")
    )
    for _ in range(APP_RETRY_MAX_ATTEMPTS):
        stub.add_client_error("delete_item", "TransactionConflictException")
    with pytest.raises(AwsUnavailable) as info:
        aws.call(client.delete_item, what="delete", **KEY)
    assert info.value.aws_code == "TransactionConflictException"
    # Exactly the bounded number of attempts, the first one included.
    assert len(calls) == APP_RETRY_MAX_ATTEMPTS
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        ("ValidationException", AwsError, "bad"),
        ("ConditionalCheckFailedException", VersionConflict, "condition"),
        ("ResourceNotFoundException", TableNotFound, "table does not exist"),
        ("AccessDeniedException", AccessDenied, "AccessDeniedException"),
        ("ProvisionedThroughputExceededException", AwsUnavailable, "after retries"),
        ("NotFoundException", EncryptionError, "NotFoundException"),
    ],
)
def test_client_errors_are_translated_once_and_not_retried(
    stubbed: Any, code: str, error: type[Exception], message: str
) -> None:
    client, stub = stubbed
    stub.add_client_error(
        "delete_item", code, service_message="bad: Requested table not found", expected_params=KEY
    )
    with pytest.raises(error, match=message) as info:
        aws.call(client.delete_item, what="delete", **KEY)
    assert isinstance(info.value.__cause__, ClientError)
    stub.assert_no_pending_responses()  # one call: validation errors and conflicts never retry
    if isinstance(info.value, AwsError):
        assert info.value.aws_code == code


def test_connection_errors_and_missing_credentials() -> None:
    assert isinstance(
        aws.translate_client_error(EndpointConnectionError(endpoint_url="http://x"), what="x"),
        AwsUnavailable,
    )
    from botocore.exceptions import NoCredentialsError

    assert isinstance(
        aws.translate_client_error(NoCredentialsError(), what="x"), ConfigurationError
    )


def test_clients_are_built_once_per_session_and_reused() -> None:
    session = boto3.session.Session(region_name="us-east-1")
    first = aws.get_client("dynamodb", session=session, endpoint_url="http://127.0.0.1:9")
    again = aws.get_client("dynamodb", session=session, endpoint_url="http://127.0.0.1:9")
    assert first is again
    assert aws.get_client("kms", session=session) is not first
    config = first.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": aws.BOTOCORE_MAX_ATTEMPTS}


def test_default_session_is_shared() -> None:
    assert aws.get_session() is aws.get_session()


STORED = {
    "state_id": {"S": "x"},
    "type": {"S": "secure"},
    "value": {"B": b"ciphertext"},
    "timestamp": {"S": "2026-01-01T00:00:00+00:00"},
    "ttl": {"N": "4000000000"},
    "version": {"N": "3"},
}


@pytest.mark.parametrize(
    ("item", "version", "found"),
    [
        (STORED, 3, "at version 3"),
        ({**STORED, "ttl": {"N": "1"}}, None, "expired"),
        # No item with the failure: absent, or a store that ignores the parameter.
        (None, None, "the condition on the item failed"),
    ],
)
def test_a_failed_condition_carries_the_stored_item_decoded_not_decrypted(
    stubbed: Any, item: dict[str, Any] | None, version: int | None, found: str
) -> None:
    client, stub = stubbed
    stub.add_client_error(
        "delete_item",
        "ConditionalCheckFailedException",
        modeled_fields=None if item is None else {"Item": item},
    )
    with pytest.raises(VersionConflict, match=found) as info:
        aws.call(client.delete_item, what="delete", state_id="x", **KEY)
    conflict = info.value
    assert conflict.resent is False
    assert conflict.item_returned is (item is not None)
    if version is None:
        assert conflict.current is None
    else:
        assert conflict.current is not None
        assert conflict.current.version == version
        assert conflict.current.value == Encrypted(b"ciphertext")  # never decrypted here
        assert conflict.stored_attributes == item


def test_a_failed_condition_on_a_corrupt_item_says_so(stubbed: Any) -> None:
    client, stub = stubbed
    corrupt = {**STORED, "type": {"S": "blob"}}
    stub.add_client_error(
        "delete_item", "ConditionalCheckFailedException", modeled_fields={"Item": corrupt}
    )
    with pytest.raises(CorruptStateItem, match="'x'"):
        aws.call(client.delete_item, what="delete", state_id="x", **KEY)

"""StateClient.get_many: batched, strongly consistent, expiry-aware reads."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.stub import Stubber

from consumer_sdk import StateClient, StateItems
from consumer_sdk.listing import list_states
from lava_state.errors import (
    AwsError,
    AwsUnavailable,
    BatchReadIncomplete,
    CorruptStateItem,
    InvalidInput,
    InvalidStateId,
    LavaStateError,
)
from lava_state.model import SECRET_MASK, Encrypted, StateType
from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import StatePublisher
from tests.consumer_sdk.conftest import Recorder


def test_reads_present_ids_in_input_order_in_one_consistent_batch(
    publisher: StatePublisher, recorded_client: StateClient, recorder: Recorder
) -> None:
    for i in range(5):
        publisher.put(f"job/{i}", {"n": i})

    items = recorded_client.get_many(["job/3", "job/0", "absent", "job/3", "job/4"])

    assert isinstance(items, StateItems)
    assert list(items) == ["job/3", "job/0", "job/4"]
    assert {sid: item.value for sid, item in items.items()} == {
        "job/3": {"n": 3},
        "job/0": {"n": 0},
        "job/4": {"n": 4},
    }
    assert items["job/0"].version == 1 and items["job/0"].publisher == "tests"
    (request,) = recorder.of("BatchGetItem")
    (table_request,) = request["RequestItems"].values()
    assert table_request["ConsistentRead"] is True
    # The duplicate is sent once.
    assert [k["state_id"]["S"] for k in table_request["Keys"]] == [
        "job/3",
        "job/0",
        "absent",
        "job/4",
    ]
    assert recorder.of("GetItem") == []


def test_chunks_of_100_keys_cover_every_id(
    publisher: StatePublisher, recorded_client: StateClient, recorder: Recorder
) -> None:
    ids = [f"bulk/{i:03d}" for i in range(250)]
    for sid in ids[::2]:
        publisher.put(sid, sid)

    items = recorded_client.get_many(ids)

    assert list(items) == ids[::2]
    assert all(items[sid].value == sid for sid in ids[::2])
    requests = recorder.of("BatchGetItem")
    sizes = sorted(len(next(iter(r["RequestItems"].values()))["Keys"]) for r in requests)
    assert sizes == [50, 100, 100]
    sent = [
        k["state_id"]["S"] for r in requests for k in next(iter(r["RequestItems"].values()))["Keys"]
    ]
    assert sorted(sent) == ids
    assert all(next(iter(r["RequestItems"].values()))["ConsistentRead"] for r in requests)


def test_expired_items_are_absent(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    publisher.put("alive", 1)
    put_raw("expired", ttl={"N": str(int(time.time()) - 5)})

    assert list(client.get_many(["alive", "expired"])) == ["alive"]


def test_secure_items_are_decrypted_one_kms_call_each(
    publisher: StatePublisher, recorded_client: StateClient, recorder: Recorder
) -> None:
    publisher.put("plain", "p")
    for i in range(3):
        publisher.put(f"secret/{i}", {"token": f"s3cr3t-{i}"}, type="secure")

    items = recorded_client.get_many(["secret/0", "plain", "secret/1", "secret/2"])

    assert [items[f"secret/{i}"].value for i in range(3)] == [
        {"token": f"s3cr3t-{i}"} for i in range(3)
    ]
    assert list(items) == ["secret/0", "plain", "secret/1", "secret/2"]
    assert len(recorder.of("Decrypt")) == 3
    assert "s3cr3t" not in repr(items) and "s3cr3t" not in str(items["secret/0"])
    assert SECRET_MASK in repr(items["secret/0"])


def test_decrypt_false_leaves_ciphertext_and_calls_no_kms(
    publisher: StatePublisher, recorded_client: StateClient, recorder: Recorder
) -> None:
    publisher.put("secret", "s3cr3t", type="secure")

    item = recorded_client.get_many(["secret"], decrypt=False)["secret"]

    assert item.type is StateType.SECURE
    assert isinstance(item.value, Encrypted)
    assert recorder.of("Decrypt") == []


def test_reserved_prefix_may_be_read(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    put_raw("lava-internal", value={"S": "42"})
    assert client.get_many(["lava-internal"])["lava-internal"].value == 42


def test_a_corrupt_item_fails_the_read_naming_it(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    publisher.put("good", "fine")
    put_raw("broken", value={"S": "{not json"})

    with pytest.raises(CorruptStateItem, match="'broken'") as caught:
        client.get_many(["good", "broken"])
    assert caught.value.state_id == "broken"


def test_partial_results_report_the_corrupt_id_and_return_the_others(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    publisher.put("good", "fine")
    publisher.put("secret", "s3cr3t", type="secure")
    put_raw("broken", type={"S": "yaml"})

    items = client.get_many(["broken", "good", "secret"], partial=True)

    assert {sid: item.value for sid, item in items.items()} == {"good": "fine", "secret": "s3cr3t"}
    assert list(items.errors) == ["broken"]
    assert isinstance(items.errors["broken"], CorruptStateItem)


@pytest.mark.parametrize(
    ("state_ids", "error", "message"),
    [
        ("job/1", InvalidInput, "collection of ids, not a single str"),
        (["ok", 7], InvalidStateId, r"state_ids\[1\]: state_id must be a string, not int"),
        (["ok", ""], InvalidStateId, r"state_ids\[1\]: state_id must not be empty"),
        (["x" * 1025], InvalidStateId, r"state_ids\[0\]: .*at most 1024"),
    ],
)
def test_bad_ids_are_rejected_before_any_read(
    recorded_client: StateClient,
    recorder: Recorder,
    state_ids: Any,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        recorded_client.get_many(state_ids)
    assert recorder.calls == []


def test_no_ids_means_no_call(recorded_client: StateClient, recorder: Recorder) -> None:
    assert recorded_client.get_many([]) == {}
    assert recorder.calls == []


# ----------------------------------------------------------- error paths moto cannot produce


def _stubbed(local_aws: LocalAws, realm: str) -> tuple[StateClient, Stubber]:
    dynamodb = local_aws.client("dynamodb")
    return StateClient(realm, dynamodb=dynamodb), Stubber(dynamodb)


def _item(sid: str, value: str = '"v"') -> dict[str, Any]:
    return {
        "state_id": {"S": sid},
        "type": {"S": "json"},
        "value": {"S": value},
        "ttl": {"N": str(int(time.time()) + 60)},
    }


def _keys(*ids: str) -> list[dict[str, Any]]:
    return [{"state_id": {"S": sid}} for sid in ids]


def test_unprocessed_keys_are_retried_consistently_until_done(
    local_aws: LocalAws, realm: str
) -> None:
    client, stubber = _stubbed(local_aws, realm)
    table = table_name(realm)
    stubber.add_response(
        "batch_get_item",
        {
            "Responses": {table: [_item("a")]},
            "UnprocessedKeys": {table: {"Keys": _keys("b", "c")}},
        },
        {"RequestItems": {table: {"Keys": _keys("a", "b", "c"), "ConsistentRead": True}}},
    )
    stubber.add_response(
        "batch_get_item",
        {"Responses": {table: [_item("b")]}, "UnprocessedKeys": {table: {"Keys": _keys("c")}}},
        # The retry asks only for what is left, and still consistently.
        {"RequestItems": {table: {"Keys": _keys("b", "c"), "ConsistentRead": True}}},
    )
    stubber.add_response(
        "batch_get_item",
        {"Responses": {table: [_item("c")]}, "UnprocessedKeys": {}},
        {"RequestItems": {table: {"Keys": _keys("c"), "ConsistentRead": True}}},
    )
    with stubber:
        items = client.get_many(["a", "b", "c"])
        stubber.assert_no_pending_responses()
    assert list(items) == ["a", "b", "c"]


def test_unprocessed_keys_left_at_the_deadline_are_named(local_aws: LocalAws, realm: str) -> None:
    client, stubber = _stubbed(local_aws, realm)
    table = table_name(realm)
    stubber.add_response(
        "batch_get_item",
        {"Responses": {table: [_item("a")]}, "UnprocessedKeys": {table: {"Keys": _keys("b", "c")}}},
    )
    for _ in range(200):
        stubber.add_response(
            "batch_get_item",
            {"Responses": {table: []}, "UnprocessedKeys": {table: {"Keys": _keys("b", "c")}}},
        )
    started = time.monotonic()
    with stubber, pytest.raises(BatchReadIncomplete, match=r"ids left: 'b', 'c'") as caught:
        client.get_many(["a", "b", "c"], deadline=0.5)
    assert caught.value.state_ids == ("b", "c")
    assert isinstance(caught.value, AwsUnavailable)
    # Bounded: no backoff may end past the deadline.
    assert time.monotonic() - started < 0.5 + 0.3


def test_a_validation_error_is_translated_and_not_retried(local_aws: LocalAws, realm: str) -> None:
    client, stubber = _stubbed(local_aws, realm)
    stubber.add_client_error(
        "batch_get_item", service_error_code="ValidationException", service_message="bad keys"
    )
    with stubber, pytest.raises(AwsError, match="ValidationException: bad keys") as caught:
        client.get_many(["a"])
    assert caught.value.aws_code == "ValidationException"
    assert not isinstance(caught.value, AwsUnavailable)
    stubber.assert_no_pending_responses()


def test_throttling_is_reported_as_unavailable(local_aws: LocalAws, realm: str) -> None:
    client, stubber = _stubbed(local_aws, realm)
    stubber.add_client_error(
        "batch_get_item", service_error_code="ProvisionedThroughputExceededException"
    )
    with stubber, pytest.raises(AwsUnavailable):
        client.get_many(["a"])


@pytest.mark.parametrize("state_ids", [None, 42, object()])
def test_non_iterable_ids_are_invalid_input(client: StateClient, state_ids: Any) -> None:
    with pytest.raises(InvalidInput, match="must be a collection of ids"):
        client.get_many(state_ids)


def test_the_first_failing_id_in_input_order_is_raised(client: StateClient, put_raw: Any) -> None:
    # A secure item whose ciphertext is garbage fails at decryption, after the plain one.
    put_raw("sec", type={"S": "secure"}, value={"B": b"not a ciphertext"})
    put_raw("plain", value={"S": "{oops"})
    with pytest.raises(LavaStateError) as caught:
        client.get_many(["sec", "plain"])
    assert "'sec'" in str(caught.value)
    items = client.get_many(["sec", "plain"], partial=True)
    assert set(items.errors) == {"sec", "plain"}


@pytest.mark.parametrize("attribute", ["version", "ttl"])
def test_listing_an_item_with_a_bad_number_is_a_corrupt_item(
    client: StateClient, put_raw: Any, attribute: str
) -> None:
    put_raw("odd", **{attribute: {"N": "99999999999.5"}})
    with pytest.raises(CorruptStateItem, match=f"'odd'.*'{attribute}' is not a whole number"):
        list(list_states(client))

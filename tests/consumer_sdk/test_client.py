"""StateClient.get_prefix: one metadata listing, then batched consistent reads."""

from __future__ import annotations

import time
from typing import Any

import pytest

from consumer_sdk import StateClient, StateItems
from lava_state.errors import CorruptStateItem, InvalidInput
from lava_state.model import Encrypted
from publisher import StatePublisher
from tests.consumer_sdk.conftest import Recorder


def test_get_prefix_reads_the_live_items_under_a_prefix_with_one_scan_and_batched_reads(
    publisher: StatePublisher, recorded_client: StateClient, recorder: Recorder, put_raw: Any
) -> None:
    for i in range(3):
        publisher.put(f"job/{i} with spaces", {"n": i})
    publisher.put("job/tok", "s3cr3t", type="secure")
    publisher.put("jobs-other", 9)
    publisher.put("other/1", 1)
    put_raw("job/expired", ttl={"N": str(int(time.time()) - 10)})

    items = recorded_client.get_prefix("job/")

    assert isinstance(items, StateItems)
    assert list(items) == ["job/0 with spaces", "job/1 with spaces", "job/2 with spaces", "job/tok"]
    assert items["job/1 with spaces"].value == {"n": 1}
    assert items["job/tok"].value == "s3cr3t"
    # One listing of metadata only (values are read by the batch, for the matching ids).
    (scan,) = recorder.of("Scan")
    assert "value" not in scan["ExpressionAttributeNames"].values()
    assert scan["ExpressionAttributeValues"] == {":prefix": {"S": "job/"}}
    (batch,) = recorder.of("BatchGetItem")
    (request,) = batch["RequestItems"].values()
    assert request["ConsistentRead"] is True
    assert len(request["Keys"]) == 4
    assert recorder.of("GetItem") == []


def test_get_prefix_passes_decrypt_and_partial_on(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    publisher.put("p/tok", "s3cr3t", type="secure")
    publisher.put("p/ok", 1)
    put_raw("p/bad", value={"S": "{not json"})

    masked = client.get_prefix("p/tok", decrypt=False)
    assert isinstance(masked["p/tok"].value, Encrypted)

    with pytest.raises(CorruptStateItem):
        client.get_prefix("p/")
    items = client.get_prefix("p/", partial=True, decrypt=False)
    assert list(items) == ["p/ok", "p/tok"]
    assert isinstance(items.errors["p/bad"], CorruptStateItem)


def test_get_prefix_without_matches_and_with_a_bad_prefix(client: StateClient) -> None:
    assert client.get_prefix("nothing/") == {}
    with pytest.raises(InvalidInput, match="prefix must be a string"):
        client.get_prefix(None)  # type: ignore[arg-type]


def test_an_empty_prefix_reads_every_live_item(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put_many({"b": 2, "a": 1})

    assert {sid: item.value for sid, item in client.get_prefix("").items()} == {"a": 1, "b": 2}

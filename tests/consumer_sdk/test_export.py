"""StateClient.export: every live item, parallel segments, secure values as asked."""

from __future__ import annotations

import pytest

from consumer_sdk import StateClient
from lava_state.errors import InvalidInput
from lava_state.model import Encrypted
from publisher import StatePublisher


def test_export_yields_every_live_item_across_segments(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put_many({f"job.{n}": n for n in range(60)})
    publisher.put("other", 1)
    exported = {item.state_id: item for item in client.export(prefix="job.", segments=4)}
    assert set(exported) == {f"job.{n}" for n in range(60)}
    assert exported["job.7"].value == 7
    assert exported["job.7"].version == 1


def test_expired_items_are_not_exported(
    publisher: StatePublisher, client: StateClient, dynamodb: object, realm: str
) -> None:
    publisher.put("live", 1)
    publisher.put("gone", 1)
    dynamodb.update_item(  # type: ignore[attr-defined]
        TableName=f"lava.{realm}.state",
        Key={"state_id": {"S": "gone"}},
        UpdateExpression="SET #t = :past",
        ExpressionAttributeNames={"#t": "ttl"},
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    assert [item.state_id for item in client.export()] == ["live"]


def test_secure_values_stay_encrypted_unless_asked(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("pw", {"password": "p"}, type="secure")
    (encrypted,) = client.export()
    assert isinstance(encrypted.value, Encrypted)
    (decrypted,) = client.export(decrypt_secure=True)
    assert decrypted.value == {"password": "p"}


@pytest.mark.parametrize("segments", [0, 65, True, 1.5])
def test_segments_must_be_a_small_whole_number(client: StateClient, segments: object) -> None:
    with pytest.raises(InvalidInput, match="segments"):
        list(client.export(segments=segments))  # type: ignore[arg-type]


def test_closing_a_parallel_export_early_stops_its_scans(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put_many({f"k{n}": n for n in range(30)})
    items = client.export(segments=3)
    first = next(items)
    items.close()  # joins the segment threads: it would hang if they did not stop
    assert first.state_id.startswith("k")

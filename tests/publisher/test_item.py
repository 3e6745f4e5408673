"""The seed's API, exactly as lava documents it, on the embedded local AWS."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.errors import (
    CorruptStateItem,
    EncryptionError,
    InvalidStateValue,
    InvalidTTL,
    ReservedStateId,
    StateNotFound,
    UnknownStateType,
)
from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import LavaStateItem, StatePublisher


def test_new_put_get_rm(realm: str, session: Any, stored: Any) -> None:
    item = LavaStateItem.new("json", "sid", realm, {"lines": "45"}, aws_session=session)
    assert item.timestamp is None
    item.put()
    assert item.version == 1
    assert isinstance(item.timestamp, datetime)
    got = LavaStateItem.get("sid", realm, aws_session=session)
    assert (got.state_id, got.realm, got.type, got.value) == ("sid", realm, "json", {"lines": "45"})
    assert got.version == 1
    assert got.publisher == "lava-state API"
    assert 7 * 86400 - 5 < got.ttl <= 7 * 86400
    assert got.timestamp == item.timestamp
    item.value = {"lines": "46"}
    item.put()
    assert LavaStateItem.get("sid", realm, aws_session=session).version == 2
    LavaStateItem.rm("sid", realm, aws_session=session)
    assert stored() == {}
    with pytest.raises(StateNotFound, match="'sid' not found") as info:
        LavaStateItem.get("sid", realm, aws_session=session)
    assert isinstance(info.value, KeyError)  # lava raised KeyError for a missing item


def test_default_session_works(realm: str) -> None:
    LavaStateItem.new(None, "plain", realm, [1, 2]).put()
    assert LavaStateItem.get("plain", realm).value == [1, 2]


def test_unknown_type_is_refused_by_new(realm: str) -> None:
    with pytest.raises(UnknownStateType, match="No such state type"):
        LavaStateItem.new("blob", "sid", realm, 1)


def test_raw_items_are_native(realm: str, session: Any, stored: Any) -> None:
    LavaStateItem.new(
        "raw", "r", realm, {"n": 1.25, "s": "x", "l": [True]}, aws_session=session
    ).put()
    assert stored()["r"]["value"]["M"]["n"] == {"N": "1.25"}
    assert LavaStateItem.get("r", realm, aws_session=session).value == {
        "n": Decimal("1.25"),
        "s": "x",
        "l": [True],
    }


def test_secure_round_trip_and_never_shown(realm: str, session: Any, stored: Any) -> None:
    item = LavaStateItem.new("secure", "tok", realm, {"password": "hunter2"}, aws_session=session)
    assert "hunter2" not in str(item)
    assert "state_id='tok'" in repr(item)
    item.put()
    raw = stored()["tok"]["value"]
    assert "B" in raw
    assert b"hunter2" not in raw["B"]
    got = LavaStateItem.get("tok", realm, aws_session=session)
    assert got.value == {"password": "hunter2"}
    assert "hunter2" not in str(got)
    assert "hunter2" not in repr(got)


def test_secure_ciphertext_copied_to_another_item_does_not_decrypt(
    realm: str, session: Any, dynamodb: Any, stored: Any
) -> None:
    LavaStateItem.new("secure", "a", realm, "secret-a", aws_session=session).put()
    LavaStateItem.new("secure", "b", realm, "secret-b", aws_session=session).put()
    copied = stored()["a"]["value"]
    dynamodb.update_item(
        TableName=table_name(realm),
        Key={"state_id": {"S": "b"}},
        UpdateExpression="SET #v = :v",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":v": copied},
    )
    with pytest.raises(EncryptionError, match="'b'") as info:
        LavaStateItem.get("b", realm, aws_session=session)
    assert "secret-a" not in str(info.value)


def test_secure_with_explicit_kms_key(local_aws: LocalAws, realm: str, session: Any) -> None:
    key = local_aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    LavaStateItem.new("secure", "k", realm, 7, kms_key=key, aws_session=session).put()
    assert LavaStateItem.get("k", realm, aws_session=session).value == 7


def test_lava_written_items_read_fine(local_aws: LocalAws, realm: str, dynamodb: Any) -> None:
    """Items exactly as lava 8.x writes them: no version, no EncryptionContext."""
    kms = local_aws.client("kms")
    blob = kms.encrypt(KeyId=f"alias/lava-{realm}-sys", Plaintext=b'{"pw": "x"}')["CiphertextBlob"]
    ttl = str(int(time.time()) + 3600)
    for state_id, type_, value in [
        ("j", "json", {"S": '{"lines": "45"}'}),
        ("s", "secure", {"B": blob}),
        ("r", "raw", {"N": "12"}),
    ]:
        dynamodb.put_item(
            TableName=table_name(realm),
            Item={
                "state_id": {"S": state_id},
                "type": {"S": type_},
                "value": value,
                "timestamp": {"S": "2026-11-28T10:00:00.123456+11:00"},
                "ttl": {"N": ttl},
            },
        )
    session = local_aws.session()
    assert LavaStateItem.get("j", realm, aws_session=session).value == {"lines": "45"}
    assert LavaStateItem.get("j", realm, aws_session=session).version == 0
    assert LavaStateItem.get("s", realm, aws_session=session).value == {"pw": "x"}
    assert LavaStateItem.get("r", realm, aws_session=session).value == 12


def test_expired_item_reads_as_absent(realm: str, session: Any, dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=table_name(realm),
        Item={
            "state_id": {"S": "old"},
            "type": {"S": "json"},
            "value": {"S": "1"},
            "timestamp": {"S": "2026-01-01T00:00:00+00:00"},
            "ttl": {"N": str(int(time.time()) - 1)},
        },
    )
    with pytest.raises(StateNotFound):
        LavaStateItem.get("old", realm, aws_session=session)


def test_publisher_identity_precedence(
    realm: str, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    LavaStateItem.new("json", "p1", realm, 1, publisher="explicit", aws_session=session).put()
    monkeypatch.setenv("LAVA_JOB_ID", "job/42")
    LavaStateItem.new("json", "p2", realm, 1, aws_session=session).put()
    monkeypatch.delenv("LAVA_JOB_ID")
    LavaStateItem.new("json", "p3", realm, 1, aws_session=session).put()
    publishers = [
        LavaStateItem.get(s, realm, aws_session=session).publisher for s in ("p1", "p2", "p3")
    ]
    assert publishers == ["explicit", "job/42", "lava-state API"]


def test_state_client_get_value_and_decrypt_false(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("tok", "pw", type="secure")
    assert client.get_value("tok") == "pw"
    assert client.get_value("missing", default=3) == 3
    with pytest.raises(StateNotFound):
        client.get_value("missing")
    encrypted = client.get("tok", decrypt=False)
    assert encrypted is not None
    assert "pw" not in repr(encrypted.value)
    assert encrypted.timestamp is not None
    assert encrypted.timestamp <= datetime.now(UTC)


def test_after_get_ttl_is_the_realms_default_and_expires_at_the_stored_expiry(
    realm: str, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAVA_STATE_TTL", "2d")
    LavaStateItem.new("json", "sid", realm, 1, ttl="1h", aws_session=session).put()

    got = LavaStateItem.get("sid", realm, aws_session=session)

    assert got.ttl == 2 * 86400  # what a re-put uses, as in lava: not the hour left
    assert got.expires_at is not None
    assert abs(got.expires_at.timestamp() - (time.time() + 3600)) < 10  # the stored expiry
    got.value = 2
    got.put()
    assert got.expires_at is not None
    assert abs(got.expires_at.timestamp() - (time.time() + 2 * 86400)) < 10


def test_after_get_kms_key_is_unknown_so_a_re_put_uses_the_realm_key(
    local_aws: LocalAws, realm: str, session: Any, stored: Any
) -> None:
    kms = local_aws.client("kms")
    custom = kms.create_key(Description="custom")["KeyMetadata"]["Arn"]
    realm_key = kms.describe_key(KeyId=f"alias/lava-{realm}-sys")["KeyMetadata"]["Arn"]

    def key_of_stored() -> str:
        blob = bytes(stored()["pw"]["value"]["B"])
        response = kms.decrypt(
            CiphertextBlob=blob, EncryptionContext={"lava-realm": realm, "lava-state-id": "pw"}
        )
        return str(response["KeyId"])

    LavaStateItem.new("secure", "pw", realm, "s3cret", kms_key=custom, aws_session=session).put()
    assert key_of_stored() == custom

    got = LavaStateItem.get("pw", realm, aws_session=session)
    assert got.kms_key is None  # the item does not record its key
    got.put()
    assert key_of_stored() == realm_key  # as documented: the realm key
    got.kms_key = custom
    got.put()
    assert key_of_stored() == custom


def test_lava_api_refuses_and_writes_nothing(realm: str, stored: Any) -> None:
    with pytest.raises(ReservedStateId):
        LavaStateItem.new("json", "lava_thing", realm, 1)
    with pytest.raises(InvalidTTL):
        LavaStateItem.new("json", "sid", realm, 1, ttl="2D")
    item = LavaStateItem.new("json", "sid", realm, 1)
    item.value = {"bad": object()}
    with pytest.raises(InvalidStateValue):
        item.put()
    assert stored() == {}


@pytest.mark.parametrize(
    ("type_", "value", "reason"),
    [
        ("json", {"S": "{bad json"}, "not valid JSON"),
        ("json", {"N": "1"}, "must be a string"),
        ("secure", {"S": "not binary"}, "must be binary"),
        ("mystery", {"S": "1"}, "not one of json, raw, secure"),
    ],
)
def test_corrupt_stored_values_name_the_state_id(
    client: StateClient, dynamodb: Any, realm: str, type_: str, value: dict[str, str], reason: str
) -> None:
    dynamodb.put_item(
        TableName=table_name(realm),
        Item={
            "state_id": {"S": "broken"},
            "type": {"S": type_},
            "value": value,
            "timestamp": {"S": "2026-01-01T00:00:00+00:00"},
            "ttl": {"N": "4000000000"},
        },
    )
    with pytest.raises(CorruptStateItem, match=f"'broken'.*{reason}"):
        client.get("broken")

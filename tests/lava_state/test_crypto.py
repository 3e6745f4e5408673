"""Secure values: direct KMS format up to 4096 bytes, envelope encryption beyond."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from consumer_sdk import StateClient
from lava_state import crypto
from lava_state.errors import EncryptionError
from lava_state.naming import table_name
from publisher import StatePublisher

SECRET = "pa55word-"


def big_secret(size: int) -> dict[str, str]:
    return {"blob": (SECRET * (size // len(SECRET) + 1))[:size]}


def stored_value(stored: Callable[[], dict[str, Any]], state_id: str) -> bytes:
    return bytes(stored()[state_id]["value"]["B"])


def copy_item(dynamodb: Any, realm: str, source: str, target: str, value: bytes) -> None:
    item = dynamodb.get_item(TableName=table_name(realm), Key={"state_id": {"S": source}})["Item"]
    dynamodb.put_item(
        TableName=table_name(realm),
        Item={**item, "state_id": {"S": target}, "value": {"B": value}},
    )


def test_a_300_kb_secure_value_round_trips(
    publisher: StatePublisher, client: StateClient, stored: Callable[[], dict[str, Any]]
) -> None:
    value = big_secret(300 * 1024)
    result = publisher.put("big", value, type="secure")
    assert result.value == value

    blob = stored_value(stored, "big")
    assert crypto.is_envelope(blob)
    assert SECRET.encode() not in blob
    item = client.get("big")
    assert item is not None
    assert item.value == value
    assert SECRET not in repr(item)


def test_small_secure_values_keep_the_direct_kms_format(
    publisher: StatePublisher, client: StateClient, stored: Callable[[], dict[str, Any]]
) -> None:
    value = big_secret(4000)  # JSON-encoded, still under 4096 bytes
    assert len(json.dumps(value)) <= 4096
    publisher.put("small", value, type="secure")
    assert not crypto.is_envelope(stored_value(stored, "small"))
    item = client.get("small")
    assert item is not None
    assert item.value == value


def test_just_over_the_kms_limit_uses_the_envelope(
    publisher: StatePublisher, client: StateClient, stored: Callable[[], dict[str, Any]]
) -> None:
    value = "x" * 4095  # 4097 bytes once JSON-encoded
    publisher.put("edge", value, type="secure")
    assert crypto.is_envelope(stored_value(stored, "edge"))
    assert client.get_value("edge") == value


@pytest.mark.parametrize("size", [20 * 1024, 100])
def test_a_tampered_ciphertext_fails_clearly(
    publisher: StatePublisher,
    client: StateClient,
    stored: Callable[[], dict[str, Any]],
    dynamodb: Any,
    realm: str,
    size: int,
) -> None:
    publisher.put("sid", big_secret(size), type="secure")
    blob = bytearray(stored_value(stored, "sid"))
    blob[-20] ^= 0x01  # inside the ciphertext, away from any header
    copy_item(dynamodb, realm, "sid", "sid", bytes(blob))

    with pytest.raises(EncryptionError) as info:
        client.get("sid")
    assert "sid" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("size", [20 * 1024, 100])
def test_a_ciphertext_moved_to_another_state_id_does_not_decrypt(
    publisher: StatePublisher,
    client: StateClient,
    stored: Callable[[], dict[str, Any]],
    dynamodb: Any,
    realm: str,
    size: int,
) -> None:
    publisher.put("origin", big_secret(size), type="secure")
    copy_item(dynamodb, realm, "origin", "elsewhere", stored_value(stored, "origin"))

    with pytest.raises(EncryptionError) as info:
        client.get("elsewhere")
    assert "elsewhere" in str(info.value)
    assert client.get("origin") is not None


def test_an_unknown_envelope_version_says_to_upgrade(
    publisher: StatePublisher,
    client: StateClient,
    stored: Callable[[], dict[str, Any]],
    dynamodb: Any,
    realm: str,
) -> None:
    publisher.put("sid", big_secret(8000), type="secure")
    blob = bytearray(stored_value(stored, "sid"))
    blob[len(crypto.ENVELOPE_MAGIC)] = 9
    copy_item(dynamodb, realm, "sid", "sid", bytes(blob))
    with pytest.raises(EncryptionError, match=r"version 9.*upgrade"):
        client.get("sid")


def test_the_gcm_associated_data_binds_the_value_even_if_kms_ignores_the_context(
    local_aws: Any,
) -> None:
    """GIVEN a KMS that hands back the data key whatever EncryptionContext is asked with,
    WHEN an envelope is decrypted as another state_id or another realm,
    THEN AES-GCM still refuses it: its associated data carries realm and state_id.
    """
    data_key = bytes(range(32))
    kms = local_aws.client("kms")
    stubber = Stubber(kms)
    stubber.add_response(
        "generate_data_key", {"Plaintext": data_key, "CiphertextBlob": b"wrapped-key"}
    )
    for _ in range(3):  # no expected_params: the context is not checked
        stubber.add_response("decrypt", {"Plaintext": data_key})
    plaintext = json.dumps(big_secret(5000)).encode()
    with stubber:
        blob = crypto.encrypt(
            kms,
            plaintext,
            key_id="alias/any",
            context=crypto.encryption_context("dev", "sid"),
            state_id="sid",
        )
        assert crypto.is_envelope(blob)
        for realm, state_id in (("dev", "other-sid"), ("prod", "sid")):
            with pytest.raises(EncryptionError, match="moved from another item or realm"):
                crypto.decrypt(
                    kms,
                    blob,
                    context=crypto.encryption_context(realm, state_id),
                    state_id=state_id,
                )
        # The same stubbed KMS opens it for its own item: only the binding failed above.
        assert (
            crypto.decrypt(
                kms, blob, context=crypto.encryption_context("dev", "sid"), state_id="sid"
            )
            == plaintext
        )
    stubber.assert_no_pending_responses()

"""The item formats a realm writes, chosen once from its settings.

lava-state (the default): lava 8.x's attributes plus ``version`` and
``write_token``, secure values bound to their item by the EncryptionContext.
lava8: exactly lava 8.x's attributes, no version features, no
EncryptionContext, KMS's 4096-byte limit for secure values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lava_state.errors import (
    ConfigurationError,
    StateValueTooLarge,
    UnsupportedInItemFormat,
    VersionConflict,
)
from lava_state.store import REALMS_TABLE
from lava_state_local import LocalAws
from publisher import LavaStateItem, PutSpec, StatePublisher


def test_lava8_refuses_version_features_and_writes_nothing(
    lava8_publisher: StatePublisher, stored: Callable[[], dict[str, Any]]
) -> None:
    with pytest.raises(UnsupportedInItemFormat, match="lava8"):
        lava8_publisher.put("sid", 1, if_version=0)
    with pytest.raises(UnsupportedInItemFormat, match="lava8"):
        lava8_publisher.update("sid", lambda v: 1)
    with pytest.raises(UnsupportedInItemFormat, match="lava8"):
        lava8_publisher.delete("sid", if_version=1)
    assert stored() == {}


def test_lava8_if_absent_works_without_a_version(
    lava8_publisher: StatePublisher, stored: Callable[[], dict[str, Any]]
) -> None:
    assert lava8_publisher.put("sid", "a", if_absent=True).version == 0
    with pytest.raises(VersionConflict):
        lava8_publisher.put("sid", "b", if_absent=True)
    item = stored()["sid"]
    assert item["value"] == {"S": '"a"'}
    assert "version" not in item
    assert "write_token" not in item


def test_unknown_item_format_setting(realm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVA_STATE_ITEM_FORMAT", "lava9")
    with pytest.raises(ConfigurationError, match="lava8"):
        StatePublisher(realm)


def test_lava8_format_keeps_the_kms_limit_for_secure_values(
    realm: str, stored: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lava 8.x cannot read the envelope format, so lava8 writes keep direct KMS's 4096 bytes."""
    monkeypatch.setenv("LAVA_STATE_ITEM_FORMAT", "lava8")
    with pytest.raises(StateValueTooLarge, match="4096"):
        StatePublisher(realm).put("sid", "s" * 4095, type="secure")
    assert stored() == {}


def test_stored_attributes_are_lavas_plus_version_and_write_token(
    realm: str, session: Any, stored: Any
) -> None:
    LavaStateItem.new(
        "json", "sid", realm, {"a": 1}, ttl="2h", publisher="me", aws_session=session
    ).put()
    raw = stored()["sid"]
    lava = {"state_id", "type", "value", "timestamp", "ttl", "publisher"}
    assert set(raw) == lava | {"version", "write_token"}
    assert raw["value"] == {"S": '{"a": 1}'}
    assert raw["version"] == {"N": "1"}
    assert abs(int(raw["ttl"]["N"]) - (time.time() + 7200)) < 5
    stamp = datetime.fromisoformat(raw["timestamp"]["S"])
    assert stamp.utcoffset() is not None
    assert stamp.microsecond == 0


def test_lava8_format_writes_exactly_lavas_attributes(
    local_aws: LocalAws,
    realm: str,
    session: Any,
    stored: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAVA_STATE_ITEM_FORMAT", "lava8")
    LavaStateItem.new("json", "j", realm, {"a": 1}, aws_session=session).put()
    LavaStateItem.new("secure", "s", realm, "pw", aws_session=session).put()
    items = stored()
    assert set(items["j"]) == {"state_id", "type", "value", "timestamp", "ttl", "publisher"}
    # lava decrypts without an EncryptionContext: so must a lava8-format ciphertext.
    kms = local_aws.client("kms")
    assert kms.decrypt(CiphertextBlob=items["s"]["value"]["B"])["Plaintext"] == b'"pw"'
    assert LavaStateItem.get("s", realm, aws_session=session).value == "pw"


def test_lava8_put_many_reads_no_versions_and_writes_lavas_attributes(
    lava8_publisher: StatePublisher, local_aws: LocalAws, stored: Callable[[], dict[str, Any]]
) -> None:
    calls: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        # The state table's calls: the realm's lava configuration may be read first.
        if params.get("TableName") != REALMS_TABLE:
            calls.append(model.name)

    lava8_publisher.store.dynamodb.meta.events.register("provide-client-params.dynamodb", record)
    items = {f"k{i:02}": i for i in range(30)}

    results = lava8_publisher.put_many(
        [*map(_spec, items.items()), _spec(("pw", "s3cret"), "secure")]
    )

    assert all(r.ok for r in results)
    assert {r.item.version for r in results if r.item} == {0}
    assert calls == ["BatchWriteItem", "BatchWriteItem"]  # 31 items: 25 + 6, no BatchGetItem
    table = stored()
    assert len(table) == 31
    lava = {"state_id", "type", "value", "timestamp", "ttl", "publisher"}
    assert all(set(item) == lava for item in table.values())
    # No EncryptionContext, as lava 8.x decrypts.
    kms = local_aws.client("kms")
    assert kms.decrypt(CiphertextBlob=table["pw"]["value"]["B"])["Plaintext"] == b'"s3cret"'


def test_lava_state_put_many_binds_secure_values_to_their_item(
    publisher: StatePublisher, local_aws: LocalAws, stored: Callable[[], dict[str, Any]]
) -> None:
    publisher.put_many([_spec(("pw", "s3cret"), "secure")])
    blob = stored()["pw"]["value"]["B"]
    kms = local_aws.client("kms")
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        kms.decrypt(CiphertextBlob=blob)  # without the EncryptionContext
    context = {"lava-realm": publisher.realm, "lava-state-id": "pw"}
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b'"s3cret"'


def _spec(item: tuple[str, Any], type_: str = "json") -> PutSpec:
    return PutSpec(state_id=item[0], value=item[1], type=type_)

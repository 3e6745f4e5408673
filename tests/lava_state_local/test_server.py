from __future__ import annotations

import threading
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.aws import get_client, reset_clients
from lava_state.naming import table_name
from lava_state_local import LocalAws, local_aws
from publisher import StatePublisher


def test_realm_is_provisioned_like_the_stack(
    local_aws: LocalAws, realm: str, dynamodb: Any
) -> None:
    table = dynamodb.describe_table(TableName=table_name(realm))["Table"]
    assert table["KeySchema"] == [{"AttributeName": "state_id", "KeyType": "HASH"}]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = dynamodb.describe_time_to_live(TableName=table_name(realm))["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    aliases = {a["AliasName"] for a in local_aws.client("kms").list_aliases()["Aliases"]}
    assert f"alias/lava-{realm}-sys" in aliases
    # Idempotent: provisioning again keeps the same key.
    assert local_aws.provision_realm(realm) == local_aws.provision_realm(realm)


def test_concurrent_writers_lose_no_version(publisher: StatePublisher) -> None:
    """moto loses updates under concurrent writers; the local stack serialises requests."""
    versions: list[int] = []

    def write() -> None:
        for _ in range(20):
            versions.append(publisher.put("counter", 1).version)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(1, 81))


def test_consecutive_local_stacks_each_serve_default_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAVA_REALM", "dev")
    for run in range(2):
        with local_aws("dev", set_env=True):
            StatePublisher().put("x", run)
            # A default client built after the first block ended must reach this stack.
            assert StateClient().get_value("x") == run


def test_reset_clients_forgets_cached_clients() -> None:
    before = get_client("dynamodb")
    assert get_client("dynamodb") is before
    reset_clients()
    assert get_client("dynamodb") is not before

from __future__ import annotations

import threading
from typing import Any

from lava_state.local import LocalAws
from lava_state.naming import table_name
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

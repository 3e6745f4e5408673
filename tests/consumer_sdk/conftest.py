"""Fixtures for the consumer SDK: clients whose AWS calls are recorded (not replaced)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.naming import table_name
from lava_state_local import LocalAws


@dataclass
class Recorder:
    """The parameters of every call a real client made, by operation name."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, params))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def recorded_client(local_aws: LocalAws, realm: str, recorder: Recorder) -> StateClient:
    """A StateClient on fresh real clients whose every call is recorded by ``recorder``."""
    dynamodb = local_aws.client("dynamodb")
    kms = local_aws.client("kms")
    for client in (dynamodb, kms):
        client.meta.events.register("provide-client-params.*.*", recorder)
    return StateClient(realm, dynamodb=dynamodb, kms=kms)


@pytest.fixture
def put_raw(dynamodb: Any, realm: str) -> Any:
    """Store a raw item as another writer (or a corrupting one) would, bypassing the codecs."""

    def put(state_id: str, **attributes: dict[str, Any]) -> None:
        item = {
            "state_id": {"S": state_id},
            "type": {"S": "json"},
            "value": {"S": '"v"'},
            "timestamp": {"S": "2024-01-01T00:00:00+00:00"},
            "ttl": {"N": str(int(time.time()) + 3600)},
            **attributes,
        }
        dynamodb.put_item(TableName=table_name(realm), Item=item)

    return put

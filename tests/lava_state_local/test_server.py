from __future__ import annotations

import threading
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.aws import get_client, reset_clients
from lava_state.errors import ConfigurationError
from lava_state_local import LocalAws, local_aws
from lava_state_local.server import processor_settings
from publisher import StatePublisher
from tests.conftest import wait_until


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


def test_the_local_processor_reads_its_settings_from_the_environment() -> None:
    settings = processor_settings(
        "dev",
        {
            "LAVA_REALM": "other",
            "LAVA_STATE_MISSING_TOPIC_TTL": "2.5",
            "LAVA_STATE_FIFO_TOPICS": "true",
            "LAVA_STATE_TRACING": "off",
        },
    )
    assert (settings.realm, settings.missing_topic_ttl, settings.fifo, settings.tracing) == (
        "dev",
        2.5,
        True,
        "off",
    )
    # The realm-wide topic is on locally unless the environment says otherwise.
    assert settings.realm_topic
    assert not processor_settings("dev", {"LAVA_STATE_REALM_TOPIC": "false"}).realm_topic
    with pytest.raises(ConfigurationError, match="LAVA_STATE_MISSING_TOPIC_TTL"):
        processor_settings("dev", {"LAVA_STATE_MISSING_TOPIC_TTL": "soon"})


def test_the_default_runner_publishes_to_the_realm_topic(
    local_aws: LocalAws,
    realm: str,
    publisher: StatePublisher,
    client: StateClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAVA_STATE_REALM_TOPIC", raising=False)
    monkeypatch.setenv("LAVA_STATE_MISSING_TOPIC_TTL", "0")
    runner = local_aws.start_stream_runner(realm)
    try:
        # Every id, through lava-state-<realm>-all: no read would yield it (no resync or
        # settle read, and the baseline found nothing).
        with client.subscribe(prefix="", resync=None, missing_topic_ttl=0) as subscription:
            publisher.put("anything", 1)
            changes: list[Any] = []
            assert wait_until(lambda: changes.extend(subscription.events(timeout=0.5)) or changes)
    finally:
        runner.stop()
    assert [(c.state_id, c.origin.value) for c in changes] == [("anything", "notification")]

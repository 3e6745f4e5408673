"""Fixtures for the stream processor: JSON events, topics with SQS subscribers, the runner."""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from consumer_sdk._receive import ChangeQueue
from lava_state.naming import table_name
from stream_processor import ProcessorSettings, StreamProcessor

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE_TABLE = "lava.fixture.state"


@pytest.fixture
def load_event(realm: str) -> Callable[[str], dict[str, Any]]:
    """A JSON event fixture, re-pointed at this test's realm."""

    def load(name: str) -> dict[str, Any]:
        text = (FIXTURES / name).read_text()
        return json.loads(text.replace(FIXTURE_TABLE, table_name(realm)))  # type: ignore[no-any-return]

    return load


@pytest.fixture
def change_queues(sns: SNSClient, sqs: SQSClient) -> Iterator[dict[str, ChangeQueue]]:
    """The queues subscribed in this test, by URL; closed (unsubscribed, deleted) at teardown."""
    queues: dict[str, ChangeQueue] = {}
    yield queues
    for queue in queues.values():
        queue.close()


def _queue(
    queues: dict[str, ChangeQueue], realm: str, sns: SNSClient, sqs: SQSClient, **kwargs: Any
) -> ChangeQueue:
    queue = ChangeQueue(realm, sns=sns, sqs=sqs, **kwargs)
    queues[queue.queue_url] = queue
    return queue


@pytest.fixture
def subscribe_id(
    change_queues: dict[str, ChangeQueue], sns: SNSClient, sqs: SQSClient, realm: str
) -> Callable[..., str]:
    """Subscribe a new queue (raw delivery) to a state_id's topic; returns the queue URL.

    Pass ``queue_url`` to subscribe a queue made here to another id's topic.
    """

    def make(state_id: str, *, queue_url: str | None = None, fifo: bool = False) -> str:
        if queue_url is None:
            queue = _queue(change_queues, realm, sns, sqs, fifo=fifo)
        else:
            queue = change_queues[queue_url]
        queue.subscribe(queue.state_topic(state_id))
        return queue.queue_url

    return make


@pytest.fixture
def subscribe_realm(
    change_queues: dict[str, ChangeQueue], sns: SNSClient, sqs: SQSClient, realm: str
) -> Callable[[], str]:
    """Subscribe a new queue (raw delivery) to the realm-wide topic; returns the queue URL."""

    def make() -> str:
        queue = _queue(change_queues, realm, sns, sqs)
        queue.subscribe(queue.realm_topic())
        return queue.queue_url

    return make


@pytest.fixture
def receive(change_queues: dict[str, ChangeQueue]) -> Callable[..., list[dict[str, Any]]]:
    """Receive until ``count`` messages arrived or ``timeout`` passed, deleting them.

    Each message is returned as {"body": the change message, JSON-decoded,
    "attributes": {name: value}}.
    """

    def get(queue_url: str, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        queue = change_queues[queue_url]
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            deliveries = queue.receive(wait_seconds=1)
            received.extend(
                {"body": d.message(), "attributes": dict(d.attributes)} for d in deliveries
            )
            queue.ack(*deliveries)
        return received

    return get


@pytest.fixture
def make_processor(sns: Any) -> Callable[..., StreamProcessor]:
    """A processor publishing to the local SNS (tracing off unless given)."""

    def make(**settings: Any) -> StreamProcessor:
        clock = settings.pop("clock", time.monotonic)
        sns_client = settings.pop("sns", sns)
        settings.setdefault("tracing", "off")
        return StreamProcessor(sns=sns_client, settings=ProcessorSettings(**settings), clock=clock)

    return make


def clone(event: dict[str, Any]) -> dict[str, Any]:
    """A deep copy: the handler must not depend on (or mutate) the caller's event."""
    return copy.deepcopy(event)


@pytest.fixture(scope="session", autouse=True)
def _close_the_global_xray_socket() -> Iterator[None]:
    """The X-Ray SDK opens a UDP socket for its global recorder on import; close it at the end."""
    yield
    core = sys.modules.get("aws_xray_sdk.core")
    if core is not None:
        core.xray_recorder.emitter._socket.close()

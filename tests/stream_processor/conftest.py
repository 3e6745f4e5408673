"""Fixtures for the stream processor: JSON events, topics with SQS subscribers, the runner."""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lava_state.naming import table_name, topic_name
from lava_state_local import LocalAws, RunnerSettings, StreamRunner
from stream_processor import ProcessorSettings, StreamProcessor

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
def sns(local_aws: LocalAws) -> Any:
    return local_aws.client("sns")


@pytest.fixture
def sqs(local_aws: LocalAws) -> Any:
    return local_aws.client("sqs")


@pytest.fixture
def subscribe(sns: Any, sqs: Any, realm: str) -> Callable[..., str]:
    """Create a topic (by name) and an SQS queue raw-subscribed to it; returns the queue URL.

    Pass ``queue_url`` to subscribe an existing queue to another topic.
    """
    counter = iter(range(10_000))

    def make(name: str, *, queue_url: str | None = None, fifo: bool = False) -> str:
        attributes = {"FifoTopic": "true"} if fifo else {}
        topic_arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        if queue_url is None:
            queue = f"{realm}-{next(counter)}" + (".fifo" if fifo else "")
            queue_attributes = {"FifoQueue": "true"} if fifo else {}
            queue_url = sqs.create_queue(QueueName=queue, Attributes=queue_attributes)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return str(queue_url)

    return make


@pytest.fixture
def subscribe_id(subscribe: Callable[..., str], realm: str) -> Callable[..., str]:
    """Subscribe a new queue to a state_id's topic."""

    def make(state_id: str, *, queue_url: str | None = None, fifo: bool = False) -> str:
        return subscribe(topic_name(realm, state_id, fifo=fifo), queue_url=queue_url, fifo=fifo)

    return make


@pytest.fixture
def receive(sqs: Any) -> Callable[..., list[dict[str, Any]]]:
    """Receive until ``count`` messages arrived or ``timeout`` passed; bodies JSON-decoded.

    Each message is returned as {"body": ..., "attributes": {name: value}}.
    """

    def get(queue_url: str, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            response = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            for message in messages:
                received.append(
                    {
                        "body": json.loads(message["Body"]),
                        "attributes": {
                            k: v["StringValue"]
                            for k, v in message.get("MessageAttributes", {}).items()
                        },
                    }
                )
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
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


@pytest.fixture
def start_runner(local_aws: LocalAws, realm: str) -> Iterator[Callable[..., StreamRunner]]:
    """Start the event-source runner on this test's realm (stopped at teardown)."""
    runners: list[StreamRunner] = []

    def start(**kwargs: Any) -> StreamRunner:
        settings = kwargs.pop("settings", None) or RunnerSettings(idle_poll=0.5)
        runner = local_aws.start_stream_runner(realm, settings=settings, **kwargs)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


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

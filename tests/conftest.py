"""Shared fixtures: one embedded local AWS per test session, a fresh realm per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from consumer_sdk import StateClient
from lava_state.naming import table_name
from lava_state_local import LocalAws, RunnerSettings, StreamRunner
from publisher import StatePublisher
from stream_processor import ProcessorSettings

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

_LAVA_ENV = (
    "LAVA_REALM",
    "LAVA_STATE_TTL",
    "LAVA_STATE_MAX_TTL",
    "LAVA_STATE_ITEM_FORMAT",
    "LAVA_JOB_ID",
)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether ``predicate`` became true within ``timeout`` seconds (checked every 10 ms).

    Tests wait on conditions, never for a fixed time: ``assert wait_until(...)``
    for what must happen, ``assert not wait_until(..., timeout=...)`` for what
    must not happen within a window.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def subscription_leftovers(
    sqs: SQSClient, sns: SNSClient, realm: str
) -> tuple[list[str], list[str]]:
    """The subscription queues and the SNS subscriptions of this realm that still exist."""
    queues = sqs.list_queues(QueueNamePrefix=f"lava-state-{realm}-sub").get("QueueUrls", [])
    subscriptions = [
        s["SubscriptionArn"]
        for s in sns.list_subscriptions()["Subscriptions"]
        if f"lava-state-{realm}-sub" in s["Endpoint"]
    ]
    return queues, subscriptions


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """moto's server in this process, over HTTP, through the real botocore stack."""
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def sns(local_aws: LocalAws) -> SNSClient:
    return local_aws.client("sns")


@pytest.fixture
def sqs(local_aws: LocalAws) -> SQSClient:
    return local_aws.client("sqs")


@pytest.fixture(autouse=True)
def aws_env(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the default boto3 session (and CLI subprocesses) at the local AWS only."""
    for name in (*_LAVA_ENV, "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = local_aws.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def realm(local_aws: LocalAws) -> str:
    """A fresh realm: deploy/lava-state.yaml deployed as its stack (LocalAws.provision_realm)."""
    name = f"t{uuid.uuid4().hex[:12]}"
    local_aws.provision_realm(name)
    return name


@pytest.fixture
def dynamodb(local_aws: LocalAws) -> Any:
    """A plain DynamoDB client on the local AWS, for checking what is stored."""
    return local_aws.client("dynamodb")


@pytest.fixture
def stored(dynamodb: Any, realm: str) -> Any:
    """A function returning every raw item in the realm's table, by state_id."""

    def scan() -> dict[str, dict[str, Any]]:
        items = dynamodb.scan(TableName=table_name(realm), ConsistentRead=True)["Items"]
        return {item["state_id"]["S"]: item for item in items}

    return scan


@pytest.fixture
def publisher(local_aws: LocalAws, realm: str) -> StatePublisher:
    return StatePublisher(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url, publisher="tests"
    )


@pytest.fixture
def client(local_aws: LocalAws, realm: str) -> StateClient:
    return StateClient(realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url)


@pytest.fixture
def cli_env(aws_env: dict[str, str], realm: str) -> dict[str, str]:
    """Environment for running ``lava-state`` as a subprocess against the local AWS."""
    return {**os.environ, **aws_env, "LAVA_REALM": realm}


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


@pytest.fixture
def runner(start_runner: Callable[..., StreamRunner], realm: str) -> StreamRunner:
    """The stream processor on this realm as subscribers want it: a missing topic is not
    remembered (a new subscriber's topic counts at once) and the realm topic is on."""
    settings = ProcessorSettings(realm=realm, tracing="off", missing_topic_ttl=0, realm_topic=True)
    return start_runner(processor=settings)

"""StateClient.wait_for on the embedded stack: react, poll, auto (and its fallback)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from botocore.stub import Stubber

from consumer_sdk import StateClient, WaitTimeout
from lava_state.errors import AwsError, InvalidInput, LavaStateError
from lava_state_local import LocalAws, StreamRunner
from publisher import StatePublisher

MODES = ("auto", "react", "poll")


def later(publisher: StatePublisher, *puts: tuple[str, Any], delay: float = 0.3) -> threading.Timer:
    """Put ``puts`` in order from another thread, ``delay`` seconds from now."""

    def put_all() -> None:
        for state_id, value in puts:
            publisher.put(state_id, value)

    timer = threading.Timer(delay, put_all)
    timer.start()
    return timer


def queues(local_aws: LocalAws, realm: str) -> list[str]:
    sqs = local_aws.client("sqs")
    return list(sqs.list_queues(QueueNamePrefix=f"lava-state-{realm}-sub").get("QueueUrls", []))


@pytest.mark.parametrize("mode", MODES)
def test_a_change_made_before_the_call_returns_at_once_without_subscribing(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, mode: str
) -> None:
    publisher.put("done", {"rows": 3})
    sns, sqs = local_aws.client("sns"), local_aws.client("sqs")
    calls: list[str] = []
    for aws_client in (sns, sqs):
        aws_client.meta.events.register(
            "provide-client-params.*.*", lambda model, **_: calls.append(model.name)
        )
    client = StateClient(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url, sns=sns, sqs=sqs
    )
    item = client.wait_for("done", timeout=5, mode=mode)  # type: ignore[arg-type]
    assert item.value == {"rows": 3}
    assert calls == []  # no topic, no queue


@pytest.mark.parametrize("mode", MODES)
def test_a_change_made_during_the_wait_is_returned(
    local_aws: LocalAws,
    realm: str,
    runner: StreamRunner,
    publisher: StatePublisher,
    client: StateClient,
    mode: str,
) -> None:
    timer = later(publisher, ("upstream", {"rows": 0}), ("upstream", {"rows": 45}))
    start = time.monotonic()
    item = client.wait_for(
        "upstream",
        lambda item: item.value["rows"] > 0,
        timeout=20,
        mode=mode,  # type: ignore[arg-type]
    )
    timer.join()
    assert (item.version, item.value) == (2, {"rows": 45})
    assert time.monotonic() - start < 10
    assert queues(local_aws, realm) == []  # a reacting wait cleaned up


def test_a_secure_item_is_returned_decrypted(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("token", "s3cr3t", type="secure")
    # The catch-up read leaves secure values encrypted: the wait decrypts.
    item = client.wait_for("token", lambda item: item.value == "s3cr3t", timeout=5, mode="react")
    assert item.value == "s3cr3t"


@pytest.mark.parametrize("mode", MODES)
def test_a_timeout_raises_wait_timeout(
    local_aws: LocalAws,
    realm: str,
    runner: StreamRunner,
    publisher: StatePublisher,
    client: StateClient,
    mode: str,
) -> None:
    publisher.put("never-enough", {"rows": 0})
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as raised:
        client.wait_for(
            "never-enough",
            lambda item: item.value["rows"] > 0,
            timeout=1.0,
            mode=mode,  # type: ignore[arg-type]
        )
    assert 1.0 <= time.monotonic() - start < 4
    error = raised.value
    assert isinstance(error, TimeoutError) and isinstance(error, LavaStateError)
    assert str(error) == (
        f"timed out after 1 s waiting for state item 'never-enough' in realm {realm!r}: "
        "it exists at version 1 but the condition does not hold"
    )
    assert error.last is not None and error.last.version == 1
    with pytest.raises(WaitTimeout, match="it does not exist"):
        client.wait_for("absent", timeout=0, mode=mode)  # type: ignore[arg-type]
    assert queues(local_aws, realm) == []


def denied_sns(local_aws: LocalAws) -> tuple[Any, Stubber]:
    """An SNS client that refuses CreateTopic as SNS refuses a caller without permission."""
    sns = local_aws.client("sns")
    stubber = Stubber(sns)
    stubber.add_client_error(
        "create_topic",
        service_error_code="AuthorizationError",
        service_message="User is not authorized to perform: SNS:CreateTopic",
        http_status_code=403,
    )
    stubber.activate()
    return sns, stubber


def test_auto_falls_back_to_polling_when_subscribing_is_denied(
    local_aws: LocalAws, realm: str, runner: StreamRunner, publisher: StatePublisher
) -> None:
    sns, stubber = denied_sns(local_aws)
    reads: list[str] = []
    dynamodb = local_aws.client("dynamodb")
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda model, **_: reads.append(model.name)
    )
    client = StateClient(
        realm,
        session=local_aws.session(),
        endpoint_url=local_aws.endpoint_url,
        sns=sns,
        dynamodb=dynamodb,
    )
    timer = later(publisher, ("upstream", 1))
    item = client.wait_for("upstream", timeout=10, mode="auto")
    timer.join()
    assert item.value == 1
    stubber.assert_no_pending_responses()  # it did try to subscribe
    assert len(reads) >= 3  # the first check, then polls
    assert queues(local_aws, realm) == []


def test_react_reports_a_denied_subscription(local_aws: LocalAws, realm: str) -> None:
    sns, _ = denied_sns(local_aws)
    client = StateClient(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url, sns=sns
    )
    with pytest.raises(AwsError) as raised:
        client.wait_for("upstream", timeout=5, mode="react")
    assert raised.value.aws_code == "AuthorizationError"
    assert queues(local_aws, realm) == []


def test_polling_backs_off(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, runner: StreamRunner
) -> None:
    reads: list[float] = []
    dynamodb = local_aws.client("dynamodb")
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda **_: reads.append(time.monotonic())
    )
    client = StateClient(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url, dynamodb=dynamodb
    )
    with pytest.raises(WaitTimeout):
        client.wait_for("absent", timeout=3, mode="poll")
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    # Capped exponential: a few quick reads, then about one every 1-2 s; never a busy loop.
    assert 4 <= len(reads) <= 12
    assert max(gaps) <= 2.1 and gaps[-2] > gaps[0]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"mode": "push"}, "mode"), ({"timeout": -1}, "timeout")]
)
def test_bad_arguments_are_refused(
    client: StateClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.wait_for("sid", **{"timeout": 1, **kwargs})

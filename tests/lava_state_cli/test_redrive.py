"""``lava-state redrive``: the dead-lettered stream batches through the processor again."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from consumer_sdk._receive import ChangeQueue
from lava_state.naming import topic_name
from lava_state_local import LocalAws, RunnerSettings, StreamRunner
from publisher import StatePublisher
from tests.conftest import wait_until

Cli = Callable[..., tuple[int, str, str]]


def dead_lettered(local_aws: LocalAws, realm: str) -> int:
    """How many batches the realm's stream dead-letter queue holds."""
    sqs = local_aws.client("sqs")
    url = sqs.get_queue_url(QueueName=f"lava-state-{realm}-stream-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_redrive_publishes_what_the_processor_gave_up_on(
    local_aws: LocalAws,
    realm: str,
    publisher: StatePublisher,
    start_runner: Callable[..., StreamRunner],
    cli: Cli,
) -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the processor is down")

    runner = start_runner(
        handler=broken, settings=RunnerSettings(max_retries=0, bisect_on_error=False)
    )
    with ChangeQueue(realm, sns=local_aws.client("sns"), sqs=local_aws.client("sqs")) as queue:
        queue.subscribe(queue.state_topic("sid"))
        publisher.put("sid", {"lines": "45"})
        assert wait_until(lambda: runner.stats.dead_lettered >= 1, timeout=30)
        runner.stop()
        assert dead_lettered(local_aws, realm) == 1

        code, out, err = cli("redrive")

        assert (code, err) == (0, "")
        # moto's stream may hold a key-only INSERT before the full one: 1 or 2 records.
        assert re.fullmatch(r"redriven: 1 batch\(es\), [12] record\(s\); failed again: 0\n", out)
        assert dead_lettered(local_aws, realm) == 0
        received = None
        for _ in range(10):
            deliveries = queue.receive(wait_seconds=2)
            if deliveries:
                received = deliveries[0].event()
                break
        assert received is not None, f"no notification on {topic_name(realm, 'sid')}"
        assert (received.state_id, received.version, received.value) == (
            "sid",
            1,
            {"lines": "45"},
        )
        assert received.to_message()["event"] == "put"


def test_redrive_with_nothing_dead_lettered_does_nothing(
    local_aws: LocalAws, realm: str, start_runner: Callable[..., StreamRunner], cli: Cli
) -> None:
    start_runner()
    assert cli("redrive") == (0, "redriven: 0 batch(es), 0 record(s); failed again: 0\n", "")


def test_redrive_names_a_missing_queue(cli: Cli) -> None:
    code, out, err = cli("redrive", "--realm", "nosuchrealm")
    assert code == 1 and out == ""
    assert "lava-state-nosuchrealm-stream-dlq" in err

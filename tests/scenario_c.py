"""Scenario C: the stream processor under SNS faults and crashes, its dead-letter queue, redrive.

Writers put values over a set of ids while the local event-source runner
feeds the processor, whose SNS client fails ``rate`` of its PublishBatch
calls (throttles, 500s, refused connections, commit-then-timeout) and
``rate`` of the entries of the calls that go through. The handler also
crashes mid-batch (after handing half of it on) on two invocations, and on
every batch holding one poison record until it is healed, so that the
runner gives up on that record and dead-letters it. Then the dead-letter
queue is counted, redriven through the (healed) processor, and every
subscriber must converge on each id's final version.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from consumer_sdk import StateClient
from consumer_sdk._receive import ChangeQueue
from lava_state import aws
from lava_state_local import LocalAws, RunnerSettings
from lava_state_local.redrive import redrive
from lava_state_local.runner import Handler
from publisher import StatePublisher
from stream_processor import ProcessorSettings, StreamProcessor
from tests.faults import EntryFaults, Faults
from tests.scenarios import Report

POISON = ("id0", 3)  # (state_id, version): crashes the handler until healed


@dataclass
class Crashing:
    """The processor's handler, crashing mid-batch as a Lambda function can."""

    handle: Handler
    crash_on: frozenset[int] = frozenset({2, 5})
    healed: bool = False
    invocations: int = 0
    crashes: int = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.invocations += 1
        records = event["Records"]
        poisoned = [r for r in records if _is_poison(r)]
        if (self.invocations in self.crash_on and len(records) > 1) or (
            poisoned and not self.healed
        ):
            # Half the batch (or all but the poison) handed on, then the crash.
            done = [r for r in records[: max(1, len(records) // 2)] if not _is_poison(r)]
            if done:
                self.handle({"Records": done}, context)
            self.crashes += 1
            raise RuntimeError("the processor crashed mid-batch")
        return self.handle(event, context)


def _is_poison(record: dict[str, Any]) -> bool:
    image = record.get("dynamodb", {}).get("NewImage") or {}
    return image.get("state_id", {}).get("S") == POISON[0] and image.get("version", {}).get(
        "N"
    ) == str(POISON[1])


@dataclass
class Subscriber:
    """A queue subscribed to every id's topic, and the last version it saw of each."""

    queue: ChangeQueue
    seen: dict[str, int] = field(default_factory=dict)
    messages: int = 0

    def drain(self) -> None:
        deliveries = self.queue.receive(wait_seconds=1)
        for delivery in deliveries:
            event = delivery.event()
            self.messages += 1
            self.seen[event.state_id] = max(self.seen.get(event.state_id, 0), event.version)
        if deliveries:
            self.queue.ack(*deliveries)


def scenario_c(
    local_aws: LocalAws,
    realm: str,
    *,
    ids: int = 10,
    writes: int = 200,
    rate: float = 0.2,
    seed: int = 3,
    subscribers: int = 2,
    timeout: float = 120.0,
) -> Report:
    """Run scenario C; ``lost`` counts (subscriber, id) pairs that never saw the final version."""
    sns, sqs = local_aws.client("sns"), local_aws.client("sqs")
    state_ids = [f"id{i}" for i in range(ids)]
    subs = [Subscriber(ChangeQueue(realm, sns=sns, sqs=sqs)) for _ in range(subscribers)]
    for sub in subs:
        for state_id in state_ids:
            sub.queue.subscribe(sub.queue.state_topic(state_id))
    faults = Faults(rate=rate, seed=seed, operations={"PublishBatch"})
    entries = EntryFaults(rate=rate, seed=seed)
    faulty_sns = local_aws.session().client(
        "sns", endpoint_url=local_aws.endpoint_url, config=aws.botocore_config()
    )
    entries.install(faults.install(faulty_sns))
    processor = StreamProcessor(
        sns=faulty_sns, settings=ProcessorSettings(realm=realm, tracing="off")
    )
    handler = Crashing(processor.handle)
    runner = local_aws.start_stream_runner(
        realm,
        handler=handler,
        settings=RunnerSettings(idle_poll=0.2, max_retries=2, retry_backoff=0.01, batch_size=10),
    )
    report = Report("C: stream processor")
    try:
        publisher = StatePublisher(realm, dynamodb=local_aws.client("dynamodb"))
        rng = random.Random(seed)  # reproducible ids, not crypto
        for n in range(writes):
            # The poison id is written first, so that its poison version exists.
            state_id = POISON[0] if n < POISON[1] else rng.choice(state_ids)
            publisher.put(state_id, {"n": n})
            report.operations += 1
            report.succeeded += 1
        client = StateClient(realm, dynamodb=local_aws.client("dynamodb"))
        final = {
            state_id: item.version
            for state_id, item in client.get_many(state_ids).items()
            if item is not None
        }
        _settle(runner, timeout)
        report.errors["function errors"] = runner.stats.function_errors
        report.errors["dead-lettered records"] = runner.stats.dead_lettered
        handler.healed = True
        redriven = 0
        deadline = time.monotonic() + timeout
        while _dlq_depth(sqs, runner.dlq_url) and time.monotonic() < deadline:
            result = redrive(
                dlq_url=runner.dlq_url,
                sqs=sqs,
                streams=local_aws.client("dynamodbstreams"),
                handler=handler,
                visibility_timeout=1,
                wait_seconds=2,
            )
            redriven += result.records
        report.errors["redriven records"] = redriven
        report.errors["left on the dead-letter queue"] = _dlq_depth(sqs, runner.dlq_url)
        converged = _converge(subs, final, deadline=time.monotonic() + timeout)
        report.lost = sum(
            1 for sub in subs for state_id, v in final.items() if sub.seen.get(state_id, 0) < v
        )
        report.misreported = sum(
            1 for sub in subs for state_id, v in sub.seen.items() if v > final.get(state_id, 0)
        )
        report.notes.append(
            f"subscribers converged {converged}/{subscribers}; handler crashes "
            f"{handler.crashes} in {handler.invocations} invocations"
        )
    finally:
        runner.stop()
        for sub in subs:
            sub.queue.close()
    report.faults = {**faults.by_kind(), "failed entries": entries.failed}
    report.retries = faults.retries
    return report


def _settle(runner: Any, timeout: float) -> None:
    """Wait until the runner has handed on (or dead-lettered) every write."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not runner.wait_idle(timeout=1.0):
        continue


def _dlq_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _converge(subs: list[Subscriber], final: dict[str, int], *, deadline: float) -> int:
    """Drain the subscribers until each saw every id's final version; how many did."""

    def done(sub: Subscriber) -> bool:
        return all(sub.seen.get(state_id, 0) >= v for state_id, v in final.items())

    while time.monotonic() < deadline and not all(done(sub) for sub in subs):
        for sub in subs:
            if not done(sub):
                sub.drain()
    return sum(1 for sub in subs if done(sub))

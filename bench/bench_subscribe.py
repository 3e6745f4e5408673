"""Benchmark of subscriptions and waits (issue 9): one run, one embedded stack.

    .venv/bin/python bench/bench_subscribe.py

1. publish -> yield: a subscription to one id (default settings), 500 puts one
   after another; the time from calling ``put`` to the subscription yielding
   that change (put, stream, runner, processor, SNS, SQS long poll, ordering).
2. wait_for, react vs poll: a waiter calls ``wait_for`` and another thread puts
   the item 1 s (then 5 s) later; the time from the put to ``wait_for``
   returning, and the DynamoDB reads (and SNS/SQS calls) the waiter made.
   The modes alternate, round after round.
"""

from __future__ import annotations

import logging
import statistics
import sys
import threading
import time
from collections import Counter
from typing import Any

from consumer_sdk import StateClient
from lava_state_local import LocalAws
from publisher import StatePublisher
from stream_processor.handler import logger

REALM = "bench"
CHANGES = 500
WAITS = (1.0, 5.0)
ROUNDS = 5


def bench_publish_to_yield(aws: LocalAws, publisher: StatePublisher) -> dict[str, float]:
    client = StateClient(REALM, session=aws.session(), endpoint_url=aws.endpoint_url)
    latencies = []
    with client.subscribe(["bench"]) as subscription:
        for n in range(CHANGES):
            start = time.perf_counter()
            item = publisher.put("bench", {"n": n})
            for change in subscription:
                if change.version >= item.version:
                    break
            latencies.append(time.perf_counter() - start)
    quantiles = statistics.quantiles(latencies, n=100)
    return {"p50_ms": quantiles[49] * 1000, "p99_ms": quantiles[98] * 1000}


class Calls:
    """The calls a waiter's clients make, by service."""

    def __init__(self) -> None:
        self.by_service: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.by_service[model.service_model.service_name] += 1


def wait_once(
    aws: LocalAws, publisher: StatePublisher, mode: str, delay: float, state_id: str
) -> tuple[float, Counter[str]]:
    calls = Calls()
    clients = {name: aws.client(name) for name in ("dynamodb", "sns", "sqs")}  # type: ignore[call-overload]
    for client in clients.values():
        client.meta.events.register("provide-client-params.*.*", calls)
    waiter = StateClient(REALM, session=aws.session(), endpoint_url=aws.endpoint_url, **clients)
    put_at: list[float] = []

    def put_later() -> None:
        time.sleep(delay)
        put_at.append(time.perf_counter())
        publisher.put(state_id, {"rows": 45})

    thread = threading.Thread(target=put_later)
    thread.start()
    waiter.wait_for(state_id, timeout=30, mode=mode)  # type: ignore[arg-type]
    returned = time.perf_counter()
    thread.join()
    return returned - put_at[0], calls.by_service


def bench_wait(
    aws: LocalAws, publisher: StatePublisher
) -> dict[tuple[str, float], dict[str, float]]:
    results: dict[tuple[str, float], dict[str, list[float]]] = {}
    n = 0
    for delay in WAITS:
        for _ in range(ROUNDS):
            for mode in ("react", "poll"):
                n += 1
                latency, calls = wait_once(aws, publisher, mode, delay, f"ready-{n}")
                entry = results.setdefault((mode, delay), {"latency": [], "reads": [], "other": []})
                entry["latency"].append(latency)
                entry["reads"].append(calls["dynamodb"])
                entry["other"].append(calls["sns"] + calls["sqs"])
    return {
        key: {
            "latency_ms": statistics.median(entry["latency"]) * 1000,
            "reads": statistics.mean(entry["reads"]),
            "other": statistics.mean(entry["other"]),
        }
        for key, entry in results.items()
    }


def main() -> int:
    logger.setLevel(logging.WARNING)  # the processor's line per change would drown the table
    logging.getLogger("lava_state").setLevel(logging.ERROR)
    with LocalAws() as aws:
        aws.provision_realm(REALM)
        aws.start_stream_runner(REALM)  # the local stack's processor, settings from the environment
        publisher = StatePublisher(
            REALM, session=aws.session(), endpoint_url=aws.endpoint_url, publisher="bench"
        )
        latency = bench_publish_to_yield(aws, publisher)
        waits = bench_wait(aws, publisher)
    rows = [
        (f"publish -> yield p50 ({CHANGES} changes)", f"{latency['p50_ms']:.1f} ms", "<= 100 ms"),
        (f"publish -> yield p99 ({CHANGES} changes)", f"{latency['p99_ms']:.1f} ms", ""),
    ]
    for delay in WAITS:
        for mode in ("react", "poll"):
            entry = waits[(mode, delay)]
            rows.append(
                (
                    f"wait_for {mode}, put {delay:g} s in: put -> return (median)",
                    f"{entry['latency_ms']:.0f} ms",
                    "",
                )
            )
            rows.append(
                (
                    f"wait_for {mode}, put {delay:g} s in: DynamoDB reads / SNS+SQS calls",
                    f"{entry['reads']:.1f} / {entry['other']:.1f}",
                    "",
                )
            )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>14}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>14}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

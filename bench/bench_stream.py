"""Benchmark of the stream processor (issue 4): one run, one table.

    .venv/bin/python bench/bench_stream.py

1. Handler overhead: a 1,000-record batch over 50 ids, SNS replaced by an
   in-memory client (``MemorySns`` below): records/s and SNS calls.
2. End to end on the embedded stack: put -> stream -> runner (default
   settings) -> handler -> SNS -> SQS subscriber; p50/p99 over 500 changes.
3. Cold start: ``python -X importtime -c 'import stream_processor.handler'``
   against ``import boto3`` alone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from consumer_sdk._receive import ChangeQueue
from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import StatePublisher
from stream_processor import ProcessorSettings, StreamProcessor
from stream_processor.handler import logger

REALM = "bench"
RECORDS, IDS = 1000, 50
E2E_CHANGES = 500


class MemorySns:
    """An in-memory SNS client: just enough PublishBatch for the handler, counting calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.messages = 0

    def publish_batch(
        self, *, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self.calls[TopicArn] += 1
        self.messages += len(PublishBatchRequestEntries)
        return {
            "Successful": [
                {"Id": e["Id"], "MessageId": e["Id"]} for e in PublishBatchRequestEntries
            ],
            "Failed": [],
        }


def lambda_batch() -> dict[str, Any]:
    """1,000 Lambda-shaped MODIFY records over 50 ids, 20 versions each."""
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table_name(REALM)}/stream/2026-01-01"
    records = []
    for n in range(RECORDS):
        state_id, version = f"job-{n % IDS:02d}", n // IDS + 1

        def image(v: int, sid: str = state_id) -> dict[str, Any]:
            return {
                "state_id": {"S": sid},
                "type": {"S": "json"},
                "value": {"S": json.dumps({"lines": v, "file": "s3://bucket/data.csv"})},
                "timestamp": {"S": "2026-11-28T17:56:19+00:00"},
                "ttl": {"N": "1796493379"},
                "publisher": {"S": "jobs/line-counter"},
                "version": {"N": str(v)},
            }

        records.append(
            {
                "eventID": f"{n:032x}",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1795888579,
                    "Keys": {"state_id": {"S": state_id}},
                    "NewImage": image(version),
                    "OldImage": image(version - 1),
                    "SequenceNumber": str(4100000000017454423000 + n),
                    "SizeBytes": 420,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": arn,
            }
        )
    return {"Records": records}


def bench_handler() -> dict[str, Any]:
    event = lambda_batch()
    sns = MemorySns()
    processor = StreamProcessor(
        sns=sns,  # type: ignore[arg-type]
        settings=ProcessorSettings(realm=REALM, tracing="off", missing_topic_ttl=30),
    )
    processor.handle(event)  # warm the caches, as a warm Lambda container would be
    sns.calls.clear()
    sns.messages = 0
    runs, best = 0, math.inf
    deadline = time.perf_counter() + 10
    while runs < 5 or (time.perf_counter() < deadline and runs < 50):
        start = time.process_time()
        response = processor.handle(event)
        best = min(best, time.process_time() - start)
        runs += 1
        assert response == {"batchItemFailures": []}
    calls_per_batch = sum(sns.calls.values()) / runs
    per_topic = {topic: count / runs for topic, count in sns.calls.items()}
    bound = math.ceil(RECORDS / IDS / 10)
    return {
        "records_per_s": RECORDS / best,
        "us_per_record": best / RECORDS * 1e6,
        "calls_per_batch": calls_per_batch,
        "calls_per_record": calls_per_batch / RECORDS,
        "max_calls_per_topic": max(per_topic.values()),
        "bound_per_topic": bound,
        "runs": runs,
    }


def bench_end_to_end() -> dict[str, float]:
    with LocalAws() as aws:
        aws.provision_realm(REALM)
        queue = ChangeQueue(REALM, session=aws.session(), endpoint_url=aws.endpoint_url)
        queue.subscribe(queue.state_topic("bench"))
        aws.start_stream_runner(REALM)  # the runner's default settings
        publisher = StatePublisher(
            REALM, session=aws.session(), endpoint_url=aws.endpoint_url, publisher="bench"
        )
        latencies = []
        with queue:
            for n in range(E2E_CHANGES):
                start = time.perf_counter()
                item = publisher.put("bench", {"n": n})
                while True:
                    deliveries = queue.receive(wait_seconds=5)
                    if not deliveries:
                        raise RuntimeError(f"change {n} did not arrive within 5 s")
                    queue.ack(*deliveries)
                    if item.version in {d.event().version for d in deliveries}:
                        break
                latencies.append(time.perf_counter() - start)
        quantiles = statistics.quantiles(latencies, n=100)
        return {"p50_ms": quantiles[49] * 1000, "p99_ms": quantiles[98] * 1000}


def import_time_us(statement: str) -> int:
    """Median over 5 fresh interpreters of the summed top-level cumulative import times."""
    totals = []
    for _ in range(5):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", statement],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        total = 0
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line[len("import time:") :].split("|")
            if not name.startswith("   "):  # top level: one space; nested imports indent more
                total += int(cumulative)
        totals.append(total)
    return int(statistics.median(totals))


def main() -> int:
    logger.setLevel(logging.WARNING)  # one INFO line per batch would dominate the timing
    logging.getLogger("lava_state").setLevel(logging.ERROR)
    handler = bench_handler()
    boto3_us = import_time_us("import boto3")
    handler_us = import_time_us("import stream_processor.handler")
    e2e = bench_end_to_end()
    rows = [
        (
            "handler: records/s (1,000 records, 50 ids, in-memory SNS, 1 core)",
            f"{handler['records_per_s']:,.0f}",
            ">= 20,000",
        ),
        ("handler: CPU per record", f"{handler['us_per_record']:.1f} us", ""),
        (
            "SNS PublishBatch calls per batch / per record",
            f"{handler['calls_per_batch']:.0f} / {handler['calls_per_record']:.3f}",
            "",
        ),
        (
            "SNS calls per topic (20 changes each)",
            f"{handler['max_calls_per_topic']:.0f}",
            f"<= ceil(20/10) = {handler['bound_per_topic']}",
        ),
        ("end to end put -> SQS p50", f"{e2e['p50_ms']:.1f} ms", "<= 150 ms"),
        ("end to end put -> SQS p99", f"{e2e['p99_ms']:.1f} ms", ""),
        ("import boto3", f"{boto3_us / 1000:.0f} ms", ""),
        ("import stream_processor.handler", f"{handler_us / 1000:.0f} ms", ""),
        ("cold-start import ratio", f"{handler_us / boto3_us:.2f}x", "<= 1.5x"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>18}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>18}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

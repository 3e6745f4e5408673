"""Benchmark the publisher on the embedded local AWS (a script, not a timed test).

Measures in one run, interleaving candidate and baseline and reporting medians:

1. ``put_many`` of N items vs a raw ``batch_write_item`` loop writing the same
   number of equivalent items (target: <= 1.2x);
2. a conditional put (``if_version``) vs an unconditional put (target: <= 1.1x);
3. contended ``update(+1)`` throughput with 8 writers on one counter.

moto serialises requests (see DESIGN.md), so absolute figures are moto's, not
DynamoDB's; the ratios are what this script is for.

    .venv/bin/python bench/bench_publisher.py            # defaults below
    .venv/bin/python bench/bench_publisher.py --items 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import StatePublisher

REALM = "bench"


def raw_batch_write(dynamodb: Any, table: str, n: int, prefix: str) -> None:
    """What a job would write by hand: lava's attributes, 25 items per BatchWriteItem."""
    now = datetime.now(UTC).replace(microsecond=0)
    expires = str(int(now.timestamp()) + 7 * 86400)
    items = [
        {
            "state_id": {"S": f"{prefix}{i}"},
            "type": {"S": "json"},
            "value": {"S": json.dumps({"i": i, "lines": "45"})},
            "timestamp": {"S": now.isoformat()},
            "ttl": {"N": expires},
            "publisher": {"S": "bench"},
        }
        for i in range(n)
    ]
    for start in range(0, n, 25):
        pending: Any = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while pending:
            response = dynamodb.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table)


def interleave(runs: list[Callable[[], None]], round_: int) -> None:
    """Run candidates in turn, reversing the order every other round (ABBA) after a
    collection, so that drift (GC, moto's growing stream) does not favour one side."""
    for run in runs if round_ % 2 == 0 else runs[::-1]:
        gc.collect()
        run()


def raw_read_versions(dynamodb: Any, table: str, n: int, prefix: str) -> None:
    """The read put_many adds to keep versions: consistent BatchGetItem, 100 keys per call."""
    for start in range(0, n, 100):
        pending: Any = {
            "Keys": [
                {"state_id": {"S": f"{prefix}{i}"}} for i in range(start, min(n, start + 100))
            ],
            "ConsistentRead": True,
            "ProjectionExpression": "#sid, #ver",
            "ExpressionAttributeNames": {"#sid": "state_id", "#ver": "version"},
        }
        while pending:
            response = dynamodb.batch_get_item(RequestItems={table: pending})
            pending = response.get("UnprocessedKeys", {}).get(table)


def bench_put_many(
    publisher: StatePublisher, dynamodb: Any, n: int, rounds: int
) -> list[list[str]]:
    table = table_name(REALM)
    ours: list[float] = []
    raw: list[float] = []
    raw_rw: list[float] = []

    def run_ours() -> None:
        t0 = time.perf_counter()
        results = publisher.put_many({f"many/{i}": {"i": i, "lines": "45"} for i in range(n)})
        ours.append(time.perf_counter() - t0)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"put_many left {len(failed)} items unwritten: {failed[0].error}")

    def run_raw() -> None:
        t0 = time.perf_counter()
        raw_batch_write(dynamodb, table, n, "raw/")
        raw.append(time.perf_counter() - t0)

    def run_raw_rw() -> None:
        t0 = time.perf_counter()
        raw_read_versions(dynamodb, table, n, "rawrw/")
        raw_batch_write(dynamodb, table, n, "rawrw/")
        raw_rw.append(time.perf_counter() - t0)

    for round_ in range(rounds):
        interleave([run_ours, run_raw, run_raw_rw], round_)
    a, b, c = statistics.median(ours), statistics.median(raw), statistics.median(raw_rw)
    return [
        [
            f"put_many, {n} items (median of {rounds})",
            f"{a:.2f} s",
            f"raw batch_write_item loop: {b:.2f} s",
            f"{a / b:.2f}x (target <= 1.2x)",
        ],
        [
            "  same, vs the same I/O by hand",
            f"{a:.2f} s",
            f"raw batch_get_item + batch_write_item: {c:.2f} s",
            f"{a / c:.2f}x (put_many's own overhead)",
        ],
    ]


def bench_conditional(publisher: StatePublisher, n: int, rounds: int) -> list[str]:
    version = publisher.put("cond", 0).version
    cond: list[float] = []
    plain: list[float] = []

    def run_cond() -> None:
        nonlocal version
        t0 = time.perf_counter()
        for i in range(n):
            version = publisher.put("cond", i, if_version=version).version
        cond.append((time.perf_counter() - t0) / n)

    def run_plain() -> None:
        t0 = time.perf_counter()
        for i in range(n):
            publisher.put("plain", i)
        plain.append((time.perf_counter() - t0) / n)

    for round_ in range(rounds):
        interleave([run_cond, run_plain], round_)
    a, b = statistics.median(cond), statistics.median(plain)
    return [
        f"put(if_version=), {n} puts x {rounds} blocks",
        f"{a * 1000:.2f} ms/put",
        f"unconditional put: {b * 1000:.2f} ms/put",
        f"{a / b:.2f}x (target <= 1.1x)",
    ]


def bench_update(publisher: StatePublisher, writers: int, per_writer: int) -> list[str]:
    calls = 0
    lock = threading.Lock()

    def add_one(value: Any) -> int:
        nonlocal calls
        with lock:
            calls += 1
        return (value or 0) + 1

    def work() -> None:
        for _ in range(per_writer):
            publisher.update("counter", add_one, retries=1000)

    # Baseline: the same number of updates from one writer (no contention).
    t0 = time.perf_counter()
    for _ in range(per_writer):
        publisher.update("solo", add_one)
    solo = per_writer / (time.perf_counter() - t0)
    calls = 0
    threads = [threading.Thread(target=work) for _ in range(writers)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    total = writers * per_writer
    final = publisher.update("counter", lambda v: v)  # read back through a CAS no-op
    if final.value != total:
        raise SystemExit(f"lost updates: counter is {final.value}, expected {total}")
    return [
        f"update(+1), {writers} writers x {per_writer}",
        f"{total / elapsed:.0f} updates/s",
        f"1 writer: {solo:.0f} updates/s",
        f"{calls - total} conflicts retried ({(calls - total) / total:.2f}/update), "
        f"final value {final.value}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="put_many size (10000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--puts", type=int, default=200, help="puts per block (200)")
    parser.add_argument("--blocks", type=int, default=5, help="interleaved put blocks (5)")
    parser.add_argument("--writers", type=int, default=8, help="update writers (8)")
    parser.add_argument("--updates", type=int, default=100, help="updates per writer (100)")
    args = parser.parse_args()

    started = time.perf_counter()
    with LocalAws() as aws:
        aws.provision_realm(REALM)
        dynamodb = aws.client("dynamodb")
        publisher = StatePublisher(
            REALM, dynamodb=dynamodb, kms=aws.client("kms"), publisher="bench"
        )
        publisher.put("warm-up", 1)
        rows = [
            *bench_put_many(publisher, dynamodb, args.items, args.rounds),
            bench_conditional(publisher, args.puts, args.blocks),
            bench_update(publisher, args.writers, args.updates),
        ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ["measure", "lava-state", "baseline", "ratio / notes"]
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\n(total {time.perf_counter() - started:.0f} s on the embedded moto server)")


if __name__ == "__main__":
    main()

"""Reliability under faults, and a load run, on the embedded local AWS (a script, not a test).

    .venv/bin/python bench/bench_reliability.py                 # full sizes, 120 s of load
    .venv/bin/python bench/bench_reliability.py --duration 30   # a shorter load run

Scenarios (tests/scenarios.py; the test suite runs them smaller), each
printing operations, faults injected, botocore retries, errors by type, and
``lost`` and ``misreported``, which must be 0:

- A: 8 threads x 250 puts over 50 ids, 20% of DynamoDB requests faulty
  (throttles, 500s, refused connections, commit-then-timeout);
- B: 8 threads x 100 ``update(+1)`` on one id, the same faults;
- C: the stream processor, fed by the local event-source runner, under 20%
  SNS faults (whole PublishBatch calls and single entries) and crashes
  mid-batch, then its dead-letter queue redriven: every subscriber converges
  on each id's final version;
- D: KMS unavailable: secure puts fail clearly, nothing is written, json
  items are still read.

Load: ``--duration`` seconds of mixed put / get / expand_job_spec from 8
threads over 50 ids, with the stream processor running (the local
event-source runner): operations per second, p50/p99 per operation, and
this process's memory (resident set, which holds the embedded server too)
at start and end. moto serialises requests (see DESIGN.md): absolute
figures are the emulator's, not DynamoDB's.
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import resource
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

# The scenarios and the fault layer live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer_sdk import StateClient, expand_job_spec
from lava_state.errors import LavaStateError
from lava_state_local import LocalAws, RunnerSettings
from publisher import StatePublisher
from stream_processor.handler import logger
from tests.scenario_c import scenario_c
from tests.scenarios import Report, scenario_a, scenario_b, scenario_d

THREADS, IDS = 8, 50


def rss_mib() -> float:
    """This process's resident set now (Linux), else its peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_realm(local_aws: LocalAws) -> str:
    realm = f"b{uuid.uuid4().hex[:10]}"
    local_aws.provision_realm(realm)
    return realm


def load(local_aws: LocalAws, duration: float) -> None:
    """Mixed put / get / expand from THREADS threads while the stream processor runs."""
    realm = fresh_realm(local_aws)
    runner = local_aws.start_stream_runner(realm, settings=RunnerSettings(idle_poll=0.5))
    publisher = StatePublisher(realm, dynamodb=local_aws.client("dynamodb"))
    client = StateClient(realm, dynamodb=local_aws.client("dynamodb"))
    for i in range(IDS):
        publisher.put(f"id{i}", {"n": i})
    spec = {
        "state": {f"id{i}": {"n": 0} for i in range(5)},
        "cmd": "run {{ state.id0.n }} {{ state.id1.n + state.id2.n }}",
    }
    timings: dict[str, list[float]] = {"put": [], "get": [], "expand": []}
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    gc.collect()
    start_rss = rss_mib()
    deadline = time.monotonic() + duration

    def worker(n: int) -> None:
        rng = random.Random(n)  # reproducible mix, not crypto
        mine: dict[str, list[float]] = {"put": [], "get": [], "expand": []}
        while time.monotonic() < deadline:
            op = rng.choice(("put", "put", "get", "get", "expand"))
            state_id = f"id{rng.randrange(IDS)}"
            began = time.perf_counter()
            try:
                if op == "put":
                    publisher.put(state_id, {"n": rng.randrange(1000), "by": n})
                elif op == "get":
                    client.get(state_id)
                else:
                    expand_job_spec(spec, client=client)
            except LavaStateError as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                continue
            mine[op].append(time.perf_counter() - began)
        with lock:
            for op, values in mine.items():
                timings[op].extend(values)

    began = time.monotonic()
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.monotonic() - began
    runner.stop()
    gc.collect()
    total = sum(len(v) for v in timings.values())
    print(f"load: {THREADS} threads, {elapsed:.0f} s, stream processor running")
    print(f"  {total} operations, {total / elapsed:.0f} ops/s; errors: {dict(errors) or 'none'}")
    print_timings(timings)
    stats = runner.stats
    print(
        f"  stream: {stats.records} records in {stats.invocations} invocations, "
        f"{stats.function_errors} function errors"
    )
    print(f"  memory (RSS): {start_rss:.0f} MiB at start, {rss_mib():.0f} MiB at end")


def print_timings(timings: dict[str, list[float]]) -> None:
    for op, values in timings.items():
        if len(values) >= 2:
            cuts = statistics.quantiles(values, n=100)
            print(
                f"  {op:6} {len(values):6} ops  p50 {cuts[49] * 1000:6.1f} ms  "
                f"p99 {cuts[98] * 1000:6.1f} ms"
            )


def scenario(run: Any, local_aws: LocalAws, **kwargs: Any) -> Report:
    began = time.monotonic()
    report: Report = run(local_aws, fresh_realm(local_aws), **kwargs)
    print(f"{report.line()}  [{time.monotonic() - began:.0f} s]")
    for note in report.notes[:5]:
        print(f"  {note}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="load seconds (120)")
    parser.add_argument("--puts", type=int, default=250, help="scenario A puts per thread")
    parser.add_argument("--updates", type=int, default=100, help="scenario B updates per thread")
    parser.add_argument("--writes", type=int, default=1000, help="scenario C writes (1000)")
    parser.add_argument("--rate", type=float, default=0.2, help="fault rate (0.2)")
    args = parser.parse_args()
    # The faults make botocore and the publisher log every retry: keep the figures readable.
    logging.getLogger().setLevel(logging.ERROR)
    logger.setLevel(logging.WARNING)  # the processor's INFO line per batch
    with LocalAws() as local_aws:
        reports = [
            scenario(scenario_a, local_aws, threads=THREADS, puts=args.puts, rate=args.rate),
            scenario(scenario_b, local_aws, threads=THREADS, updates=args.updates, rate=args.rate),
            scenario(scenario_c, local_aws, ids=IDS, writes=args.writes, rate=args.rate),
            scenario(scenario_d, local_aws),
        ]
        load(local_aws, args.duration)
    bad = [r.name for r in reports if r.lost or r.misreported or r.duplicate_versions]
    if bad:
        print(f"FAILED: {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()

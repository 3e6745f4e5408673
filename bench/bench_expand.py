"""Benchmark: job-spec expansion vs a raw batched read, and vs lava's per-id GetItem.

Runs against the embedded local AWS (moto's server in this process, over
HTTP, through real botocore). For each size (20, 100, 1000 declared ids) it
times, interleaved round by round so that machine noise hits every subject
alike, and reports medians and ratios:

* ``raw``: one ``batch_get_item`` (ConsistentRead) of the same keys, chunks
  of 100 issued one after the other (the baseline);
* ``expand``: ``expand_job_spec`` of a spec declaring the ids, whose payload
  references every one of them (read, decode, render);
* ``lava``: lava's way, one consistent ``get_item`` per declared id, in sequence.

Targets (issue 3): expand <= 1.3x raw at 20 and 100 ids; at 1000 ids expand
faster than the 10 sequential raw batches (ratio < 1); lava >= 8x slower than
expand at 20 ids.

The template cache is warm after the first expansion (a scheduler expands the
same specs run after run); ``cold expand ms`` is one expansion with an empty
cache, what a job's first run pays.

Usage: ``.venv/bin/python bench/bench_expand.py [--rounds N] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from consumer_sdk import StateClient, expand_job_spec
from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import StatePublisher

REALM = "bench"
SIZES = (20, 100, 1000)
TARGETS = {"expand/raw": 1.3, "expand/raw@1000": 1.0, "lava/expand": 8.0}


def state_id(i: int) -> str:
    return f"bench/{i:04d}"


def make_spec(n: int) -> dict[str, Any]:
    """A job spec declaring ``n`` ids; the payload references each of them once."""
    refs = " ".join(f"{{{{ state['{state_id(i)}'].n }}}}" for i in range(n))
    return {
        "job_id": f"bench/expand-{n}",
        "type": "cmd",
        "state": {state_id(i): {"n": -1} for i in range(n)},
        "payload": f"process {refs}",
        "parameters": {"env": {"COUNT": "{{ job.state | length }}"}, "args": ["--fast"]},
    }


def subjects_for(
    n: int, *, dynamodb: Any, client: StateClient, table: str
) -> dict[str, Callable[[], object]]:
    """The timed callables for ``n`` ids: raw, expand and (where affordable) lava."""
    keys = [{"state_id": {"S": state_id(i)}} for i in range(n)]
    spec = make_spec(n)
    expected = "process " + " ".join(str(i) for i in range(n))

    def raw() -> object:
        for start in range(0, n, 100):
            request = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            response = dynamodb.batch_get_item(RequestItems=request)
            assert not response.get("UnprocessedKeys")
            assert len(response["Responses"][table]) == len(keys[start : start + 100])
        return response

    def expand() -> object:
        result = expand_job_spec(spec, client=client)
        assert result["payload"] == expected
        return result

    def lava() -> object:
        for key in keys:
            assert "Item" in dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
        return None

    subjects: dict[str, Callable[[], object]] = {"raw": raw, "expand": expand}
    # lava's way is one sequential call per id: at 1000 ids one round alone takes seconds.
    if n <= 100:
        subjects["lava"] = lava
    return subjects


def measure(subjects: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Interleaved timings: every round runs each subject once, the order rotating."""
    times: dict[str, list[float]] = {name: [] for name in subjects}
    names = list(subjects)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            subjects[name]()
            times[name].append(time.perf_counter() - started)
    return times


def cold_expand_ms(n: int, client: StateClient) -> float:
    """One expansion with an empty template cache: what the first run of a job pays."""
    from lava_state import template_sandbox

    template_sandbox.compiled.cache_clear()
    started = time.perf_counter()
    expand_job_spec(make_spec(n), client=client)
    return (time.perf_counter() - started) * 1000


def report(rows: list[tuple[int, dict[str, float], dict[str, int], float]]) -> None:
    print()
    print(
        f"{'ids':>5} | {'raw ms':>8} | {'expand ms':>9} | {'lava ms':>8} | "
        f"{'expand/raw':>10} | {'lava/expand':>11} | {'cold expand ms':>14}"
    )
    print("-" * 84)
    for n, med, _counts, cold in rows:
        lava_ms = f"{med['lava'] * 1000:8.1f}" if "lava" in med else f"{'-':>8}"
        lava_ratio = f"{med['lava'] / med['expand']:10.1f}x" if "lava" in med else f"{'-':>11}"
        print(
            f"{n:>5} | {med['raw'] * 1000:8.1f} | {med['expand'] * 1000:9.1f} | {lava_ms} | "
            f"{med['expand'] / med['raw']:9.2f}x | {lava_ratio} | {cold:14.1f}"
        )
    print()
    for n, med, counts, _cold in rows:
        ratio = med["expand"] / med["raw"]
        target = TARGETS["expand/raw@1000"] if n == 1000 else TARGETS["expand/raw"]
        what = "10 sequential raw batches" if n == 1000 else "one raw batch"
        verdict = "met" if ratio <= target else "MISSED"
        print(
            f"{n:>5} ids: expand/raw {ratio:.2f}x vs {what} (target <= {target}x): {verdict}"
            f"  [samples: {counts}]"
        )
        if n == 20:
            speedup = med["lava"] / med["expand"]
            verdict = "met" if speedup >= TARGETS["lava/expand"] else "MISSED"
            print(
                f"{n:>5} ids: lava/expand {speedup:.1f}x (target >= {TARGETS['lava/expand']}x): "
                f"{verdict}; ceiling lava/raw {med['lava'] / med['raw']:.1f}x (no expansion "
                "can beat one raw batch)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per size")
    parser.add_argument("--quick", action="store_true", help="3 rounds (a smoke run)")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")

    with LocalAws() as aws:
        aws.provision_realm(REALM)
        dynamodb = aws.client("dynamodb")
        publisher = StatePublisher(REALM, session=aws.session(), endpoint_url=aws.endpoint_url)
        for i in range(max(SIZES)):
            publisher.put(state_id(i), {"n": i})
        # One client for every subject: the comparison is of the reads, not of client setup.
        client = StateClient(REALM, dynamodb=dynamodb)
        print(
            f"# lava-state bench_expand: python {platform.python_version()}, "
            f"{os.cpu_count()} cpus, {rounds} rounds per size, interleaved, medians"
        )
        rows = []
        for n in SIZES:
            subjects = subjects_for(n, dynamodb=dynamodb, client=client, table=table_name(REALM))
            cold = cold_expand_ms(n, client)
            for fn in subjects.values():  # warm up connections and code paths
                fn()
            # At 1000 ids a round takes about 2 s: half the rounds keep the run near 1 minute.
            times = measure(subjects, rounds if n < 1000 else max(3, rounds // 2))
            med = {name: statistics.median(values) for name, values in times.items()}
            rows.append((n, med, {name: len(v) for name, v in times.items()}, cold))
        report(rows)


if __name__ == "__main__":
    main()

"""Simulation behind docs/scaling.md (issue 12): the stream processor's SNS calls and
the latency they add, for a Zipf-distributed stream of changes over 1,000,000
state_ids, with and without the realm-wide topic. One run, one table.

    .venv/bin/python bench/bench_scaling.py [--changes 1000000] [--rate 1000]

A model, not a measurement of AWS: changes arrive at ``--rate`` per second in one
stream shard; Lambda hands the processor batches of ``BatchSize`` (100)
consecutive changes; the processor groups a batch by topic and sends one
PublishBatch per 10 messages of a topic, one topic after the other (as
stream_processor/handler.py does). A topic exists only for subscribed ids
(``--subscribed`` of them, the hottest, as people watch active jobs); a
change to another id costs one rejected call, then nothing while its "missing"
is remembered (MissingTopicTtl, 30 s, at most 10,000 remembered, as
stream_processor/publish.py). Each SNS call is taken to last ``--sns-ms``
(20 ms, a typical same-region round trip).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import statistics
from collections import Counter, OrderedDict

from lava_state.constants import MISSING_TOPIC_CACHE_MAX

IDS = 1_000_000
BATCH_SIZE = 100
SNS_BATCH = 10
MISSING_TTL = 30.0
ZIPF_S = 1.1

# us-east-1 list prices (check the current ones), USD.
PRICE = {
    "dynamodb_write": 0.625 / 1e6,  # on-demand write request unit
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s": 0.0000133334,  # arm64
    "sns_request": 0.50 / 1e6,  # per 64 KiB of each published message
    "sqs_request": 0.40 / 1e6,  # the subscriber's receive and delete calls
}


def zipf_stream(changes: int, seed: int = 12) -> list[int]:
    """``changes`` ids drawn from Zipf(s) over ``IDS`` ids (rank 0 the hottest)."""
    weights = [1.0 / (rank + 1) ** ZIPF_S for rank in range(IDS)]
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    draw = random.Random(seed).random
    return [bisect.bisect_left(cumulative, draw() * total) for _ in range(changes)]


def simulate(
    stream: list[int],
    *,
    rate: float,
    subscribed: int,
    realm_topic: bool,
    sns_ms: float,
    per_id: bool = True,
) -> dict[str, float]:
    """SNS calls and processing time per batch, messages published, for one strategy."""
    missing: OrderedDict[int, float] = OrderedDict()  # id -> remembered until
    calls_per_batch: list[int] = []
    published = 0
    for start in range(0, len(stream), BATCH_SIZE):
        now = start / rate
        batch = Counter(stream[start : start + BATCH_SIZE])
        calls = 0
        for state_id, count in batch.items() if per_id else ():
            if state_id < subscribed:
                calls += math.ceil(count / SNS_BATCH)
                published += count
                continue
            if missing.get(state_id, -1.0) > now:
                continue  # known missing: no call
            calls += 1  # rejected: NotFound
            missing[state_id] = now + MISSING_TTL
            missing.move_to_end(state_id)
            while len(missing) > MISSING_TOPIC_CACHE_MAX:
                missing.popitem(last=False)
        if realm_topic:
            size = sum(batch.values())
            calls += math.ceil(size / SNS_BATCH)
            published += size
        calls_per_batch.append(calls)
    batch_ms = [c * sns_ms for c in calls_per_batch]
    # A batch's changes wait for its calls: on average half of them (sequential).
    return {
        "calls_per_change": sum(calls_per_batch) / len(stream),
        "calls_p50": statistics.median(calls_per_batch),
        "calls_p99": statistics.quantiles(calls_per_batch, n=100)[98],
        "added_ms_mean": statistics.fmean(batch_ms) / 2,
        "batch_ms_p99": statistics.quantiles(batch_ms, n=100)[98],
        "max_rate": BATCH_SIZE / (statistics.fmean(batch_ms) / 1000),
        "published_per_change": published / len(stream),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="changes per second")
    parser.add_argument("--subscribed", type=int, default=1000, help="ids with a topic")
    parser.add_argument("--sns-ms", type=float, default=20.0)
    args = parser.parse_args()
    stream = zipf_stream(args.changes)
    counts = Counter(stream)
    hottest = counts.most_common(1)[0][1] / len(stream)
    print(
        f"{args.changes:,} changes over {IDS:,} ids, Zipf s={ZIPF_S}, {args.rate:,.0f}/s, "
        f"batches of {BATCH_SIZE}, {args.sns_ms:.0f} ms per SNS call, "
        f"{args.subscribed:,} hottest ids subscribed"
    )
    print(
        f"distinct ids changed: {len(counts):,}; hottest id: {hottest:.1%} of changes "
        f"(its 1,000 WCU/s partition limit caps the realm at ~{1000 / hottest:,.0f} "
        "1 KB writes/s)"
    )
    header = (
        f"{'strategy':<28}{'SNS calls/change':>17}{'calls/batch p50/p99':>21}"
        f"{'added ms mean':>15}{'batch ms p99':>14}{'max changes/s':>15}{'msgs/change':>13}"
    )
    print(header)
    results = {}
    for name, subscribed, realm_topic, per_id in (
        ("per-id topics", args.subscribed, False, True),
        ("per-id + realm topic", args.subscribed, True, True),
        ("per-id, every id a topic", IDS, False, True),
        # Not a mode of the processor today: subscribers would all filter the
        # realm topic (at most 200 filter policies per topic, 10,000 per account).
        ("realm topic only (model)", 0, True, False),
    ):
        r = simulate(
            stream,
            rate=args.rate,
            subscribed=subscribed,
            realm_topic=realm_topic,
            sns_ms=args.sns_ms,
            per_id=per_id,
        )
        results[name] = r
        print(
            f"{name:<28}{r['calls_per_change']:>17.3f}"
            f"{r['calls_p50']:>10.0f} / {r['calls_p99']:<8.0f}"
            f"{r['added_ms_mean']:>15.0f}{r['batch_ms_p99']:>14.0f}"
            f"{r['max_rate']:>15,.0f}{r['published_per_change']:>13.2f}"
        )
    print("cost per million changes (USD, list prices; 1 KB items, 256 MB function):")
    for name, r in results.items():
        invocations = 1e6 / BATCH_SIZE
        seconds = invocations * (r["added_ms_mean"] * 2 + 50) / 1000  # + 50 ms of work
        cost = {
            "DynamoDB writes": 1e6 * PRICE["dynamodb_write"],
            "Lambda": invocations * PRICE["lambda_request"] + seconds * 0.25 * PRICE["lambda_gb_s"],
            # SNS bills published messages (rejected calls are free), not API calls.
            "SNS": 1e6 * r["published_per_change"] * PRICE["sns_request"],
        }
        parts = ", ".join(f"{k} {v:.2f}" for k, v in cost.items())
        print(f"  {name:<28} {sum(cost.values()):6.2f}  ({parts})")


if __name__ == "__main__":
    main()

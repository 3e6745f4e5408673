"""Benchmark export and import on the embedded local AWS (a script, not a timed test).

Measures in one run:

1. ``StateClient.export`` (4 parallel Scan segments) of N items, written as
   ``lava-state.export/1`` lines: items/s;
2. ``StatePublisher.import_records`` of that file into an empty realm vs a raw
   ``batch_write_item`` loop writing the same items into another empty realm
   (target: <= 1.3x), interleaved ABBA over the rounds, medians reported;
3. the local stack's data directory: how long after a put is acknowledged
   it is on disk (the bound on what a kill -9 loses), with a table of
   ``--persist-items`` items.

moto serialises requests (see DESIGN.md), so absolute figures are moto's, not
DynamoDB's; the ratio is what this script is for.

    .venv/bin/python bench/bench_transfer.py                 # 100,000 items, 2 rounds
    .venv/bin/python bench/bench_transfer.py --items 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.config import Config

from consumer_sdk import StateClient
from lava_state.naming import table_name
from lava_state.transfer import encode_record, header, parse_lines
from lava_state_local import LocalAws
from publisher import Outcome, StatePublisher


def fill(dynamodb: Any, table: str, n: int) -> None:
    """N json items, as the publisher stores them, 25 per BatchWriteItem."""
    now = datetime.now(UTC).replace(microsecond=0)
    expires = str(int(now.timestamp()) + 7 * 86400)
    for start in range(0, n, 25):
        pending: Any = [
            {
                "PutRequest": {
                    "Item": {
                        "state_id": {"S": f"job.{i}"},
                        "type": {"S": "json"},
                        "value": {"S": json.dumps({"i": i, "lines": "45"})},
                        "timestamp": {"S": now.isoformat()},
                        "ttl": {"N": expires},
                        "publisher": {"S": "bench"},
                        "version": {"N": "1"},
                    }
                }
            }
            for i in range(start, min(n, start + 25))
        ]
        while pending:
            pending = (
                dynamodb.batch_write_item(RequestItems={table: pending})
                .get("UnprocessedItems", {})
                .get(table)
            )


def raw_items(path: Path) -> list[dict[str, Any]]:
    """The file's items as the attributes a raw loop would write (built before timing)."""
    items = []
    for parsed in parse_lines(path.read_text().splitlines()):
        item = parsed.item
        assert item is not None and item.timestamp is not None
        items.append(
            {
                "state_id": {"S": item.state_id},
                "type": {"S": item.type.value},
                "value": {"S": json.dumps(item.value)},
                "timestamp": {"S": item.timestamp.isoformat()},
                "ttl": {"N": str(item.ttl)},
                "publisher": {"S": str(item.publisher)},
                "version": {"N": str(item.version)},
            }
        )
    return items


def raw_import(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        pending: Any = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while pending:
            pending = (
                dynamodb.batch_write_item(RequestItems={table: pending})
                .get("UnprocessedItems", {})
                .get(table)
            )


def fresh_realm(aws: LocalAws) -> str:
    realm = f"b{uuid.uuid4().hex[:10]}"
    aws.provision_realm(realm)
    return realm


def persistence_lag(items: int, samples: int) -> list[float]:
    """Seconds from a put's acknowledgement to its presence in the data directory."""
    lags = []
    with tempfile.TemporaryDirectory() as directory, LocalAws(data_dir=directory) as aws:
        aws.provision_realm("lag")
        fill(aws.client("dynamodb"), table_name("lag"), items)
        publisher = StatePublisher("lag", dynamodb=aws.client("dynamodb"), publisher="bench")
        files = [
            Path(directory) / f"table.{table_name('lag')}.{end}" for end in ("json", "journal")
        ]

        def saved(marker: str) -> bool:
            return any(path.exists() and marker in path.read_text() for path in files)

        for n in range(samples):
            marker = f"lag-{n}-{uuid.uuid4().hex}"
            publisher.put(marker, n)
            acknowledged = time.monotonic()
            while not saved(marker):
                time.sleep(0.005)
            lags.append(time.monotonic() - acknowledged)
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--persist-items", type=int, default=1000)
    parser.add_argument("--persist-samples", type=int, default=20)
    args = parser.parse_args()

    lags = persistence_lag(args.persist_items, args.persist_samples)
    with LocalAws() as aws, tempfile.TemporaryDirectory() as directory:
        # moto's Scan walks the table from its start for every page of every
        # segment, and its server answers one request at a time: at 100,000
        # items a segment's page can wait longer than botocore's 60 s default.
        dynamodb = aws.session().client(
            "dynamodb",
            endpoint_url=aws.endpoint_url,
            config=Config(account_id_endpoint_mode="disabled", read_timeout=900),
        )
        source = fresh_realm(aws)
        fill(dynamodb, table_name(source), args.items)
        client = StateClient(source, dynamodb=dynamodb)
        path = Path(directory) / "export.jsonl"

        exports = []
        for _ in range(args.rounds):
            gc.collect()
            started = time.perf_counter()
            with path.open("w") as out:
                out.write(
                    header(
                        realm=source, exported_at=datetime.now(UTC), prefix=None, decrypted=False
                    )
                    + "\n"
                )
                for item in client.export(segments=4):
                    out.write(encode_record(item) + "\n")
            exports.append(time.perf_counter() - started)
        items = raw_items(path)
        assert len(items) == args.items
        # Warm up both sides (imports, the realm's configuration read once per process).
        warm = fresh_realm(aws)
        raw_import(dynamodb, table_name(warm), items[:100])
        StatePublisher(warm, dynamodb=dynamodb).import_records(client.export(prefix="job.1"))

        ours, raw = [], []
        for round_ in range(args.rounds):

            def run_ours() -> None:
                realm = fresh_realm(aws)
                publisher = StatePublisher(realm, dynamodb=dynamodb, publisher="bench")
                started = time.perf_counter()
                with path.open() as lines:
                    results = publisher.import_records(parse_lines(lines))
                ours.append(time.perf_counter() - started)
                assert all(r.outcome is Outcome.WRITTEN for r in results)
                dynamodb.delete_table(TableName=table_name(realm))

            def run_raw() -> None:
                realm = fresh_realm(aws)
                started = time.perf_counter()
                raw_import(dynamodb, table_name(realm), items)
                raw.append(time.perf_counter() - started)
                dynamodb.delete_table(TableName=table_name(realm))

            for run in (run_ours, run_raw) if round_ % 2 == 0 else (run_raw, run_ours):
                gc.collect()
                run()

    n = args.items
    export_rate = n / statistics.median(exports)
    print(f"export of {n} items (4 segments, to a file): {export_rate:,.0f} items/s")
    print(
        f"import of {n} items: {n / statistics.median(ours):,.0f} items/s; "
        f"raw batch_write_item loop: {n / statistics.median(raw):,.0f} items/s; "
        f"ratio {statistics.median(ours) / statistics.median(raw):.2f}x (target <= 1.3x)"
    )
    print(
        f"data directory, {args.persist_items} items: a put is on disk "
        f"{statistics.median(lags) * 1000:.0f} ms after it is acknowledged (median), "
        f"{max(lags) * 1000:.0f} ms at most over {len(lags)} puts"
    )


if __name__ == "__main__":
    main()

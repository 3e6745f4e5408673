"""Per-op latency of ``LavaStateItem.put`` / ``.get`` vs raw boto3 on the embedded server.

Measured in one run, interleaved (each subject next to its baseline, round
after round), so that a noisy shared machine moves both sides alike; medians
and their ratios are printed. Rows:

* put, lava-state format: one UpdateItem that also bumps ``version`` and
  guards a resent write with a write token. Its fair baseline is raw boto3
  making the same UpdateItem; the ratio against raw
  ``put_item`` is printed too: moto's UpdateItem expression engine costs about
  twice its PutItem on the server side (on DynamoDB both are one write).
* put, lava8 format (``LAVA_STATE_ITEM_FORMAT=lava8``): a PutItem, vs raw ``put_item``.
* get vs raw ``get_item(ConsistentRead=True)``.
* lava 8.x's way (a session and resource per call), the reference we beat.
* CLI start-up: ``lava-state put`` as a process vs a bare boto3 script doing
  the same call.

    .venv/bin/python bench/bench_put_get.py [--ops N] [--cli-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3

from lava_state.aws import get_client
from lava_state_local import local_aws
from publisher import LavaStateItem

REALM = "bench"
TABLE = f"lava.{REALM}.state"
VALUE = {"lines": "45", "file": "s3://bucket/key.csv"}
# The request StatePublisher.put sends: the version bump and the write-token
# guard that makes a resent write idempotent.
UPDATE = (
    "SET #type = :type, #value = :value, #ts = :ts, #ttl = :ttl, #pub = :pub, #tok = :tok, "
    "#ver = if_not_exists(#ver, :zero) + :one"
)
CONDITION = "attribute_not_exists(#tok) OR #tok <> :tok"
NAMES = {
    "#type": "type",
    "#value": "value",
    "#ts": "timestamp",
    "#ttl": "ttl",
    "#pub": "publisher",
    "#ver": "version",
    "#tok": "write_token",
}
BARE_SCRIPT = """
import json, sys, time, uuid, boto3
from datetime import datetime, timezone
now = datetime.now(timezone.utc).replace(microsecond=0)
boto3.client("dynamodb").update_item(
    TableName=sys.argv[1], Key={"state_id": {"S": "bare"}},
    UpdateExpression=sys.argv[2], ConditionExpression=sys.argv[4],
    ExpressionAttributeNames=json.loads(sys.argv[3]), ExpressionAttributeValues={
        ":tok": {"S": uuid.uuid4().hex},
        ":type": {"S": "json"}, ":value": {"S": json.dumps({"lines": "45"})},
        ":ts": {"S": now.isoformat()}, ":ttl": {"N": str(int(now.timestamp()) + 604800)},
        ":pub": {"S": "bare"}, ":zero": {"N": "0"}, ":one": {"N": "1"}},
)
"""


CANNED = {
    "GetItem": json.dumps(
        {
            "Item": {
                "state_id": {"S": "ours"},
                **{
                    "type": {"S": "json"},
                    "value": {"S": json.dumps(VALUE)},
                    "timestamp": {"S": "2026-01-01T00:00:00+00:00"},
                    "ttl": {"N": "4000000000"},
                    "publisher": {"S": "bench"},
                    "version": {"N": "1"},
                },
            }
        }
    ),
    "UpdateItem": json.dumps({"Attributes": {"version": {"N": "2"}}}),
}


def canned_response(request: Any, **_: Any) -> Any:
    """A before-send hook: DynamoDB's answer without sending the request."""
    from botocore.awsrequest import AWSResponse

    operation = request.headers["X-Amz-Target"].decode().rpartition(".")[2]
    body = CANNED.get(operation, "{}").encode()
    headers = {"x-amzn-RequestId": "bench", "Content-Type": "application/x-amz-json-1.0"}

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    return AWSResponse(request.url, 200, headers, Raw())


def client_side_costs(
    subjects: dict[str, Callable[[], object]], clients: tuple[Any, ...], rounds: int
) -> dict[str, float]:
    """Median us per op of each subject with the server left out: the same calls
    through the whole botocore stack, answered by a before-send hook, so neither
    the server nor its share of the GIL is in the figures."""
    for client in clients:
        client.meta.events.register("before-send.dynamodb.*", canned_response)
    try:
        for fn in subjects.values():
            for _ in range(50):
                fn()
        samples: dict[str, list[float]] = {k: [] for k in subjects}
        for _ in range(rounds):
            for name, fn in subjects.items():
                samples[name].append(timed(fn))
    finally:
        for client in clients:
            client.meta.events.unregister("before-send.dynamodb.*", canned_response)
    return {k: statistics.median(v) * 1e6 for k, v in samples.items()}


def print_client_side(own: dict[str, float], med: dict[str, float]) -> None:
    print()
    print("client side only (botocore answered by a hook, no server): us per op")
    for ours_name, raw_name, label in (
        ("put", "raw_update", "put vs raw update_item"),
        ("put_lava8", "raw_put", "lava8 put vs raw put_item"),
        ("get", "raw_get", "get vs raw get_item"),
    ):
        extra = own[ours_name] - own[raw_name]
        print(
            f"  {label:<28}{own[ours_name]:>7.0f} vs {own[raw_name]:>4.0f}: lava-state adds "
            f"{extra:>4.0f} us ({extra / (med[raw_name] * 1000):.1%} of the server round trip)"
        )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def attributes() -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "type": {"S": "json"},
        "value": {"S": json.dumps(VALUE)},
        "timestamp": {"S": now.isoformat()},
        "ttl": {"N": str(int(now.timestamp()) + 7 * 86400)},
        "publisher": {"S": "bench"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=300, help="operations per side (default 300)")
    parser.add_argument("--cli-runs", type=int, default=15, help="CLI processes per side")
    args = parser.parse_args()
    with local_aws(REALM, set_env=True):
        raw = boto3.session.Session().client("dynamodb")

        def raw_put() -> object:
            return raw.put_item(TableName=TABLE, Item={"state_id": {"S": "raw"}, **attributes()})

        def raw_update() -> object:
            attrs = attributes()
            values = {
                f":{k}": attrs[name] for k, name in (("ts", "timestamp"), ("pub", "publisher"))
            }
            values |= {f":{name}": attrs[name] for name in ("type", "value", "ttl")}
            return raw.update_item(
                TableName=TABLE,
                Key={"state_id": {"S": "raw-update"}},
                UpdateExpression=UPDATE,
                ConditionExpression=CONDITION,
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={
                    **values,
                    ":tok": {"S": uuid.uuid4().hex},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
            )

        def put_ours() -> None:
            LavaStateItem.new("json", "ours", REALM, VALUE).put()

        def put_lava8() -> None:
            os.environ["LAVA_STATE_ITEM_FORMAT"] = "lava8"
            try:
                LavaStateItem.new("json", "ours-lava8", REALM, VALUE).put()
            finally:
                del os.environ["LAVA_STATE_ITEM_FORMAT"]

        def get_ours() -> object:
            return LavaStateItem.get("ours", REALM)

        def get_raw() -> object:
            return raw.get_item(
                TableName=TABLE, Key={"state_id": {"S": "raw"}}, ConsistentRead=True
            )

        def lava_way_put() -> object:
            """lava 8.x: a new session and resource per item."""
            table = boto3.Session().resource("dynamodb").Table(TABLE)
            return table.put_item(Item={"state_id": "lava", "value": json.dumps(VALUE)})

        subjects = {
            "put": put_ours,
            "raw_update": raw_update,
            "raw_put": raw_put,
            "put_lava8": put_lava8,
            "get": get_ours,
            "raw_get": get_raw,
        }
        for fn in (*subjects.values(), lava_way_put):
            for _ in range(20):
                fn()
        samples: dict[str, list[float]] = {k: [] for k in subjects}
        lava_way: list[float] = []
        for i in range(args.ops):
            for name, fn in subjects.items():
                samples[name].append(timed(fn))
            if i % 4 == 0:  # fewer: it is slow
                lava_way.append(timed(lava_way_put))
        med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
        med["lava_way"] = statistics.median(lava_way) * 1000

        # An installed package has its bytecode compiled (pip does it); let the
        # first runs write it here too, whatever PYTHONDONTWRITEBYTECODE says.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["LAVA_REALM"] = REALM
        ours_cmd = [sys.executable, "-m", "lava_state_cli", "put", "cli", "-p", "lines=45"]
        bare_cmd = [sys.executable, "-c", BARE_SCRIPT, TABLE, UPDATE, json.dumps(NAMES), CONDITION]
        cli: dict[str, list[float]] = {"ours": [], "bare": []}
        for cmd in (ours_cmd, bare_cmd, ours_cmd, bare_cmd):
            subprocess.run(cmd, env=env, check=True)
        for _ in range(args.cli_runs):
            for name, cmd in (("ours", ours_cmd), ("bare", bare_cmd)):
                cli[name].append(timed(lambda c=cmd: subprocess.run(c, env=env, check=True)))
        cli_med = {k: statistics.median(v) * 1000 for k, v in cli.items()}

        own = client_side_costs(subjects, (raw, get_client("dynamodb")), args.ops * 4)

    rows = [
        ("raw boto3 update_item (the same request)", med["raw_update"], None),
        ("LavaStateItem.new(...).put()", med["put"], med["put"] / med["raw_update"]),
        ("  ...the same vs raw put_item", med["put"], med["put"] / med["raw_put"]),
        ("raw boto3 put_item", med["raw_put"], None),
        (
            "LavaStateItem put, lava8 format (PutItem)",
            med["put_lava8"],
            med["put_lava8"] / med["raw_put"],
        ),
        (
            "lava 8.x way: session+resource per put",
            med["lava_way"],
            med["lava_way"] / med["raw_put"],
        ),
        ("raw boto3 get_item(ConsistentRead=True)", med["raw_get"], None),
        ("LavaStateItem.get()", med["get"], med["get"] / med["raw_get"]),
        ("bare boto3 script, one update_item (process)", cli_med["bare"], None),
        (
            "lava-state put sid -p lines=45 (process)",
            cli_med["ours"],
            cli_med["ours"] / cli_med["bare"],
        ),
    ]
    print(f"embedded AWS; {args.ops} interleaved ops per side, {args.cli_runs} CLI runs; medians")
    print(f"{'operation':<48}{'ms/op':>9}{'ratio':>8}")
    for name, ms, ratio in rows:
        print(f"{name:<48}{ms:>9.2f}{(f'{ratio:.2f}' if ratio else 'base'):>8}")
    print_client_side(own, med)


if __name__ == "__main__":
    main()

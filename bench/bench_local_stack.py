"""Benchmark of a local realm (issue 12): deploying deploy/lava-state.yaml into the
embedded AWS, against creating the table and key by direct API calls (what the
local stack did before it deployed the template), in one run.

    .venv/bin/python bench/bench_local_stack.py [--realms 60]

Both on one embedded AWS, interleaved, each realm new; medians. The test suite
pays this once per test that takes a fresh realm, `lava-state local up` once
per realm it serves.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from lava_state.naming import kms_alias, table_name
from lava_state_local import LocalAws


def _direct(aws: LocalAws, realm: str) -> None:
    """The table (TTL, stream) and the key and alias, by direct calls."""
    dynamodb, kms = aws.client("dynamodb"), aws.client("kms")
    dynamodb.create_table(
        TableName=table_name(realm),
        AttributeDefinitions=[{"AttributeName": "state_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "state_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.update_time_to_live(
        TableName=table_name(realm),
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
    )
    key_id = kms.create_key(Description=f"lava-state realm {realm}")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=kms_alias(realm), TargetKeyId=key_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realms", type=int, default=60, help="realms of each kind (60)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"stack": [], "direct": []}
    with LocalAws() as aws:
        aws.provision_realm("warmup")  # moto's CloudFormation loads on first use
        _direct(aws, "warmup-direct")
        creators: dict[str, Callable[[str], object]] = {
            "stack": aws.provision_realm,
            "direct": lambda realm: _direct(aws, realm),
        }
        for n in range(args.realms):
            for kind, create in creators.items():
                started = time.perf_counter()
                create(f"{kind}-{n}")
                times[kind].append(time.perf_counter() - started)
    stack, direct = (statistics.median(times[k]) * 1000 for k in ("stack", "direct"))
    print(f"local realm, {args.realms} of each, medians:")
    print(f"  realm stack deployed (template)    {stack:7.1f} ms")
    print(f"  table and key by direct calls      {direct:7.1f} ms")
    print(f"  ratio                              {stack / direct:7.2f}x")


if __name__ == "__main__":
    main()

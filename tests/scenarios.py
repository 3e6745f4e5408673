"""Reliability scenarios on the embedded stack, for the tests (small) and bench (full size).

Each scenario runs writers against a realm through clients with injected
faults (:mod:`tests.faults`), then checks what every call reported against
the truth: the table's DynamoDB stream, which holds every write that was
applied (NEW_IMAGE with its value, version and write token).

- :func:`scenario_a`: threads x puts over a set of ids, faults on DynamoDB.
- :func:`scenario_b`: threads x ``update(+1)`` on one id, faults on DynamoDB.
- :func:`scenario_d`: KMS unavailable: secure puts fail clearly, nothing is
  written, json items are still read.

A report's ``misreported`` counts calls whose reported outcome is false (a
success that was not applied, a failure that was, an "unknown" whose item
had not changed); ``lost`` counts applied successes that are not in the
table's history or ids whose stored item is not their last applied write.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config

from consumer_sdk import StateClient
from lava_state import aws
from lava_state.errors import LavaStateError, WriteOutcomeUnknown
from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import RetryPolicy, StatePublisher
from tests.faults import KINDS, Fault, Faults

#: Application retries short enough for tests, long enough to ride out the faults.
RETRY = RetryPolicy(attempts=5, base_wait=0.005, max_wait=0.05, update_retries=200)


@dataclass
class Report:
    """What a scenario did and what it found."""

    name: str
    operations: int = 0
    succeeded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    faults: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    unknown_committed: int = 0
    duplicate_versions: int = 0
    lost: int = 0
    misreported: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line of figures."""
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (
            f"{self.name}: {self.operations} operations, {self.succeeded} succeeded; "
            f"faults injected {sum(self.faults.values())} ({faults}); botocore retries "
            f"{self.retries}; errors: {errors}; unknown that had committed "
            f"{self.unknown_committed}; duplicate versions {self.duplicate_versions}; "
            f"lost = {self.lost}; misreported = {self.misreported}"
        )


def faulty_dynamodb(local_aws: LocalAws, faults: Faults) -> Any:
    """A DynamoDB client of its own, standard retries as lava-state configures them, faulty."""
    config = aws.botocore_config().merge(Config(account_id_endpoint_mode="disabled"))
    client = local_aws.session().client(
        "dynamodb", endpoint_url=local_aws.endpoint_url, config=config
    )
    return faults.install(client)


def history(local_aws: LocalAws, realm: str) -> dict[str, dict[int, set[str]]]:
    """Every applied write in the realm's stream: state_id -> version -> the values written.

    moto yields two INSERT records for an UpdateItem that creates an item,
    and a record per identical re-put: the same (version, token) twice is one write.
    """
    ddb = local_aws.client("dynamodb")
    streams = local_aws.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table_name(realm))["Table"]["LatestStreamArn"]
    writes: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        ).get("ShardIterator")
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                image = record["dynamodb"].get("NewImage")
                # moto's first INSERT of an UpdateItem that creates an item has the key only.
                if image is None or "value" not in image:
                    continue
                version = int(image.get("version", {}).get("N", "0"))
                token = image.get("write_token", {}).get("S", "")
                writes[image["state_id"]["S"]][version].add(f"{token}|{image['value']['S']}")
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return writes


@dataclass(frozen=True)
class Call:
    state_id: str
    value: str  # the JSON stored
    version: int | None = None  # as reported, on success
    error: LavaStateError | None = None


def scenario_a(
    local_aws: LocalAws,
    realm: str,
    *,
    threads: int = 8,
    puts: int = 250,
    ids: int = 50,
    rate: float = 0.2,
    seed: int = 1,
    kinds: tuple[Fault, ...] = KINDS,
) -> Report:
    """``threads`` x ``puts`` unconditional puts over ``ids`` ids, ``rate`` of DynamoDB faulty."""
    faults = Faults(rate=rate, seed=seed, kinds=kinds)
    dynamodb = faulty_dynamodb(local_aws, faults)
    calls: list[Call] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        pub = StatePublisher(realm, dynamodb=dynamodb, retry=RETRY, publisher=f"w{n}")
        rng = random.Random(seed * 1000 + n)  # reproducible ids, not crypto
        for i in range(puts):
            state_id = f"id{rng.randrange(ids)}"
            value = {"w": n, "i": i}
            stored = json.dumps(value, separators=(",", ":"))
            try:
                item = pub.put(state_id, value)
                call = Call(state_id, stored, version=item.version)
            except LavaStateError as exc:
                call = Call(state_id, stored, error=exc)
            with lock:
                calls.append(call)

    _run(writer, threads)
    faults.enabled = False
    report = Report("A: puts", faults=faults.by_kind(), retries=faults.retries)
    _check_puts(report, calls, history(local_aws, realm), local_aws, realm)
    return report


def _check_puts(
    report: Report,
    calls: list[Call],
    writes: dict[str, dict[int, set[str]]],
    local_aws: LocalAws,
    realm: str,
) -> None:
    applied: dict[tuple[str, str], set[int]] = defaultdict(set)
    for state_id, versions in writes.items():
        for version, entries in versions.items():
            if len(entries) > 1:
                report.duplicate_versions += len(entries) - 1
                report.notes.append(f"{state_id} version {version} written {len(entries)} times")
            for entry in entries:
                applied[(state_id, _canonical(entry.split("|", 1)[1]))].add(version)
    for call in calls:
        report.operations += 1
        versions_of_call = applied.get((call.state_id, _canonical(call.value)), set())
        was_applied = bool(versions_of_call)
        if call.error is None:
            report.succeeded += 1
            if call.version not in versions_of_call:
                report.lost += 1
                report.notes.append(f"success not in the history: {call}")
            continue
        report.errors[type(call.error).__name__] += 1
        if isinstance(call.error, WriteOutcomeUnknown):
            report.unknown_committed += was_applied
            found = call.error.found
            if found is not None and _canonical(json.dumps(found.value)) == _canonical(call.value):
                report.misreported += 1  # ours was there: it was a success
        elif was_applied:
            report.misreported += 1
            report.notes.append(f"failure that was applied: {call.error!r}")
    client = StateClient(realm, dynamodb=local_aws.client("dynamodb"))
    for state_id, versions in writes.items():
        last = versions[max(versions)]
        item = client.get(state_id)
        entry_values = {entry.split("|", 1)[1] for entry in last}
        if item is None or _canonical(json.dumps(item.value)) not in {
            _canonical(v) for v in entry_values
        }:
            report.lost += 1
            report.notes.append(f"{state_id}: stored item is not its last applied write")


def _canonical(value_json: str) -> str:
    return json.dumps(json.loads(value_json), sort_keys=True, separators=(",", ":"))


def scenario_b(
    local_aws: LocalAws,
    realm: str,
    *,
    threads: int = 8,
    updates: int = 100,
    rate: float = 0.2,
    seed: int = 2,
    kinds: tuple[Fault, ...] = KINDS,
) -> Report:
    """``threads`` x ``updates`` ``update(+1)`` on one id, ``rate`` of DynamoDB faulty."""
    StatePublisher(realm, dynamodb=local_aws.client("dynamodb")).put("counter", 0)
    faults = Faults(rate=rate, seed=seed, kinds=kinds)
    dynamodb = faulty_dynamodb(local_aws, faults)
    outcomes: list[LavaStateError | None] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        pub = StatePublisher(realm, dynamodb=dynamodb, retry=RETRY, publisher=f"w{n}")
        for _ in range(updates):
            try:
                pub.update("counter", lambda v: v + 1)
                outcome: LavaStateError | None = None
            except LavaStateError as exc:
                outcome = exc
            with lock:
                outcomes.append(outcome)

    _run(writer, threads)
    faults.enabled = False
    report = Report("B: update(+1)", faults=faults.by_kind(), retries=faults.retries)
    report.operations = len(outcomes)
    report.succeeded = sum(1 for o in outcomes if o is None)
    unknown = 0
    for outcome in outcomes:
        if outcome is not None:
            report.errors[type(outcome).__name__] += 1
            unknown += isinstance(outcome, WriteOutcomeUnknown)
    item = StateClient(realm, dynamodb=local_aws.client("dynamodb")).get("counter")
    assert item is not None
    final = int(item.value)
    # Every applied +1 is a version: the count and the version agree, or one was lost.
    if item.version != final + 1:
        report.lost += abs(item.version - 1 - final)
    extra = final - report.succeeded
    if extra < 0:
        report.lost += -extra
    elif extra > unknown:
        report.misreported += extra - unknown  # applied, yet reported as failed
    else:
        report.unknown_committed = extra
    versions = history(local_aws, realm)["counter"]
    report.duplicate_versions = sum(len(entries) - 1 for entries in versions.values())
    return report


def scenario_d(local_aws: LocalAws, realm: str, *, puts: int = 20) -> Report:
    """KMS unavailable: secure puts fail clearly with nothing written; json items still read."""
    faults = Faults(rate=1.0, kinds=("refused",))
    config = aws.botocore_config()
    kms = faults.install(
        local_aws.session().client("kms", endpoint_url=local_aws.endpoint_url, config=config)
    )
    dynamodb = local_aws.client("dynamodb")
    pub = StatePublisher(realm, dynamodb=dynamodb, kms=kms, retry=RETRY)
    reader = StateClient(realm, dynamodb=dynamodb, kms=kms)
    report = Report("D: KMS unavailable")
    for i in range(puts):
        report.operations += 2
        pub.put(f"plain{i}", {"i": i})
        try:
            pub.put(f"secret{i}", {"pw": uuid.uuid4().hex}, type="secure")
            report.succeeded += 1
            report.misreported += 1  # KMS is down: a secure put cannot have succeeded
        except LavaStateError as exc:
            report.errors[type(exc).__name__] += 1
            if f"secret{i}" not in str(exc) or "encrypt" not in str(exc):
                report.notes.append(f"unclear error: {exc}")
        item = reader.get(f"plain{i}")
        if item is not None and item.value == {"i": i}:
            report.succeeded += 1
        else:
            report.lost += 1
    stored = dynamodb.scan(TableName=table_name(realm), ConsistentRead=True)["Items"]
    report.lost += sum(1 for raw in stored if raw["state_id"]["S"].startswith("secret"))
    report.faults = faults.by_kind()
    report.retries = faults.retries
    return report


def _run(target: Any, threads: int) -> None:
    workers = [threading.Thread(target=target, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

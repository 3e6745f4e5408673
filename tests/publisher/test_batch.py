"""put_many: BatchWriteItem in chunks of 25, versions, per-item results, unprocessed items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumer_sdk import StateClient
from lava_state.errors import (
    AccessDenied,
    InvalidInput,
    InvalidTTL,
    ItemNotProcessed,
    TableNotFound,
    VersionConflict,
)
from lava_state.model import StateType
from lava_state.naming import table_name
from lava_state.settings import Settings
from publisher import PutSpec, StatePublisher
from tests.publisher.conftest import FAST_RETRY


@dataclass
class DropFromBatch:
    """Make the server skip chosen items and report them as unprocessed, like a throttled batch.

    The items are removed from the request before it is sent (so the server
    really does not write them) and added to the parsed response's
    ``UnprocessedItems``/``UnprocessedKeys``, exactly where DynamoDB puts them.
    """

    table: str
    drop: Callable[[str, int], bool]  # (state_id, call number) -> drop it?
    calls: int = 0
    dropped: list[list[Any]] = field(default_factory=list)

    def params(self, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls += 1
        request = params["RequestItems"][self.table]
        # A batch cannot be empty: when every entry is dropped, send a no-op
        # in its place (reading or deleting an id that is never stored).
        noop = {"state_id": {"S": "never-stored"}}
        if isinstance(request, dict):  # BatchGetItem: KeysAndAttributes
            keys = request["Keys"]
            kept = [k for k in keys if not self.drop(k["state_id"]["S"], self.calls)]
            self.dropped.append([k for k in keys if k not in kept])
            new: Any = {**request, "Keys": kept or [noop]}
        else:
            kept = [
                r
                for r in request
                if not self.drop(r["PutRequest"]["Item"]["state_id"]["S"], self.calls)
            ]
            self.dropped.append([r for r in request if r not in kept])
            new = kept or [{"DeleteRequest": {"Key": noop}}]
        return {**params, "RequestItems": {self.table: new}}

    def response(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        dropped = self.dropped[-1]
        if not dropped:
            return
        if model.name == "BatchGetItem":
            parsed["UnprocessedKeys"] = {self.table: {"Keys": dropped, "ConsistentRead": True}}
        else:
            parsed["UnprocessedItems"] = {self.table: dropped}


def install(client: Any, operation: str, hook: DropFromBatch) -> None:
    client.meta.events.register(f"provide-client-params.dynamodb.{operation}", hook.params)
    client.meta.events.register(f"after-call.dynamodb.{operation}", hook.response)


def test_put_many_writes_every_item_and_bumps_versions(
    publisher: StatePublisher, client: StateClient, stored: Callable[[], dict[str, Any]]
) -> None:
    values = {f"k{i:03}": {"i": i} for i in range(60)}  # 3 chunks of 25
    publisher.put("k007", "before")  # version 1

    results = publisher.put_many(values)

    assert [r.state_id for r in results] == list(values)
    assert all(r.ok for r in results)
    versions = {r.state_id: r.item.version for r in results if r.item}
    assert versions["k007"] == 2
    assert {v for k, v in versions.items() if k != "k007"} == {1}
    table = stored()
    assert len(table) == 60
    assert table["k042"]["version"] == {"N": "1"}
    item = client.get("k042")
    assert item is not None
    assert (item.value, item.version, item.publisher) == ({"i": 42}, 1, "tests")

    again = publisher.put_many(values)
    assert {r.item.version for r in again if r.item and r.state_id != "k007"} == {2}


def test_put_many_with_specs_types_and_conditions(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("cas", "v1")
    publisher.put("taken", "someone's")
    results = publisher.put_many(
        [
            PutSpec(state_id="j", value=[1, 2]),
            PutSpec(state_id="r", value={"n": 1.5}, type="raw", ttl="1h"),
            PutSpec(state_id="s", value="s3cret", type=StateType.SECURE),
            PutSpec(state_id="cas", value="v2", if_version=1),
            PutSpec(state_id="taken", value="mine", if_absent=True),
        ]
    )
    by_id = {r.state_id: r for r in results}
    assert [r.state_id for r in results] == ["j", "r", "s", "cas", "taken"]
    assert by_id["cas"].item is not None
    assert by_id["cas"].item.version == 2
    assert not by_id["taken"].ok
    assert isinstance(by_id["taken"].error, VersionConflict)
    assert by_id["taken"].error.current is not None
    assert by_id["taken"].error.current.value == "someone's"
    raw = client.get("r")
    secure = client.get("s")
    assert raw is not None
    assert secure is not None
    assert raw.value == {"n": Decimal("1.5")}
    assert secure.value == "s3cret"
    assert "s3cret" not in repr(results)


@pytest.mark.parametrize(
    ("items", "error", "message"),
    [
        ({"ok": 1, "lavaX": 2}, InvalidInput, r"item #1.*reserved"),
        ([PutSpec(state_id="a", value=1), PutSpec(state_id="a", value=2)], InvalidInput, "once"),
        ([PutSpec(state_id="a", value=1, ttl="-3")], InvalidTTL, "item #0"),
        ({"a": 1, "b": float("nan")}, InvalidInput, "item #1"),
        ([("a", 1)], InvalidInput, "PutSpec"),
    ],
)
def test_put_many_rejects_bad_input_and_writes_nothing(
    publisher: StatePublisher,
    stored: Callable[[], dict[str, Any]],
    items: Any,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        publisher.put_many(items)
    assert stored() == {}


def test_unprocessed_items_are_retried(
    make_publisher: Callable[..., StatePublisher],
    realm: str,
    stored: Callable[[], dict[str, Any]],
) -> None:
    writer = make_publisher(retry=FAST_RETRY)
    hook = DropFromBatch(table_name(realm), lambda sid, call: call <= 2 and sid.endswith("3"))
    install(writer.store.dynamodb, "BatchWriteItem", hook)

    results = writer.put_many({f"k{i}": i for i in range(20)})

    assert all(r.ok for r in results)
    assert hook.calls == 3  # two rounds with items left unprocessed, then all written
    assert len(stored()) == 20


def test_items_left_unprocessed_are_reported_never_dropped(
    make_publisher: Callable[..., StatePublisher],
    realm: str,
    stored: Callable[[], dict[str, Any]],
) -> None:
    writer = make_publisher(retry=FAST_RETRY)
    hook = DropFromBatch(table_name(realm), lambda sid, call: sid in {"k3", "k30"})
    install(writer.store.dynamodb, "BatchWriteItem", hook)

    results = writer.put_many({f"k{i}": i for i in range(40)})

    assert len(results) == 40
    failed = {r.state_id: r.error for r in results if not r.ok}
    assert set(failed) == {"k3", "k30"}
    assert all(isinstance(e, ItemNotProcessed) for e in failed.values())
    assert "k3" in str(failed["k3"])
    # One round per attempt for each of the two chunks.
    assert hook.calls == 2 * FAST_RETRY.attempts
    table = stored()
    assert set(table) == {f"k{i}" for i in range(40)} - {"k3", "k30"}


def test_versions_left_unread_are_reported_and_not_written(
    make_publisher: Callable[..., StatePublisher],
    realm: str,
    stored: Callable[[], dict[str, Any]],
) -> None:
    writer = make_publisher(retry=FAST_RETRY)
    hook = DropFromBatch(table_name(realm), lambda sid, call: sid == "k1")
    install(writer.store.dynamodb, "BatchGetItem", hook)

    results = writer.put_many({"k0": 0, "k1": 1, "k2": 2})

    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, ItemNotProcessed)
    assert set(stored()) == {"k0", "k2"}


def test_put_many_on_a_missing_table_fails_every_item_after_one_call(
    local_aws: Any, make_publisher: Callable[..., StatePublisher]
) -> None:
    writer = StatePublisher(
        "nosuchrealm",
        dynamodb=local_aws.client("dynamodb"),
        kms=local_aws.client("kms"),
        # TTLs given: the realm's lava configuration (lava.realms) is not read.
        settings=Settings(default_ttl="7d", max_ttl="366d"),
    )
    calls: list[str] = []
    writer.store.dynamodb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )

    results = writer.put_many({f"k{i}": i for i in range(250)})  # 3 groups, 10 chunks

    assert len(results) == 250
    assert all(isinstance(r.error, TableNotFound) for r in results)
    assert results[0].error is not None
    assert results[0].error.aws_code == "ResourceNotFoundException"
    # Not transient: the first failing call stops the rest, reads and writes alike.
    assert calls == ["BatchGetItem"]


def test_a_rival_between_a_groups_read_and_write(
    make_publisher: Callable[..., StatePublisher], client: StateClient
) -> None:
    """The documented race, exactly: a repeat inside the group, nothing stale in later groups.

    put_many reads a group's versions (up to 100 ids) right before writing
    that group. A rival writing to an id of the group in between is
    overwritten and its version repeats; a rival writing to an id of a later
    group is read before that group is written.
    """
    writer = make_publisher()
    rival = make_publisher(publisher="rival")
    ids = [f"k{i:03}" for i in range(150)]  # groups: k000-k099, k100-k149
    writer.put_many(dict.fromkeys(ids, "old"))  # every id at version 1
    rival_wrote: list[int] = []

    def rival_writes(**_: Any) -> None:
        if not rival_wrote:  # just before the first group's first chunk is written
            rival_wrote.append(rival.put("k005", "rival's").version)
            rival_wrote.append(rival.put("k120", "rival's").version)

    writer.store.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", rival_writes)

    results = {r.state_id: r for r in writer.put_many(dict.fromkeys(ids, "new"))}

    assert rival_wrote == [2, 2]
    assert all(r.ok for r in results.values())
    in_group = client.get("k005")
    assert in_group is not None
    # In the group: the batch's write wins and version 2 repeats (the rival's number).
    assert (in_group.value, in_group.version, in_group.publisher) == ("new", 2, "tests")
    assert results["k005"].item is not None
    assert results["k005"].item.version == 2
    later = client.get("k120")
    assert later is not None
    # In a later group: read after the rival wrote, so written as version 3, not a stale 2.
    assert (later.value, later.version) == ("new", 3)
    assert results["k120"].item is not None
    assert results["k120"].item.version == 3
    untouched = client.get("k121")
    assert untouched is not None
    assert untouched.version == 2


def test_a_failing_retry_round_fails_only_the_items_still_pending(
    make_publisher: Callable[..., StatePublisher],
    realm: str,
    stored: Callable[[], dict[str, Any]],
) -> None:
    writer = make_publisher(retry=FAST_RETRY)
    # Round 1 writes every item but k3, which comes back unprocessed...
    drop = DropFromBatch(table_name(realm), lambda sid, call: call == 1 and sid == "k3")
    install(writer.store.dynamodb, "BatchWriteItem", drop)

    # ...and round 2, resending k3 alone, is refused.
    def deny_the_resend(**_: Any) -> None:
        if drop.calls == 2:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchWriteItem"
            )

    writer.store.dynamodb.meta.events.register(
        "before-call.dynamodb.BatchWriteItem", deny_the_resend
    )

    results = writer.put_many({f"k{i}": i for i in range(10)})

    failed = {r.state_id: r.error for r in results if not r.ok}
    assert set(failed) == {"k3"}
    assert isinstance(failed["k3"], AccessDenied)
    assert all(r.item is not None for r in results if r.state_id != "k3")
    assert set(stored()) == {f"k{i}" for i in range(10)} - {"k3"}

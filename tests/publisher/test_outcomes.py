"""What each write path reports for each failure mode: docs/publishing.md's table, cell by cell.

Faults are injected on the real botocore stack (tests/faults.py): a refused
connection sends nothing, a throttle applies nothing, commit-then-timeout
applies the write on the server and loses its answer, a 500 may have been
applied. botocore's standard retries then run as they do against AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.config import Config

from lava_state import aws
from lava_state.errors import (
    AwsUnavailable,
    LavaStateError,
    VersionConflict,
    WriteOutcomeUnknown,
)
from lava_state.model import StateItem
from lava_state.naming import table_name
from lava_state_local import LocalAws
from publisher import StatePublisher
from tests.faults import Faults, drop_returned_item
from tests.publisher.conftest import FAST_RETRY

ATTEMPTS = 3  # botocore's attempts on the faulty clients: exhaustion stays quick


def fresh_client(local_aws: LocalAws, *, attempts: int = ATTEMPTS) -> Any:
    """A DynamoDB client of our own (hooks stay on it), in botocore's standard retry mode."""
    config = aws.botocore_config().merge(
        Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            account_id_endpoint_mode="disabled",
        )
    )
    return local_aws.session().client(
        "dynamodb", endpoint_url=local_aws.endpoint_url, config=config
    )


@dataclass
class Rival:
    """Another writer writes just before the given requests (1-based) of an operation are sent."""

    write: Callable[[], Any]
    before: frozenset[int] = frozenset({1})
    requests: int = 0
    wrote: list[int] = field(default_factory=list)

    def __call__(self, **_: Any) -> None:
        self.requests += 1
        if self.requests in self.before:
            self.wrote.append(self.requests)
            self.write()

    def install(self, pub: StatePublisher, operation: str) -> Rival:
        # Registered before the faults' hook runs: the rival writes first, then the fault.
        pub.store.dynamodb.meta.events.register_first(f"before-send.dynamodb.{operation}", self)
        return self


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def writer(
    local_aws: LocalAws, make_publisher: Callable[..., StatePublisher], faults: Faults
) -> StatePublisher:
    return make_publisher(dynamodb=faults.install(fresh_client(local_aws)), retry=FAST_RETRY)


@pytest.fixture
def rival(make_publisher: Callable[..., StatePublisher]) -> StatePublisher:
    return make_publisher(publisher="rival")


def stored_item(publisher: StatePublisher) -> StateItem | None:
    return publisher.store.read("sid", decrypt=False)


def put_many_one(pub: StatePublisher) -> Any:
    """put_many of one item, its result raised or returned like a single put's."""
    (result,) = pub.put_many({"sid": "new"})
    if result.error is not None:
        raise result.error
    return result.item


# Each write path, the operation its write is, and what it stores when it applies.
PATHS: dict[str, tuple[Callable[[StatePublisher], Any], str, tuple[Any, int] | None]] = {
    "put": (lambda pub: pub.put("sid", "new"), "UpdateItem", ("new", 2)),
    "put_if_version": (lambda pub: pub.put("sid", "new", if_version=1), "UpdateItem", ("new", 2)),
    "update": (lambda pub: pub.update("sid", lambda v: v + "!"), "UpdateItem", ("old!", 2)),
    "delete_if_version": (lambda pub: pub.delete("sid", if_version=1), "DeleteItem", None),
    "put_many": (put_many_one, "BatchWriteItem", ("new", 2)),
}


def state(pub: StatePublisher) -> tuple[Any, int] | None:
    item = stored_item(pub)
    return None if item is None else (item.value, item.version)


@pytest.mark.parametrize("path", PATHS)
def test_never_sent_is_a_clean_failure(
    path: str, writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    write, operation, _ = PATHS[path]
    rival.put("sid", "old")
    faults.script(operation, *["refused"] * ATTEMPTS)

    with pytest.raises(AwsUnavailable) as info:
        write(writer)

    assert not isinstance(info.value, WriteOutcomeUnknown)
    assert info.value.may_have_reached_aws is False
    assert "could not be reached" in str(info.value)
    assert state(rival) == ("old", 1)  # nothing written


@pytest.mark.parametrize("path", PATHS)
def test_sent_and_lost_then_never_sent_is_the_success_it_was(
    path: str, writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    """The issue's repro: the first attempt commits, its answer is lost, the retries are refused."""
    write, operation, applied = PATHS[path]
    rival.put("sid", "old")
    faults.script(operation, "commit_then_timeout", *["refused"] * (ATTEMPTS - 1))

    result = write(writer)

    assert faults.injected[("dynamodb", operation, "commit_then_timeout")] == 1
    assert state(rival) == applied  # applied once: an update's fn is not applied twice
    if applied is not None:
        assert (result.value, result.version) == applied


@pytest.mark.parametrize("path", PATHS)
def test_throttled_to_exhaustion_is_a_clean_failure(
    path: str, local_aws: LocalAws, make_publisher: Callable[..., StatePublisher], faults: Faults
) -> None:
    # Two attempts: botocore's throttling backoff starts at up to a second.
    writer = make_publisher(dynamodb=faults.install(fresh_client(local_aws, attempts=2)))
    write, operation, _ = PATHS[path]
    writer.put("sid", "old")
    faults.script(operation, "throttle", "throttle")

    with pytest.raises(AwsUnavailable) as info:
        write(writer)

    assert not isinstance(info.value, WriteOutcomeUnknown)
    assert info.value.aws_code == "ProvisionedThroughputExceededException"
    assert info.value.may_have_reached_aws is False
    assert state(writer) == ("old", 1)


@pytest.mark.parametrize("path", [p for p in PATHS if p != "put_many"])
def test_server_errors_to_exhaustion_are_read_back_then_sent_again(
    path: str, writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    """A 500 on a write may have been applied: read back, not applied, unchanged: sent again."""
    write, operation, applied = PATHS[path]
    rival.put("sid", "old")
    faults.script(operation, *["server_error"] * ATTEMPTS)

    write(writer)

    assert faults.calls[("dynamodb", "GetItem")] >= 1  # the read back
    assert state(rival) == applied


def test_put_many_server_errors_to_exhaustion_are_read_back_and_reported_not_written(
    writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    rival.put("sid", "old")
    faults.script("BatchWriteItem", *["server_error"] * ATTEMPTS)

    (result,) = writer.put_many({"sid": "new"})

    assert isinstance(result.error, AwsUnavailable)
    assert not isinstance(result.error, WriteOutcomeUnknown)
    assert "not written (read back)" in str(result.error)
    assert faults.calls[("dynamodb", "BatchGetItem")] == 2  # the versions, then the read back
    assert state(rival) == ("old", 1)


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("put", ("new", 3)),  # unconditional: last writer wins
        ("put_if_version", VersionConflict),
        ("delete_if_version", VersionConflict),
        ("put_many", ("new", 3)),
    ],
)
def test_a_conflict_with_another_writer(
    path: str, outcome: Any, writer: StatePublisher, rival: StatePublisher
) -> None:
    write, _, _ = PATHS[path]
    rival.put("sid", "old")
    rival.put("sid", "theirs")
    if isinstance(outcome, tuple):
        write(writer)
        assert state(rival) == outcome
        return
    with pytest.raises(outcome) as info:
        write(writer)
    assert info.value.current is not None
    assert (info.value.current.value, info.value.current.version) == ("theirs", 2)


def test_update_conflicting_calls_fn_again_with_the_rivals_value(
    writer: StatePublisher, rival: StatePublisher
) -> None:
    rival.put("sid", "old")
    Rival(lambda: rival.put("sid", "theirs"), before=frozenset({1, 3})).install(
        writer, "UpdateItem"
    )

    result = writer.update("sid", lambda v: v + "!")  # requests 1 (conflict) and 2

    assert (result.value, result.version) == ("theirs!", 3)
    with pytest.raises(VersionConflict):
        writer.update("sid", lambda v: v + "?", retries=0)  # request 3: the rival first


def update_once(pub: StatePublisher) -> StateItem:
    """update() that does not retry a conflict, so that the conflict surfaces."""
    return pub.update("sid", lambda v: v + "!", retries=0)


@pytest.mark.parametrize(
    ("write", "operation"),
    [
        (PATHS["put_if_version"][0], "UpdateItem"),
        (update_once, "UpdateItem"),
        (PATHS["delete_if_version"][0], "DeleteItem"),
    ],
    ids=["put_if_version", "update", "delete_if_version"],
)
def test_a_conflict_after_retries_that_never_reached_the_server_is_a_real_conflict(
    write: Callable[[StatePublisher], Any],
    operation: str,
    writer: StatePublisher,
    rival: StatePublisher,
    faults: Faults,
) -> None:
    """Refused, a rival writes, the retry conflicts: ours never applied, so no 'unknown'."""
    rival.put("sid", "old")
    hook = Rival(lambda: rival.put("sid", "theirs"), before=frozenset({2})).install(
        writer, operation
    )
    faults.script(operation, "refused")

    with pytest.raises(VersionConflict) as info:
        write(writer)

    assert hook.wrote == [2]
    assert info.value.resent is True
    assert info.value.may_have_applied is False
    assert state(rival) == ("theirs", 2)


@pytest.mark.parametrize(
    ("write", "operation"),
    [(PATHS["put_if_version"][0], "UpdateItem"), (update_once, "UpdateItem")],
    ids=["put_if_version", "update"],
)
def test_sent_and_lost_then_overwritten_is_an_unknown_outcome_with_what_was_found(
    write: Callable[[StatePublisher], Any],
    operation: str,
    writer: StatePublisher,
    rival: StatePublisher,
    faults: Faults,
) -> None:
    rival.put("sid", "old")
    faults.script(operation, "commit_then_timeout")
    Rival(lambda: rival.put("sid", "theirs"), before=frozenset({2})).install(writer, operation)

    with pytest.raises(WriteOutcomeUnknown) as info:
        write(writer)

    found = info.value.found
    assert found is not None
    assert (found.value, found.version) == ("theirs", 3)  # ours was version 2
    assert state(rival) == ("theirs", 3)


def test_a_conditional_delete_sent_and_lost_then_recreated_is_an_unknown_outcome(
    writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    rival.put("sid", "old")
    rival.put("sid", "old")
    faults.script("DeleteItem", "commit_then_timeout")
    Rival(lambda: rival.put("sid", "theirs"), before=frozenset({2})).install(writer, "DeleteItem")

    with pytest.raises(WriteOutcomeUnknown) as info:
        writer.delete("sid", if_version=2)

    found = info.value.found
    assert found is not None
    assert (found.value, found.version) == ("theirs", 1)  # ours deleted; theirs started again


def test_an_unconditional_put_sent_and_lost_then_overwritten_is_written_again(
    writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    """No condition tells "changed since": ours is sent again, and is the last writer."""
    rival.put("sid", "old")
    faults.script("UpdateItem", "commit_then_timeout", *["refused"] * (ATTEMPTS - 1))
    Rival(lambda: rival.put("sid", "theirs"), before=frozenset({2})).install(writer, "UpdateItem")

    result = writer.put("sid", "new")

    assert (result.value, result.version) == ("new", 4)  # ours 2, theirs 3, ours again 4
    assert state(rival) == ("new", 4)


def test_a_batch_put_sent_and_lost_then_overwritten_is_an_unknown_outcome(
    writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    rival.put("sid", "old")
    faults.script("BatchWriteItem", "commit_then_timeout", *["refused"] * (ATTEMPTS - 1))
    Rival(lambda: rival.put("sid", "theirs"), before=frozenset({2})).install(
        writer, "BatchWriteItem"
    )

    (result,) = writer.put_many({"sid": "new"})

    assert isinstance(result.error, WriteOutcomeUnknown)
    found = result.error.found
    assert found is not None
    assert (found.value, found.version) == ("theirs", 3)


# --- a store that does not return the item with a failed condition -------------------------


@pytest.fixture
def dropping(local_aws: LocalAws, make_publisher: Callable[..., StatePublisher]) -> StatePublisher:
    return make_publisher(dynamodb=drop_returned_item(fresh_client(local_aws)))


def test_without_the_returned_item_a_conditional_delete_of_another_version_deletes_nothing(
    dropping: StatePublisher, rival: StatePublisher
) -> None:
    rival.put("sid", 1)
    rival.put("sid", 2)
    with pytest.raises(VersionConflict) as info:
        dropping.delete("sid", if_version=1)
    assert info.value.current is not None
    assert info.value.current.version == 2
    assert state(rival) == (2, 2)


def test_without_the_returned_item_a_put_conflict_names_the_stored_version(
    dropping: StatePublisher, rival: StatePublisher
) -> None:
    rival.put("sid", 1)
    rival.put("sid", 2)
    with pytest.raises(VersionConflict, match="at version 2") as info:
        dropping.put("sid", 3, if_version=1)
    assert info.value.current is not None
    assert info.value.current.value == 2


def test_without_the_returned_item_absence_is_read_not_inferred(
    dropping: StatePublisher,
) -> None:
    with pytest.raises(VersionConflict, match="no item is stored") as info:
        dropping.put("sid", 3, if_version=1)
    assert info.value.current is None


def test_without_the_returned_item_update_still_converges(
    dropping: StatePublisher, rival: StatePublisher
) -> None:
    rival.put("sid", 10)
    Rival(lambda: rival.update("sid", lambda v: v + 100)).install(dropping, "UpdateItem")

    result = dropping.update("sid", lambda v: v + 1)

    assert (result.value, result.version) == (111, 3)
    assert state(rival) == (111, 3)


# --- botocore's retry quota -------------------------------------------------------------------


def test_a_hundred_committed_resends_do_not_drain_the_retry_quota(
    local_aws: LocalAws, make_publisher: Callable[..., StatePublisher], faults: Faults
) -> None:
    """Each write commits, loses its answer, and botocore's resend fails its own condition.

    That resend must happen every time: without a refund, botocore's quota
    (500, 14 per retry) stops retrying after about 35 such writes.
    """
    writer = make_publisher(dynamodb=faults.install(fresh_client(local_aws, attempts=5)))
    writer.put("sid", 0)
    reads = faults.calls[("dynamodb", "GetItem")]
    for n in range(1, 101):
        faults.script("UpdateItem", "commit_then_timeout")
        result = writer.put("sid", n, if_version=n)
        assert result.version == n + 1
    assert faults.attempts[("dynamodb", "UpdateItem")] == 1 + 2 * 100  # every write resent
    assert faults.calls[("dynamodb", "GetItem")] == reads  # never needed a read back
    raw = writer.store.dynamodb.get_item(
        TableName=table_name(writer.realm), Key={"state_id": {"S": "sid"}}, ConsistentRead=True
    )["Item"]
    assert raw["version"] == {"N": "101"}


def test_the_outcome_errors_are_lava_state_errors() -> None:
    assert issubclass(WriteOutcomeUnknown, LavaStateError)
    assert not issubclass(WriteOutcomeUnknown, VersionConflict)


# --- put(if_absent=True): the same column as if_version -------------------------------------


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        (("refused",) * ATTEMPTS, AwsUnavailable),
        (("commit_then_timeout", *("refused",) * (ATTEMPTS - 1)), ("mine", 1)),
        (("server_error",) * ATTEMPTS, ("mine", 1)),  # read back: absent, sent again
    ],
    ids=["never_sent", "sent_and_lost", "server_errors"],
)
def test_if_absent_put_under_each_failure_mode(
    script: tuple[Any, ...], outcome: Any, writer: StatePublisher, faults: Faults
) -> None:
    faults.script("UpdateItem", *script)
    if isinstance(outcome, tuple):
        result = writer.put("sid", "mine", if_absent=True)
        assert (result.value, result.version) == outcome
        assert state(writer) == outcome
        return
    with pytest.raises(outcome) as info:
        writer.put("sid", "mine", if_absent=True)
    assert not isinstance(info.value, WriteOutcomeUnknown)
    assert state(writer) is None


def test_if_absent_put_sent_and_lost_then_taken_is_an_unknown_outcome(
    writer: StatePublisher, rival: StatePublisher, faults: Faults
) -> None:
    """Ours created it, the rival deleted and re-created it: only 'unknown' is true."""

    def take() -> None:
        rival.delete("sid")
        rival.put("sid", "theirs", if_absent=True)

    faults.script("UpdateItem", "commit_then_timeout")
    Rival(take, before=frozenset({2})).install(writer, "UpdateItem")

    with pytest.raises(WriteOutcomeUnknown) as info:
        writer.put("sid", "mine", if_absent=True)

    assert info.value.found is not None
    assert info.value.found.value == "theirs"


def test_if_absent_put_conflicting_with_a_stored_item_is_a_conflict(
    writer: StatePublisher, rival: StatePublisher
) -> None:
    rival.put("sid", "theirs")
    with pytest.raises(VersionConflict) as info:
        writer.put("sid", "mine", if_absent=True)
    assert info.value.current is not None
    assert info.value.current.value == "theirs"

"""The TTL sweeper: deletes expired items within seconds, conditionally, and marks its deletions."""

from __future__ import annotations

import time
from typing import Any

from lava_state.naming import table_name
from lava_state_local import LocalAws, TtlMarks, TtlSweeper
from publisher import StatePublisher
from tests.conftest import wait_until


def two_hours_later() -> float:
    return time.time() + 2 * 3600


def old_image(item: dict[str, Any]) -> dict[str, Any]:
    return {"state_id": item["state_id"], "ttl": item["ttl"]}


def test_a_sweep_deletes_what_has_expired_and_marks_it(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, stored: Any
) -> None:
    # GIVEN one item expired by the sweeper's clock and one not
    publisher.put("short", 1, ttl="1h")
    publisher.put("long", 2, ttl="3h")
    short = stored()["short"]
    marks = TtlMarks()
    sweeper = TtlSweeper(
        dynamodb=local_aws.client("dynamodb"),
        marks=marks,
        realms=[realm],
        clock=two_hours_later,
    )
    # WHEN it sweeps THEN only the expired one is deleted, once
    assert sweeper.sweep_once() == 1
    assert set(stored()) == {"long"}
    assert sweeper.sweep_once() == 0
    assert sweeper.deleted == 1
    # AND its REMOVE is recognised as the sweeper's, exactly once
    assert marks.consume(table_name(realm), old_image(short)) is True
    assert marks.consume(table_name(realm), old_image(short)) is False


def test_an_item_refreshed_during_the_sweep_is_kept_and_unmarked(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, stored: Any
) -> None:
    publisher.put("refreshed", 1, ttl="1h")
    expired = stored()["refreshed"]
    dynamodb = local_aws.client("dynamodb")

    def refresh(**kwargs: Any) -> None:
        # Between the sweeper's scan and its delete, a writer extends the TTL.
        publisher.put("refreshed", 2, ttl="3h")

    dynamodb.meta.events.register_first("before-call.dynamodb.DeleteItem", refresh)
    marks = TtlMarks()
    sweeper = TtlSweeper(dynamodb=dynamodb, marks=marks, realms=[realm], clock=two_hours_later)
    assert sweeper.sweep_once() == 0
    assert stored()["refreshed"]["value"] == {"S": "2"}
    assert marks.consume(table_name(realm), old_image(expired)) is False


def test_without_realms_every_table_with_ttl_on_ttl_is_swept(
    local_aws: LocalAws, realm: str
) -> None:
    dynamodb = local_aws.client("dynamodb")
    plain = f"plain-{realm}"
    dynamodb.create_table(
        TableName=plain,
        AttributeDefinitions=[{"AttributeName": "state_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "state_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        everything = TtlSweeper(dynamodb=dynamodb, marks=TtlMarks()).tables()
    finally:
        dynamodb.delete_table(TableName=plain)
    assert table_name(realm) in everything
    assert plain not in everything
    given = TtlSweeper(dynamodb=dynamodb, marks=TtlMarks(), realms=[realm]).tables()
    assert given == [table_name(realm)]


def test_a_started_sweeper_sweeps_every_interval_until_stopped(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, stored: Any
) -> None:
    publisher.put("short", 1, ttl="1h")
    sweeper = TtlSweeper(
        dynamodb=local_aws.client("dynamodb"),
        marks=TtlMarks(),
        realms=[realm],
        interval=0.05,
        clock=two_hours_later,
    ).start()
    try:
        assert sweeper.is_running
        assert wait_until(lambda: "short" not in stored())
    finally:
        sweeper.stop()
    assert not sweeper.is_running
    assert sweeper.deleted == 1

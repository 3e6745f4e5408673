"""consumer_sdk.ordering: which change is newer than what was yielded, per id.

Notifications are ordered by sequence; reads by state; a delete or expiry
restarts versions at 1. Pure: events and items are made by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from consumer_sdk.ordering import ChangeOrder
from lava_state.events import ChangeEvent, ChangeKind
from lava_state.model import StateItem, StateType

T0 = 1_790_000_000  # a whole second, as items are stamped


def stamp(second: int) -> str:
    return datetime.fromtimestamp(T0 + second, UTC).isoformat()


def put(sequence: int, version: int, second: int = 0, sid: str = "sid") -> ChangeEvent:
    return ChangeEvent(
        realm="dev",
        state_id=sid,
        kind=ChangeKind.PUT,
        version=version,
        sequence=str(4100000000000000000000 + sequence),
        timestamp=stamp(second),
        type=StateType.JSON,
    )


def delete(
    sequence: int, version: int, second: int = 0, kind: ChangeKind = ChangeKind.DELETE
) -> ChangeEvent:
    return ChangeEvent(
        realm="dev",
        state_id="sid",
        kind=kind,
        version=version,
        sequence=str(4100000000000000000000 + sequence),
        timestamp=stamp(second),
    )


def item(version: int, second: int = 0, ttl: int | None = None) -> StateItem:
    return StateItem(
        state_id="sid",
        type=StateType.JSON,
        value=version,
        version=version,
        timestamp=datetime.fromtimestamp(T0 + second, UTC),
        ttl=ttl,
    )


def yielded(order: ChangeOrder, events: list[ChangeEvent]) -> list[ChangeEvent]:
    return [event for event in events if order.notification(event)]


# -- notifications only: the sequence decides


def test_duplicates_and_older_notifications_are_dropped() -> None:
    order = ChangeOrder()
    v1, v2, v3 = put(1, 1), put(2, 2), put(3, 3)
    assert yielded(order, [v1, v1, v3, v2, v3]) == [v1, v3]


def test_delete_then_recreate_arriving_reversed_yields_only_the_last() -> None:
    # put v1, put v2, delete (at v2), put v1 again: versions restart after the delete.
    history = [put(1, 1), put(2, 2), delete(3, 2), put(4, 1)]
    assert yielded(ChangeOrder(), list(reversed(history))) == [history[3]]


def test_delete_then_recreate_with_the_delete_overtaking_a_put() -> None:
    history = [put(1, 1), put(2, 2), delete(3, 2), put(4, 1)]
    arrivals = [history[0], history[2], history[1], history[3]]
    # v2 arrives after the delete that ended its generation: stale.
    assert yielded(ChangeOrder(), arrivals) == [history[0], history[2], history[3]]


@given(st.permutations(range(8)))
def test_any_arrival_order_yields_increasing_sequences_ending_with_the_last(
    arrival: list[int],
) -> None:
    # Two generations: v1..v3, deleted, v1..v3 again, expired.
    history = [
        put(1, 1),
        put(2, 2),
        put(3, 3),
        delete(4, 3),
        put(5, 1),
        put(6, 2),
        put(7, 3),
        delete(8, 3, kind=ChangeKind.EXPIRE),
    ]
    out = yielded(ChangeOrder(), [history[i] for i in arrival])
    sequences = [int(event.sequence) for event in out]
    assert sequences == sorted(set(sequences))
    assert out[-1] == history[-1]


# -- reads: a read is newer iff its state differs


def test_a_read_yields_only_a_state_that_differs_from_the_last_yielded() -> None:
    order = ChangeOrder()
    assert order.notification(put(5, 5, second=3))
    assert order.read("sid", item(5, second=3), now=T0) is None  # the same state
    assert order.read("sid", item(6, second=4), now=T0) is ChangeKind.PUT
    assert order.read("sid", item(6, second=4), now=T0) is None
    assert order.read("sid", None, now=T0) is ChangeKind.DELETE
    assert order.read("sid", None, now=T0) is None


def test_a_read_finding_nothing_after_the_ttl_passed_is_an_expiry() -> None:
    order = ChangeOrder()
    assert order.read("sid", item(2, ttl=T0 + 10), now=T0) is ChangeKind.PUT
    assert order.read("sid", None, now=T0 + 11) is ChangeKind.EXPIRE


def test_a_first_read_of_an_absent_id_yields_nothing() -> None:
    order = ChangeOrder()
    assert order.read("sid", None, now=T0) is None
    last = order.last("sid")
    assert last is not None and not last.exists


# -- notifications after a read: placed against it


def test_in_flight_notifications_at_or_before_a_read_are_dropped() -> None:
    order = ChangeOrder()
    assert order.read("sid", item(3), now=T0) is ChangeKind.PUT
    v2, v3, v4 = put(2, 2), put(3, 3), put(4, 4)
    assert yielded(order, [v2, v3, v4]) == [v4]
    # v3 was the read's own write: the cursor is exact again, by sequence.
    assert yielded(order, [v3, v4]) == []


def test_notifications_received_before_a_read_bound_it() -> None:
    order = ChangeOrder()
    assert order.notification(put(7, 7))
    assert order.read("sid", item(9), now=T0) is ChangeKind.PUT  # v8, v9 were lost
    # Anything at or below the highest sequence received before the read is older.
    assert yielded(order, [put(6, 6), put(7, 7)]) == []
    assert yielded(order, [put(9, 9), put(10, 10)]) == [put(10, 10)]


def test_a_read_of_the_recreated_item_drops_the_old_generations_late_notifications() -> None:
    # Generation 1 (v1, v2) at second 0, deleted; generation 2 (v1) written 10 s later.
    old_v2, old_delete, new_v1, new_v2 = (
        put(2, 2, second=0),
        delete(3, 2, second=0),
        put(4, 1, second=10),
        put(5, 2, second=11),
    )
    order = ChangeOrder()
    assert order.read("sid", item(1, second=10), now=T0) is ChangeKind.PUT
    # v2 > v1, but written 10 s before the read's state: the old generation.
    assert yielded(order, [old_v2, old_delete, new_v1, new_v2]) == [new_v2]


def test_after_a_read_found_nothing_only_a_new_generation_is_newer() -> None:
    order = ChangeOrder()
    assert order.notification(put(1, 3, second=0))
    assert order.read("sid", None, now=T0) is ChangeKind.DELETE
    # An older write of the deleted generation (v4), then its delete, then a new v1.
    assert yielded(order, [put(2, 4, second=0), delete(3, 4), put(4, 1, second=5)]) == [
        put(4, 1, second=5)
    ]


def test_since_seeds_the_last_handled_version() -> None:
    order = ChangeOrder()
    order.seed("sid", 4)
    assert yielded(order, [put(4, 4), put(3, 3)]) == []
    assert order.read("sid", item(4), now=T0) is None
    assert order.read("sid", item(6), now=T0) is ChangeKind.PUT


def test_ids_are_ordered_independently() -> None:
    order = ChangeOrder()
    a, b = put(9, 9, sid="a"), put(1, 1, sid="b")
    assert yielded(order, [a, b]) == [a, b]
    assert sorted(order.existing()) == ["a", "b"]


def test_a_baseline_read_gates_reads_but_not_notifications() -> None:
    order = ChangeOrder()
    assert order.read("sid", item(3), now=T0, baseline=True) is None
    # A change queued before the baseline is still a change to yield.
    assert order.notification(put(2, 2))
    assert order.read("sid", item(3), now=T0) is ChangeKind.PUT  # differs from v2
    fresh = ChangeOrder()
    assert fresh.read("sid", item(3), now=T0, baseline=True) is None
    assert fresh.read("sid", item(3), now=T0) is None  # the baseline's state: nothing new
    assert fresh.read("sid", item(4), now=T0) is ChangeKind.PUT

"""consumer_sdk.changes: the change a subscription yields, and the checks of its arguments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumer_sdk.changes import (
    Origin,
    StateChange,
    checked_ids,
    durable_queue_name,
    notified_change,
    read_change,
)
from lava_state.errors import InvalidInput, InvalidStateId
from lava_state.events import ChangeEvent, ChangeKind
from lava_state.model import StateItem, StateType


def secure_item() -> StateItem:
    return StateItem(
        state_id="token",
        type=StateType.SECURE,
        value="s3cr3t",
        version=3,
        timestamp=datetime(2026, 11, 28, tzinfo=UTC),
    )


def test_a_read_change_of_a_secure_item_carries_no_value_and_fetches() -> None:
    fetched: list[str] = []

    def reader(state_id: str) -> StateItem:
        fetched.append(state_id)
        return secure_item()

    change = read_change(
        "dev", "token", ChangeKind.PUT, secure_item(), None, Origin.RESYNC,
        include_values=True, reader=reader,
    )  # fmt: skip
    assert (change.version, change.has_value, change.value, change.sequence) == (3, False, None, "")
    assert change.timestamp == "2026-11-28T00:00:00+00:00"
    assert "s3cr3t" not in repr(change) and "origin='resync'" in repr(change)
    assert change.fetch() == secure_item() and fetched == ["token"]
    assert isinstance(change, ChangeEvent)


def test_a_notified_change_keeps_the_event_and_may_drop_its_value() -> None:
    event = ChangeEvent(
        realm="dev", state_id="sid", kind=ChangeKind.PUT, version=2, sequence="42",
        type=StateType.JSON, value={"lines": "45"}, has_value=True,
    )  # fmt: skip
    kept = notified_change(event, include_values=True, reader=lambda _: None)
    dropped = notified_change(event, include_values=False, reader=lambda _: None)
    assert (kept.value, kept.sequence, kept.origin) == ({"lines": "45"}, "42", Origin.NOTIFICATION)
    assert (dropped.value, dropped.has_value) == (None, False)


def test_a_change_without_a_reader_cannot_fetch() -> None:
    change = StateChange(realm="dev", state_id="x", kind=ChangeKind.DELETE, version=1, sequence="")
    with pytest.raises(RuntimeError, match="no reader"):
        change.fetch()


def test_durable_queue_names() -> None:
    assert durable_queue_name("dev", "etl-loader_1") == "lava-state-dev-sub-etl-loader_1"
    with pytest.raises(InvalidInput, match="letters, digits"):
        durable_queue_name("dev", "etl/loader")
    with pytest.raises(InvalidInput, match="too long"):
        durable_queue_name("dev", "x" * 70)


def test_ids_are_checked_and_deduplicated() -> None:
    assert checked_ids(["b", "a", "b"]) == ["b", "a"]
    assert checked_ids(None) == []
    with pytest.raises(InvalidInput, match=r"pass \['sid'\]"):
        checked_ids("sid")
    with pytest.raises(InvalidStateId, match=r"state_ids\[1\]"):
        checked_ids(["ok", ""])

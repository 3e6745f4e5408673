"""Validation: bad input fails clearly before any AWS call (KMS included) and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lava_state.errors import (
    InvalidInput,
    InvalidStateId,
    InvalidStateValue,
    InvalidTTL,
    ReservedStateId,
    StateValueTooLarge,
    UnknownStateType,
)
from publisher import StatePublisher

BIG = "x" * 410_000


def big_secret(size: int) -> dict[str, str]:
    return {"blob": ("pa55word-" * (size // 9 + 1))[:size]}


@pytest.mark.parametrize(
    ("state_id", "value", "kwargs", "error", "message"),
    [
        ("", 1, {}, InvalidStateId, "must not be empty"),
        ("x" * 1025, 1, {}, InvalidStateId, "at most 1024"),
        (42, 1, {}, InvalidStateId, "must be a string"),
        ("lava-x", 1, {}, ReservedStateId, "reserved"),
        ("LAVAx", 1, {}, ReservedStateId, "reserved"),
        ("sid", 1, {"type": "blob"}, UnknownStateType, "No such state type"),
        ("sid", {"x": object()}, {}, InvalidStateValue, "cannot be JSON-encoded"),
        ("sid", {"x": {1, 2}}, {}, InvalidStateValue, "cannot be JSON-encoded"),
        ("sid", float("nan"), {}, InvalidStateValue, "cannot be JSON-encoded"),
        ("sid", float("inf"), {"type": "raw"}, InvalidStateValue, "cannot store"),
        ("sid", BIG, {}, StateValueTooLarge, "at most 409600"),
        ("sid", BIG, {"type": "raw"}, StateValueTooLarge, "at most 409600"),
        ("sid", BIG, {"type": "secure"}, StateValueTooLarge, "409600"),
        ("sid", 1, {"ttl": "-5m"}, InvalidTTL, "positive"),
        ("sid", 1, {"ttl": "2D"}, InvalidTTL, "lower case"),
        ("sid", 1, {"ttl": "abc"}, InvalidTTL, "not a duration"),
        ("sid", 1, {"ttl": "0"}, InvalidTTL, "positive"),
        ("sid", 1, {"ttl": 0}, InvalidTTL, "positive"),
        ("sid", 1, {"ttl": "400d"}, InvalidTTL, "over the maximum"),
    ],
)
def test_put_refuses_and_writes_nothing(
    publisher: StatePublisher,
    stored: Any,
    state_id: Any,
    value: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message) as info:
        publisher.put(state_id, value, **kwargs)
    assert isinstance(info.value, InvalidInput)
    assert isinstance(info.value, ValueError)
    assert stored() == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"if_version": -1}, "if_version"),
        ({"if_version": "3"}, "if_version"),
        ({"if_version": True}, "if_version"),
        ({"if_version": 1, "if_absent": True}, "not both"),
        ({"if_absent": "yes"}, "if_absent"),
    ],
)
def test_bad_conditions_are_rejected_before_writing(
    publisher: StatePublisher,
    stored: Callable[[], dict[str, Any]],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        publisher.put("sid", 1, **kwargs)
    assert stored() == {}


def test_delete_rejects_a_bad_version(
    publisher: StatePublisher, stored: Callable[[], dict[str, Any]]
) -> None:
    publisher.put("sid", 1)
    with pytest.raises(InvalidInput, match="if_version"):
        publisher.delete("sid", if_version=-2)
    assert "sid" in stored()


def test_over_the_item_limit_is_refused_before_kms(
    make_publisher: Callable[..., StatePublisher], stored: Callable[[], dict[str, Any]]
) -> None:
    publisher = make_publisher()  # its own clients: the hook below stays on them
    calls: list[str] = []
    publisher.store.kms.meta.events.register(
        "before-call.kms", lambda model, **_: calls.append(model.name)
    )
    with pytest.raises(StateValueTooLarge, match="409600"):
        publisher.put("huge", big_secret(400 * 1024), type="secure")
    assert calls == []
    assert stored() == {}

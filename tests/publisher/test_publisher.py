"""The façade: put, update, delete, versions and compare-and-set (if_version/if_absent)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.errors import (
    ConfigurationError,
    InvalidInput,
    InvalidStateValue,
    VersionConflict,
)
from lava_state.model import Encrypted, StateType
from lava_state.naming import table_name
from publisher import LavaStateItem, StatePublisher


def put_raw(dynamodb: Any, realm: str, state_id: str, *, ttl: int, version: int | None) -> None:
    """Store an item as another writer would (lava 8.x has no version attribute)."""
    item = {
        "state_id": {"S": state_id},
        "type": {"S": "json"},
        "value": {"S": '"old"'},
        "timestamp": {"S": "2026-01-01T00:00:00+00:00"},
        "ttl": {"N": str(ttl)},
        "publisher": {"S": "lava"},
    }
    if version is not None:
        item["version"] = {"N": str(version)}
    dynamodb.put_item(TableName=table_name(realm), Item=item)


def test_put_then_get_round_trips_and_bumps_version(
    publisher: StatePublisher, client: StateClient
) -> None:
    first = publisher.put("sid", {"lines": "45"})
    second = publisher.put("sid", {"lines": "46"})
    item = client.get("sid")
    assert item is not None
    assert item.value == {"lines": "46"}
    assert (first.version, second.version, item.version) == (1, 2, 2)


def test_missing_realm(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="LAVA_REALM"):
        StatePublisher()
    with pytest.raises(ConfigurationError, match="LAVA_REALM"):
        LavaStateItem.new("json", "sid", "", 1)
    monkeypatch.setenv("LAVA_REALM", "somewhere")
    assert StatePublisher().realm == "somewhere"


# ----------------------------------------------------------------------------- put


def test_if_version_matching_writes_and_bumps(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("sid", 1)
    second = publisher.put("sid", 2, if_version=1)
    assert second.version == 2
    stored = client.get("sid")
    assert stored is not None
    assert (stored.value, stored.version) == (2, 2)


def test_stale_if_version_raises_conflict_with_current_and_writes_nothing(
    publisher: StatePublisher, stored: Callable[[], dict[str, Any]]
) -> None:
    publisher.put("sid", {"n": 1})
    publisher.put("sid", {"n": 2})
    before = stored()["sid"]

    with pytest.raises(VersionConflict) as info:
        publisher.put("sid", {"n": 99}, if_version=1)

    conflict = info.value
    assert conflict.state_id == "sid"
    assert conflict.current is not None
    assert (conflict.current.value, conflict.current.version) == ({"n": 2}, 2)
    assert "version 2" in str(conflict)
    assert stored()["sid"] == before


def test_conflict_returns_current_without_a_second_read(
    make_publisher: Callable[..., StatePublisher],
) -> None:
    publisher = make_publisher()  # its own clients: the hook below stays on them
    publisher.put("sid", "v1")
    calls: list[str] = []
    publisher.store.dynamodb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    with pytest.raises(VersionConflict) as info:
        publisher.put("sid", "v2", if_version=7)
    assert info.value.current is not None
    assert info.value.current.value == "v1"
    assert calls == ["UpdateItem"]


def test_if_absent(publisher: StatePublisher, stored: Callable[[], dict[str, Any]]) -> None:
    first = publisher.put("sid", "a", if_absent=True)
    assert first.version == 1
    with pytest.raises(VersionConflict) as info:
        publisher.put("sid", "b", if_absent=True)
    assert info.value.current is not None
    assert info.value.current.value == "a"
    assert stored()["sid"]["value"] == {"S": '"a"'}


def test_if_absent_and_if_version_0_accept_an_expired_item_and_versions_keep_growing(
    publisher: StatePublisher, dynamodb: Any, realm: str, client: StateClient
) -> None:
    put_raw(dynamodb, realm, "gone", ttl=int(time.time()) - 60, version=4)
    put_raw(dynamodb, realm, "gone0", ttl=int(time.time()) - 60, version=4)

    assert publisher.put("gone", "new", if_absent=True).version == 5
    assert publisher.put("gone0", "new", if_version=0).version == 5
    item = client.get("gone")
    assert item is not None
    assert (item.value, item.version) == ("new", 5)


def test_if_version_n_on_an_expired_item_conflicts_with_no_current(
    publisher: StatePublisher, dynamodb: Any, realm: str, stored: Callable[[], dict[str, Any]]
) -> None:
    put_raw(dynamodb, realm, "sid", ttl=int(time.time()) - 60, version=3)
    with pytest.raises(VersionConflict) as info:
        publisher.put("sid", "x", if_version=3)
    assert info.value.current is None
    assert "expired" in str(info.value)
    assert stored()["sid"]["version"] == {"N": "3"}


def test_if_version_0_accepts_a_lava8_item_but_not_a_versioned_one(
    publisher: StatePublisher, dynamodb: Any, realm: str
) -> None:
    put_raw(dynamodb, realm, "old8", ttl=int(time.time()) + 600, version=None)
    assert publisher.put("old8", "mine", if_version=0).version == 1
    with pytest.raises(VersionConflict) as info:
        publisher.put("old8", "again", if_version=0)
    assert info.value.current is not None
    assert info.value.current.version == 1


def test_secure_conflict_never_shows_the_secret(publisher: StatePublisher) -> None:
    publisher.put("pw", "hunter2-secret", type="secure")
    with pytest.raises(VersionConflict) as info:
        publisher.put("pw", "other-secret", type="secure", if_version=5)
    current = info.value.current
    assert current is not None
    assert current.type is StateType.SECURE
    assert isinstance(current.value, Encrypted)  # not decrypted for a put conflict
    for text in (str(info.value), repr(info.value), repr(current)):
        assert "hunter2" not in text
        assert "other-secret" not in text


def test_update_giving_up_on_a_secure_item_leaves_current_encrypted(
    make_publisher: Callable[..., StatePublisher],
) -> None:
    writer = make_publisher()
    rival = make_publisher(publisher="rival")
    writer.put("pw", "hunter2-secret", type="secure")

    def beaten(value: Any) -> str:
        rival.put("pw", "rivals-secret", type="secure")
        return value + "!"

    with pytest.raises(VersionConflict) as info:
        writer.update("pw", beaten, retries=0)
    current = info.value.current
    assert current is not None
    assert current.version == 2
    assert isinstance(current.value, Encrypted)  # no plaintext on the exception
    for text in (str(info.value), repr(info.value), repr(current)):
        assert "secret" not in text


def test_update_decrypts_a_conflicting_secure_value_only_to_call_fn_again(
    make_publisher: Callable[..., StatePublisher],
) -> None:
    writer = make_publisher()
    rival = make_publisher(publisher="rival")
    writer.put("pw", "a", type="secure")
    decrypts: list[str] = []
    writer.store.kms.meta.events.register(
        "before-call.kms.Decrypt", lambda **_: decrypts.append("Decrypt")
    )
    seen: list[Any] = []

    def append_b(value: Any) -> str:
        seen.append(value)
        if len(seen) == 1:
            rival.put("pw", "r", type="secure")
        return value + "b"

    result = writer.update("pw", append_b)

    assert seen == ["a", "r"]  # the conflict's value, decrypted for fn
    assert result.value == "rb"
    assert decrypts == ["Decrypt", "Decrypt"]  # the first read, then the conflict


# ----------------------------------------------------------------------------- delete


def test_delete_if_version(publisher: StatePublisher, stored: Callable[[], dict[str, Any]]) -> None:
    publisher.put("sid", 1)
    publisher.put("sid", 2)
    with pytest.raises(VersionConflict) as info:
        publisher.delete("sid", if_version=1)
    assert info.value.current is not None
    assert info.value.current.version == 2
    assert "sid" in stored()

    publisher.delete("sid", if_version=2)
    assert stored() == {}
    # Nothing stored: nothing to delete, no error.
    publisher.delete("sid", if_version=2)


# ----------------------------------------------------------------------------- update


def test_update_creates_then_modifies(publisher: StatePublisher, client: StateClient) -> None:
    seen: list[Any] = []

    def add_one(value: Any) -> int:
        seen.append(value)
        return (value or 0) + 1

    assert publisher.update("n", add_one).value == 1
    result = publisher.update("n", add_one)
    assert (result.value, result.version) == (2, 2)
    assert seen == [None, 1]
    item = client.get("n")
    assert item is not None
    assert item.value == 2


def test_update_keeps_the_type_and_decrypts_secure_values(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("pw", {"user": "u", "password": "p1"}, type="secure")
    result = publisher.update("pw", lambda v: {**v, "password": "p2"})
    assert result.type is StateType.SECURE
    item = client.get("pw")
    assert item is not None
    assert item.value == {"user": "u", "password": "p2"}


def test_update_sees_an_expired_item_as_absent(
    publisher: StatePublisher, dynamodb: Any, realm: str
) -> None:
    put_raw(dynamodb, realm, "n", ttl=int(time.time()) - 60, version=9)
    seen: list[Any] = []
    result = publisher.update("n", lambda v: seen.append(v) or 1)
    assert seen == [None]
    assert result.version == 10


def test_update_retries_a_conflict_with_the_value_that_won(
    publisher: StatePublisher, make_publisher: Callable[..., StatePublisher]
) -> None:
    rival = make_publisher(publisher="rival")
    publisher.put("list", ["a"])
    seen: list[Any] = []

    def append_b(value: Any) -> list[str]:
        seen.append(value)
        if len(seen) == 1:
            rival.put("list", [*value, "rival"])  # lands between our read and our write
        return [*value, "b"]

    result = publisher.update("list", append_b)
    assert seen == [["a"], ["a", "rival"]]
    assert (result.value, result.version) == (["a", "rival", "b"], 3)


def test_update_gives_up_after_its_retries(
    publisher: StatePublisher,
    make_publisher: Callable[..., StatePublisher],
    stored: Callable[[], dict[str, Any]],
) -> None:
    rival = make_publisher(publisher="rival")
    publisher.put("n", 0)
    calls = 0

    def always_beaten(value: Any) -> int:
        nonlocal calls
        calls += 1
        rival.put("n", 1000 + calls)
        return value + 1

    with pytest.raises(VersionConflict) as info:
        publisher.update("n", always_beaten, retries=2)
    assert calls == 3
    assert info.value.current is not None
    assert info.value.current.value == 1003
    assert stored()["n"]["value"] == {"S": "1003"}


def test_update_writes_nothing_when_fn_fails_or_returns_junk(
    publisher: StatePublisher, stored: Callable[[], dict[str, Any]]
) -> None:
    def boom(_: Any) -> Any:
        raise RuntimeError("fn failed")

    with pytest.raises(RuntimeError, match="fn failed"):
        publisher.update("n", boom)
    with pytest.raises(InvalidStateValue):
        publisher.update("n", lambda _: object())
    with pytest.raises(InvalidInput, match="retries"):
        publisher.update("n", lambda _: 1, retries=-1)
    assert stored() == {}


def test_concurrent_updates_lose_nothing(
    publisher: StatePublisher, client: StateClient, caplog: pytest.LogCaptureFixture
) -> None:
    """8 threads x 250 update(+1) on one counter: exactly 2,000, every conflict retried."""
    threads, per_thread = 8, 250
    caplog.set_level(logging.DEBUG, logger="publisher.publisher")
    calls = 0
    calls_lock = threading.Lock()
    versions: list[int] = []
    errors: list[BaseException] = []

    def add_one(value: Any) -> int:
        nonlocal calls
        with calls_lock:
            calls += 1
        return (value or 0) + 1

    def worker() -> None:
        try:
            for _ in range(per_thread):
                versions.append(publisher.update("counter", add_one, retries=1000).version)
        except BaseException as exc:  # reported below, with the count
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    item = client.get("counter")
    assert item is not None
    assert item.value == threads * per_thread == 2000
    assert item.version == 2000
    # Each successful update got its own version: none was overwritten.
    assert sorted(versions) == list(range(1, 2001))
    # Writers did collide, and every call of fn beyond the 2,000 that won was a
    # conflict, retried: no conflict was given up on or went unretried.
    conflicts = sum(
        1
        for record in caplog.records
        if record.name == "publisher.publisher" and record.msg.startswith("update of %r conflicted")
    )
    assert conflicts > 0
    assert calls == 2000 + conflicts

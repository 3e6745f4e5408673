"""A write whose response is lost after it committed is retried by botocore: no spurious conflict.

The fault is injected on the real stack: the request is sent to the server
(which commits it), then the client sees a read timeout, and botocore's
standard retry mode sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.errors import VersionConflict
from publisher import StatePublisher
from tests.publisher.conftest import TimeoutAfterCommit

Inject = Callable[..., TimeoutAfterCommit]


@pytest.fixture
def writer(make_publisher: Callable[..., StatePublisher]) -> StatePublisher:
    return make_publisher()


def test_conditional_put_committed_before_the_retry_is_a_success(
    writer: StatePublisher, client: StateClient, timeout_after_commit: Inject
) -> None:
    writer.put("sid", "v1")
    hook = timeout_after_commit(writer.store.dynamodb, "UpdateItem")

    result = writer.put("sid", "v2", if_version=1)

    assert hook.sent == ["200"]  # the first attempt reached the server and committed
    assert result.version == 2
    item = client.get("sid")
    assert item is not None
    assert (item.value, item.version) == ("v2", 2)


def test_if_absent_put_committed_before_the_retry_is_a_success(
    writer: StatePublisher, client: StateClient, timeout_after_commit: Inject
) -> None:
    hook = timeout_after_commit(writer.store.dynamodb, "UpdateItem")
    result = writer.put("sid", "mine", if_absent=True)
    assert hook.sent == ["200"]
    assert result.version == 1
    item = client.get("sid")
    assert item is not None
    assert (item.value, item.version) == ("mine", 1)


def test_unconditional_put_retried_after_commit_bumps_the_version_once(
    writer: StatePublisher, client: StateClient, timeout_after_commit: Inject
) -> None:
    writer.put("sid", "v1")
    hook = timeout_after_commit(writer.store.dynamodb, "UpdateItem")
    result = writer.put("sid", "v2")
    assert hook.sent == ["200"]
    assert result.version == 2
    item = client.get("sid")
    assert item is not None
    assert item.version == 2


def test_update_retried_after_commit_applies_fn_once(
    writer: StatePublisher, client: StateClient, timeout_after_commit: Inject
) -> None:
    writer.put("n", 10)
    calls: list[Any] = []
    timeout_after_commit(writer.store.dynamodb, "UpdateItem")

    result = writer.update("n", lambda v: calls.append(v) or v + 1)

    assert calls == [10]  # no conflict seen, so fn was not called again
    assert (result.value, result.version) == (11, 2)
    item = client.get("n")
    assert item is not None
    assert (item.value, item.version) == (11, 2)


def test_conditional_delete_retried_after_commit_is_a_success(
    writer: StatePublisher, stored: Callable[[], dict[str, Any]], timeout_after_commit: Inject
) -> None:
    writer.put("sid", 1)
    hook = timeout_after_commit(writer.store.dynamodb, "DeleteItem")
    writer.delete("sid", if_version=1)
    assert hook.sent == ["200"]
    assert stored() == {}


def test_a_real_conflict_after_a_retry_still_surfaces(
    writer: StatePublisher, make_publisher: Callable[..., StatePublisher]
) -> None:
    """The token tells our write from another writer's: theirs is still a conflict."""
    rival = make_publisher(publisher="rival")
    writer.put("sid", "v1")
    rival.put("sid", "theirs")  # version 2, their token
    with pytest.raises(VersionConflict) as info:
        writer.put("sid", "v2", if_version=1)
    assert info.value.current is not None
    assert info.value.current.value == "theirs"

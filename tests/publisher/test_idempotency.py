"""Idempotent retries: a write resent after it committed counts once; an unknowable outcome says so.

The fault is injected on the real stack: the request is sent to the server
(which commits it), then the client sees a read timeout, and botocore's
standard retry mode sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from consumer_sdk import StateClient
from lava_state import aws
from lava_state.errors import VersionConflict, WriteOutcomeUnknown
from lava_state.settings import ItemFormat, Settings
from lava_state_local import LocalAws
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


@dataclass
class CommitThenRival:
    """Sends the first request to the server (it commits), lets a rival write, then times out.

    botocore then resends our request, which fails its condition against the
    rival's item: our write did commit, but the stored token is the rival's.
    """

    rival: Callable[[], Any]
    sent: list[str] = field(default_factory=list)
    http: URLLib3Session = field(default_factory=URLLib3Session, repr=False)

    def __call__(self, request: Any, **_: Any) -> None:
        if self.sent:
            return None
        self.sent.append(str(self.http.send(request).status_code))
        self.rival()
        raise ReadTimeoutError(endpoint_url=request.url)


def install_commit_then_rival(
    writer: StatePublisher, rival: Callable[[], Any], operation: str = "UpdateItem"
) -> CommitThenRival:
    hook = CommitThenRival(rival)
    writer.store.dynamodb.meta.events.register(f"before-send.dynamodb.{operation}", hook)
    return hook


def two_attempts(local_aws: LocalAws) -> Any:
    """A DynamoDB client whose botocore gives up after two attempts."""
    return local_aws.session().client(
        "dynamodb",
        endpoint_url=local_aws.endpoint_url,
        config=aws.botocore_config().merge(
            Config(retries={"mode": "standard", "total_max_attempts": 2})
        ),
    )


def test_a_conditional_put_resent_after_a_rival_wrote_is_an_unknown_outcome(
    writer: StatePublisher, make_publisher: Callable[..., StatePublisher], client: StateClient
) -> None:
    """Commit, rival write, timeout, resend: neither a success nor a conflict can be claimed."""
    rival = make_publisher(publisher="rival")
    writer.put("sid", "v1")
    hook = install_commit_then_rival(writer, lambda: rival.put("sid", "theirs"))

    with pytest.raises(WriteOutcomeUnknown, match="may or may not have committed") as info:
        writer.put("sid", "v2", if_version=1)

    assert hook.sent == ["200"]  # ours committed (version 2), then the rival's (version 3)
    assert not isinstance(info.value, VersionConflict)
    assert info.value.state_id == "sid"
    item = client.get("sid")
    assert item is not None
    assert (item.value, item.version) == ("theirs", 3)


def test_update_resent_after_a_rival_wrote_never_applies_fn_twice(
    writer: StatePublisher, make_publisher: Callable[..., StatePublisher], client: StateClient
) -> None:
    rival = make_publisher(publisher="rival")
    writer.put("n", 10)
    calls: list[Any] = []
    install_commit_then_rival(writer, lambda: rival.update("n", lambda v: v + 100))

    with pytest.raises(WriteOutcomeUnknown):
        writer.update("n", lambda v: calls.append(v) or v + 1)

    assert calls == [10]  # not called again with the rival's value: no second +1
    item = client.get("n")
    assert item is not None
    assert (item.value, item.version) == (111, 3)  # each increment applied exactly once


def test_a_real_conflict_without_a_resend_is_still_a_conflict(
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


def test_retries_running_out_after_a_committed_attempt_is_a_success(
    local_aws: LocalAws,
    make_publisher: Callable[..., StatePublisher],
    timeout_after_commit: Inject,
    client: StateClient,
) -> None:
    """botocore gives up, but the write had committed: reading it back finds our token."""
    # Two attempts, so that botocore gives up quickly; each reaches the server.
    dynamodb = two_attempts(local_aws)
    writer = make_publisher(dynamodb=dynamodb)
    writer.put("sid", "v1")
    hook = timeout_after_commit(dynamodb, "UpdateItem", times=2)

    result = writer.put("sid", "v2", if_version=1)

    assert hook.sent == ["200", "400"]  # committed, then the resend failed its condition
    assert (result.value, result.version) == ("v2", 2)
    item = client.get("sid")
    assert item is not None
    assert (item.value, item.version) == ("v2", 2)


def test_a_secure_update_retried_after_commit_decrypts_nothing_more(
    make_publisher: Callable[..., StatePublisher], timeout_after_commit: Any
) -> None:
    """The token is checked before anything is decoded: our own write is not decrypted."""
    writer = make_publisher()
    writer.put("pw", "a", type="secure")
    decrypts: list[str] = []
    writer.store.kms.meta.events.register(
        "before-call.kms.Decrypt", lambda **_: decrypts.append("Decrypt")
    )
    hook = timeout_after_commit(writer.store.dynamodb, "UpdateItem")

    result = writer.update("pw", lambda value: value + "b")

    assert hook.sent == ["200"]
    assert (result.value, result.version) == ("ab", 2)
    assert decrypts == ["Decrypt"]  # the read only: the committed retry was not decrypted


def test_a_conditional_delete_resent_after_a_rival_wrote_is_an_unknown_outcome(
    writer: StatePublisher, make_publisher: Callable[..., StatePublisher], client: StateClient
) -> None:
    """Our delete committed, a rival created the item again, then the resend conflicted."""
    rival = make_publisher(publisher="rival")
    writer.put("sid", 1)
    writer.put("sid", 2)
    hook = install_commit_then_rival(writer, lambda: rival.put("sid", "theirs"), "DeleteItem")

    with pytest.raises(WriteOutcomeUnknown, match="may or may not have committed") as info:
        writer.delete("sid", if_version=2)

    assert hook.sent == ["200"]  # ours committed: the rival's put started again at version 1
    assert not isinstance(info.value, VersionConflict)
    item = client.get("sid")
    assert item is not None
    assert (item.value, item.version) == ("theirs", 1)


def test_a_conditional_delete_whose_retries_ran_out_after_it_committed_is_a_success(
    local_aws: LocalAws,
    make_publisher: Callable[..., StatePublisher],
    timeout_after_commit: Inject,
    stored: Callable[[], dict[str, Any]],
) -> None:
    dynamodb = two_attempts(local_aws)
    writer = make_publisher(dynamodb=dynamodb)
    writer.put("sid", 1)
    hook = timeout_after_commit(dynamodb, "DeleteItem", times=2)

    writer.delete("sid", if_version=1)  # read back: nothing stored, so it is done

    assert len(hook.sent) == 2  # both attempts reached the server
    assert stored() == {}


def test_a_lava8_if_absent_put_committed_before_the_retry_is_a_success(
    lava8_publisher: StatePublisher,
    timeout_after_commit: Inject,
    stored: Callable[[], dict[str, Any]],
) -> None:
    """No token in lava8: the stored item being exactly the one sent identifies our commit."""
    hook = timeout_after_commit(lava8_publisher.store.dynamodb, "PutItem")

    result = lava8_publisher.put("sid", "mine", if_absent=True)

    assert hook.sent == ["200"]
    assert (result.value, result.version) == ("mine", 0)
    item = stored()["sid"]
    assert item["value"] == {"S": '"mine"'}
    assert "write_token" not in item


def test_a_lava8_if_absent_put_resent_after_a_rival_wrote_is_an_unknown_outcome(
    lava8_publisher: StatePublisher,
    make_publisher: Callable[..., StatePublisher],
    stored: Callable[[], dict[str, Any]],
) -> None:
    rival = make_publisher(publisher="rival", settings=lava8_publisher.store.settings)
    hook = install_commit_then_rival(lava8_publisher, lambda: rival.put("sid", "theirs"), "PutItem")

    with pytest.raises(WriteOutcomeUnknown):
        lava8_publisher.put("sid", "mine", if_absent=True)

    assert hook.sent == ["200"]
    assert stored()["sid"]["value"] == {"S": '"theirs"'}


def test_a_lava8_if_absent_put_whose_retries_ran_out_after_it_committed_is_a_success(
    local_aws: LocalAws,
    make_publisher: Callable[..., StatePublisher],
    timeout_after_commit: Inject,
    stored: Callable[[], dict[str, Any]],
) -> None:
    dynamodb = two_attempts(local_aws)
    writer = make_publisher(dynamodb=dynamodb, settings=Settings(item_format=ItemFormat.LAVA8))
    hook = timeout_after_commit(dynamodb, "PutItem", times=2)

    result = writer.put("sid", "mine", if_absent=True)  # read back: exactly the item sent

    assert hook.sent == ["200", "400"]  # committed, then the resend failed its condition
    assert result.value == "mine"
    assert stored()["sid"]["value"] == {"S": '"mine"'}

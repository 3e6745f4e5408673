"""lava_state_ui.feed through the server's event stream (/api/events) over real HTTP: one
realm subscription shared by every page, changes enriched with the item's row, a
short history per id, and nothing left behind on shutdown."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest

from consumer_sdk import StateChange, StateClient
from lava_state.events import ChangeKind
from lava_state_local import LocalAws, StreamRunner
from lava_state_ui import ChangeFeed, UiServer
from publisher import StatePublisher
from tests.conftest import wait_until
from tests.lava_state_ui.conftest import EventStream, get


def _change_of(state_id: str, kind: str = "put") -> Callable[[str, Any], bool]:
    def matches(name: str, data: Any) -> bool:
        return name == "change" and data["state_id"] == state_id and data["kind"] == kind

    return matches


def _queues(local_aws: LocalAws, realm: str) -> list[str]:
    listed = local_aws.client("sqs").list_queues(QueueNamePrefix=f"lava-state-{realm}-sub-")
    return list(listed.get("QueueUrls", []))


def test_the_stream_starts_with_the_status(ui: UiServer, open_stream: Any) -> None:
    stream: EventStream = open_stream()

    assert stream.events == [("status", {"live": True, "error": None})]


def test_a_put_arrives_with_the_items_row(
    ui: UiServer, open_stream: Any, publisher: StatePublisher
) -> None:
    stream: EventStream = open_stream()

    stored = publisher.put("jobs/loaded", {"rows": 3}, ttl="1h", publisher="loader")

    change = stream.wait_for(_change_of("jobs/loaded"))
    assert change["version"] == 1
    assert change["publisher"] == "loader"
    assert change["origin"] == "notification"
    assert change["row"] == {
        "state_id": "jobs/loaded",
        "type": "json",
        "version": 1,
        "publisher": "loader",
        "timestamp": stored.timestamp.isoformat() if stored.timestamp else None,
        "ttl": stored.ttl,
    }
    assert "value" not in change  # values only on request, masked when secure


def test_a_delete_arrives_without_a_row(
    ui: UiServer, open_stream: Any, publisher: StatePublisher
) -> None:
    stream: EventStream = open_stream()
    publisher.put("gone", 1)
    stream.wait_for(_change_of("gone"))

    publisher.delete("gone")

    change = stream.wait_for(_change_of("gone", "delete"))
    assert change["row"] is None


def test_an_expiry_arrives_as_expire(
    local_aws: LocalAws, realm: str, ui: UiServer, open_stream: Any, publisher: StatePublisher
) -> None:
    local_aws.start_ttl_sweeper(realm, interval=0.5)
    stream: EventStream = open_stream()

    publisher.put("short-lived", 1, ttl=1)

    stream.wait_for(_change_of("short-lived", "expire"), timeout=20)


def test_a_secure_put_arrives_without_its_value(
    ui: UiServer, open_stream: Any, publisher: StatePublisher
) -> None:
    stream: EventStream = open_stream()

    publisher.put("token", "s3cr3t-value", type="secure")

    change = stream.wait_for(_change_of("token"))
    assert change["type"] == "secure"
    assert "s3cr3t" not in repr(stream.events)


def test_every_page_shares_one_subscription(
    local_aws: LocalAws, realm: str, ui: UiServer, open_stream: Any, publisher: StatePublisher
) -> None:
    first: EventStream = open_stream()
    second: EventStream = open_stream()
    third: EventStream = open_stream()
    assert wait_until(lambda: ui.feed.listeners == 3)

    publisher.put("shared", 1)

    for stream in (first, second, third):
        assert stream.wait_for(_change_of("shared"))["version"] == 1
    assert _queues(local_aws, realm) == [ui.feed.queue_url]


def test_a_closed_page_stops_listening(ui: UiServer, open_stream: Any) -> None:
    stream: EventStream = open_stream()
    assert wait_until(lambda: ui.feed.listeners == 1)

    stream.close()

    # The server notices when a write fails: a keep-alive (every second here) or two later.
    assert wait_until(lambda: ui.feed.listeners == 0, timeout=30)


def test_the_item_shows_its_recent_changes_newest_first(
    ui: UiServer, open_stream: Any, publisher: StatePublisher
) -> None:
    stream: EventStream = open_stream()
    publisher.put("counter", 1)
    publisher.put("counter", 2)
    stream.wait_for(lambda name, data: name == "change" and data["version"] == 2)

    status, _, body = get(ui.url, "/api/item?id=counter")

    assert status == 200
    changes = json.loads(body)["changes"]
    assert [(change["kind"], change["version"]) for change in changes] == [("put", 2), ("put", 1)]


def test_stopping_ends_the_streams_and_deletes_the_queue(
    local_aws: LocalAws,
    realm: str,
    client: StateClient,
    start_runner: Callable[..., StreamRunner],
    publisher: StatePublisher,
) -> None:
    server = UiServer(client, port=0).start()
    try:
        assert server.feed.wait_live(30)
        start_runner()
        queue_url = server.feed.queue_url
        assert _queues(local_aws, realm) == [queue_url]
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/api/events")
        stream = EventStream(connection.getresponse(), connection)
        assert stream.next_event()[0] == "status"
    finally:
        server.stop()

    assert stream.next_event() == ("", None)  # ended, not left hanging
    assert stream.ended
    assert _queues(local_aws, realm) == []
    assert not server.feed.live
    topics = local_aws.client("sns").list_subscriptions()["Subscriptions"]
    assert [sub for sub in topics if sub["Endpoint"].endswith(queue_url.rsplit("/", 1)[1])] == []


def _deleted(realm: str, state_id: str, version: int) -> StateChange:
    return StateChange(
        realm=realm, state_id=state_id, kind=ChangeKind.DELETE, version=version, sequence=""
    )


def test_a_page_too_far_behind_is_ended_the_others_go_on(client: StateClient, realm: str) -> None:
    feed = ChangeFeed(client, backlog=2)
    slow, fast = feed.listen(), feed.listen()

    feed.publish(_deleted(realm, "a", 1))
    assert fast.get(timeout=1) is not None
    feed.publish(_deleted(realm, "b", 1))
    assert fast.get(timeout=1) is not None
    feed.publish(_deleted(realm, "c", 1))  # slow has read none of the three

    assert feed.listeners == 1
    assert fast.get(timeout=1) is not None
    with pytest.raises(EOFError):
        while True:  # what it had queued, then the end
            slow.get(timeout=1)


def test_the_history_is_bounded_per_id_and_in_ids(client: StateClient, realm: str) -> None:
    feed = ChangeFeed(client, history=2, history_ids=2)
    for version in (1, 2, 3):
        feed.publish(_deleted(realm, "kept", version))
    feed.publish(_deleted(realm, "evicted", 1))
    feed.publish(_deleted(realm, "kept", 4))  # now "evicted" is the least recently changed
    feed.publish(_deleted(realm, "newest", 1))

    assert [change["version"] for change in feed.recent("kept")] == [4, 3]
    assert feed.recent("evicted") == []
    assert [change["version"] for change in feed.recent("newest")] == [1]


def test_closing_ends_listeners_and_refuses_new_ones(client: StateClient) -> None:
    feed = ChangeFeed(client)
    listening = feed.listen()

    feed.close()

    with pytest.raises(EOFError):
        listening.get(timeout=1)
    with pytest.raises(EOFError):
        feed.listen().get(timeout=1)

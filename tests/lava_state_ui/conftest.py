"""Fixtures for the web view: its server on the test's realm (subscribed before the
stream processor starts, so that the realm topic exists when the first change is
routed), and a reader of its event stream over real HTTP."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from consumer_sdk import StateClient
from lava_state_local import LocalAws, StreamRunner
from lava_state_ui import UiServer


@pytest.fixture
def ui(
    local_aws: LocalAws, realm: str, start_runner: Callable[..., StreamRunner]
) -> Iterator[UiServer]:
    """The view of the test's realm on a free port, live, with the stream processor running."""
    client = StateClient(realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url)
    with UiServer(client, port=0, keepalive=1.0) as server:
        assert server.feed.wait_live(30), server.feed.error
        start_runner()
        yield server


def get(url: str, path: str, *, host: str | None = None, method: str = "GET") -> Any:
    """(status, headers, body) of one request to the server at ``url``."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        headers = {"Host": host} if host else {}
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@dataclass
class EventStream:
    """The server-sent events of one open ``/api/events`` stream."""

    response: http.client.HTTPResponse
    connection: http.client.HTTPConnection
    events: list[tuple[str, Any]] = field(default_factory=list)
    ended: bool = False

    def next_event(self) -> tuple[str, Any]:
        """The next (event name, decoded data); ("", None) when the stream ended."""
        name, data = "message", []
        while True:
            line = self.response.readline()
            if not line:
                self.ended = True
                return "", None
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                name = text[7:]
            elif text.startswith("data: "):
                data.append(text[6:])
            elif not text and data:
                event = (name, json.loads("\n".join(data)))
                self.events.append(event)
                return event

    def wait_for(self, predicate: Callable[[str, Any], bool], timeout: float = 15.0) -> Any:
        """The data of the first event (from now) for which ``predicate`` holds.

        Raises:
            AssertionError: none came within ``timeout`` seconds, or the stream ended.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name, data = self.next_event()
            assert not self.ended, f"the stream ended; events: {self.events}"
            if predicate(name, data):
                return data
        raise AssertionError(f"no matching event within {timeout} s; events: {self.events}")

    def close(self) -> None:
        """Close the connection (the response holds the socket too)."""
        self.response.close()
        self.connection.close()


@pytest.fixture
def open_stream(ui: UiServer) -> Iterator[Callable[[], EventStream]]:
    """Open event streams on the view (closed at teardown); each has read its status."""
    streams: list[EventStream] = []

    def open_one() -> EventStream:
        connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        stream = EventStream(response, connection)
        streams.append(stream)
        assert stream.next_event()[0] == "status"
        return stream

    yield open_one
    for stream in streams:
        stream.close()

from __future__ import annotations

from consumer_sdk import StateClient
from publisher import StatePublisher


def test_put_then_get_round_trips_and_bumps_version(
    publisher: StatePublisher, client: StateClient
) -> None:
    first = publisher.put("sid", {"lines": "45"})
    second = publisher.put("sid", {"lines": "46"})
    item = client.get("sid")
    assert item is not None
    assert item.value == {"lines": "46"}
    assert (first.version, second.version, item.version) == (1, 2, 2)

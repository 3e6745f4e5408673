"""Writing state: ``LavaStateItem`` (lava's API) and ``StatePublisher``."""

from __future__ import annotations

from publisher.item import LavaStateItem
from publisher.publisher import PutResult, PutSpec, RetryPolicy, StatePublisher

__all__ = ["LavaStateItem", "PutResult", "PutSpec", "RetryPolicy", "StatePublisher"]

"""Writing state: ``LavaStateItem`` (lava's API), ``StatePublisher`` and the ``state`` action."""

from __future__ import annotations

from publisher.actions import run_state_action
from publisher.batch import PutResult, PutSpec
from publisher.importer import ImportMode, ImportResult, Outcome
from publisher.item import LavaStateItem
from publisher.policy import RetryPolicy
from publisher.publisher import StatePublisher

__all__ = [
    "ImportMode",
    "ImportResult",
    "LavaStateItem",
    "Outcome",
    "PutResult",
    "PutSpec",
    "RetryPolicy",
    "StatePublisher",
    "run_state_action",
]

import logging as _logging

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

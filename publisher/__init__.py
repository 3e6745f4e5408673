"""Writing state: ``LavaStateItem`` (lava's API), ``StatePublisher`` and the ``state`` action."""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING

from lava_state.lazy import lazy_names
from publisher.batch import PutResult, PutSpec
from publisher.item import LavaStateItem
from publisher.policy import RetryPolicy
from publisher.publisher import StatePublisher

if TYPE_CHECKING:
    from publisher.actions import run_state_action
    from publisher.importer import ImportMode, ImportResult, Outcome

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

# Loaded on first use (PEP 562): a `lava-state put` pays for neither the
# templates of the state action nor the import's format.
_LAZY = {
    "ImportMode": "publisher.importer",
    "ImportResult": "publisher.importer",
    "Outcome": "publisher.importer",
    "run_state_action": "publisher.actions",
}
__getattr__ = lazy_names(__name__, _LAZY)


_logging.getLogger(__name__).addHandler(_logging.NullHandler())

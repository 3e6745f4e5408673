"""Writing state: ``LavaStateItem`` (lava's API), ``StatePublisher`` and the ``state`` action."""

from __future__ import annotations

import importlib
import logging as _logging
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'publisher' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


_logging.getLogger(__name__).addHandler(_logging.NullHandler())

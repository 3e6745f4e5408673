"""Reading state: ``StateClient``, listing, job-spec expansion, subscriptions and waiting."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from consumer_sdk.client import StateClient, StateItems
from consumer_sdk.jobspec import ExpandedJobSpec, expand_job_spec
from consumer_sdk.listing import StateSummary, list_states
from lava_state.errors import WaitTimeout

if TYPE_CHECKING:
    from consumer_sdk.changes import Origin, StateChange
    from consumer_sdk.subscription import Subscription

__all__ = [
    "ExpandedJobSpec",
    "Origin",
    "StateChange",
    "StateClient",
    "StateItems",
    "StateSummary",
    "Subscription",
    "WaitTimeout",
    "expand_job_spec",
    "list_states",
]

import logging as _logging

# Loaded on first use (PEP 562): a command that only reads does not import them.
_LAZY = {
    "Origin": "consumer_sdk.changes",
    "StateChange": "consumer_sdk.changes",
    "Subscription": "consumer_sdk.subscription",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'consumer_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


_logging.getLogger(__name__).addHandler(_logging.NullHandler())

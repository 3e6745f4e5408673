"""Reading state: ``StateClient``, listing, job-spec expansion, subscriptions and waiting."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from consumer_sdk.client import StateClient, StateItems
from consumer_sdk.jobspec import ExpandedJobSpec, expand_job_spec
from consumer_sdk.listing import StateSummary, list_states
from lava_state.errors import WaitTimeout

if TYPE_CHECKING:
    from consumer_sdk.subscription import Origin, StateChange, Subscription

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
_LAZY = {"Origin", "StateChange", "Subscription"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'consumer_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module("consumer_sdk.subscription"), name)
    globals()[name] = value
    return value


_logging.getLogger(__name__).addHandler(_logging.NullHandler())

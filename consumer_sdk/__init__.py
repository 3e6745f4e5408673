"""Reading state: ``StateClient``, listing, job-spec expansion, subscriptions and waiting."""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING

from consumer_sdk.client import StateClient, StateItems
from consumer_sdk.jobspec import ExpandedJobSpec, expand_job_spec
from consumer_sdk.listing import StateSummary, list_states
from lava_state.errors import WaitTimeout
from lava_state.lazy import lazy_names

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

# Loaded on first use (PEP 562): a command that only reads does not import them.
_LAZY = {
    "Origin": "consumer_sdk.changes",
    "StateChange": "consumer_sdk.changes",
    "Subscription": "consumer_sdk.subscription",
}
__getattr__ = lazy_names(__name__, _LAZY)

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

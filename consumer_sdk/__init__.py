"""Reading state: ``StateClient``, listing and job-spec expansion."""

from __future__ import annotations

from consumer_sdk.client import StateClient, StateItems
from consumer_sdk.jobspec import ExpandedJobSpec, expand_job_spec
from consumer_sdk.listing import StateSummary, list_states

__all__ = [
    "ExpandedJobSpec",
    "StateClient",
    "StateItems",
    "StateSummary",
    "expand_job_spec",
    "list_states",
]

import logging as _logging

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

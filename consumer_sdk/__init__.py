"""Reading state: ``StateClient`` and job-spec expansion."""

from __future__ import annotations

from consumer_sdk.client import StateClient, StateItems
from consumer_sdk.jobspec import ExpandedJobSpec, expand_job_spec

__all__ = ["ExpandedJobSpec", "StateClient", "StateItems", "expand_job_spec"]

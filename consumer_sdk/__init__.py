"""Reading state: ``StateClient``, listing and job-spec expansion."""

from __future__ import annotations

from consumer_sdk.client import StateClient
from consumer_sdk.jobspec import expand_job_spec
from consumer_sdk.listing import StateSummary, list_states

__all__ = ["StateClient", "StateSummary", "expand_job_spec", "list_states"]

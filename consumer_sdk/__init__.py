"""Reading state: ``StateClient`` and job-spec expansion."""

from __future__ import annotations

from consumer_sdk.client import StateClient
from consumer_sdk.jobspec import expand_job_spec

__all__ = ["StateClient", "expand_job_spec"]

"""Fixtures for the local stack: the event-source runner on this realm, recording handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lava_state_local import LocalAws, RunnerSettings, StreamRunner

Failures = Callable[[list[dict[str, Any]], int], list[dict[str, str]]]


@pytest.fixture
def start_runner(local_aws: LocalAws, realm: str) -> Iterator[Callable[..., StreamRunner]]:
    """Start the event-source runner on this test's realm (stopped at teardown)."""
    runners: list[StreamRunner] = []

    def start(**kwargs: Any) -> StreamRunner:
        settings = kwargs.pop("settings", None) or RunnerSettings(idle_poll=0.5)
        runner = local_aws.start_stream_runner(realm, settings=settings, **kwargs)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


def recording_handler(calls: list[list[str]], fail: Failures) -> Any:
    """A handler recording the state_ids of each invocation; ``fail(records, attempt)``
    returns its ``batchItemFailures``."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        ids = [r["dynamodb"]["Keys"]["state_id"]["S"] for r in event["Records"]]
        calls.append(ids)
        return {"batchItemFailures": fail(event["Records"], len(calls))}

    return handler


def no_failures(records: list[dict[str, Any]], attempt: int) -> list[dict[str, str]]:
    return []

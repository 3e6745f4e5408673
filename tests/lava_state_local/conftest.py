"""Fixtures for the local stack: the event-source runner on this realm, recording handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Failures = Callable[[list[dict[str, Any]], int], list[dict[str, str]]]


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

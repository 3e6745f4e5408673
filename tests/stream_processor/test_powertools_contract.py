"""The part of Powertools' batch utility the stream handler relies on.

``stream_processor.handler`` subclasses ``BatchProcessor`` and uses its public
hooks only: a record handler's exception fails that record, ``failure_handler``
(overridden to count, called to fail a record SNS did not take) records a
failure, and ``_clean`` (the documented hook, run once after the last record)
publishes before Powertools builds the response. The pin in pyproject.toml
allows any 3.x release: these tests fail if one changes that surface.

The processor below mirrors the handler's use of the hooks without SNS, so a
failure here points at Powertools, not at the publisher.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    ExceptionInfo,
    FailureResponse,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from .conftest import FIXTURES


class NotTaken(Exception):
    """A record failed after its handler returned (as when SNS refuses its change)."""


class LateFailures(BatchProcessor):
    """The record handler fails the ``poison`` positions; ``_clean`` fails ``refused`` ones.

    ``_clean`` fails the even refused positions through a raised-and-caught
    exception (``sys.exc_info()``) and the odd ones through a tuple built with
    no traceback, the two forms the handler passes.
    """

    def __init__(self, *, poison: set[int], refused: set[int]) -> None:
        super().__init__(EventType.DynamoDBStreams, raise_on_entire_batch_failure=True)
        self.poison = poison
        self.refused = refused
        self.handled: list[DynamoDBRecord] = []
        self.handled_before_clean: int | None = None
        self.failures_counted = 0

    def record_handler(self, record: DynamoDBRecord) -> None:
        position = len(self.handled)
        self.handled.append(record)
        if position in self.poison:
            raise ValueError(f"poison at {position}")

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        self.failures_counted += 1
        return super().failure_handler(record, exception)

    def _clean(self) -> None:
        self.handled_before_clean = len(self.handled)
        for position in sorted(self.refused):
            record = self.handled[position]
            if position % 2 == 0:
                try:
                    raise NotTaken(f"refused at {position}")
                except NotTaken:
                    self.failure_handler(record, sys.exc_info())
            else:
                exc = NotTaken(f"refused at {position}")
                self.failure_handler(record, (type(exc), exc, exc.__traceback__))
        super()._clean()


def small_event() -> dict[str, Any]:
    """The first four records of the changes fixture: a DynamoDB Streams event."""
    event: dict[str, Any] = json.loads((FIXTURES / "stream_changes.json").read_text())
    event["Records"] = event["Records"][:4]
    return event


def failures(event: dict[str, Any], *positions: int) -> dict[str, list[dict[str, str]]]:
    return {
        "batchItemFailures": [
            {"itemIdentifier": event["Records"][p]["dynamodb"]["SequenceNumber"]} for p in positions
        ]
    }


def run(event: dict[str, Any], processor: LateFailures) -> Any:
    return process_partial_response(
        event=event, record_handler=processor.record_handler, processor=processor
    )


def test_the_hooks_and_names_we_use_exist() -> None:
    assert EventType.DynamoDBStreams.value == "DynamoDBStreams"
    for hook in ("failure_handler", "success_handler", "_clean", "response"):
        assert callable(getattr(BatchProcessor, hook, None)), hook
    # Powertools calls these with keywords: an override must keep the names.
    failure = inspect.signature(BatchProcessor.failure_handler).parameters
    assert list(failure) == ["self", "record", "exception"]
    success = inspect.signature(BatchProcessor.success_handler).parameters
    assert list(success) == ["self", "record", "result"]
    init = inspect.signature(BatchProcessor.__init__).parameters
    assert "raise_on_entire_batch_failure" in init


def test_failures_recorded_in_clean_are_reported_with_the_record_handlers() -> None:
    # GIVEN a handler that fails record 1, and a _clean that fails 2 and 3
    event = small_event()
    processor = LateFailures(poison={1}, refused={2, 3})
    # WHEN Powertools processes the batch
    response = run(event, processor)
    # THEN _clean ran once every record was handled, got the records as
    # DynamoDBRecord wrapping the event's records, and exactly the three
    # failures are reported, each once, and went through failure_handler
    assert processor.handled_before_clean == 4
    assert all(isinstance(r, DynamoDBRecord) for r in processor.handled)
    assert [r.raw_event for r in processor.handled] == event["Records"]
    assert response == failures(event, 1, 2, 3)
    assert processor.response() == response
    assert processor.failures_counted == 3


def test_no_failure_reports_an_empty_list() -> None:
    processor = LateFailures(poison=set(), refused=set())
    assert run(small_event(), processor) == {"batchItemFailures": []}
    assert processor.failures_counted == 0


def test_every_record_failed_between_handler_and_clean_fails_the_invocation() -> None:
    # raise_on_entire_batch_failure counts the failures _clean recorded too
    processor = LateFailures(poison={0}, refused={1, 2, 3})
    with pytest.raises(BatchProcessingError) as raised:
        run(small_event(), processor)
    assert [type(info[1]) for info in raised.value.child_exceptions] == [
        ValueError,
        NotTaken,
        NotTaken,
        NotTaken,
    ]

"""The Lambda handler: DynamoDB Streams records → change events → SNS, per state_id.

Entry point ``stream_processor.handler.lambda_handler`` for an event source
mapping with ``FunctionResponseTypes: [ReportBatchItemFailures]``.

Each invocation runs in two phases inside Powertools' batch processor: the
record handler turns every record into a change event and routes it (a
record that cannot be parsed fails alone); then, before the processor builds
its response, the events go out with PublishBatch per topic in stream order,
and the records whose notifications SNS did not take are reported failed
through Powertools' ``failure_handler``. Lambda checkpoints at the lowest
failed sequence number and redelivers from there.

Powertools and the SNS client are loaded here only: this module is the
Lambda's, and the client is built once per cold start (on first use).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from lava_state import aws
from lava_state.errors import ChangeNotPublished, LavaStateError, MalformedStreamRecord
from lava_state.naming import realm_topic_name, topic_name
from stream_processor.config import ProcessorSettings
from stream_processor.publish import Outgoing, TopicPublisher, build_outgoing
from stream_processor.records import StreamSource, change_event
from stream_processor.tracing import Tracer, make_tracer

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.batch import ExceptionInfo, FailureResponse
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
        DynamoDBRecord,
    )
    from mypy_boto3_sns import SNSClient

    from lava_state.events import ChangeEvent

logger = Logger(service="lava-state-stream-processor")


class StreamProcessor:
    """Turns stream batches into SNS notifications. One per cold start; clients injected.

    ``handle(event, context)`` is the Lambda handler's body.
    """

    def __init__(
        self,
        *,
        sns: SNSClient | None = None,
        settings: ProcessorSettings | None = None,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Raises ConfigurationError for unusable settings (read from env when not given)."""
        self.settings = settings if settings is not None else ProcessorSettings.from_env()
        self.sns: SNSClient = sns if sns is not None else aws.get_client("sns")
        self.tracer = tracer if tracer is not None else make_tracer(self.settings.tracing)
        self.publisher = TopicPublisher(
            sns=self.sns, missing_topic_ttl=self.settings.missing_topic_ttl, clock=clock
        )
        self._sources: dict[str, StreamSource] = {}

    def source(self, event_source_arn: str) -> StreamSource:
        """The realm and topic ARN prefix of a stream, parsed once per ARN.

        Raises:
            ConfigurationError: not a lava state table's stream.
        """
        source = self._sources.get(event_source_arn)
        if source is None:
            source = StreamSource.from_arn(event_source_arn, realm=self.settings.realm)
            self._sources[event_source_arn] = source
        return source

    def topic_arns(self, source: StreamSource, state_id: str) -> tuple[str, ...]:
        """Where a change of ``state_id`` goes: its own topic, then the realm topic if any."""
        return _topic_arns(
            source.topic_arn_prefix,
            source.realm,
            state_id,
            self.settings.fifo,
            self.settings.realm_topic,
        )

    def handle(self, event: dict[str, Any], context: Any = None) -> PartialItemFailureResponse:
        """Process one batch; returns ``{"batchItemFailures": [...]}``.

        Raises:
            BatchProcessingError: every record failed (Lambda then retries or
                bisects the batch and finally sends it to the on-failure destination).
        """
        batch = _ChangeBatch(self)
        with self.tracer.span("lava-state.batch") as span:
            try:
                return process_partial_response(
                    event=event,
                    record_handler=batch.record_handler,
                    processor=batch,
                    context=context,
                )
            finally:
                span.annotate("realm", batch.realm or "")
                span.annotate("count", batch.seen)
                span.annotate("failures", batch.failed)
                logger.info(
                    "batch processed",
                    extra={
                        "realm": batch.realm,
                        "records": batch.seen,
                        "changes": batch.changes,
                        "failed": batch.failed,
                        "sns_calls": batch.sns_calls,
                        "missing_topics": batch.missing_topics,
                    },
                )


@lru_cache(maxsize=4096)
def _topic_arns(
    prefix: str, realm: str, state_id: str, fifo: bool, realm_topic: bool
) -> tuple[str, ...]:
    own = prefix + topic_name(realm, state_id, fifo=fifo)
    if realm_topic:
        return (own, prefix + realm_topic_name(realm, fifo=fifo))
    return (own,)


class _ChangeBatch(BatchProcessor):
    """One invocation: the record handler routes, ``_clean`` publishes, then Powertools reports.

    Only Powertools' public hooks are used: the record handler's exception and
    ``failure_handler`` record a failure, and the ``_clean`` hook (Powertools'
    documented extension point, run once after the last record) publishes
    before Powertools builds the response. The counters for logs and spans are
    our own; Powertools' bookkeeping lists are never read or written here.
    """

    def __init__(self, processor: StreamProcessor) -> None:
        super().__init__(EventType.DynamoDBStreams, raise_on_entire_batch_failure=True)
        self._processor = processor
        # Every record the handler saw, by position in the batch (stream order).
        self._seen: list[DynamoDBRecord] = []
        self._events: dict[int, ChangeEvent] = {}
        # Insertion order puts every per-id topic before the realm topic: see _publish.
        self._by_topic: dict[str, list[Outgoing]] = {}
        self._realm_topics: dict[str, list[Outgoing]] = {}
        self.realm: str | None = None
        self.changes = 0
        self.failed = 0
        self.sns_calls = 0
        self.missing_topics = 0

    @property
    def seen(self) -> int:
        """How many records the record handler was given."""
        return len(self._seen)

    def record_handler(self, record: DynamoDBRecord) -> None:
        """Parse and route one record; raising marks it failed (and only it)."""
        raw = record.raw_event
        position = len(self._seen)
        self._seen.append(record)
        processor = self._processor
        try:
            source = processor.source(str(raw.get("eventSourceARN", "")))
            self.realm = source.realm
            event = change_event(raw, realm=source.realm)
            if event is None:
                return  # a key-only image: nothing to notify
            outgoing = build_outgoing(event, position=position, fifo=processor.settings.fifo)
        except LavaStateError as exc:
            sequence = exc.sequence if isinstance(exc, MalformedStreamRecord) else None
            logger.error(
                "poison record: reported as failed",
                extra={
                    "sequence": sequence or _sequence(raw),
                    "event_id": raw.get("eventID"),
                    "reason": str(exc),
                },
            )
            raise
        self.changes += 1
        self._events[position] = event
        topics = processor.topic_arns(source, event.state_id)
        self._by_topic.setdefault(topics[0], []).append(outgoing)
        for topic in topics[1:]:
            self._realm_topics.setdefault(topic, []).append(outgoing)
        if logger.log_level <= logging.INFO:  # skip building the extra dict otherwise
            # Never the value: it may be large, and is the publisher's business.
            logger.info(
                "change routed",
                extra={
                    "state_id": event.state_id,
                    "event": event.kind.value,
                    "sequence": event.sequence,
                    "version": event.version,
                },
            )

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        """Count every failure, the record handler's and _publish's alike, then record it."""
        self.failed += 1
        return super().failure_handler(record, exception)

    def _clean(self) -> None:
        # Publish first: the failures it records must be in before Powertools
        # builds the response (or raises for an entirely failed batch).
        self._publish()
        super()._clean()  # type: ignore[no-untyped-call]  # Powertools leaves _clean unannotated

    def _publish(self) -> None:
        """Publish every routed change; report the records SNS did not take as failed."""
        processor = self._processor
        failed_from: dict[str, int] = {}
        failures: dict[int, ChangeNotPublished] = {}
        # Per-id topics first: a failure there holds back later changes of the
        # id on the realm topic too (failed_from), so none overtakes it.
        for topic, outgoing in (*self._by_topic.items(), *self._realm_topics.items()):
            with processor.tracer.span("lava-state.publish") as span:
                result = processor.publisher.publish(topic, outgoing, failed_from=failed_from)
                span.annotate("topic", topic.rsplit(":", 1)[-1])
                span.annotate("count", len(outgoing))
                span.annotate("failures", len(result.failures))
                span.annotate("missing", result.missing)
            self.sns_calls += result.calls
            self.missing_topics += result.missing
            for position, exc in result.failures.items():
                failures.setdefault(position, exc)
        # A change whose earlier change of the same id failed is held back (so
        # reported failed) on every topic it was not yet sent to. One sent
        # everywhere is not reported: Lambda redelivers from the lowest failed
        # sequence number anyway, and consumers drop it by sequence.
        for position in sorted(failures):
            exc, event = failures[position], self._events[position]
            logger.warning(
                "change not published: reported as failed",
                extra={
                    "state_id": event.state_id,
                    "event": event.kind.value,
                    "sequence": event.sequence,
                    "aws_code": exc.aws_code,
                    "reason": str(exc),
                },
            )
            # The traceback is the one the publisher raised it with, or None
            # for an entry SNS refused (built, never raised): both are valid
            # exc_info for Powertools.
            self.failure_handler(self._seen[position], (type(exc), exc, exc.__traceback__))


def _sequence(raw: dict[str, Any]) -> str | None:
    dynamodb = raw.get("dynamodb")
    return dynamodb.get("SequenceNumber") if isinstance(dynamodb, dict) else None


_processor: StreamProcessor | None = None


def get_processor() -> StreamProcessor:
    """The cold start's processor: settings from the environment, clients built once."""
    global _processor  # noqa: PLW0603 - one per cold start, by design
    if _processor is None:
        _processor = StreamProcessor()
    return _processor


def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The Lambda entry point (ReportBatchItemFailures response).

    Raises:
        BatchProcessingError: every record of the batch failed.
        ConfigurationError: the environment's settings cannot be used.
    """
    logger.append_keys(aws_request_id=getattr(context, "aws_request_id", None))
    return get_processor().handle(event, context)

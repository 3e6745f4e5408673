"""The DynamoDB Streams → SNS fan-out Lambda (see ``stream_processor.handler``)."""

from __future__ import annotations

from stream_processor.config import ProcessorSettings
from stream_processor.handler import StreamProcessor, get_processor, lambda_handler
from stream_processor.publish import TopicPublisher, message_group_id
from stream_processor.records import StreamSource, change_event
from stream_processor.tracing import NoopTracer, OtelTracer, Tracer, XRayTracer, make_tracer

__all__ = [
    "NoopTracer",
    "OtelTracer",
    "ProcessorSettings",
    "StreamProcessor",
    "StreamSource",
    "TopicPublisher",
    "Tracer",
    "XRayTracer",
    "change_event",
    "get_processor",
    "lambda_handler",
    "make_tracer",
    "message_group_id",
]

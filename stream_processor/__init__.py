"""The DynamoDB Streams → SNS fan-out Lambda (see ``stream_processor.handler``)."""

from __future__ import annotations

__all__: list[str] = []

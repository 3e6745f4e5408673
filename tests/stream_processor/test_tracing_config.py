"""Tracing backends and the processor's settings."""

from __future__ import annotations

from typing import Any

import pytest

from lava_state import ConfigurationError
from stream_processor import NoopTracer, ProcessorSettings, XRayTracer, make_tracer

from .conftest import clone


class CollectingEmitter:
    """An X-Ray emitter that keeps the segments instead of sending them to a daemon."""

    def __init__(self) -> None:
        self.segments: list[Any] = []

    def send_entity(self, entity: Any) -> None:
        self.segments.append(entity)

    def set_daemon_address(self, address: str) -> None:
        """No daemon."""


def test_xray_spans_per_batch_and_per_topic_carry_annotations(
    load_event: Any, subscribe_id: Any, make_processor: Any, realm: str
) -> None:
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    # The SDK opens a UDP socket per recorder (one at import); nothing here sends
    # on them, and an unclosed socket is a ResourceWarning at exit.
    xray_recorder.emitter._socket.close()
    emitter = CollectingEmitter()
    recorder = AWSXRayRecorder()
    recorder.emitter._socket.close()
    recorder.configure(emitter=emitter, sampling=False, context_missing="IGNORE_ERROR")
    subscribe_id("sid")
    processor = make_processor()
    processor.tracer = XRayTracer(recorder)
    processor.handle(clone(load_event("stream_poison.json")))
    (segment,) = emitter.segments
    assert segment.name == "lava-state.batch"
    assert segment.annotations == {"realm": realm, "count": 5, "failures": 2}
    publishes = [s for s in segment.subsegments if s.name == "lava-state.publish"]
    assert len(publishes) == 3  # good-1, good-2, good-3 each have a topic
    assert {s.annotations["topic"] for s in publishes} >= {f"lava-state-{realm}-good-1"}
    assert all(s.annotations["count"] == 1 for s in publishes)


def test_tracing_is_off_outside_lambda_and_xray_inside_when_active() -> None:
    assert isinstance(make_tracer("auto", {}), NoopTracer)
    inside = {"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000"}
    assert isinstance(make_tracer("auto", inside), XRayTracer)
    assert isinstance(make_tracer("auto", {"AWS_LAMBDA_FUNCTION_NAME": "f"}), NoopTracer)
    with pytest.raises(ConfigurationError, match="tracing mode"):
        make_tracer("jaeger", {})


def test_settings_from_env() -> None:
    settings = ProcessorSettings.from_env(
        {
            "LAVA_REALM": "prod",
            "LAVA_STATE_REALM_TOPIC": "true",
            "LAVA_STATE_FIFO_TOPICS": "1",
            "LAVA_STATE_MISSING_TOPIC_TTL": "5",
            "LAVA_STATE_TRACING": "off",
        }
    )
    assert settings == ProcessorSettings(
        realm="prod", realm_topic=True, fifo=True, missing_topic_ttl=5.0, tracing="off"
    )
    assert ProcessorSettings.from_env({}) == ProcessorSettings()
    with pytest.raises(ConfigurationError, match="LAVA_STATE_FIFO_TOPICS"):
        ProcessorSettings.from_env({"LAVA_STATE_FIFO_TOPICS": "maybe"})
    with pytest.raises(ConfigurationError, match="LAVA_STATE_MISSING_TOPIC_TTL"):
        ProcessorSettings.from_env({"LAVA_STATE_MISSING_TOPIC_TTL": "soon"})
    with pytest.raises(ConfigurationError, match="LAVA_STATE_TRACING"):
        ProcessorSettings.from_env({"LAVA_STATE_TRACING": "jaeger"})

"""Tracing backends and the processor's settings."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from lava_state import ConfigurationError
from stream_processor import NoopTracer, ProcessorSettings, XRayTracer, make_tracer
from stream_processor.tracing import AutoTracer

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
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    # The SDK opens a UDP socket per recorder; nothing here sends on this one,
    # and an unclosed socket is a ResourceWarning. The global recorder's socket
    # is left alone: later code may still use it.
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


def test_auto_traces_with_xray_only_the_invocations_lambda_samples() -> None:
    env: dict[str, str] = {}
    tracer = make_tracer("auto", env)
    assert isinstance(tracer, AutoTracer)
    assert isinstance(tracer.current(), NoopTracer)  # outside Lambda
    # Lambda always sets the daemon address: it does not mean "sampled".
    env.update({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"})
    assert isinstance(tracer.current(), NoopTracer)
    env["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f;Sampled=0"
    assert isinstance(tracer.current(), NoopTracer)
    env["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f;Sampled=1"
    assert isinstance(tracer.current(), XRayTracer)
    # the next invocation, not sampled
    env["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272794;Sampled=0"
    assert isinstance(tracer.current(), NoopTracer)
    with pytest.raises(ConfigurationError, match="tracing mode"):
        make_tracer("jaeger", {})


def test_otel_without_the_api_warns_once_and_traces_nothing(
    monkeypatch: Any, caplog: Any, load_event: Any, make_processor: Any
) -> None:
    from stream_processor import tracing

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails
    monkeypatch.setattr(tracing, "_warned_no_otel", False)
    with caplog.at_level(logging.WARNING, logger="stream_processor.tracing"):
        first, second = make_tracer("otel", {}), make_tracer("otel", {})
    assert isinstance(first, NoopTracer) and isinstance(second, NoopTracer)
    warnings = [r for r in caplog.records if r.name == "stream_processor.tracing"]
    assert len(warnings) == 1
    assert "OpenTelemetry" in warnings[0].getMessage()
    # and processing goes on
    processor = make_processor(tracing="otel")
    assert processor.handle(clone(load_event("stream_changes.json"))) == {"batchItemFailures": []}


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

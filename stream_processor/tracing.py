"""Tracing behind one small interface: AWS X-Ray SDK, OpenTelemetry, or nothing.

The handler opens a span per batch and per topic publish and annotates them
(realm, counts, failures). The backend is chosen once per cold start by
``LAVA_STATE_TRACING``:

- ``auto`` (default): per invocation, X-Ray inside Lambda when the
  invocation's ``_X_AMZN_TRACE_ID`` says ``Sampled=1`` (active tracing on and
  the request sampled), otherwise off, so tests and the local stack pay
  nothing. ``AWS_XRAY_DAEMON_ADDRESS`` alone decides nothing: Lambda always
  sets it;
- ``xray``: the AWS X-Ray SDK for Python. It is in maintenance mode since
  2026-02-25 and reaches end of support on 2027-02-25; AWS recommends
  OpenTelemetry;
- ``otel``: the OpenTelemetry API (``pip install 'lava-state[otel]'`` and
  configure an SDK/exporter, e.g. the ADOT Lambda layer). Without the API
  installed a warning is logged once and nothing is traced: tracing never
  stops processing;
- ``off``.

The SDKs are imported only when selected: they cost cold-start time.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from lava_state.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

AnnotationValue = str | int | float | bool
LOG = logging.getLogger(__name__)
_TRACE_ID_ENV = "_X_AMZN_TRACE_ID"
_warned_no_otel = False


class Span(Protocol):
    """A span or subsegment that takes annotations."""

    def annotate(self, key: str, value: AnnotationValue) -> None:
        """Record an indexed key/value on the span."""


class Tracer(Protocol):
    """Opens spans."""

    name: str

    def span(self, name: str) -> AbstractContextManager[Span]:
        """A span named ``name`` around the block."""


class _NoSpan:
    def annotate(self, key: str, value: AnnotationValue) -> None:
        """Nothing to record."""


class NoopTracer:
    """Tracing off: spans cost one context manager."""

    name = "off"
    _SPAN = _NoSpan()

    def span(self, name: str) -> AbstractContextManager[Span]:
        """A span that records nothing."""
        return nullcontext(self._SPAN)


class _XRaySpan:
    def __init__(self, entity: Any) -> None:
        self._entity = entity

    def annotate(self, key: str, value: AnnotationValue) -> None:
        self._entity.put_annotation(key, value)


class XRayTracer:
    """AWS X-Ray SDK subsegments (a segment when there is none, e.g. outside Lambda)."""

    name = "xray"

    def __init__(self, recorder: Any = None) -> None:
        if recorder is None:
            from aws_xray_sdk.core import xray_recorder

            recorder = xray_recorder
        self.recorder = recorder

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        """A subsegment of the current segment (Lambda's facade segment in Lambda)."""
        context = self.recorder.context
        has_entity = context is not None and context.get_trace_entity() is not None
        opener = self.recorder.in_subsegment if has_entity else self.recorder.in_segment
        with opener(name) as entity:
            yield _XRaySpan(entity) if entity is not None else _NoSpan()


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def annotate(self, key: str, value: AnnotationValue) -> None:
        self._span.set_attribute(f"lava_state.{key}", value)


class OtelTracer:
    """OpenTelemetry spans (the API only; the exporter is the deployment's choice)."""

    name = "otel"

    def __init__(self, tracer: Any = None) -> None:
        if tracer is None:
            try:
                from opentelemetry import trace
            except ImportError as exc:
                raise ConfigurationError(
                    "LAVA_STATE_TRACING=otel needs the OpenTelemetry API: "
                    "pip install 'lava-state[otel]'"
                ) from exc
            tracer = trace.get_tracer("lava-state.stream_processor")
        self._tracer = tracer

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        """A span of the current trace."""
        with self._tracer.start_as_current_span(name) as span:
            yield _OtelSpan(span)


def sampled(trace_header: str | None) -> bool:
    """True when an X-Ray trace header (``Root=...;Parent=...;Sampled=1``) is sampled."""
    if not trace_header:
        return False
    return any(part.strip() == "Sampled=1" for part in trace_header.split(";"))


class AutoTracer:
    """X-Ray for the invocations Lambda samples (``_X_AMZN_TRACE_ID``), nothing otherwise.

    Lambda sets the trace header per invocation, so the choice is made per span.
    """

    name = "auto"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ
        self._xray: XRayTracer | None = None
        self._off = NoopTracer()

    def current(self) -> Tracer:
        """The tracer of the current invocation."""
        if "AWS_LAMBDA_FUNCTION_NAME" not in self._env or not sampled(self._env.get(_TRACE_ID_ENV)):
            return self._off
        if self._xray is None:
            self._xray = XRayTracer()  # the SDK is imported on the first sampled invocation
        return self._xray

    def span(self, name: str) -> AbstractContextManager[Span]:
        """A span of the current invocation's tracer."""
        return self.current().span(name)


def make_tracer(mode: str, environ: Mapping[str, str] | None = None) -> Tracer:
    """The tracer for a ``LAVA_STATE_TRACING`` mode (see the module docstring).

    ``otel`` without the OpenTelemetry API logs a warning (once) and traces nothing.

    Raises:
        ConfigurationError: an unknown mode.
    """
    global _warned_no_otel  # noqa: PLW0603 - one warning per process
    env = os.environ if environ is None else environ
    if mode == "auto":
        return AutoTracer(env)
    if mode == "off":
        return NoopTracer()
    if mode == "xray":
        return XRayTracer()
    if mode == "otel":
        try:
            return OtelTracer()
        except ConfigurationError as exc:
            if not _warned_no_otel:
                _warned_no_otel = True
                LOG.warning("%s; tracing is off", exc)
            return NoopTracer()
    raise ConfigurationError(f"tracing mode {mode!r}: use auto, xray, otel or off")

"""OpenTelemetry: a SERVER span per API RPC (parented by the caller's W3C traceparent) and a CLIENT span per
upstream call, whose traceparent goes to TaskRouter.

With tracing off (PassThrough) an incoming traceparent is still forwarded unchanged, without spans.
Spans are off unless OTEL_TRACES_EXPORTER names an exporter (otlp: OTLP over HTTP/protobuf, configured by the usual
OTEL_EXPORTER_OTLP_* variables; console). OTEL_TRACES_SAMPLER and OTEL_SERVICE_NAME work as the SDK defines.
The spans are started here by hand rather than by opentelemetry-instrumentation-grpc (an aio server
interceptor, awaited on every call) or -aiohttp-client (trace hooks on every request of the shared session):
see docs/security-and-observability.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = structlog.get_logger("taskrouter_gateway.tracing")

_TRACE_KEYS = ("traceparent", "tracestate")


class TracingConfigError(ValueError):
    """OTEL_* variables ask for something this build cannot do."""


def provider_from_env(environ: Mapping[str, str]) -> TracerProvider | None:
    """A TracerProvider with the exporters OTEL_TRACES_EXPORTER names; None when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    names = [n for n in names if n != "none"]
    if not names:
        return None
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            if protocol and protocol != "http/protobuf":
                log.warning("only OTLP over http/protobuf is built in; using it", requested=protocol)
            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        else:
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (use otlp, console or none)")
    provider = TracerProvider(resource=Resource.create({"service.name": "taskrouter-gateway"}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


# Tracing off: the caller's trace headers, passed on to TaskRouter unchanged (as OpenTelemetry's no-op API
# does). Each grpc.aio RPC runs in its own context copy, so this ends with the RPC.
_incoming: ContextVar[dict[str, str] | None] = ContextVar("taskrouter_gateway_trace_headers", default=None)


class PassThrough:
    """No spans, no SDK: an incoming traceparent/tracestate is forwarded upstream as it came."""

    def start_rpc(self, method: str, metadata: Iterable[tuple[str, Any]] | None) -> None:
        headers = None
        for key, value in metadata or ():
            if key in _TRACE_KEYS and isinstance(value, str):
                if headers is None:
                    headers = {}
                headers[key] = value
        _incoming.set(headers)

    def end_rpc(self, span: Any, code: str) -> None:
        pass

    def start_upstream(self, method: str, path: str) -> tuple[None, dict[str, str]]:
        incoming = _incoming.get()
        return None, dict(incoming) if incoming else {}

    def end_upstream(self, span: Any, status: int | None) -> None:
        pass

    def shutdown(self) -> None:
        pass


class Tracing:
    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("taskrouter_gateway")
        self._propagator = TraceContextTextMapPropagator()

    def start_rpc(self, method: str, metadata: Iterable[tuple[str, Any]] | None) -> Any:
        """Starts the RPC's span and makes it current for the rest of the RPC's task (each grpc.aio RPC has its
        own context copy, so nothing needs detaching)."""
        carrier = {key: value for key, value in metadata or () if key in _TRACE_KEYS}
        parent = self._propagator.extract(carrier) if carrier else None
        service, _, name = method[1:].partition("/")
        span = self.tracer.start_span(
            method[1:],
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        otel_context.attach(trace.set_span_in_context(span, parent))
        return span

    def end_rpc(self, span: Any, code: str) -> None:
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code)
            if code != "OK":
                span.set_status(Status(StatusCode.ERROR, code))
        span.end()

    def start_upstream(self, method: str, path: str) -> tuple[Any, dict[str, str]]:
        """A CLIENT span under the current RPC span (None when the RPC is not sampled), and the headers that
        carry the trace to TaskRouter."""
        headers: dict[str, str] = {}
        if not trace.get_current_span().is_recording():
            # Sampled out: a child would record nothing either. Pass the RPC's own (unsampled) context on,
            # so the trace id still travels, without a second span and sampler call per upstream request.
            self._propagator.inject(headers)
            return None, headers
        span = self.tracer.start_span(
            method, kind=SpanKind.CLIENT, attributes={"http.request.method": method, "url.path": path}
        )
        self._propagator.inject(headers, context=trace.set_span_in_context(span))
        return span, headers

    def end_upstream(self, span: Any, status: int | None) -> None:
        if span.is_recording():
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if status is None or status >= 400:
                span.set_status(Status(StatusCode.ERROR))
        span.end()

    def shutdown(self) -> None:
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()

"""The gateway's steps, and their order in one place (gateway_pipeline).

A step that is switched off (no auth file, no admin port) is left out of the chain rather than checked per
call.
"""

from __future__ import annotations

import time

from .. import rpc_logging
from ..auth import AccessDenied, AuthPolicy, authorize
from ..cached_logger import CachedLogger
from ..metrics import GatewayMetrics
from ..reads.keys import caller as reads_caller
from ..scopes import WRITE
from ..tracing import PassThrough, Tracing
from .chain import Call, Method, Pipeline, Step

audit_log = CachedLogger("taskrouter_gateway.audit")


def gateway_pipeline(
    *, auth: AuthPolicy | None, metrics: GatewayMetrics | None, tracing: Tracing | PassThrough
) -> Pipeline:
    """Outermost first: the span covers the whole call; metrics and audit record the outcome; the log
    binds rpc_method and request_id; the caller check runs last before the handler, so a refusal is
    logged, counted, audited and traced like any other outcome. Ends run in reverse: the "rpc" line,
    then metrics, the audit line, and the span ends last."""
    steps: list[Step] = [TracingStep(tracing), AuditStep()]
    if metrics is not None:
        steps.append(MetricsStep(metrics))
    steps.append(LoggingStep())
    if auth is not None:
        steps.append(AuthStep(auth))
    return Pipeline(steps)


class TracingStep(Step):
    """A SERVER span per RPC, parented by the caller's traceparent (tracing.py)."""

    def __init__(self, tracing: Tracing | PassThrough) -> None:
        self.tracing = tracing

    def begin(self, call: Call) -> None:
        call.span = self.tracing.start_rpc(call.method.name, call.context.invocation_metadata())

    def end(self, call: Call) -> None:
        if call.span is not None:
            self.tracing.end_rpc(call.span, call.code)


class AuditStep(Step):
    """One line per write RPC. Only sids and names: request fields with PII are never read here."""

    def applies_to(self, method: Method) -> bool:
        return method.scope == WRITE

    def end(self, call: Call) -> None:
        request, response = call.request, call.response
        workspace_sid = getattr(request, "workspace_sid", "") or getattr(response, "workspace_sid", "") or ""
        resource_sid = getattr(request, "sid", "") or getattr(response, "sid", "") or ""
        if not workspace_sid and resource_sid.startswith("WS"):
            workspace_sid = resource_sid  # CreateWorkspace: the new workspace is the resource
        # rpc_method and request_id come from the contextvars bound for the RPC.
        audit_log.get().info(
            "audit",
            caller=call.identity.name,
            workspace_sid=workspace_sid,
            resource_sid=resource_sid,
            code=call.code,
            denied=call.denied is not None,
        )


class MetricsStep(Step):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def end(self, call: Call) -> None:
        if call.method.streaming:
            # A stream's lifetime is not a latency: streams are counted, not timed.
            self.metrics.rpc(call.method.name, call.code, None)
            self.metrics.stream_closed(call.code)
        else:
            self.metrics.rpc(call.method.name, call.code, time.perf_counter() - call.started)


class LoggingStep(Step):
    """rpc_method and request_id bound for every line logged during the RPC; one "rpc" line per unary call,
    "stream opened" and "stream closed" lines per stream. Health and reflection RPCs do not come through
    the pipeline, so they are not logged: they are probes and tooling, not API traffic."""

    def begin(self, call: Call) -> None:
        rpc_logging.begin(call.method.name, call.context)
        if call.method.streaming:
            rpc_logging.log.get().info("stream opened")

    def end(self, call: Call) -> None:
        if call.method.streaming:
            rpc_logging.log.get().info("stream closed", code=call.code)
        else:
            rpc_logging.log_unary(call.code, call.started)


class AuthStep(Step):
    """Who is calling (auth.py), and whether they hold the RPC's scope for the request's workspace."""

    def __init__(self, auth: AuthPolicy) -> None:
        self.auth = auth

    def begin(self, call: Call) -> None:
        context = call.context
        try:
            call.identity = self.auth.authenticate(context.invocation_metadata(), context.auth_context)
            reads_caller.set(call.identity)  # reads are shared only among callers with the same rights
            authorize(call.identity, call.method.scope, getattr(call.request, "workspace_sid", None) or None)
        except AccessDenied as exc:
            call.denied = exc
            raise


__all__ = ["AuditStep", "AuthStep", "LoggingStep", "MetricsStep", "TracingStep", "gateway_pipeline"]

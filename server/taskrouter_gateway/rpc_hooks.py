"""What happens around every API RPC besides its log line: caller check, audit line, metrics, trace span.

Called from the servicer decorator (services.base.rpc) and logged_stream, not from a grpc.aio interceptor,
for the reason rpc_logging gives: grpc.aio awaits an interceptor on every call. Each part is None when
switched off, so a gateway with none of them pays a few attribute checks per RPC.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from . import errors
from .auth import ANONYMOUS, AccessDenied, AuthPolicy, Identity, authorize
from .cached_logger import CachedLogger
from .metrics import GatewayMetrics
from .scopes import EVENTS, WRITE, scope_of
from .tracing import PassThrough, Tracing

audit_log = CachedLogger("taskrouter_gateway.audit")


class RpcCall:
    """One RPC in flight: who called, the denial if any, its span, and when it started."""

    __slots__ = ("denied", "identity", "method", "scope", "span", "started")

    def __init__(self, method: str, scope: str) -> None:
        self.method = method
        self.scope = scope
        self.identity: Identity = ANONYMOUS
        self.denied: AccessDenied | None = None
        self.span: Any = None
        self.started = time.perf_counter()


class RpcHooks:
    def __init__(
        self,
        *,
        auth: AuthPolicy | None = None,
        metrics: GatewayMetrics | None = None,
        tracing: Tracing | PassThrough | None = None,
    ) -> None:
        self.auth = auth
        self.metrics = metrics
        self.tracing = tracing

    def begin(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> RpcCall:
        """Never raises: a refused caller comes back as call.denied, for the handler to raise where errors
        are mapped (so the refusal is counted, traced and audited like any other outcome)."""
        call = RpcCall(method, scope_of(method))
        if self.tracing is not None:
            call.span = self.tracing.start_rpc(method, context.invocation_metadata())
        if self.auth is not None:
            try:
                call.identity = self.auth.authenticate(context.invocation_metadata(), context.auth_context)
                authorize(call.identity, call.scope, getattr(request, "workspace_sid", None) or None)
            except AccessDenied as exc:
                call.denied = exc
        return call

    def end(self, call: RpcCall, code: str, request: Any, response: Any = None) -> None:
        if self.metrics is not None:
            # A stream's lifetime is not a latency: streams are counted, not timed.
            seconds = None if call.scope == EVENTS else time.perf_counter() - call.started
            self.metrics.rpc(call.method, code, seconds)
        if call.scope == WRITE:
            _audit(call, code, request, response)
        if call.span is not None:
            self.tracing.end_rpc(call.span, code)  # type: ignore[union-attr]

    async def deny(self, context: grpc.aio.ServicerContext, exc: AccessDenied) -> None:
        """For handlers outside services.base (StreamEvents): end the RPC with the refusal's status."""
        await errors.abort(context, errors.status_for(exc))

    def stream_closed(self, code: str) -> None:
        if self.metrics is not None:
            self.metrics.stream_closed(code)


def _audit(call: RpcCall, code: str, request: Any, response: Any) -> None:
    """One line per write RPC. Only sids and names: request fields with PII are never read here."""
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
        code=code,
        denied=call.denied is not None,
    )

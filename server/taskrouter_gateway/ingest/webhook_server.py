"""The webhook as a component: its settings, and an aiohttp server that listens for the `async with` block."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..settings_base import ConfigError, StartupError, check_at_least_one, check_port
from .ingestor import Ingestor
from .signature import SignatureVerifier
from .webhook import WebhookHandler, create_webhook_app, runner_options


@dataclass(frozen=True)
class WebhookSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/twilio/taskrouter/events"
    # The URL Twilio calls and signs, when the gateway sits behind a proxy or load balancer.
    public_url: str | None = None
    max_body: int = 64 * 1024

    def validate(self) -> None:
        check_port("webhook_port", self.port)
        if not self.path.startswith("/"):
            raise ConfigError("webhook_path must start with /")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("webhook_public_url must be an absolute http(s) URL")
        check_at_least_one("webhook_max_body", self.max_body)


class WebhookServer:
    """Verifies callbacks signed with `auth_token` and hands them to the ingestor; `url` is the URL Twilio is
    given (and signs), known once listening."""

    def __init__(self, settings: WebhookSettings, auth_token: str, ingestor: Ingestor, *,
                 shutdown_grace_seconds: float) -> None:
        self.settings = settings
        self._auth_token = auth_token
        self.handler = WebhookHandler(
            SignatureVerifier([auth_token], public_url=settings.public_url), ingestor, max_body=settings.max_body
        )
        # shutdown_timeout: in-flight callbacks get the same grace as RPCs (aiohttp's default is 60 s).
        self.runner = web.AppRunner(
            create_webhook_app(self.handler, settings.path), shutdown_timeout=shutdown_grace_seconds,
            **runner_options(),  # type: ignore[arg-type]
        )
        self.port = 0

    @property
    def url(self) -> str:
        if self.settings.public_url:
            return self.settings.public_url
        return f"http://{self.settings.host}:{self.port}{self.settings.path}"

    async def __aenter__(self) -> WebhookServer:
        await self.runner.setup()
        try:
            site = web.TCPSite(self.runner, self.settings.host, self.settings.port)
            try:
                await site.start()
            except OSError as exc:
                where = f"{self.settings.host}:{self.settings.port}"
                raise StartupError(f"cannot listen on {where} for the event webhook: {exc.strerror}") from None
        except BaseException:
            await self.runner.cleanup()
            raise
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        # Signatures are checked against the URL Twilio was given: the configured public URL, else the one
        # we listen on (and register). Never the Host header, which the caller chooses. No await since the
        # site started, so no request has been seen yet.
        self.handler.verifier = SignatureVerifier([self._auth_token], public_url=self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

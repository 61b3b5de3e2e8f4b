"""The app factory: one FastAPI app for both backends, following the request flow in DESIGN.md.

authenticate → validate → route → (recall, inject: the memory issue) → complete → respond. Only
"complete" differs between backends; errors at any step go through :mod:`proxy.errors`.
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from proxy import __version__
from proxy.backends.base import Backend
from proxy.config import Config, ConfigError, load_config
from proxy.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ModelNotFound,
    ProxyError,
    RouteNotFound,
    anthropic_envelope,
    openai_envelope,
    register_secrets,
    to_proxy_error,
)
from proxy.memory.router_mode import MemoryRouterMode
from proxy.memory.service import MemoryService, Recall
from proxy.requests import (
    ChatCompletionCall,
    parse_anthropic_messages,
    parse_chat_completion,
    read_json_object,
)
from proxy.routing import MemoryRouter, Route
from proxy.streaming import (
    answer_content,
    anthropic_sse_response,
    anthropic_text,
    peek,
    sse_response,
    tap_content,
)

__all__ = [
    "OVERHEAD_HEADER",
    "RECALL_HEADER",
    "UPSTREAM_HEADER",
    "USER_ID_HEADER",
    "app_from_environment",
    "create_app",
]

logger = logging.getLogger("proxy.app")

USER_ID_HEADER = "x-memory-user-id"
OVERHEAD_HEADER = "x-memory-proxy-overhead-ms"
UPSTREAM_HEADER = "x-memory-proxy-upstream-ms"
RECALL_HEADER = "x-memory-proxy-recall-ms"


def _envelope_for(request: Request) -> Any:
    return anthropic_envelope if request.url.path.startswith("/v1/messages") else openai_envelope


def _route_headers(request: Request) -> dict[str, str]:
    route: Route | None = getattr(request.state, "route", None)
    return {USER_ID_HEADER: route.user_id} if route else {}


def error_response(request: Request, error: ProxyError) -> JSONResponse:
    return JSONResponse(
        _envelope_for(request)(error),
        status_code=error.status,
        headers={**error.headers, **_route_headers(request)},
    )


class _ProxyRoute(APIRoute):
    """Turns any exception a handler raises into a ProxyError, answered by the ProxyError handler.

    An exception that reached Starlette's ServerErrorMiddleware would be answered, then re-raised into
    the server, which drops the client's keep-alive connection; mapping it here keeps the connection.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (ProxyError, StarletteHTTPException, RequestValidationError):
                raise
            except Exception as exc:
                raise to_proxy_error(exc) from exc

        return guarded


FORWARDED_HEADERS = ("anthropic-beta",)
"""Client headers the provider must see as well: Anthropic betas (Claude Code sends a long list)."""


@dataclass(frozen=True)
class _Surface:
    """What differs between the OpenAI and the Anthropic API surface; the flow itself is shared."""

    parse: Callable[..., ChatCompletionCall]
    inject: Callable[[MemoryService, dict[str, Any], Recall], dict[str, Any]]
    complete: Callable[[ChatCompletionCall], Awaitable[dict[str, Any]]]
    stream: Callable[[ChatCompletionCall], Awaitable[AsyncIterator[Any]]]
    answer_text: Callable[[dict[str, Any]], str]
    relay: Callable[[Any, AsyncIterator[Any], Callable[[str], None], dict[str, str]], Response]


def _inject_anthropic(memory: MemoryService, payload: dict[str, Any], recall: Recall) -> dict[str, Any]:
    """Anthropic keeps the system prompt out of ``messages``: "system" injection extends that field."""
    if memory.settings.injection_strategy != "system":
        return {**payload, "messages": memory.inject(payload["messages"], recall)}
    system = payload.get("system")
    if isinstance(system, list):
        return {**payload, "system": [*system, {"type": "text", "text": recall.context}]}
    if isinstance(system, str) and system:
        return {**payload, "system": f"{system}\n\n{recall.context}"}
    return {**payload, "system": recall.context}


def _install_error_handlers(app: FastAPI) -> None:
    async def on_proxy_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, to_proxy_error(exc))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, InvalidRequest(str(exc)))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(
                request, RouteNotFound(f"No route for {request.method} {request.url.path}.")
            )
        code = "method_not_allowed" if exc.status_code == 405 else None
        return error_response(request, InvalidRequest(str(exc.detail), status=exc.status_code, code=code))

    app.add_exception_handler(ProxyError, on_proxy_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_proxy_error)


def create_app(config: Config, backend: Backend, *, memory: MemoryService | None = None) -> FastAPI:
    """Build the app; the backend and the memory service are started and closed by its lifespan."""
    memory_router = MemoryRouter(config.user_id_mappings)
    memory = memory or MemoryService(config.context_retrieval)
    router_mode = MemoryRouterMode(config)
    register_secrets(*config.secrets)
    settings = config.memory_proxy
    auth_key = settings.auth_key

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await memory.start()
        try:
            await backend.start()
            try:
                yield
            finally:
                await backend.close()
        finally:
            await memory.close()  # after the backend: answers still in flight get their write-back queued

    app = FastAPI(
        title="litellm-memory-proxy",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.router.route_class = _ProxyRoute
    _install_error_handlers(app)

    async def require_proxy_key(request: Request) -> None:
        if auth_key is None:
            return
        presented = request.headers.get("x-api-key") or ""
        authorization = request.headers.get("authorization", "")
        if not presented and authorization.lower().startswith("bearer "):
            presented = authorization[7:].strip()
        if not secrets.compare_digest(presented.encode(), auth_key.encode()):
            raise AuthenticationFailed(
                "Invalid proxy API key: send it as 'Authorization: Bearer KEY' or 'x-api-key'."
            )

    def route_request(request: Request) -> Route:
        route = memory_router.route(request.headers)
        request.state.route = route
        return route

    api = APIRouter(dependencies=[Depends(require_proxy_key)], route_class=_ProxyRoute)

    async def complete(request: Request, surface: _Surface) -> Any:
        """The request flow shared by both API surfaces: route, validate, recall, complete, remember."""
        started = time.perf_counter()
        route = route_request(request)  # first, so even a rejected body is answered with the user id
        body = await read_json_object(request, max_bytes=settings.max_body_bytes)
        call = surface.parse(body, user_id=route.user_id)
        call.headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        if not backend.has_model(call.model):
            raise ModelNotFound(
                f"The model '{call.model}' does not exist; GET /v1/models lists the available ones.",
                param="model",
            )
        messages = call.payload["messages"]
        recall_started = time.perf_counter()
        if call.model in router_mode.models:
            recall = Recall("skipped", "the Supermemory Memory Router handles memory for this model")
        else:
            recall = await memory.recall(route.user_id, call.model, messages)
            if recall.context:
                call.payload = surface.inject(memory, call.payload, recall)

        def remember(answer_text: str) -> None:
            memory.remember_later(route.user_id, call.model, messages, answer_text)

        upstream_started = time.perf_counter()
        if call.stream:
            parts = await surface.stream(call)
            first = await peek(parts)  # up to here, the time is the backend's (or the provider's)
        else:
            answer = await surface.complete(call)
            remember(surface.answer_text(answer))
        finished = time.perf_counter()
        headers = {
            USER_ID_HEADER: route.user_id,
            **recall.headers,
            # The proxy's own time before the answer starts (recall included), without the provider's.
            OVERHEAD_HEADER: f"{(upstream_started - started) * 1000:.2f}",
            RECALL_HEADER: f"{(upstream_started - recall_started) * 1000:.2f}",
            UPSTREAM_HEADER: f"{(finished - upstream_started) * 1000:.2f}",
        }
        if call.stream:
            return surface.relay(first, parts, remember, headers)
        return JSONResponse(answer, headers=headers)

    chat_surface = _Surface(
        parse=parse_chat_completion,
        inject=lambda memory, payload, recall: {
            **payload,
            "messages": memory.inject(payload["messages"], recall),
        },
        complete=backend.chat,
        stream=backend.chat_stream,
        answer_text=answer_content,
        relay=lambda first, parts, remember, headers: sse_response(
            first,
            tap_content(parts, on_complete=remember, first=first),
            envelope=openai_envelope,
            headers=headers,
        ),
    )
    messages_surface = _Surface(
        parse=parse_anthropic_messages,
        inject=_inject_anthropic,
        complete=backend.messages,
        stream=backend.messages_stream,
        answer_text=anthropic_text,
        relay=lambda first, parts, remember, headers: anthropic_sse_response(
            first, parts, on_complete=remember, headers=headers
        ),
    )

    @api.post("/v1/chat/completions")
    @api.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await complete(request, chat_surface)

    @api.post("/v1/messages")
    async def messages(request: Request) -> Any:
        return await complete(request, messages_surface)

    @api.post("/v1/messages/count_tokens")
    async def count_tokens(request: Request) -> Any:
        route_request(request)
        raise RouteNotFound(
            "Token counting (/v1/messages/count_tokens) is not available through this proxy; "
            "the answer's usage field reports the tokens of each request."
        )

    @api.get("/v1/models")
    @api.get("/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": await backend.list_models()}

    @api.get("/memory-routing/info")
    async def memory_routing_info(request: Request) -> JSONResponse:
        route = route_request(request)
        return JSONResponse(route.as_info(), headers={USER_ID_HEADER: route.user_id})

    app.include_router(api)

    @app.api_route("/", methods=["GET", "HEAD"])
    async def root() -> dict[str, Any]:
        """Claude Code probes its base URL with ``HEAD /`` before the first request."""
        return {"status": "ok", "service": "litellm-memory-proxy"}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "backend": backend.name, "version": __version__}

    @app.get("/health/readiness")
    async def readiness() -> JSONResponse:
        ready = await backend.ready()
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "backend": backend.name},
            status_code=200 if ready else 503,
        )

    return app


def app_from_environment(backend_type: Callable[[Config], Backend]) -> FastAPI:
    """The app for ``uvicorn proxy.sdk:app`` / ``proxy.binary:app``: config from the environment, and a
    bad config reported in one line and exit code 2 rather than an import traceback."""
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_app(config, backend_type(config))

"""The HTTP surface, as data: each path and the function that answers it.

Endpoints find the app's :class:`~proxy.flow.Flow` on ``request.app.state.flow``. The API routes sit
behind the flow's ``authenticate`` (when ``memory_proxy.auth_key`` is set); the probes (``/``,
``/health``) never do, so a load balancer and Claude Code's ``HEAD /`` need no key.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import Request

from proxy import __version__
from proxy.call import Api
from proxy.error_responses import error_response
from proxy.errors import anthropic_envelope, openai_envelope, to_proxy_error
from proxy.flow import USER_ID_HEADER, flow_of
from proxy.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from proxy.requests import CountTokensShape, EmbeddingsShape
from proxy.surfaces import CHAT, MESSAGES, RESPONSES

__all__ = [
    "API_ROUTES",
    "PROBE_ROUTES",
    "Endpoint",
    "chat_completions",
    "count_tokens",
    "embeddings",
    "health",
    "memory_routing_info",
    "memory_status",
    "messages",
    "metrics",
    "models",
    "readiness",
    "responses",
    "root",
]


async def chat_completions(request: Request) -> Response:
    return await flow_of(request).handle(request, CHAT)


async def messages(request: Request) -> Response:
    return await flow_of(request).handle(request, MESSAGES)


async def responses(request: Request) -> Response:
    return await flow_of(request).handle(request, RESPONSES)


async def count_tokens(request: Request) -> Response:
    """Anthropic's token counting, forwarded through LiteLLM (Claude Code asks it)."""
    return await flow_of(request).forward(request, Api.COUNT_TOKENS, CountTokensShape, anthropic_envelope)


async def embeddings(request: Request) -> Response:
    """OpenAI embeddings, forwarded through LiteLLM."""
    return await flow_of(request).forward(request, Api.EMBEDDINGS, EmbeddingsShape, openai_envelope)


async def models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": flow_of(request).catalog.listing()}


async def memory_routing_info(request: Request) -> JSONResponse:
    """Who the caller is and which memory it reads and writes; ``POST`` a completion body to see the
    project the proxy derives from it (``GET`` sees only the headers)."""
    flow = flow_of(request)
    identity = flow.identify(request)
    try:
        payload = await flow.read_body(request) if request.method == "POST" else None
        person = flow.person_of(request)
        scope = flow.scopes.resolve(identity, request.headers, payload, person)
    except Exception as exc:
        return error_response(to_proxy_error(exc), CHAT.envelope, {USER_ID_HEADER: identity.user_id})
    info = {**identity.as_info(), **scope.as_info()}
    if flow.key.for_people:  # whose memory the key names, on a proxy with a key per person
        info["key_owner"] = person.name
    return JSONResponse(info, headers={USER_ID_HEADER: identity.user_id})


async def root() -> dict[str, Any]:
    """Claude Code probes its base URL with ``HEAD /`` before the first request."""
    return {"status": "ok", "service": "litellm-memory-proxy"}


async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "backend": flow_of(request).backend.name, "version": __version__}


async def readiness(request: Request) -> JSONResponse:
    """Ready when the backend can serve and the memory store can be used (a broken store would quietly
    turn the proxy into one without memory). A store that refuses writes while it can be opened (a full
    disk) leaves the proxy ready, saying ``memory degraded: N waiting`` until the waiting ones are in."""
    flow = flow_of(request)
    backend_ready = await flow.backend.ready()
    memory_problem = await flow.memory.problem()
    ready = backend_ready and memory_problem is None
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "backend": flow.backend.name}
    if not backend_ready:
        body["backend_problem"] = "the backend cannot serve requests yet"
    if memory_problem is not None:
        body["memory_problem"] = memory_problem
    if flow.memory.degraded is not None:
        body["memory_degraded"] = flow.memory.degraded
    return JSONResponse(body, status_code=200 if ready else 503)


async def memory_status(request: Request) -> dict[str, Any]:
    """The memory store and what write-back has done: stored, batches, failed, dropped, pending."""
    return flow_of(request).memory.status()


async def metrics(request: Request) -> Response:
    """Prometheus' text format (:mod:`proxy.metrics`)."""
    return Response(await flow_of(request).metrics.render(), headers={"content-type": METRICS_CONTENT_TYPE})


Endpoint = tuple[str, Any, list[str]]
"""A route: its path, the function answering it, its methods."""

API_ROUTES: list[Endpoint] = [
    ("/v1/chat/completions", chat_completions, ["POST"]),
    ("/chat/completions", chat_completions, ["POST"]),
    ("/v1/messages", messages, ["POST"]),
    ("/v1/responses", responses, ["POST"]),
    ("/responses", responses, ["POST"]),
    ("/v1/messages/count_tokens", count_tokens, ["POST"]),
    ("/v1/embeddings", embeddings, ["POST"]),
    ("/embeddings", embeddings, ["POST"]),
    ("/v1/models", models, ["GET"]),
    ("/models", models, ["GET"]),
    ("/memory-routing/info", memory_routing_info, ["GET", "POST"]),
    ("/memory/status", memory_status, ["GET"]),
    ("/metrics", metrics, ["GET"]),
]
"""Behind the proxy key."""

PROBE_ROUTES: list[Endpoint] = [
    ("/", root, ["GET", "HEAD"]),
    ("/health", health, ["GET"]),
    ("/health/readiness", readiness, ["GET"]),
]
"""Open to anyone who can reach the port."""

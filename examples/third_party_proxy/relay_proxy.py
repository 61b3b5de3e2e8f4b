"""A minimal OpenAI-compatible relay: someone else's proxy, to show the conformance kit on it.

It knows nothing of litellm-memory-proxy: it reads the LiteLLM-style ``model_list`` of the config the kit
hands it, and relays ``/v1/chat/completions`` for OpenAI-format models (``openai/…``) to their
``api_base`` with their ``api_key``, answers and streams as the provider sent them, and lists its models.
No memory, no Anthropic surface, no translation, no error rewriting: the kit's product suites skip it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

PASSED_HEADERS = ("content-type", "retry-after")


def _deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """model name → litellm_params, for the OpenAI-format models this relay can serve."""
    return {
        entry["model_name"]: entry["litellm_params"]
        for entry in config.get("model_list", [])
        if str(entry["litellm_params"].get("model", "")).startswith("openai/")
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def create_app(config: dict[str, Any]) -> Starlette:
    deployments = _deployments(config)
    client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))

    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The body is not JSON.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        params = deployments.get(body.get("model"))
        if params is None:
            return _error(404, f"No such model: {body.get('model')!r}.")
        upstream_body = {**body, "model": params["model"].removeprefix("openai/")}
        upstream = client.build_request(
            "POST",
            f"{params['api_base'].rstrip('/')}/chat/completions",
            json=upstream_body,
            headers={"authorization": f"Bearer {params['api_key']}"},
            timeout=params.get("timeout", 60.0),
        )
        try:
            answer = await client.send(upstream, stream=True)
        except httpx.TimeoutException:
            return _error(504, "The provider did not answer in time.")
        except httpx.TransportError:
            return _error(502, "The provider could not be reached.")
        headers = {name: answer.headers[name] for name in PASSED_HEADERS if name in answer.headers}
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            return StreamingResponse(
                _relayed(answer), status_code=answer.status_code, headers=headers,
                background=BackgroundTask(answer.aclose),
            )  # fmt: skip
        content = await answer.aread()
        await answer.aclose()
        return Response(content, status_code=answer.status_code, headers=headers)

    async def models(request: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": name, "object": "model"} for name in deployments]}
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )


async def _relayed(answer: httpx.Response) -> AsyncIterator[bytes]:
    """The provider's stream, chunk by chunk as it arrives (closed with the client's connection)."""
    async for chunk in answer.aiter_raw():
        yield chunk

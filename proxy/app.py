"""The app factory: one FastAPI app for both backends, wiring the request flow to its routes.

What happens to a request is :mod:`proxy.flow`; which paths exist is :mod:`proxy.endpoints` (and the
console's, :mod:`proxy.console`); how errors are answered is :mod:`proxy.error_responses`. This module
only puts them together.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext

from fastapi import APIRouter, Depends, FastAPI
from starlette.routing import Route

from proxy import __version__
from proxy.backends.base import Backend
from proxy.browser_guard import BrowserGuard, MachineNames
from proxy.config import Config, ConfigError, load_config
from proxy.console import install_console
from proxy.endpoints import API_ROUTES, PROBE_ROUTES
from proxy.error_responses import ProxyRoute, envelope_for, install_error_handlers
from proxy.flow import Flow
from proxy.mcp_endpoint import MCP_PATH, McpEndpoint
from proxy.redaction import register_secrets

__all__ = ["LITELLM_URL_ENV_VAR", "app_from_environment", "create_app"]


def create_app(config: Config, backend: Backend) -> FastAPI:
    """Build the app; its lifespan starts and closes the backend and the memory service."""
    register_secrets(*config.secrets)
    flow = Flow(config, backend)
    mcp = McpEndpoint(flow) if config.memory_proxy.mcp else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with flow.running(), mcp.running() if mcp is not None else nullcontext():
            yield

    app = FastAPI(
        title="litellm-memory-proxy",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.flow = flow
    app.router.route_class = ProxyRoute
    install_error_handlers(app)
    api = APIRouter(dependencies=[Depends(flow.authenticate)], route_class=ProxyRoute)
    for path, endpoint, methods in API_ROUTES:
        api.add_api_route(path, endpoint, methods=methods)
    app.include_router(api)
    for path, endpoint, methods in PROBE_ROUTES:
        app.add_api_route(path, endpoint, methods=methods)
    if mcp is not None:
        app.router.routes.append(Route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"]))
    if config.memory_proxy.console:
        install_console(app, flow.key)
    settings = config.memory_proxy
    if settings.browser_guard:
        app.add_middleware(
            BrowserGuard,
            names=MachineNames(settings.host, settings.allowed_hosts),
            check_host=not flow.key.required,
            allowed_origins=settings.allowed_origins,
            json_paths=[*(path for path, _, methods in API_ROUTES if "POST" in methods), MCP_PATH],
            envelope_for=envelope_for,
        )
    return app


LITELLM_URL_ENV_VAR = "MEMORY_PROXY_LITELLM_BASE_URL"
"""Overrides ``memory_proxy.litellm_base_url``: how ``start-proxies --workers`` tells its worker processes
where the LiteLLM proxy it started listens."""


def app_from_environment(backend_type: Callable[[Config], Backend]) -> FastAPI:
    """The app for ``uvicorn proxy.sdk:app`` / ``proxy.binary:app``: config from the environment
    (``$MEMORY_PROXY_CONFIG``, ``$MEMORY_PROXY_LITELLM_BASE_URL``), and a bad config reported in one line
    and exit code 2 rather than an import traceback."""
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    litellm_url = os.environ.get(LITELLM_URL_ENV_VAR)
    if litellm_url:
        settings = config.memory_proxy.model_copy(update={"litellm_base_url": litellm_url})
        config = config.model_copy(update={"memory_proxy": settings})
    return create_app(config, backend_type(config))

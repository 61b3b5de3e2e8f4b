"""Errors as HTTP answers: every exception becomes one JSON error in the envelope of the path's protocol.

:mod:`proxy.errors` decides what an error is (status, type, code); this module only answers it. The flow
answers the errors of its own requests (it knows the client by then, and adds ``x-memory-user-id``); the
handlers here answer everything else (a bad proxy key, an unknown path, a bad ``x-memory-user-id``).
FastAPI's ``{"detail": ...}`` never reaches a client.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from proxy.errors import (
    InvalidRequest,
    ProxyError,
    RouteNotFound,
    anthropic_envelope,
    openai_envelope,
    to_proxy_error,
)

__all__ = ["ProxyRoute", "envelope_for", "error_response", "install_error_handlers"]

Envelope = Callable[[ProxyError], dict[str, Any]]


def envelope_for(path: str) -> Envelope:
    """Anthropic's envelope under ``/v1/messages``, OpenAI's everywhere else."""
    return anthropic_envelope if path.startswith("/v1/messages") else openai_envelope


def error_response(
    error: ProxyError, envelope: Envelope, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``error`` in ``envelope``, with its status and its own headers (``Retry-After``)."""
    return JSONResponse(
        envelope(error), status_code=error.status, headers={**error.headers, **(headers or {})}
    )


class ProxyRoute(APIRoute):
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


async def _on_proxy_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(to_proxy_error(exc), envelope_for(request.url.path))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own validation (the console's query parameters and sign-in body): each problem's place
    and reason, never the input (it may be a key) nor the handler's file and line, which ``str(exc)``
    holds."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()
    ]
    first_place = exc.errors()[0].get("loc", ()) if exc.errors() else ()
    param = str(first_place[-1]) if first_place else None
    message = "Invalid request: " + "; ".join(problems or ["the request does not match what this path takes"])
    return error_response(InvalidRequest(message, param=param), envelope_for(request.url.path))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    envelope = envelope_for(request.url.path)
    if exc.status_code == 404:
        return error_response(RouteNotFound(f"No route for {request.method} {request.url.path}."), envelope)
    code = "method_not_allowed" if exc.status_code == 405 else None
    return error_response(InvalidRequest(str(exc.detail), status=exc.status_code, code=code), envelope)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProxyError, _on_proxy_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_proxy_error)

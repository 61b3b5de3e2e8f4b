"""The one table of the endpoints the fake provider serves, and how each is answered.

:class:`~conformance.fakes.provider.fake.FakeProvider` dispatches on it and the respx router in
``respx_router.py`` names one route per row, so the loopback server and the in-process transport cannot
disagree about which requests the fake answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.fakes.provider.anthropic_messages import MESSAGES, count_tokens_body
from conformance.fakes.provider.openai_chat import CHAT_COMPLETIONS
from conformance.fakes.provider.openai_embeddings import embeddings_body
from conformance.fakes.provider.openai_responses import RESPONSES
from conformance.fakes.provider.surface import Dialect, Surface

__all__ = ["ENDPOINTS", "Computed", "Endpoint", "Fixed", "endpoint_path", "find_endpoint"]


@dataclass(frozen=True)
class Fixed:
    """An answer that reads nothing from the request, so no directive applies (``GET /models``)."""

    body: Mapping[str, Any]


@dataclass(frozen=True)
class Computed:
    """A JSON answer computed from the request body once the directives had their say (token counts)."""

    body: Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One ``method path`` the fake serves (``path`` without ``/v1``), in ``dialect``, and its handler.

    ``name`` is the route's name in the respx router, for tests that assert on ``router.routes[name]``.
    """

    name: str
    method: str
    path: str
    dialect: Dialect
    handler: Surface | Computed | Fixed

    @property
    def path_regex(self) -> str:
        """Every spelling of the path the fake answers, as :func:`endpoint_path` folds them together."""
        return f"(/v1)?{re.escape(self.path)}/?"


_MODELS = {
    "object": "list",
    "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}],
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("chat_completions", "POST", "/chat/completions", "openai", CHAT_COMPLETIONS),
    Endpoint("responses", "POST", "/responses", "openai", RESPONSES),
    Endpoint("messages", "POST", "/messages", "anthropic", MESSAGES),
    Endpoint(
        "count_tokens",
        "POST",
        "/messages/count_tokens",
        "anthropic",
        Computed(count_tokens_body),
    ),
    Endpoint("embeddings", "POST", "/embeddings", "openai", Computed(embeddings_body)),
    Endpoint("models", "GET", "/models", "openai", Fixed(_MODELS)),
)
"""Every endpoint the fake provider serves; any other request gets OpenAI's 404."""

_BY_ROUTE = {(endpoint.method, endpoint.path): endpoint for endpoint in ENDPOINTS}


def endpoint_path(path: str) -> str:
    """``path`` without a leading ``/v1`` and a trailing slash: the fake serves both spellings."""
    path = path.rstrip("/") or "/"
    if path == "/v1":
        return "/"
    if path.startswith("/v1/"):
        return path[3:]
    return path


def find_endpoint(method: str, path: str) -> Endpoint | None:
    """The endpoint serving ``method path`` (any spelling of the path), or None."""
    return _BY_ROUTE.get((method.upper(), endpoint_path(path)))

"""What the renderer of every API surface shares: the error dialect, ids, JSON and SSE framing.

Each surface module (``openai_chat``, ``openai_responses``, ``anthropic_messages``) describes itself as a
:class:`Surface`, so :class:`~conformance.fakes.provider.fake.FakeProvider` answers all of them with one
code path and only the wire format differs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from conformance.fakes.http import FakeResponse
from conformance.fakes.provider.answer import Answer

__all__ = ["Dialect", "Events", "Surface", "id_headers", "json_response", "new_id", "sse"]

Dialect = Literal["openai", "anthropic"]
"""Whose conventions a response follows: error envelope, request-id header."""


@dataclass
class Events:
    """A stream split where ``cut`` and ``slow_stream`` act: before, during and after the content."""

    prelude: list[bytes]
    content: list[bytes]
    epilogue: list[bytes]


@dataclass(frozen=True)
class Surface:
    """A model endpoint: where it finds the user's text and how it renders an answer, whole or streamed.

    ``stream`` gets the content already cut into pieces, because a directive decides how many.
    """

    user_text: Callable[[dict[str, Any]], str]
    body: Callable[[Answer, dict[str, Any]], dict[str, Any]]
    stream: Callable[[Answer, dict[str, Any], list[str]], Events]


def new_id(prefix: str) -> str:
    """A fresh id in the style of the real services (``chatcmpl-…``, ``msg_…``), unique per call."""
    return prefix + secrets.token_hex(12)


def id_headers(dialect: Dialect) -> list[tuple[str, str]]:
    """The request-id headers the real service sends with every answer."""
    if dialect == "anthropic":
        return [("request-id", new_id("req_"))]
    return [("x-request-id", new_id("req_")), ("openai-processing-ms", "1")]


def json_response(status: int, body: Any, dialect: Dialect) -> FakeResponse:
    """``body`` as a JSON response with the dialect's id headers."""
    headers = [("content-type", "application/json"), *id_headers(dialect)]
    return FakeResponse(status, headers, json.dumps(body).encode())


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data`` as JSON (a string as is, e.g. ``[DONE]``), named if ``event``."""
    prefix = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{prefix}data: {payload}\n\n".encode()

"""What a failing test sent the proxy and what the proxy answered, added to its failure report.

A bare ``assert response.status_code == 429`` fails with ``assert 500 == 429``: it says neither which
request the proxy got wrong nor what it said instead. Every client the kit hands a test (``proxy.client()``,
``proxy.openai()``, ``proxy.anthropic()``…) records its last exchanges here, and the plugin prints them
under the failure: the request (method, path, body), the answer (status, headers that matter, body), and
the assertion's own message says what was expected.

The exchanges are read by duck typing: the anthropic SDK's client is its own fork of httpx, with the same
request and response attributes but other classes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["ExchangeLog"]

_SHOWN_HEADERS = (
    "content-type",
    "retry-after",
    "x-memory-user-id",
    "x-memory-status",
    "x-memory-status-reason",
)
_SHOWN_REQUEST_HEADERS = ("x-", "anthropic-", "user-agent")
_SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "cookie"}
_BODY_CHARS = 1500


@dataclass
class _Exchange:
    request: Any
    response: Any = None


class ExchangeLog:
    """The last ``keep`` exchanges of one test's clients with the proxy."""

    def __init__(self, keep: int = 4) -> None:
        self._exchanges: deque[_Exchange] = deque(maxlen=keep)

    def hooks(self) -> dict[str, list[Any]]:
        """httpx ``event_hooks`` for a sync client."""
        return {"request": [self._sent], "response": [self._answered]}

    def async_hooks(self) -> dict[str, list[Any]]:
        """httpx ``event_hooks`` for an async client."""

        async def sent(request: httpx.Request) -> None:
            self._sent(request)

        async def answered(response: httpx.Response) -> None:
            self._answered(response)

        return {"request": [sent], "response": [answered]}

    def _sent(self, request: Any) -> None:
        self._exchanges.append(_Exchange(request))

    def _answered(self, response: Any) -> None:
        for exchange in reversed(self._exchanges):
            if exchange.request is response.request:
                exchange.response = response
                return

    def render(self) -> str:
        if not self._exchanges:
            return "(the test sent the proxy nothing through the kit's clients)"
        return "\n\n".join(_render(number, exchange) for number, exchange in enumerate(self._exchanges, 1))


def _render(number: int, exchange: _Exchange) -> str:
    request = exchange.request
    lines = [f"[{number}] sent: {request.method} {request.url.raw_path.decode(errors='replace')}"]
    headers = {k: ("[REDACTED]" if k.lower() in _SECRET_HEADERS else v) for k, v in request.headers.items()}
    interesting = {
        k: v for k, v in headers.items() if k.lower().startswith(("x-", "anthropic-", "user-agent"))
    }
    if interesting:
        lines.append(f"    headers: {interesting}")
    lines.append(f"    body: {_cut(_request_body(request))}")
    response = exchange.response
    if response is None:
        lines.append("    answered: nothing (the connection failed or is still open)")
        return "\n".join(lines)
    shown = {name: response.headers[name] for name in _SHOWN_HEADERS if name in response.headers}
    lines.append(f"    answered: {response.status_code} {shown}")
    lines.append(f"    body: {_cut(_response_body(response))}")
    return "\n".join(lines)


def _request_body(request: Any) -> str:
    try:
        return request.content.decode("utf-8", errors="replace") or "(empty)"
    except Exception:  # RequestNotRead, of whichever httpx the client is built on
        return "(streamed)"


def _response_body(response: Any) -> str:
    try:
        return response.text or "(empty)"
    except Exception:  # ResponseNotRead
        return "(not read by the test)"


def _cut(text: str) -> str:
    return text if len(text) <= _BODY_CHARS else f"{text[:_BODY_CHARS]}… ({len(text)} characters)"

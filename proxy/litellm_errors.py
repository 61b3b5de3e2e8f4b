"""Reading LiteLLM's error answers and stream error events back into the errors the sdk backend raises.

Both backends meet them: the binary backend in the LiteLLM proxy's error answers, both in the error events
LiteLLM writes into an Anthropic Messages stream (in process or through the proxy).

The LiteLLM proxy flattens exceptions into ``{"error": {"message", "type", "param", "code"}}`` and loses
some of what the sdk backend still sees in the exception itself: an unknown model becomes a 400, a
context-window error keeps only its class name in the message, an Anthropic 529 and a dead connection
become 500s, and the provider's Retry-After moves to ``llm_provider-retry-after``. The exception class
names LiteLLM leaves at the start of the message (``litellm.ContextWindowExceededError: …``) and the
standard texts of connection and JSON failures are the signals used to recover them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from proxy.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    ProxyError,
    ServiceUnavailable,
    UpstreamTimeout,
    UpstreamUnreachable,
    clean_litellm_message,
    for_status,
)

__all__ = ["classify", "error_from_event", "error_from_response"]

_CLASS_NAMES = re.compile(r"litellm\.(\w+)")
# A refused connection as the LiteLLM proxy words it (a 500 InternalServerError, on either route and for
# either model format): the openai SDK's APIConnectionError text, httpx's ConnectError, or aiohttp's
# ClientConnectorError (LiteLLM's aiohttp transport); the rest is json.JSONDecodeError's format.
_UNREACHABLE = re.compile(
    r"Connection error\.|All connection attempts failed|Cannot connect to host"
    r"|: line \d+ column \d+ \(char \d+\)|JSONDecodeError"
)
_UNCOUNTABLE = re.compile(r"CountTokens processing error")
"""The LiteLLM proxy's 500 for a count_tokens body its tokenizer cannot read (an image part it cannot
parse): the request's fault, not the provider's."""
_OVERLOADED = re.compile(r"overloaded_error|\b529\b")


def _message_of(body: Any, fallback: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            return message
    return fallback


def classify(status: int, message: str, retry_after: str | None) -> ProxyError:
    """The ProxyError for a LiteLLM proxy error with this status and message."""
    names = set(_CLASS_NAMES.findall(message))
    text = clean_litellm_message(message) or f"LiteLLM proxy error {status}"
    if _UNCOUNTABLE.search(message):
        return InvalidRequest(text, param="messages")
    if "ContextWindowExceededError" in names:
        return ContextLengthExceeded(text, param="messages")
    if "Timeout" in names or status == 408:
        return UpstreamTimeout(text)
    if "APIConnectionError" in names or _UNREACHABLE.search(message):
        return UpstreamUnreachable(f"The provider could not be reached or sent an invalid answer: {text}")
    if status >= 500 and _OVERLOADED.search(message):
        return ServiceUnavailable(text, retry_after=retry_after)
    return for_status(status, text, retry_after=retry_after)


def error_from_response(status: int, content: bytes, headers: Mapping[str, str]) -> ProxyError:
    """Map a non-2xx answer of the LiteLLM proxy (``headers`` case-insensitive)."""
    text = content.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    retry_after = headers.get("retry-after") or headers.get("llm_provider-retry-after")
    return classify(status, _message_of(body, text[:500]), retry_after)


# Anthropic's error types, for an Anthropic-format error event (which carries no status).
_ANTHROPIC_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def error_from_event(event: dict[str, Any]) -> ProxyError:
    """Map an error event the LiteLLM proxy sent inside a stream: OpenAI's ``{"error": {…, "code"}}`` or
    Anthropic's ``{"type": "error", "error": {"type", "message"}}``."""
    error = event.get("error") or {}
    code = str(error.get("code") or "")
    status = (
        int(code)
        if code.isdigit() and 400 <= int(code) < 600
        else _ANTHROPIC_STATUS.get(error.get("type"), 500)
    )
    return classify(status, _message_of(event, "stream failed"), None)

"""Small helpers the suites share: building requests and reading SSE as events, never as chunks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from conformance.fakes import FakeProvider, RecordedRequest

__all__ = [
    "SSEEvent",
    "anthropic_error",
    "chat_body",
    "content_of",
    "iter_sse",
    "last_call",
    "model_calls",
    "read_sse",
    "unique",
]


def unique(text: str = "hello") -> str:
    """A prompt no other test sends, so a record can be matched to its test."""
    return f"{text} #{uuid.uuid4().hex[:8]}"


def chat_body(text: str, model: str = "gpt-fake", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **fields}


def anthropic_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    """The ``error`` of an answer in Anthropic's envelope, checked for this status and error type."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error"}
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["error"]["message"]
    return body["error"]


class SSEEvent:
    """One server-sent event: its ``event`` name (if any) and its ``data`` (parsed JSON, or the raw text)."""

    def __init__(self, event: str | None, data: str) -> None:
        self.event = event
        self.raw = data
        try:
            self.data: Any = json.loads(data)
        except ValueError:
            self.data = data

    def __repr__(self) -> str:
        return f"SSEEvent({self.event!r}, {self.raw[:80]!r})"


def iter_sse(response: httpx.Response) -> Iterator[SSEEvent]:
    """Parse events as they arrive (blank-line separated; ``data:`` lines joined)."""
    event: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield SSEEvent(event, "\n".join(data))


def read_sse(response: httpx.Response) -> list[SSEEvent]:
    return list(iter_sse(response))


def content_of(events: list[SSEEvent]) -> str:
    """The assistant text of an OpenAI chat stream."""
    return "".join(
        choice.get("delta", {}).get("content") or ""
        for event in events
        if isinstance(event.data, dict)
        for choice in event.data.get("choices", [])
    )


MODEL_ENDPOINTS = frozenset(
    {"/chat/completions", "/messages", "/responses", "/messages/count_tokens", "/embeddings"}
)
"""The calls a client's request makes (completions, token counts, embeddings)."""


def model_calls(provider: FakeProvider) -> list[RecordedRequest]:
    """The model calls that reached the provider, leaving out what LiteLLM sends on its own account
    (the LiteLLM proxy lists the provider's models after some errors, at its own pace)."""
    return [
        record
        for record in provider.records
        if record.method == "POST" and record.endpoint in MODEL_ENDPOINTS
    ]


def last_call(provider: FakeProvider) -> RecordedRequest:
    calls = model_calls(provider)
    assert calls, f"no model call reached the provider; it recorded {[r.path for r in provider.records]}"
    return calls[-1]

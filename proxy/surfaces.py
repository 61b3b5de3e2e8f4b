"""The two API surfaces as data: what differs between OpenAI chat completions and Anthropic Messages.

The flow (:mod:`proxy.flow`) is one piece of code for both; a :class:`Surface` tells it how this API's
body is validated, where recalled memory goes in it, how its answer's text is read (for write-back), how
its stream is framed, and which envelope its errors use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxy.call import Api
from proxy.errors import ProxyError, anthropic_envelope, openai_envelope
from proxy.memory.recall import InjectionStrategy, inject_anthropic, inject_chat
from proxy.requests import AnthropicMessagesShape, ChatCompletionShape, RequestShape
from proxy.streaming import OPENAI_DONE, frame_data, openai_chunk, sse_event

__all__ = ["CHAT", "MESSAGES", "Surface", "anthropic_text", "chat_text"]


@dataclass(frozen=True)
class Surface:
    """One API surface of the proxy."""

    api: Api
    shape: type[RequestShape]
    """Validates what the proxy itself relies on in a body; everything else passes untouched."""
    envelope: Callable[[ProxyError], dict[str, Any]]
    inject: Callable[[Mapping[str, Any], str, InjectionStrategy], dict[str, Any]]
    """A new body with the recalled context placed by the injection strategy."""
    answer_text: Callable[[dict[str, Any]], str]
    chunk_text: Callable[[Any], str]
    encode_chunk: Callable[[Any], bytes]
    stream_end: bytes
    """What follows the last chunk of a successful stream."""

    def error_event(self, error: ProxyError) -> bytes:
        """A failure after the stream began: one SSE event in this surface's envelope."""
        event = "error" if self.api is Api.MESSAGES else None
        return sse_event(self.envelope(error), event=event)


def chat_text(completion: dict[str, Any]) -> str:
    """The assistant's text in a chat completion (empty for a tool call)."""
    choices = completion.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


def _chat_delta_text(chunk: dict[str, Any]) -> str:
    texts = [(choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or ()]
    return "".join(text for text in texts if isinstance(text, str))


def anthropic_text(message: dict[str, Any]) -> str:
    """The text blocks of an Anthropic Messages answer, joined."""
    return "".join(
        block.get("text", "") for block in message.get("content") or () if block.get("type") == "text"
    )


def _anthropic_delta_text(frame: bytes) -> str:
    data = frame_data(frame)
    if isinstance(data, dict) and data.get("type") == "content_block_delta":
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            return str(delta.get("text", ""))
    return ""


CHAT = Surface(
    api=Api.CHAT,
    shape=ChatCompletionShape,
    envelope=openai_envelope,
    inject=inject_chat,
    answer_text=chat_text,
    chunk_text=_chat_delta_text,
    encode_chunk=lambda chunk: sse_event(openai_chunk(chunk)),
    stream_end=OPENAI_DONE,
)

MESSAGES = Surface(
    api=Api.MESSAGES,
    shape=AnthropicMessagesShape,
    envelope=anthropic_envelope,
    inject=inject_anthropic,
    answer_text=anthropic_text,
    chunk_text=_anthropic_delta_text,
    encode_chunk=lambda frame: frame,  # relayed as the provider framed it
    stream_end=b"",
)

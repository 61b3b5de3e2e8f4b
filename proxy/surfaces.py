"""The two API surfaces as data: what differs between OpenAI chat completions and Anthropic Messages.

The flow (:mod:`proxy.flow`) is one piece of code for both; a :class:`Surface` tells it how this API's
body is validated, where recalled memory goes in it, how its answer is read (for write-back: the text, and
whether it calls a tool), how its stream is framed, and which envelope its errors use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.call import Answer, Api
from proxy.errors import ProxyError, UpstreamUnreachable, anthropic_envelope, openai_envelope
from proxy.litellm_errors import error_from_event
from proxy.memory.conversations import Pin
from proxy.memory.placement import place_anthropic, place_chat
from proxy.requests import AnthropicMessagesShape, ChatCompletionShape, RequestShape
from proxy.streaming import OPENAI_DONE, frame_data, openai_chunk, sse_event

__all__ = ["CHAT", "MESSAGES", "Surface", "anthropic_answer", "chat_answer"]


@dataclass(frozen=True)
class Surface:
    """One API surface of the proxy."""

    api: Api
    shape: type[RequestShape]
    """Validates what the proxy itself relies on in a body; everything else passes untouched."""
    envelope: Callable[[ProxyError], dict[str, Any]]
    place: Callable[[Mapping[str, Any], Sequence[Pin]], dict[str, Any]]
    """A new body with the conversation's pinned memory placed."""
    answer_of: Callable[[dict[str, Any]], Answer]
    chunk_text: Callable[[Any], str]
    chunk_calls_tool: Callable[[Any], bool]
    """Whether a stream chunk shows the answer calling a tool."""
    encode_chunk: Callable[[Any], bytes]
    stream_end: bytes
    """What follows the last chunk of a successful stream."""
    starts_answer: Callable[[Any], bool]
    """Whether a stream chunk is part of the answer itself: the response starts with the first one."""
    chunk_problem: Callable[[Any], ProxyError | None]
    """What is wrong with a chunk the provider streamed (an error event, or not this protocol), or None."""
    ends_answer: Callable[[Any], bool]
    """Whether a stream chunk is the answer's last (Anthropic's ``message_stop``; OpenAI's end, ``[DONE]``,
    is the proxy's own ``stream_end``)."""

    def error_event(self, error: ProxyError) -> bytes:
        """A failure after the stream began: one SSE event in this surface's envelope."""
        event = "error" if self.api is Api.MESSAGES else None
        return sse_event(self.envelope(error), event=event)


def chat_answer(completion: dict[str, Any]) -> Answer:
    """The assistant's text in a chat completion (empty for a tool call), and whether it calls a tool."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = message.get("content")
    calls_tool = bool(message.get("tool_calls")) or choice.get("finish_reason") == "tool_calls"
    return Answer(content if isinstance(content, str) else "", calls_tool)


def _chat_delta_text(chunk: dict[str, Any]) -> str:
    texts = [(choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or ()]
    return "".join(text for text in texts if isinstance(text, str))


def _chat_chunk_calls_tool(chunk: dict[str, Any]) -> bool:
    return any(
        (choice.get("delta") or {}).get("tool_calls") or choice.get("finish_reason") == "tool_calls"
        for choice in chunk.get("choices") or ()
    )


def _no_problem(chunk: Any) -> ProxyError | None:
    """Chat chunks reach the flow parsed by LiteLLM, whose errors are raised; a provider that answered a
    stream request without a stream is caught where it answered (:func:`proxy.session.require_a_stream`):
    at this point it would look like an empty answer, which a model may truly give."""
    return None


def anthropic_answer(message: dict[str, Any]) -> Answer:
    """The text blocks of an Anthropic Messages answer, joined, and whether it calls a tool."""
    blocks = message.get("content") or ()
    text = "".join(block.get("text", "") for block in blocks if block.get("type") == "text")
    calls_tool = message.get("stop_reason") == "tool_use" or any(b.get("type") == "tool_use" for b in blocks)
    return Answer(text, calls_tool)


def _anthropic_delta_text(frame: bytes) -> str:
    data = frame_data(frame)
    if isinstance(data, dict) and data.get("type") == "content_block_delta":
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            return str(delta.get("text", ""))
    return ""


def _anthropic_frame_calls_tool(frame: bytes) -> bool:
    if b"tool_use" not in frame:  # the cheap test first: most frames are text deltas
        return False
    data = frame_data(frame)
    if not isinstance(data, dict):
        return False
    block = data.get("content_block") or {}
    return block.get("type") == "tool_use" or (data.get("delta") or {}).get("stop_reason") == "tool_use"


_BEFORE_ANSWER = frozenset({"message_start", "ping"})


def _anthropic_frame_starts_answer(frame: bytes) -> bool:
    """Anything but the message's start, a ping or an SSE comment: an error the provider sends after those
    is still answered with its own status."""
    data = frame_data(frame)
    if data is None:
        return not _is_comment(frame)
    return not (isinstance(data, dict) and data.get("type") in _BEFORE_ANSWER)


def _is_comment(frame: bytes) -> bool:
    return all(line.startswith(b":") for line in frame.splitlines() if line)


def _anthropic_frame_ends_answer(frame: bytes) -> bool:
    if b"message_stop" not in frame:  # the cheap test first
        return False
    data = frame_data(frame)
    return isinstance(data, dict) and data.get("type") == "message_stop"


def _anthropic_frame_problem(frame: bytes) -> ProxyError | None:
    """An Anthropic event must be JSON with a ``type`` (an SSE comment is fine); an ``error`` event is the
    error it names, so that every client gets this proxy's own envelope, redacted."""
    if _is_comment(frame):
        return None
    data = frame_data(frame)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return UpstreamUnreachable("The provider's answer is not an Anthropic event stream.")
    return error_from_event(data) if data["type"] == "error" else None


CHAT = Surface(
    api=Api.CHAT,
    shape=ChatCompletionShape,
    envelope=openai_envelope,
    place=place_chat,
    answer_of=chat_answer,
    chunk_text=_chat_delta_text,
    chunk_calls_tool=_chat_chunk_calls_tool,
    encode_chunk=lambda chunk: sse_event(openai_chunk(chunk)),
    stream_end=OPENAI_DONE,
    starts_answer=lambda chunk: True,
    chunk_problem=_no_problem,
    ends_answer=lambda chunk: False,
)

MESSAGES = Surface(
    api=Api.MESSAGES,
    shape=AnthropicMessagesShape,
    envelope=anthropic_envelope,
    place=place_anthropic,
    answer_of=anthropic_answer,
    chunk_text=_anthropic_delta_text,
    chunk_calls_tool=_anthropic_frame_calls_tool,
    encode_chunk=lambda frame: frame,  # relayed as the provider framed it
    stream_end=b"",
    starts_answer=_anthropic_frame_starts_answer,
    chunk_problem=_anthropic_frame_problem,
    ends_answer=_anthropic_frame_ends_answer,
)

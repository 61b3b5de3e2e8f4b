"""The API surfaces as data: what differs between OpenAI chat completions, OpenAI Responses and Anthropic
Messages.

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
from proxy.memory.placement import place_anthropic, place_chat, place_responses
from proxy.requests import AnthropicMessagesShape, ChatCompletionShape, RequestShape, ResponsesShape
from proxy.responses_input import TEXT_PARTS, TOOL_CALL_ITEMS
from proxy.streaming import OPENAI_DONE, frame_data, openai_chunk, sse_event

__all__ = ["CHAT", "MESSAGES", "RESPONSES", "Surface", "anthropic_answer", "chat_answer", "responses_answer"]


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
    """Whether a stream chunk is the answer's last (Anthropic's ``message_stop``, Responses'
    ``response.completed``; OpenAI chat's end, ``[DONE]``, is the proxy's own ``stream_end``)."""
    chunk_response_id: Callable[[Any], str | None] = lambda chunk: None
    """The answer's id, if a chunk carries the one a later request can continue from."""

    def error_event(self, error: ProxyError) -> bytes:
        """A failure after the stream began: one SSE event in this surface's envelope."""
        if self.api is Api.RESPONSES:
            return sse_event(_responses_error_event(error), event="error")
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


def responses_answer(response: dict[str, Any]) -> Answer:
    """The text of a Responses answer's message items, joined, whether it calls a tool, and its id."""
    text, calls_tool = "", False
    for item in response.get("output") or ():
        if not isinstance(item, dict):
            continue
        calls_tool = calls_tool or item.get("type") in TOOL_CALL_ITEMS
        if item.get("type") == "message":
            for part in item.get("content") or ():
                if (
                    isinstance(part, dict)
                    and part.get("type") in TEXT_PARTS
                    and isinstance(part.get("text"), str)
                ):
                    text += part["text"]
    response_id = response.get("id")
    return Answer(text, calls_tool, response_id if isinstance(response_id, str) else None)


def _responses_event(frame: bytes, marker: bytes) -> dict[str, Any] | None:
    """The frame's event when its bytes hold ``marker`` (the cheap test first), else None."""
    if marker not in frame:
        return None
    data = frame_data(frame)
    return data if isinstance(data, dict) else None


def _responses_delta_text(frame: bytes) -> str:
    data = _responses_event(frame, b"response.output_text.delta")
    if data is not None and data.get("type") == "response.output_text.delta":
        return str(data.get("delta") or "")
    return ""


def _responses_frame_calls_tool(frame: bytes) -> bool:
    data = _responses_event(frame, b"response.output_item.added")
    if data is None or data.get("type") != "response.output_item.added":
        return False
    item = data.get("item")
    return isinstance(item, dict) and item.get("type") in TOOL_CALL_ITEMS


_RESPONSES_ENDS = frozenset({"response.completed", "response.incomplete"})
_RESPONSES_BEFORE_ANSWER = frozenset({"response.created", "response.in_progress", "response.queued"})


def _responses_frame_ends_answer(frame: bytes) -> bool:
    data = _responses_event(frame, b"response.")
    return data is not None and data.get("type") in _RESPONSES_ENDS


def _responses_frame_starts_answer(frame: bytes) -> bool:
    """Anything after the response's creation (an error the provider sends before any output still gets
    its own status)."""
    data = frame_data(frame)
    if data is None:
        return not _is_comment(frame)
    return not (isinstance(data, dict) and data.get("type") in _RESPONSES_BEFORE_ANSWER)


def _responses_frame_response_id(frame: bytes) -> str | None:
    data = _responses_event(frame, b"response.")
    if data is None or data.get("type") not in _RESPONSES_ENDS:
        return None
    response_id = (data.get("response") or {}).get("id")
    return response_id if isinstance(response_id, str) else None


def _responses_frame_problem(frame: bytes) -> ProxyError | None:
    """A Responses event must be JSON with a ``type``; an ``error`` event or a ``response.failed`` is the
    error it names, answered in this proxy's own envelope, redacted."""
    if _is_comment(frame):
        return None
    data = frame_data(frame)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return UpstreamUnreachable("The provider's answer is not a Responses event stream.")
    if data["type"] == "error":
        error = data.get("error") if isinstance(data.get("error"), dict) else data
        return error_from_event({"error": error})
    if data["type"] == "response.failed":
        error = (data.get("response") or {}).get("error") or {}
        return error_from_event({"error": error if isinstance(error, dict) else {}})
    return None


def _responses_error_event(error: ProxyError) -> dict[str, Any]:
    """The Responses API's ``error`` event, with the OpenAI envelope's ``error`` object beside its fields
    (the openai SDK raises on a stream event that carries one, as it does for chat)."""
    envelope = openai_envelope(error)
    return {"type": "error", "code": error.code, "message": error.message, "param": error.param, **envelope}


RESPONSES = Surface(
    api=Api.RESPONSES,
    shape=ResponsesShape,
    envelope=openai_envelope,
    place=place_responses,
    answer_of=responses_answer,
    chunk_text=_responses_delta_text,
    chunk_calls_tool=_responses_frame_calls_tool,
    encode_chunk=lambda frame: frame,  # relayed as the provider framed it
    stream_end=b"",
    starts_answer=_responses_frame_starts_answer,
    chunk_problem=_responses_frame_problem,
    ends_answer=_responses_frame_ends_answer,
    chunk_response_id=_responses_frame_response_id,
)

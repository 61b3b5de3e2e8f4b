"""Anthropic messages (``POST /v1/messages`` and ``/v1/messages/count_tokens``): a message or its events.

The shapes follow the real API closely enough that LiteLLM and the ``anthropic`` SDK parse them with the
same code paths as for Anthropic, named SSE events (``message_start`` … ``message_stop``) included.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.fakes.provider.answer import Answer, count_tokens, last_user_message, split
from conformance.fakes.provider.surface import Events, Surface, new_id, sse

__all__ = ["MESSAGES", "body", "count_tokens_body", "stream"]


def body(answer: Answer, payload: dict[str, Any]) -> dict[str, Any]:
    """The ``message`` object for ``answer``."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": answer.text}]
    stop_reason = "end_turn"
    if answer.tool_name:
        use = {
            "type": "tool_use",
            "id": new_id("toolu_"),
            "name": answer.tool_name,
            "input": json.loads(answer.tool_arguments),
        }
        blocks = [{"type": "text", "text": answer.saying}, use] if answer.saying else [use]
        stop_reason = "tool_use"
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": len(split(answer.text))},
    }


def stream(answer: Answer, payload: dict[str, Any], pieces: list[str]) -> Events:
    """The message's named events, one ``content_block_delta`` per piece."""
    message = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1},
    }
    if answer.tool_name:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": new_id("toolu_"),
            "name": answer.tool_name,
            "input": {},
        }
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        stop_reason = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        stop_reason = "end_turn"
    prelude = [
        sse({"type": "message_start", "message": message}, "message_start"),
        sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"),
        sse({"type": "ping"}, "ping"),
    ]
    content = [
        sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        for delta in deltas
    ]
    epilogue = [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return Events(prelude, content, epilogue)


def count_tokens_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``/v1/messages/count_tokens``: the same count a message would report as input."""
    return {"input_tokens": count_tokens(payload)}


MESSAGES = Surface(user_text=last_user_message, body=body, stream=stream)

"""OpenAI chat completions (``POST /v1/chat/completions``): the answer as a completion or a chunk stream.

The shapes follow the real API closely enough that LiteLLM and the ``openai`` SDK parse them with the
same code paths as for OpenAI, including the choices-less usage chunk of ``stream_options.include_usage``.
"""

from __future__ import annotations

import time
from typing import Any

from conformance.fakes.provider.answer import Answer, last_user_message, split
from conformance.fakes.provider.surface import Events, Surface, new_id, sse

__all__ = ["CHAT_COMPLETIONS", "body", "stream"]


def body(answer: Answer, payload: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` object for ``answer``."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    finish_reason = "stop"
    output_tokens = len(split(answer.text))
    if answer.tool_name:
        call = {
            "id": new_id("call_"),
            "type": "function",
            "function": {"name": answer.tool_name, "arguments": answer.tool_arguments},
        }
        message = {
            "role": "assistant",
            "content": answer.saying or None,
            "refusal": None,
            "tool_calls": [call],
        }
        finish_reason = "tool_calls"
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": answer.input_tokens + output_tokens,
        },
    }


def stream(answer: Answer, payload: dict[str, Any], pieces: list[str]) -> Events:
    """The ``chat.completion.chunk`` events for ``answer``, one content chunk per piece, then ``[DONE]``."""
    chunk_id, created = new_id("chatcmpl-"), int(time.time())
    options = payload.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            data["usage"] = None
        return sse(data)

    if answer.tool_name:
        call = {
            "index": 0,
            "id": new_id("call_"),
            "type": "function",
            "function": {"name": answer.tool_name, "arguments": ""},
        }
        prelude = [chunk({"role": "assistant", "content": None, "tool_calls": [call]})]
        content = [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in pieces
        ]
        finish_reason = "tool_calls"
    else:
        prelude = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"content": piece}) for piece in pieces]
        finish_reason = "stop"
    epilogue = [chunk({}, finish_reason)]
    if include_usage:
        usage = {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": answer.input_tokens + len(pieces),
        }
        epilogue.append(
            sse(
                {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": answer.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    epilogue.append(sse("[DONE]"))
    return Events(prelude, content, epilogue)


CHAT_COMPLETIONS = Surface(user_text=last_user_message, body=body, stream=stream)

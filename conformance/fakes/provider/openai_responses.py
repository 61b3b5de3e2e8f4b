"""OpenAI Responses (``POST /v1/responses``): the answer as a ``response`` object or its typed events.

The shapes follow the real API closely enough that LiteLLM and the ``openai`` SDK parse them with the
same code paths as for OpenAI, ``sequence_number`` on every event included.
"""

from __future__ import annotations

import time
from typing import Any

from conformance.fakes.provider.answer import Answer, split, text_of
from conformance.fakes.provider.surface import Events, Surface, new_id, sse

__all__ = ["RESPONSES", "body", "stream", "user_text"]


def user_text(payload: dict[str, Any]) -> str:
    """The text of ``input`` (a string, or its last ``user`` item), else the ``instructions``."""
    items = payload.get("input")
    if isinstance(items, str):
        return items
    if isinstance(items, list):
        for item in reversed(items):
            if isinstance(item, dict) and item.get("role") == "user":
                return text_of(item.get("content"))
    instructions = payload.get("instructions")
    return instructions if isinstance(instructions, str) else ""


def _response_object(
    answer: Answer,
    payload: dict[str, Any],
    response_id: str,
    status: str,
    output: list[dict[str, Any]],
    output_tokens: int | None,
) -> dict[str, Any]:
    usage = None
    if output_tokens is not None:
        usage = {
            "input_tokens": answer.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.input_tokens + output_tokens,
        }
    instructions = payload.get("instructions")
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": payload.get("max_output_tokens"),
        "model": answer.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": payload.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _output_item(answer: Answer, item_id: str, status: str, text: str | None) -> dict[str, Any]:
    if answer.tool_name:
        return {
            "type": "function_call",
            "id": item_id,
            "call_id": item_id.replace("fc_", "call_", 1),
            "name": answer.tool_name,
            "arguments": answer.tool_arguments if text is not None else "",
            "status": status,
        }
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def body(answer: Answer, payload: dict[str, Any]) -> dict[str, Any]:
    """The completed ``response`` object for ``answer``."""
    item_id = new_id("fc_" if answer.tool_name else "msg_")
    output = [_output_item(answer, item_id, "completed", answer.text)]
    return _response_object(answer, payload, new_id("resp_"), "completed", output, len(split(answer.text)))


def stream(answer: Answer, payload: dict[str, Any], pieces: list[str]) -> Events:
    """The ``response.*`` events for ``answer``, one delta event per piece."""
    response_id = new_id("resp_")
    item_id = new_id("fc_" if answer.tool_name else "msg_")
    sequence = iter(range(1_000_000))

    def event(event_type: str, /, **fields: Any) -> bytes:
        return sse({"type": event_type, "sequence_number": next(sequence), **fields}, event_type)

    def response(status: str, output: list[dict[str, Any]], tokens: int | None) -> dict[str, Any]:
        return _response_object(answer, payload, response_id, status, output, tokens)

    done_item = _output_item(answer, item_id, "completed", answer.text)
    prelude = [
        event("response.created", response=response("in_progress", [], None)),
        event("response.in_progress", response=response("in_progress", [], None)),
        event(
            "response.output_item.added",
            output_index=0,
            item=_output_item(answer, item_id, "in_progress", None),
        ),
    ]
    part = {"type": "output_text", "text": "", "annotations": []}
    if answer.tool_name:
        content = [
            event("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece)
            for piece in pieces
        ]
        epilogue = [
            event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=0,
                name=answer.tool_name,
                arguments=answer.tool_arguments,
            )
        ]
    else:
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        prelude.append(event("response.content_part.added", **where, part=part))
        content = [event("response.output_text.delta", **where, delta=piece, logprobs=[]) for piece in pieces]
        epilogue = [
            event("response.output_text.done", **where, text=answer.text, logprobs=[]),
            event("response.content_part.done", **where, part={**part, "text": answer.text}),
        ]
    epilogue += [
        event("response.output_item.done", output_index=0, item=done_item),
        event("response.completed", response=response("completed", [done_item], len(pieces))),
    ]
    return Events(prelude, content, epilogue)


RESPONSES = Surface(user_text=user_text, body=body, stream=stream)

"""The OpenAI Responses API's ``instructions`` and ``input``, read as a conversation of messages.

Memory reads every API as a list of chat-like messages (:attr:`proxy.call.Call.messages`): who said what,
in order. A Responses body says it differently: ``instructions`` is the system prompt, ``input`` is a
string (one user turn) or a list of *items*, where a message's text parts are ``input_text`` (what the
client sends) or ``output_text`` (an earlier answer sent back), and the steps of a tool loop are items of
their own (``function_call``, ``function_call_output``, ``reasoning``…). :func:`conversation_of` gives the
same conversation as messages, so recall, write-back, side-request rules and the conversation ledger read
it with the code they use for the other two APIs; :func:`item_index` maps a message back to the item it
came from, so that recalled memory is placed in the client's own input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TEXT_PARTS", "TOOL_CALL_ITEMS", "TOOL_OUTPUT_ITEMS", "conversation_of", "item_index"]

TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
"""Content part types that hold text the person or the model wrote."""

TOOL_OUTPUT_ITEMS = frozenset(
    {"function_call_output", "custom_tool_call_output", "local_shell_call_output", "computer_call_output",
     "mcp_approval_response", "apply_patch_call_output", "shell_call_output"}
)  # fmt: skip
"""Items that hand a tool's result back to the model: a request ending in them goes on with a tool loop."""

TOOL_CALL_ITEMS = frozenset(
    {"function_call", "custom_tool_call", "local_shell_call", "computer_call", "mcp_call",
     "mcp_approval_request", "apply_patch_call", "shell_call"}
)  # fmt: skip
"""Output items by which the model asks the client to run a tool: such an answer is a step of a loop."""


def _has_instructions(payload: Mapping[str, Any]) -> bool:
    instructions = payload.get("instructions")
    return isinstance(instructions, str) and bool(instructions)


def _message_of(item: Any) -> dict[str, Any]:
    """One input item as a chat-like message."""
    if not isinstance(item, Mapping):
        return {"role": "unknown", "item": item}
    kind = item.get("type", "message")
    if kind == "message" and isinstance(item.get("role"), str):
        content = item.get("content")
        if isinstance(content, list):
            content = [
                {"type": "text", "text": part.get("text")}
                if isinstance(part, Mapping) and part.get("type") in TEXT_PARTS
                else part
                for part in content
            ]
        return {"role": item["role"], "content": content}
    if kind in TOOL_OUTPUT_ITEMS:
        return {"role": "tool", "item": dict(item)}
    # A tool call, a reasoning item, a hosted tool's result: the model's side of the conversation.
    return {"role": "assistant", "item": dict(item)}


def conversation_of(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``instructions`` (as a system message) and ``input`` as messages, one per item, in order."""
    messages: list[dict[str, Any]] = []
    if _has_instructions(payload):
        messages.append({"role": "system", "content": payload["instructions"]})
    items = payload.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    elif isinstance(items, list):
        messages.extend(_message_of(item) for item in items)
    return messages


def item_index(payload: Mapping[str, Any], message: int) -> int | None:
    """The index in ``input`` of the item :func:`conversation_of` made message ``message`` from (None for
    the instructions)."""
    index = message - 1 if _has_instructions(payload) else message
    return index if index >= 0 else None

"""Where recalled memory goes in a request: one context block per pin, placed the same way every turn.

A pin on the system prompt becomes, for OpenAI chat, a system message right after the client's own
leading system (or developer) messages, and for Anthropic Messages a text block at the end of ``system``.
A pin on a user turn becomes text before or after that turn's own content. Either way nothing the client
sent moves or changes: its prefix, cache breakpoints included, stays as it was, and no ``cache_control`` is
added (Anthropic allows four per request; the client's own are left to it). The client's body is never
changed in place.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from proxy.memory.conversations import Pin
from proxy.responses_input import item_index

__all__ = ["CONTEXT_HEADING", "format_context", "place_anthropic", "place_chat", "place_responses"]

CONTEXT_HEADING = "Relevant memories from earlier conversations with this user (use them only if they help):"

_SYSTEM_ROLES = frozenset({"system", "developer"})


def format_context(memories: Sequence[str], *, max_results: int, max_length: int) -> str:
    """One block of at most ``max_results`` memories and ``max_length`` characters (whole lines first)."""
    lines = [CONTEXT_HEADING]
    for memory in list(dict.fromkeys(m.strip() for m in memories if m.strip()))[:max_results]:
        line = "- " + " ".join(memory.split())
        if len("\n".join([*lines, line])) > max_length:
            room = max_length - len("\n".join(lines)) - 1
            if room > 20:
                lines.append(line[: room - 1] + "…")
            break
        lines.append(line)
    return "\n".join(lines) if len(lines) > 1 else ""


def _with_text(content: Any, text: str, where: str) -> Any:
    if isinstance(content, list):
        part = {"type": "text", "text": text}
        return [part, *content] if where == "prefix" else [*content, part]
    own = content if isinstance(content, str) else ""
    return f"{text}\n\n{own}" if where == "prefix" else f"{own}\n\n{text}"


def _pin_messages(messages: list[dict[str, Any]], pins: Sequence[Pin]) -> list[dict[str, Any]]:
    """``messages`` with every user-turn pin placed (indexes are the client's, which stay valid: message pins
    change a turn's content, never the number of turns)."""
    placed = messages
    for pin in pins:
        if pin.message is None or not 0 <= pin.message < len(placed):
            continue
        if placed is messages:
            placed = copy.copy(messages)
        turn = placed[pin.message]
        placed[pin.message] = {**turn, "content": _with_text(turn.get("content"), pin.text, pin.where)}
    return placed


def place_chat(payload: Mapping[str, Any], pins: Sequence[Pin]) -> dict[str, Any]:
    """An OpenAI chat completion body with ``pins`` placed."""
    messages = _pin_messages(list(payload["messages"]), pins)
    system = [{"role": "system", "content": pin.text} for pin in pins if pin.message is None]
    if system:
        at = next((i for i, m in enumerate(messages) if m.get("role") not in _SYSTEM_ROLES), len(messages))
        messages = [*messages[:at], *system, *messages[at:]]
    return {**payload, "messages": messages}


def place_anthropic(payload: Mapping[str, Any], pins: Sequence[Pin]) -> dict[str, Any]:
    """An Anthropic Messages body with ``pins`` placed (system ones at the end of ``system``)."""
    placed = {**payload, "messages": _pin_messages(list(payload["messages"]), pins)}
    for pin in pins:
        if pin.message is not None:
            continue
        system = placed.get("system")
        if isinstance(system, list):
            placed["system"] = [*system, {"type": "text", "text": pin.text}]
        elif isinstance(system, str) and system:
            placed["system"] = f"{system}\n\n{pin.text}"
        else:
            placed["system"] = pin.text
    return placed


def _with_input_text(item: Any, text: str, where: str) -> Any:
    """A Responses message item with ``text`` before or after its own content, as an ``input_text`` part
    (the only text part an input message may carry beside earlier answers' ``output_text``)."""
    if not isinstance(item, Mapping):
        return item
    content = item.get("content")
    own = [{"type": "input_text", "text": content}] if isinstance(content, str) else list(content or ())
    part = {"type": "input_text", "text": text}
    return {**item, "content": [part, *own] if where == "prefix" else [*own, part]}


def place_responses(payload: Mapping[str, Any], pins: Sequence[Pin]) -> dict[str, Any]:
    """A Responses body with ``pins`` placed: a system pin as a ``developer`` message after the input's own
    leading system and developer messages (``instructions`` and the tools, the cached prefix, stay first
    and unchanged); a pin on a user turn inside that turn's item. A string ``input`` becomes the one user
    message it stands for."""
    items: Any = payload.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}] if pins else items
    if not isinstance(items, list):
        return dict(payload)
    placed = list(items)
    for pin in pins:
        index = item_index(payload, pin.message) if pin.message is not None else None
        if index is not None and 0 <= index < len(placed):
            placed[index] = _with_input_text(placed[index], pin.text, pin.where)
    system = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": pin.text}]}
        for pin in pins
        if pin.message is None
    ]
    if system:
        at = next(
            (i for i, item in enumerate(placed)
             if not (isinstance(item, Mapping) and item.get("role") in _SYSTEM_ROLES)),
            len(placed),
        )  # fmt: skip
        placed = [*placed[:at], *system, *placed[at:]]
    return {**payload, "input": placed}

"""What to ask the memory for, and where to put what it recalls: pure functions over chat messages.

The query comes from the conversation (``query_strategy``); the recalled memories become one context block,
cut to ``max_context_length`` characters, placed by ``injection_strategy``: a system message, or text
before or after the last user turn. The client's messages are never changed in place.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "CONTEXT_HEADING",
    "InjectionStrategy",
    "QueryStrategy",
    "exchange_text",
    "format_context",
    "inject",
    "inject_anthropic",
    "inject_chat",
    "message_text",
    "query_for",
]

QueryStrategy = Literal["last_user", "first_user", "all_user", "last_assistant"]
InjectionStrategy = Literal["system", "user_prefix", "user_suffix"]

CONTEXT_HEADING = "Relevant memories from earlier conversations with this user (use them only if they help):"


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _texts(messages: Sequence[dict[str, Any]], role: str) -> list[str]:
    return [text for m in messages if m.get("role") == role and (text := message_text(m).strip())]


def query_for(messages: Sequence[dict[str, Any]], strategy: QueryStrategy) -> str:
    """The recall query; empty when the conversation has nothing to ask with."""
    users = _texts(messages, "user")
    if strategy == "first_user":
        return users[0] if users else ""
    if strategy == "all_user":
        return "\n".join(users)
    if strategy == "last_assistant":
        assistants = _texts(messages, "assistant")
        if assistants:
            return assistants[-1]
    return users[-1] if users else ""


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


def inject(messages: list[dict[str, Any]], context: str, strategy: InjectionStrategy) -> list[dict[str, Any]]:
    """A copy of ``messages`` with ``context`` placed by ``strategy``."""
    result = copy.deepcopy(messages)
    if strategy == "system":
        position = 1 if result and result[0].get("role") == "system" else 0
        result.insert(position, {"role": "system", "content": context})
        return result
    last_user = max((i for i, m in enumerate(result) if m.get("role") == "user"), default=None)
    if last_user is None:  # nothing to prefix: fall back to a system message
        return inject(messages, context, "system")
    message = result[last_user]
    content = message.get("content")
    if isinstance(content, list):
        part = {"type": "text", "text": context}
        message["content"] = [part, *content] if strategy == "user_prefix" else [*content, part]
    else:
        text = content if isinstance(content, str) else ""
        message["content"] = f"{context}\n\n{text}" if strategy == "user_prefix" else f"{text}\n\n{context}"
    return result


def inject_chat(payload: Mapping[str, Any], context: str, strategy: InjectionStrategy) -> dict[str, Any]:
    """A chat completion body with ``context`` placed by ``strategy`` (a system message, or user text)."""
    return {**payload, "messages": inject(payload["messages"], context, strategy)}


def inject_anthropic(payload: Mapping[str, Any], context: str, strategy: InjectionStrategy) -> dict[str, Any]:
    """An Anthropic Messages body with ``context`` placed by ``strategy``.

    Anthropic keeps the system prompt out of ``messages``: "system" injection extends that field.
    """
    if strategy != "system":
        return {**payload, "messages": inject(payload["messages"], context, strategy)}
    system = payload.get("system")
    if isinstance(system, list):
        return {**payload, "system": [*system, {"type": "text", "text": context}]}
    if isinstance(system, str) and system:
        return {**payload, "system": f"{system}\n\n{context}"}
    return {**payload, "system": context}


def exchange_text(user_turn: str, answer: str) -> str:
    """What is stored after a completion: the new user turn and the assistant's answer."""
    return f"user: {user_turn.strip()}\nassistant: {answer.strip()}"

"""What the fake model 'says' to a request, whichever API surface then renders it.

The answer is a pure function of the request (the last user text echoed, words counted as tokens), so a
test can predict it exactly with :func:`echo_reply` and every surface reports the same numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REPLY_PREFIX",
    "Answer",
    "answer_to",
    "count_tokens",
    "echo_reply",
    "last_user_message",
    "split",
    "text_of",
    "tool_results",
]

REPLY_PREFIX = "echo: "
"""Every normal answer is this prefix followed by the text of the last user message."""

_NOT_TEXT_KEYS = frozenset({"role", "type", "id", "name", "tool_call_id", "tool_use_id", "cache_control"})


def echo_reply(user_text: str) -> str:
    """The deterministic answer the fake gives to a request whose last user message is ``user_text``."""
    return REPLY_PREFIX + user_text


@dataclass(frozen=True)
class Answer:
    """What the model 'says': either text or one tool call, with deterministic usage numbers."""

    model: str
    text: str
    user_text: str
    input_tokens: int
    tool_name: str | None = None
    saying: str = ""
    """Text said before a tool call (directive ``tool_call say=...``)."""
    command: str | None = None
    """A shell command the tool call asks to run (directive ``tool_call cmd=...``)."""
    arguments: dict[str, str] | None = None
    """The tool call's arguments as the test wrote them (directive ``tool_call arg_NAME=...``)."""

    @property
    def tool_arguments(self) -> str:
        """The JSON arguments of the tool call: the user's text, so a test can see it went through, or
        the command a shell tool (Codex's ``exec_command``) should run."""
        if self.arguments is not None:
            return json.dumps(self.arguments)
        if self.command is not None:
            return json.dumps({"cmd": self.command})
        return json.dumps({"echo": self.user_text})


def answer_to(payload: dict[str, Any], user_text: str, *, tool_call: bool) -> Answer:
    """The answer to ``payload`` whose last user text is ``user_text``; a tool call only if it has tools."""
    model = payload.get("model")
    return Answer(
        model=model if isinstance(model, str) and model else "fake-model",
        text=echo_reply(user_text),
        user_text=user_text,
        input_tokens=count_tokens(payload),
        tool_name=_first_tool_name(payload) if tool_call else None,
    )


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text blocks of a list joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") in ("text", "input_text")
            and isinstance(block.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def last_user_message(payload: dict[str, Any]) -> str:
    """The text of the last ``user`` entry of ``messages`` (chat completions and Anthropic messages)."""
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return text_of(message.get("content"))
    return ""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() if key not in _NOT_TEXT_KEYS for text in _strings(item)]
    return []


def count_tokens(payload: dict[str, Any]) -> int:
    """A deterministic stand-in for a tokenizer: words in the prompt fields."""
    fields = [payload.get(key) for key in ("system", "messages", "input", "instructions")]
    return max(1, sum(len(text.split()) for text in _strings(fields)))


def tool_results(payload: dict[str, Any]) -> int:
    """How many tool results the conversation holds (OpenAI ``tool`` messages, Anthropic ``tool_result``,
    Responses ``function_call_output`` items)."""
    items = payload.get("input")
    count = (
        sum(1 for item in items if isinstance(item, dict) and item.get("type") == "function_call_output")
        if isinstance(items, list)
        else 0
    )
    for message in payload.get("messages") or ():
        if not isinstance(message, dict):
            continue
        if message.get("role") == "tool":
            count += 1
        content = message.get("content")
        if isinstance(content, list):
            count += sum(
                1 for part in content if isinstance(part, dict) and part.get("type") == "tool_result"
            )
    return count


def _first_tool_name(payload: dict[str, Any]) -> str | None:
    tools = payload.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    tool = tools[0]
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return function["name"]
    return tool["name"] if isinstance(tool.get("name"), str) else None


def split(text: str, count: int | None = None) -> list[str]:
    """Pieces whose concatenation is ``text``: words with their trailing spaces, or ``count`` even slices."""
    if count is not None:
        count = max(1, count)
        size, extra = divmod(len(text), count)
        pieces, start = [], 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            pieces.append(text[start:end])
            start = end
        return pieces
    pieces = re.findall(r"\S+\s*|\s+", text)
    if len(pieces) < 2:
        middle = len(text) // 2
        pieces = [text[:middle], text[middle:]]
    return pieces

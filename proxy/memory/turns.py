"""What the person said: the text of a conversation's turns, without what the client added to them.

Agentic clients put their own context into the user's turn: Claude Code sends the date, CLAUDE.md and its
tool and skill lists as ``<system-reminder>`` blocks before the prompt; Codex its AGENTS.md and an
``<environment_context>`` block. That text is the client's, not the
person's: used as a recall query it would match every memory, and stored it would fill every memory with
boilerplate. The blocks to strip are data: each client rule's ``client_context`` (:mod:`proxy.client_rules`),
or ``context_retrieval.client_context_patterns``.

A tool loop (assistant ``tool_use``, user ``tool_result``, repeated) is one prompt, however many requests
it takes: a turn that carries only tool results says nothing new, and the person's prompt is the last user
turn with text of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from proxy.client_rules import client_context_of
from proxy.memory.secrets import mask_secrets

__all__ = [
    "DEFAULT_CLIENT_CONTEXT_PATTERNS",
    "Prompt",
    "QueryStrategy",
    "TurnReader",
    "answer_to_a_bare_question",
    "exchange_text",
    "said_by_the_user",
    "stored_prompt",
]

QueryStrategy = Literal["last_user", "first_user", "all_user", "last_assistant"]

DEFAULT_CLIENT_CONTEXT_PATTERNS: tuple[str, ...] = client_context_of()
"""The client-context patterns of the built-in client rules (:mod:`proxy.client_rules`)."""

_TOOL_RESULT_TYPES = frozenset({"tool_result", "function_call_output"})


@dataclass(frozen=True)
class Prompt:
    """The person's latest prompt: its text and the index of its message in the conversation."""

    index: int
    text: str


class TurnReader:
    """Reads the person's text out of messages of either API (OpenAI chat or Anthropic Messages)."""

    def __init__(self, client_context_patterns: Iterable[str] = DEFAULT_CLIENT_CONTEXT_PATTERNS) -> None:
        patterns = list(client_context_patterns)
        self._client_context = re.compile("|".join(f"(?:{p})" for p in patterns), re.S) if patterns else None

    def text(self, message: dict[str, Any]) -> str:
        """A message's own text: its string content or text parts, without client context blocks."""
        content = message.get("content")
        if isinstance(content, str):
            parts = [content]
        elif isinstance(content, list):
            parts = [
                part["text"]
                for part in content
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            ]
        else:
            parts = []
        if self._client_context is not None:  # part by part: a pattern never reaches into the next part
            parts = [self._client_context.sub("", part) for part in parts]
        return "\n".join(part.strip() for part in parts if part.strip())

    def prompt(self, messages: Sequence[dict[str, Any]]) -> Prompt | None:
        """The last user turn with text of its own (tool results and client context do not count)."""
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            if message.get("role") == "user" and (text := self.text(message)):
                return Prompt(index, text)
        return None

    def continues_tool_loop(self, messages: Sequence[dict[str, Any]]) -> bool:
        """Whether the last turn only hands tool results back (OpenAI ``role: tool``, Anthropic
        ``tool_result`` parts): the request goes on with an earlier prompt rather than asking anew."""
        if not messages:
            return False
        last = messages[-1]
        if last.get("role") == "tool":
            return True
        content = last.get("content")
        if last.get("role") != "user" or not isinstance(content, list) or not content:
            return False
        has_result = any(isinstance(p, dict) and p.get("type") in _TOOL_RESULT_TYPES for p in content)
        return has_result and not self.text(last)

    def user_texts(self, messages: Sequence[dict[str, Any]]) -> list[str]:
        return [text for m in messages if m.get("role") == "user" and (text := self.text(m))]

    def query(self, messages: Sequence[dict[str, Any]], strategy: QueryStrategy) -> str:
        """The recall query; empty when the conversation has nothing to ask with."""
        users = self.user_texts(messages)
        if strategy == "first_user":
            return users[0] if users else ""
        if strategy == "all_user":
            return "\n".join(users)
        if strategy == "last_assistant":
            answers = [text for m in messages if m.get("role") == "assistant" and (text := self.text(m))]
            if answers:
                return answers[-1]
        return users[-1] if users else ""


MASK_MARGIN = 8192
"""Characters past what is stored that are masked too, so that a secret the cut goes through is still
recognised whole (a private key block runs to about 3,300)."""


def exchange_text(prompt: str, answer: str, *, max_chars: int) -> str:
    """What is stored of one exchange: the prompt and the answer, their secrets masked
    (:mod:`proxy.memory.secrets`), each cut to half of ``max_chars``."""
    return f"{stored_prompt(prompt, max_chars=max_chars)}\nassistant: {_stored(answer, _half(max_chars))}"


def stored_prompt(prompt: str, *, max_chars: int) -> str:
    """How a prompt begins the memory of its exchange (see :func:`exchange_text`)."""
    return f"user: {_stored(prompt, _half(max_chars))}"


def _stored(text: str, limit: int) -> str:
    """``text`` as stored: masked before it is cut (a cut through a secret would leave a piece no rule
    recognises), but only as far as :data:`MASK_MARGIN` past the cut, so masking costs the same however
    long the text; without NUL characters, which no conversation holds and PostgreSQL cannot store."""
    return _cut(mask_secrets(text.strip()[: limit + MASK_MARGIN].replace("\x00", "")), limit)


def _half(max_chars: int) -> int:
    return max(max_chars // 2, 1)


def said_by_the_user(content: str) -> str:
    """The person's words of a stored exchange (all of ``content`` when it is not one).

    What recall by meaning compares a question with: measured on the memory benchmark, a question in other
    words is closer to what the person said than to the whole exchange (median cosine 0.45 against 0.35),
    which the model's answer dilutes. The answer's words stay searchable by words. When the person only
    asked a question, what the exchange holds is its answer, and that is compared
    (:func:`answer_to_a_bare_question`).
    """
    answer = answer_to_a_bare_question(content)
    if answer is not None:
        return answer
    if content.startswith("user: ") and "\nassistant: " in content:
        return content[len("user: ") : content.index("\nassistant: ")]
    return content


def answer_to_a_bare_question(content: str) -> str | None:
    """The answer of a stored exchange in which the person only asked a question (None for any other
    memory, and for a question left unanswered).

    A bare question holds nothing to recall but its answer: by its own words it is close to every later
    question of the same form, and would crowd out the memories that answer them.
    """
    if not content.startswith("user: ") or "\nassistant: " not in content:
        return None
    said, answer = content[len("user: ") :].split("\nassistant: ", 1)
    answer = answer.strip()
    return answer if answer and _QUESTION_ONLY.fullmatch(said.strip()) else None


_QUESTION_ONLY = re.compile(r"[^.!?\n]*\?+")
"""A prompt that is one question and nothing else (no statement before it)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

"""Hostile request bodies: valid requests with one part replaced by what a careless or malicious client
sends, reproducible from a seed.

A proxy must answer every one of them with a 2xx or a 4xx in the protocol's envelope, never a 5xx and
never by hanging. Each body is JSON *text*, not a dict, because some of what clients send has no Python
JSON equivalent that round-trips: ``NaN``, ``Infinity``, a lone UTF-16 surrogate.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["HOSTILE_VALUES", "MutatedBody", "mutated_bodies", "valid_bodies"]


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    5,
    -1,
    2**63,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "x",
    "\ud800",  # a lone surrogate: valid JSON text, not valid UTF-8 once decoded
    "\x00",
    "é" * 3,
    [],
    [None],
    [5],
    ["x"],
    [{}],
    [{"foo": "bar"}],
    [{"type": "text", "text": 5}],
    [{"type": "text"}],
    [{"type": "image_url", "image_url": "x"}],
    [{"type": "tool_use"}],
    {},
    {"foo": "bar"},
    {"type": "x"},
    {"role": "user"},
    {"role": "user", "content": None},
    [[[[[[[[[[[]]]]]]]]]]],
    _deep(300),
    list(range(20_000)),
    {f"k{i}": i for i in range(5_000)},
    [{"type": "text", "text": "x"}] * 5_000,
)
"""What replaces a part of a valid body: wrong types, empty and extreme values, broken content parts, and
bodies deep (beyond any real request's dozen levels) or wide (thousands of entries)."""

EXTRA_FIELDS = (
    "metadata",
    "timeout",
    "tools",
    "tool_choice",
    "stream_options",
    "response_format",
    "n",
    "user",
    "seed",
    "stop",
    "stop_sequences",
    "logit_bias",
    "max_completion_tokens",
    "top_p",
    "top_k",
    "thinking",
    "temperature",
    "system",
    "functions",
    "parallel_tool_calls",
    "stream",
)
"""Fields a client may add, each of which some proxy or LiteLLM version has trusted to have a shape."""

_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}
_TOOL_ANTHROPIC = {
    "name": "lookup",
    "description": "Look something up",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}


_TOOL_RESPONSES = {
    "type": "function",
    "name": "lookup",
    "description": "Look something up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def valid_bodies(surface: str, model: str) -> list[dict[str, Any]]:
    """Valid requests of ``surface`` (``chat``, ``messages``, ``responses`` or ``embeddings``) the mutations
    start from."""
    if surface == "embeddings":
        return [
            {"model": model, "input": "hello there"},
            {"model": model, "input": ["what is my colour?", "teal"], "encoding_format": "float"},
        ]
    if surface == "responses":
        return [
            {"model": model, "input": "hello there"},
            {
                "model": model,
                "instructions": "Be brief.",
                "input": [
                    {
                        "type": "message",
                        "role": "developer",
                        "content": [{"type": "input_text", "text": "Hi."}],
                    },
                    {"role": "user", "content": [{"type": "input_text", "text": "what is my colour?"}]},
                    {
                        "type": "function_call",
                        "call_id": "call_1",
                        "name": "lookup",
                        "arguments": '{"q":"x"}',
                    },
                    {"type": "function_call_output", "call_id": "call_1", "output": "teal"},
                ],
                "max_output_tokens": 20,
                "tools": [_TOOL_RESPONSES],
                "store": False,
                "metadata": {"who": "someone"},
            },
        ]
    if surface == "chat":
        return [
            {"model": model, "messages": [{"role": "user", "content": "hello there"}]},
            {
                "model": model,
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "what is my colour?"}]},
                ],
                "temperature": 0.2,
                "max_tokens": 20,
                "tools": [_TOOL_OPENAI],
                "user": "someone",
            },
        ]
    return [
        {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hello there"}]},
        {
            "model": model,
            "max_tokens": 20,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is my colour?"}]},
                {"role": "assistant", "content": "Teal, you said."},
                {"role": "user", "content": "and my city?"},
            ],
            "tools": [_TOOL_ANTHROPIC],
            "metadata": {"user_id": "someone"},
        },
    ]


@dataclass(frozen=True)
class MutatedBody:
    """One hostile body: its JSON text and what was done to the valid one, for a failure message."""

    text: str
    mutation: str

    @property
    def content(self) -> bytes:
        """The bytes sent: an unpaired surrogate written raw (not as ``\\ud800``) becomes invalid UTF-8."""
        return self.text.encode("utf-8", "surrogatepass")


def mutated_bodies(surface: str, model: str, *, seed: int, count: int) -> Iterator[MutatedBody]:
    """``count`` hostile bodies for ``surface``, the same ones for the same seed."""
    rng = random.Random(f"{seed}-{surface}")
    bases = valid_bodies(surface, model)
    for _ in range(count):
        body = copy.deepcopy(rng.choice(bases))
        mutation = _mutate(body, rng)
        text = json.dumps(body, ensure_ascii=rng.random() < 0.8, allow_nan=True)
        yield MutatedBody(text, mutation)


def _mutate(body: dict[str, Any], rng: random.Random) -> str:
    """Change ``body`` in place one way; returns what was done."""
    kind = rng.random()
    if kind < 0.15:
        field = rng.choice(EXTRA_FIELDS)
        value = rng.choice(HOSTILE_VALUES)
        body[field] = value
        return f"set {field} = {value!r}"
    parent, key = rng.choice(list(_slots(body)))
    if kind < 0.25 and isinstance(parent, dict):
        del parent[key]
        return f"deleted {key!r}"
    value = rng.choice(HOSTILE_VALUES)
    parent[key] = value
    return f"replaced [{key!r}] with {value!r}"


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) pair in ``node``, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield node, key
        yield from _slots(child)

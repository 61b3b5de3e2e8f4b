"""Anthropic's memory tool, served by the proxy: the tool added to a request, its calls run here, one answer.

With ``memory_proxy.memory_tool: serve``, an Anthropic Messages request to an Anthropic model gets the
memory tool (``memory_20250818``) after the client's own tools, on every request, so a conversation's
tools, the first part of the provider's cached prefix, never change between its turns. When the model
calls it, the proxy runs the commands on the project's ``/memories`` (:mod:`proxy.memory_tool.files`),
sends the results back, and so on until the model answers (at most ``memory_tool_steps`` rounds). The
client gets one answer as if no tool had been called: the text of every step, without the memory tool's
calls, usage summed; a stream carries each step's text as it comes, in one message. The last step the
limit allows is sent with ``tool_choice: none``, so the model answers then. A client that declares the
memory tool itself, or forces a tool call (``tool_choice`` any or a named tool), is left alone.

When a step calls the client's own tools as well, the memory calls are run and the answer goes to the
client with the client's calls only (the client runs those and continues the conversation).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.call import Api, Call
from proxy.errors import UpstreamUnreachable
from proxy.memory.stores.base import MemoryStoreError
from proxy.memory_tool.files import MemoryFiles, MemoryToolError
from proxy.redaction import redact
from proxy.streaming import close_iterator

__all__ = [
    "BETA",
    "MEMORY_TOOL",
    "declares_memory_tool",
    "executor",
    "run_json",
    "run_stream",
    "with_memory_tool",
]

MEMORY_TOOL = {"type": "memory_20250818", "name": "memory"}
BETA = "context-management-2025-06-27"
"""The Anthropic beta the memory tool needs."""

Execute = Callable[[dict[str, Any]], Awaitable[tuple[str, bool]]]
"""Runs one memory tool call's input: its result text, and whether it failed."""


def declares_memory_tool(payload: dict[str, Any]) -> bool:
    """Whether the client brings a memory tool of its own (then it runs the tool itself)."""
    tools = payload.get("tools")
    return isinstance(tools, list) and any(
        isinstance(tool, dict)
        and (str(tool.get("type", "")).startswith("memory_") or tool.get("name") == MEMORY_TOOL["name"])
        for tool in tools
    )


def with_memory_tool(call: Call) -> Call:
    """``call`` with the memory tool after the client's tools, and its beta beside the client's betas."""
    tools = call.payload.get("tools")
    payload = {**call.payload, "tools": [*(tools if isinstance(tools, list) else []), MEMORY_TOOL]}
    betas = [b.strip() for b in call.provider_headers.get("anthropic-beta", "").split(",") if b.strip()]
    headers = {"anthropic-beta": ",".join([*betas, BETA] if BETA not in betas else betas)}
    return call.with_payload(payload).with_headers(headers)


def executor(files: MemoryFiles) -> Execute:
    """The memory tool's commands run on ``files``; a refused command or a failing store is an error
    result the model reads, never a failed request."""

    async def execute(command: dict[str, Any]) -> tuple[str, bool]:
        try:
            return await files.execute(command), False
        except MemoryToolError as exc:
            return str(exc), True
        except MemoryStoreError as exc:
            return f"The memory store failed: {redact(str(exc))}", True

    return execute


def _is_memory_call(block: Any) -> bool:
    return (
        isinstance(block, dict)
        and block.get("type") == "tool_use"
        and block.get("name") == MEMORY_TOOL["name"]
    )


def _next_call(call: Call, content: list[dict[str, Any]], results: list[dict[str, Any]]) -> Call:
    """``call`` continued: the model's turn as it was, then the memory tool's results."""
    messages = [*call.payload["messages"], {"role": "assistant", "content": content}]
    messages.append({"role": "user", "content": results})
    return call.with_payload({**call.payload, "messages": messages})


async def _results(calls: list[dict[str, Any]], execute: Execute) -> list[dict[str, Any]]:
    results = []
    for block in calls:
        command = block.get("input") if isinstance(block.get("input"), dict) else {}
        text, failed = await execute(command)
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.get("id"), "content": text}
        if failed:
            result["is_error"] = True
        results.append(result)
    return results


def _summed(total: dict[str, Any], usage: Any) -> dict[str, Any]:
    if isinstance(usage, dict):
        for key, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total


async def run_json(
    call: Call, complete: Callable[[Call], Awaitable[dict[str, Any]]], execute: Execute, *, steps: int
) -> dict[str, Any]:
    """The answer to ``call`` with the memory tool's calls run here, as one Anthropic message."""
    assert call.api is Api.MESSAGES
    content: list[Any] = []
    usage: dict[str, Any] = {}
    for step in range(steps + 1):
        answer = await complete(_last_step(call) if step == steps else call)
        blocks = answer.get("content") if isinstance(answer.get("content"), list) else []
        memory_calls = [block for block in blocks if _is_memory_call(block)]
        content += [block for block in blocks if not _is_memory_call(block)]
        _summed(usage, answer.get("usage"))
        if not memory_calls:
            break
        results = await _results(memory_calls, execute)
        if any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
            break  # the client's own tools are called too: it runs them and goes on
        call = _next_call(call, blocks, results)
    client_calls = any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
    stop_reason = _stop_reason(answer.get("stop_reason"), memory_calls, client_calls)
    return {**answer, "content": content, "usage": usage, "stop_reason": stop_reason}


def _stop_reason(given: Any, memory_calls: list[dict[str, Any]], client_calls: bool) -> Any:
    """The last step's stop reason, but never ``tool_use`` for a client that has no tool call to run (a
    model that called only the memory tool on the last step the limit allows)."""
    return "end_turn" if memory_calls and not client_calls else given


@dataclass
class _Step:
    """One streamed step as it is read: its content blocks rebuilt, and what of it the client sees."""

    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    partial: dict[int, str] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)
    shown: dict[int, int] = field(default_factory=dict)
    stop_reason: str | None = None
    stopped: bool = False
    """Whether its ``message_stop`` came (a stream cut short is not an answer)."""
    usage: dict[str, Any] = field(default_factory=dict)
    """The step's usage: its ``message_start``'s, then its ``message_delta``'s (whose counts are final)."""

    def content(self) -> list[dict[str, Any]]:
        """The model's turn, as the next request must carry it."""
        rebuilt = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            if block.get("type") in ("tool_use", "server_tool_use"):
                raw = self.partial.get(index, "")
                try:
                    block["input"] = json.loads(raw) if raw else block.get("input") or {}
                except ValueError:
                    block["input"] = {}
            rebuilt.append(block)
        return rebuilt

    def memory_calls(self) -> list[dict[str, Any]]:
        return [block for block in self.content() if _is_memory_call(block)]

    def calls_client_tools(self) -> bool:
        return any(
            block.get("type") == "tool_use" and not _is_memory_call(block) for block in self.blocks.values()
        )


_STEP_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)
"""The events of a message's stream this loop reads and renumbers (others pass as they came)."""


def _frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _event(frame: bytes) -> dict[str, Any] | None:
    data = b"".join(line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:"))
    try:
        event = json.loads(data) if data else None
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _grow(block: dict[str, Any], delta: dict[str, Any]) -> None:
    """Add a content block delta to the block it belongs to (text, thinking and its signature)."""
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + str(delta.get("text", ""))
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
    elif kind == "signature_delta":
        block["signature"] = str(delta.get("signature", ""))
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))


async def run_stream(
    call: Call,
    stream: Callable[[Call], Awaitable[AsyncIterator[bytes]]],
    execute: Execute,
    *,
    steps: int,
) -> AsyncIterator[bytes]:
    """The stream of the answer to ``call`` with the memory tool's calls run here: one message (its
    ``message_start`` from the first step, each step's other blocks numbered on, one ``message_delta``
    with the usage summed, one ``message_stop``). A step whose stream ends before its message does is an
    error, never a finished answer."""
    merged = _Merged()
    for number in range(steps + 1):
        step = _Step()
        frames = await stream(_last_step(call) if number == steps else call)
        try:
            async for frame in _read(frames, step, merged):
                yield frame
        finally:
            await close_iterator(frames)
        if not step.stopped:
            raise UpstreamUnreachable("The provider's stream ended before its message did.")
        _summed(merged.usage, step.usage)
        memory_calls = step.memory_calls()
        if memory_calls:
            results = await _results(memory_calls, execute)
        if not memory_calls or step.calls_client_tools() or number == steps:
            delta = {"stop_reason": _stop_reason(step.stop_reason, memory_calls, step.calls_client_tools())}
            delta["stop_sequence"] = None
            yield _frame({"type": "message_delta", "delta": delta, "usage": merged.usage})
            yield _frame({"type": "message_stop"})
            return
        call = _next_call(call, step.content(), results)


@dataclass
class _Merged:
    """What the client has been sent across the steps: the message's start, its blocks, usage so far."""

    started: bool = False
    blocks: int = 0
    usage: dict[str, Any] = field(default_factory=dict)


async def _read(frames: AsyncIterator[bytes], step: _Step, merged: _Merged) -> AsyncIterator[bytes]:
    """One step's frames as the client gets them (renumbered, the memory tool's hidden), ``step`` built
    from them as they come."""
    async for frame in frames:
        event = _event(frame)
        kind = event.get("type") if event else None
        if event is None or kind not in _STEP_EVENTS:
            yield frame  # pings, what this loop does not know: as they came
            continue
        if kind == "message_start":
            step.usage.update((event.get("message") or {}).get("usage") or {})
            if not merged.started:
                merged.started = True
                yield frame
            continue
        if kind == "message_delta":
            step.stop_reason = (event.get("delta") or {}).get("stop_reason")
            step.usage.update(event.get("usage") or {})
            continue
        if kind == "message_stop":
            step.stopped = True
            continue
        index = event.get("index")
        if not isinstance(index, int):
            continue
        if kind == "content_block_start":
            block = dict(event.get("content_block") or {})
            step.blocks[index] = block
            if _is_memory_call(block):
                step.hidden.add(index)
                continue
            step.shown[index] = merged.blocks
            merged.blocks += 1
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "input_json_delta":
                step.partial[index] = step.partial.get(index, "") + str(delta.get("partial_json", ""))
            elif index in step.blocks:
                _grow(step.blocks[index], delta)
        if index in step.shown:
            yield _frame({**event, "index": step.shown[index]})


def _last_step(call: Call) -> Call:
    """The step the loop's limit makes the last: the model must answer, calling no tool (the tools stay
    declared, so the cached prefix holds)."""
    return call.with_payload({**call.payload, "tool_choice": {"type": "none"}})

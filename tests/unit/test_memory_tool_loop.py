"""The memory tool loop on scripted model turns: what the model is sent next, what the client gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proxy.call import Api, Call
from proxy.errors import UpstreamUnreachable
from proxy.memory_tool.loop import (
    BETA,
    MEMORY_TOOL,
    declares_memory_tool,
    run_json,
    run_stream,
    with_memory_tool,
)


def memory_use(use_id: str, command: str = "view") -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": use_id,
        "name": "memory",
        "input": {"command": command, "path": "/memories"},
    }


def turn(*content: dict[str, Any], stop: str = "end_turn", tokens: int = 10) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": list(content),
        "stop_reason": stop,
        "usage": {"input_tokens": tokens, "output_tokens": 3},
    }


class Model:
    """Answers each call with the next scripted turn, and keeps the calls it was sent."""

    def __init__(self, *turns: dict[str, Any]) -> None:
        self.turns = list(turns)
        self.calls: list[Call] = []

    async def complete(self, call: Call) -> dict[str, Any]:
        self.calls.append(call)
        return self.turns.pop(0)

    async def stream(self, call: Call) -> AsyncIterator[bytes]:
        self.calls.append(call)
        return _frames(self.turns.pop(0))


async def _frames(message: dict[str, Any]) -> AsyncIterator[bytes]:
    """A turn as Anthropic streams it: start, each block (tool inputs as JSON pieces), delta, stop."""

    def frame(event: dict[str, Any]) -> bytes:
        return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

    usage = message["usage"]
    yield frame(
        {
            "type": "message_start",
            "message": {**message, "content": [], "usage": {**usage, "output_tokens": 1}},
        }
    )
    yield b'event: ping\ndata: {"type": "ping"}\n\n'
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield frame(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            for piece in (block["text"][:3], block["text"][3:]):
                delta = {"type": "text_delta", "text": piece}
                yield frame({"type": "content_block_delta", "index": index, "delta": delta})
        else:
            yield frame(
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            )
            raw = json.dumps(block["input"])
            for piece in (raw[:5], raw[5:]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield frame({"type": "content_block_delta", "index": index, "delta": delta})
        yield frame({"type": "content_block_stop", "index": index})
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield frame({"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}})
    yield frame({"type": "message_stop"})


def call_of(**payload: Any) -> Call:
    body = {
        "model": "claude-fake",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        **payload,
    }
    return Call(
        api=Api.MESSAGES, model="claude-fake", payload=body, provider_headers={"anthropic-beta": "a,b"}
    )


async def ran(command: dict[str, Any]) -> tuple[str, bool]:
    return f"ran {command['command']}", command["command"] == "delete"


def test_the_tool_is_added_after_the_clients_with_its_beta_and_a_clients_own_is_seen() -> None:
    served = with_memory_tool(call_of(tools=[{"name": "get_weather", "input_schema": {}}]))
    assert [tool["name"] for tool in served.payload["tools"]] == ["get_weather", "memory"]
    assert served.provider_headers["anthropic-beta"] == f"a,b,{BETA}"
    assert with_memory_tool(served).provider_headers["anthropic-beta"] == f"a,b,{BETA}"
    assert declares_memory_tool({"tools": [MEMORY_TOOL]})
    assert declares_memory_tool({"tools": [{"type": "memory_20990101", "name": "notes"}]})
    assert not declares_memory_tool({"tools": [{"name": "get_weather"}]})


async def test_each_step_is_sent_on_with_its_results_and_the_client_gets_one_message() -> None:
    model = Model(
        turn(
            {"type": "text", "text": "Let me look."},
            memory_use("u1"),
            memory_use("u2", "delete"),
            stop="tool_use",
        ),
        turn({"type": "text", "text": "Done."}, tokens=20),
    )
    answer = await run_json(call_of(), model.complete, ran, steps=8)
    assert [block["text"] for block in answer["content"]] == ["Let me look.", "Done."]
    assert answer["stop_reason"] == "end_turn"
    assert answer["usage"] == {"input_tokens": 30, "output_tokens": 6}
    sent = model.calls[1].payload["messages"]
    assert sent[1]["role"] == "assistant"
    assert [b["type"] for b in sent[1]["content"]] == ["text", "tool_use", "tool_use"]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "u1", "content": "ran view"},
        {"type": "tool_result", "tool_use_id": "u2", "content": "ran delete", "is_error": True},
    ]


async def test_a_step_calling_the_clients_tools_goes_to_the_client_without_the_memory_calls() -> None:
    weather = {"type": "tool_use", "id": "w1", "name": "get_weather", "input": {}}
    model = Model(turn(memory_use("u1"), weather, stop="tool_use"))
    answer = await run_json(call_of(), model.complete, ran, steps=8)
    assert answer["content"] == [weather] and answer["stop_reason"] == "tool_use"
    assert len(model.calls) == 1


async def test_the_loop_stops_at_its_step_limit_with_an_answer() -> None:
    model = Model(*(turn(memory_use(f"u{n}"), stop="tool_use") for n in range(3)))
    answer = await run_json(call_of(), model.complete, ran, steps=2)
    assert len(model.calls) == 3 and answer["content"] == [] and answer["stop_reason"] == "end_turn"
    assert [c.payload.get("tool_choice") for c in model.calls] == [None, None, {"type": "none"}]


async def test_a_stream_stops_at_the_step_limit_with_a_whole_message() -> None:
    model = Model(
        *(turn({"type": "text", "text": f"step {n}"}, memory_use(f"u{n}"), stop="tool_use") for n in range(2))
    )
    frames = [frame async for frame in run_stream(call_of(stream=True), model.stream, ran, steps=1)]
    kinds = [json.loads(f.split(b"data: ", 1)[1])["type"] for f in frames]
    assert kinds[-2:] == ["message_delta", "message_stop"] and kinds.count("message_start") == 1
    assert json.loads(frames[-2].split(b"data: ", 1)[1])["delta"]["stop_reason"] == "end_turn"
    assert model.calls[-1].payload["tool_choice"] == {"type": "none"}


async def test_a_stream_cut_before_its_message_ended_is_an_error_not_an_answer() -> None:
    async def cut(call: Call) -> AsyncIterator[bytes]:
        async def frames() -> AsyncIterator[bytes]:
            async for frame in _frames(turn({"type": "text", "text": "half an answer"})):
                if b"message_delta" in frame:
                    return
                yield frame

        return frames()

    with pytest.raises(UpstreamUnreachable):
        [frame async for frame in run_stream(call_of(stream=True), cut, ran, steps=8)]


async def test_a_stream_is_one_message_renumbered_without_the_memory_calls() -> None:
    model = Model(
        turn({"type": "text", "text": "Checking notes."}, memory_use("u1"), stop="tool_use"),
        turn({"type": "text", "text": "Fridays."}, tokens=20),
    )
    frames = [frame async for frame in run_stream(call_of(stream=True), model.stream, ran, steps=8)]
    events = [json.loads(f.split(b"data: ", 1)[1]) for f in frames]
    kinds = [event["type"] for event in events]
    assert kinds.count("message_start") == 1 and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [event for event in events if event["type"] == "content_block_start"]
    assert [(event["index"], event["content_block"]["type"]) for event in starts] == [
        (0, "text"),
        (1, "text"),
    ]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "Checking notes.Fridays."
    assert events[-2]["delta"]["stop_reason"] == "end_turn"
    assert events[-2]["usage"] == {"input_tokens": 30, "output_tokens": 6}
    again = model.calls[1].payload["messages"]
    assert again[1]["content"][1] == memory_use("u1")  # the call rebuilt from its JSON pieces
    assert again[2]["content"] == [{"type": "tool_result", "tool_use_id": "u1", "content": "ran view"}]

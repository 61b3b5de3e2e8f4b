"""Memory tool parity: with ``memory_proxy.memory_tool: serve`` the proxy runs Anthropic's memory tool.

The fake provider plays a model that calls the memory tool once (``tool_call tool=memory`` with the
command's arguments, ``rounds=1``) and then answers; the client, the official anthropic SDK, must get that
answer as if no tool had been called, while the project's ``/memories`` holds what the model wrote.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.fakes.provider.answer import count_tokens, last_user_message
from conformance.suites.memory import local_store_contents
from conformance.suites.support import model_calls

__all__ = ["MemoryToolSuite"]

PROJECT = {"x-memory-project": "/home/sam/billing-api"}
WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
"""A tool of the client's own."""


def _serving(tmp_path: Any) -> dict[str, Any]:
    return {
        "context_retrieval": {"enabled": True, "local_store_path": str(tmp_path / "memory.sqlite3")},
        "memory_proxy": {"memory_tool": "serve"},
    }


def _create(path: str, text: str) -> str:
    """A prompt whose model creates ``path`` holding ``text`` (no spaces in either: the directive's)."""
    return "keep this " + fake_directive(
        "tool_call", rounds=1, tool="memory", arg_command="create", arg_path=path, arg_file_text=text
    )


def _files(tmp_path: Any) -> list[str]:
    """What the project's memory holds: a file's text is one memory, the exchange that wrote it another."""
    from proxy.scopes import project_id

    return local_store_contents(str(tmp_path / "memory.sqlite3"))(project_id(PROJECT["x-memory-project"]))


@pytest.mark.parity
@pytest.mark.requires(Capability.MEMORY_TOOL)
class MemoryToolSuite:
    def test_the_model_writes_its_memory_and_the_client_gets_one_answer(self, open_proxy, tmp_path):
        """A JSON answer: the provider is sent the memory tool (with its beta) after the client's tools,
        then the tool's result; the client gets the final text alone, usage summed, and /memories holds the
        file."""
        prompt = _create("/memories/notes.md", "deploys_on_fridays")
        with open_proxy(**_serving(tmp_path)) as proxy:
            message = proxy.anthropic(default_headers=PROJECT).messages.create(
                model="claude-fake",
                max_tokens=64,
                tools=[WEATHER],
                messages=[{"role": "user", "content": prompt}],
            )
            first, second = model_calls(proxy.provider)
        assert [block.type for block in message.content] == ["text"]
        assert message.content[0].text == echo_reply(last_user_message(second.json))  # the last step's answer
        assert message.stop_reason == "end_turn"
        assert [tool.get("name") for tool in first.json["tools"]] == ["get_weather", "memory"]
        assert first.json["tools"][1]["type"] == "memory_20250818"
        assert "context-management-2025-06-27" in first.headers.get("anthropic-beta", "")
        [result] = second.json["messages"][-1]["content"]
        assert result["type"] == "tool_result"
        assert result["content"] == "File created successfully at: /memories/notes.md"
        assert message.usage.input_tokens == count_tokens(first.json) + count_tokens(second.json)  # summed
        stored = _files(tmp_path)
        assert "deploys on fridays" in stored

    def test_a_stream_is_one_message_with_each_steps_text(self, open_proxy, tmp_path):
        """Streamed, the answer is one message (one start, one stop) whose text is the final step's, and
        the file is written before the model is asked again."""
        prompt = _create("/memories/streamed.md", "written_while_streaming")
        with open_proxy(**_serving(tmp_path)) as proxy:
            client = proxy.anthropic(default_headers=PROJECT)
            with client.messages.stream(
                model="claude-fake", max_tokens=64, messages=[{"role": "user", "content": prompt}]
            ) as stream:
                events = [event.type for event in stream]
                final = stream.get_final_message()
            calls = model_calls(proxy.provider)
        assert events.count("message_start") == 1 and events.count("message_stop") == 1
        assert [block.type for block in final.content] == ["text"]
        assert len(calls) == 2 and calls[1].json["stream"] is True
        assert final.content[0].text == echo_reply(last_user_message(calls[1].json))
        assert final.stop_reason == "end_turn"
        stored = _files(tmp_path)
        assert "written while streaming" in stored

    def test_a_path_outside_memories_is_refused_to_the_model_not_the_client(self, open_proxy, tmp_path):
        """A command that would leave /memories is an error result the model reads; the request succeeds
        and nothing is written."""
        prompt = _create("/memories/../../etc/passwd", "owned")
        with open_proxy(**_serving(tmp_path)) as proxy:
            message = proxy.anthropic(default_headers=PROJECT).messages.create(
                model="claude-fake", max_tokens=64, messages=[{"role": "user", "content": prompt}]
            )
            _, second = model_calls(proxy.provider)
        [result] = second.json["messages"][-1]["content"]
        assert result["is_error"] is True and "escape /memories" in result["content"]
        assert message.content[0].text == echo_reply(last_user_message(second.json))
        assert "owned" not in _files(tmp_path)  # no file holds it (the exchange itself is remembered)

    def test_a_client_with_its_own_memory_tool_runs_it_itself(self, open_proxy, tmp_path):
        """A request declaring the memory tool passes as it came: the client gets the model's tool call."""
        prompt = _create("/memories/mine.md", "client_side")
        tool = {"type": "memory_20250818", "name": "memory"}
        with open_proxy(**_serving(tmp_path)) as proxy:
            message = proxy.anthropic(default_headers=PROJECT).beta.messages.create(
                model="claude-fake",
                max_tokens=64,
                tools=[tool],
                messages=[{"role": "user", "content": prompt}],
                betas=["context-management-2025-06-27"],
            )
            [call] = model_calls(proxy.provider)
        assert call.json["tools"] == [tool]
        assert message.stop_reason == "tool_use"
        assert [block.type for block in message.content] == ["tool_use"]

    def test_a_request_forcing_a_tool_call_is_left_alone(self, open_proxy, tmp_path):
        """With ``tool_choice`` any (or a named tool) every step would call a tool: the request passes as it
        came, without the memory tool."""
        with open_proxy(**_serving(tmp_path)) as proxy:
            message = proxy.anthropic(default_headers=PROJECT).messages.create(
                model="claude-fake",
                max_tokens=64,
                tools=[WEATHER],
                tool_choice={"type": "any"},
                messages=[{"role": "user", "content": "weather? " + fake_directive("tool_call")}],
            )
            [call] = model_calls(proxy.provider)
        assert [tool["name"] for tool in call.json["tools"]] == ["get_weather"]
        assert [block.type for block in message.content] == ["tool_use"]

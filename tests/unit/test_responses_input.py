"""The Responses API read as a conversation, memory placed back into its items, and its answers read."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from proxy.backends import litellm_adapter
from proxy.call import Api, Call
from proxy.config import parse_config
from proxy.errors import RateLimited, RouteNotFound, UpstreamError, clean_litellm_message
from proxy.memory.conversations import Conversation, Conversations, Pin
from proxy.memory.placement import place_responses
from proxy.memory.turns import TurnReader
from proxy.model_catalog import ModelCatalog
from proxy.responses_input import conversation_of, item_index
from proxy.streaming import sse_event
from proxy.surfaces import RESPONSES, responses_answer


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


CODEX_LIKE = {
    "model": "m",
    "instructions": "You are Codex.",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox"}]},
        _user("<environment_context><cwd>/p</cwd></environment_context>"),
        _user("fix the build"),
        {"type": "reasoning", "encrypted_content": "opaque"},
        {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ],
}


def test_a_responses_body_reads_as_messages_in_order():
    """instructions are the system message; each item one message; text parts are text; a tool loop's
    items keep their place, its output as a tool turn."""
    messages = conversation_of(CODEX_LIKE)
    assert [m["role"] for m in messages] == [
        "system",
        "developer",
        "user",
        "user",
        "assistant",
        "assistant",
        "tool",
    ]
    assert messages[0]["content"] == "You are Codex."
    assert messages[3]["content"] == [{"type": "text", "text": "fix the build"}]
    assert messages[5]["item"]["name"] == "exec_command"
    assert conversation_of({"input": "hi"}) == [{"role": "user", "content": "hi"}]
    assert conversation_of({"input": [7]}) == [{"role": "unknown", "item": 7}]


def test_the_person_s_prompt_and_a_tool_loop_are_found_as_in_the_other_apis():
    """The prompt is the last user item with text of its own (Codex's environment block is client
    context); a body ending in a function call's output continues a tool loop."""
    reader = TurnReader()
    call = Call(Api.RESPONSES, "m", CODEX_LIKE)
    prompt = reader.prompt(call.messages)
    assert prompt is not None and (prompt.index, prompt.text) == (3, "fix the build")
    assert reader.continues_tool_loop(call.messages)
    assert reader.text(call.messages[2]) == ""  # only the environment: nothing the person said


def test_item_index_maps_a_message_back_to_its_input_item():
    """With instructions, message n is item n-1 (the instructions have no item); without, it is item n."""
    assert item_index(CODEX_LIKE, 3) == 2
    assert item_index(CODEX_LIKE, 0) is None
    assert item_index({"input": "x"}, 0) == 0


def test_a_system_pin_is_a_developer_item_after_the_clients_leading_ones():
    """Memory for the whole conversation goes after the input's own developer items; nothing the client
    sent changes, and the client's body is not touched."""
    before = json.dumps(CODEX_LIKE)
    placed = place_responses(CODEX_LIKE, [Pin("MEMORY")])
    assert json.dumps(CODEX_LIKE) == before
    assert placed["input"][0] == CODEX_LIKE["input"][0]
    assert placed["input"][1] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "MEMORY"}],
    }
    assert placed["input"][2:] == CODEX_LIKE["input"][1:]
    assert placed["instructions"] == CODEX_LIKE["instructions"]


def test_a_prompt_pin_goes_inside_the_prompt_s_item():
    """A pin on a user turn is an input_text part before (prefix) or after (suffix) the item's own parts;
    a string input becomes the one user message it stands for."""
    placed = place_responses(CODEX_LIKE, [Pin("MEMORY", 3, "prefix")])
    assert placed["input"][2]["content"] == [
        {"type": "input_text", "text": "MEMORY"},
        {"type": "input_text", "text": "fix the build"},
    ]
    string = place_responses({"model": "m", "input": "hi"}, [Pin("MEMORY", 0, "suffix")])
    assert string["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}, {"type": "input_text", "text": "MEMORY"}],
        }
    ]
    assert place_responses({"model": "m", "input": "hi"}, [])["input"] == "hi"


def _frame(data: dict[str, Any]) -> bytes:
    return sse_event(data, event=data.get("type"))


def test_responses_answers_and_events_are_read_for_write_back():
    """A response's text is its message items' output_text; a function call makes it a tool-loop step;
    its id is kept. In a stream, the deltas are the text and response.completed ends the answer."""
    response = {
        "id": "resp_1",
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "Hello"}]},
        ],
    }
    answer = responses_answer(response)
    assert (answer.text, answer.calls_tool, answer.response_id) == ("Hello", False, "resp_1")
    assert responses_answer({"output": [{"type": "function_call", "name": "f"}]}).calls_tool
    delta = _frame({"type": "response.output_text.delta", "delta": "He"})
    completed = _frame({"type": "response.completed", "response": {"id": "resp_2"}})
    added = _frame({"type": "response.output_item.added", "item": {"type": "function_call"}})
    created = _frame({"type": "response.created", "response": {"id": "resp_2"}})
    assert RESPONSES.chunk_text(delta) == "He"
    assert RESPONSES.chunk_text(completed) == ""
    assert RESPONSES.ends_answer(completed) and not RESPONSES.ends_answer(delta)
    assert RESPONSES.chunk_response_id(completed) == "resp_2"
    assert RESPONSES.chunk_response_id(created) is None
    assert RESPONSES.chunk_calls_tool(added) and not RESPONSES.chunk_calls_tool(delta)
    assert not RESPONSES.starts_answer(created) and RESPONSES.starts_answer(delta)
    assert not RESPONSES.starts_answer(b": keep-alive\n\n")


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (_frame({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}), "slow down"),
        (_frame({"type": "response.failed", "response": {"error": {"message": "it broke"}}}), "it broke"),
        (b"data: not json\n\n", "not a Responses event stream"),
    ],
    ids=["error-event", "response-failed", "garbage"],
)
def test_a_provider_s_failure_event_is_the_error_it_names(frame, expected):
    """A provider's error event, a failed response, or what is no Responses event, is an error whose
    message says so; an SSE comment and an ordinary event are not."""
    problem = RESPONSES.chunk_problem(frame)
    assert problem is not None and expected in problem.message
    assert RESPONSES.chunk_problem(b": ping\n\n") is None
    assert RESPONSES.chunk_problem(_frame({"type": "response.in_progress"})) is None


def test_the_error_event_is_the_responses_api_s_with_the_openai_envelope_beside():
    """A failure mid-stream is an ``error`` event with the API's fields and the OpenAI envelope."""
    frame = RESPONSES.error_event(RateLimited("slow down"))
    assert frame.startswith(b"event: error\n")
    data = json.loads(frame.split(b"data: ", 1)[1])
    assert (data["type"], data["code"], data["message"]) == ("error", "rate_limit_exceeded", "slow down")
    assert data["error"]["type"] == "rate_limit_error"


def test_a_conversation_is_found_again_by_its_answer_s_id_in_its_own_namespace_only():
    """The ledger finds a conversation by the id of its answer, for the namespace that got it."""
    ledger = Conversations()
    conversation = Conversation()
    ledger.remember_response("a", "resp_1", conversation)
    assert ledger.find_response("a", "resp_1") is conversation
    assert ledger.find_response("b", "resp_1") is None
    assert ledger.find_response("a", "resp_2") is None
    expired = Conversations(ttl=-1)
    expired.remember_response("a", "resp_1", conversation)
    assert expired.find_response("a", "resp_1") is None


def test_a_conversation_keeps_its_latest_prompts_once_each():
    """``asked`` adds a prompt once, keeping the latest twenty."""
    conversation = Conversation()
    for number in range(25):
        conversation = conversation.asked(f"p{number}").asked(f"p{number}")
    assert conversation.prompts == tuple(f"p{n}" for n in range(5, 25))


CATALOG = ModelCatalog(
    parse_config(
        {
            "model_list": [
                {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k"}},
                {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-x"}},
                {"model_name": "any/*", "litellm_params": {"model": "anthropic/*", "api_base": "b"}},
                {"model_name": "local", "litellm_params": {"model": "m", "custom_llm_provider": "ollama"}},
            ],
            "router_settings": {"model_group_alias": {"alias": "gpt"}},
        },
        source="test",
    )
)


def test_the_catalog_names_each_model_s_providers_and_deployment():
    """A model's providers come from its deployments (``custom_llm_provider`` first); a wildcard
    deployment's ``*`` is filled in with the requested name, as LiteLLM does."""
    assert CATALOG.providers_of("alias") == {"openai"}
    assert CATALOG.providers_of("claude") == {"anthropic"}
    assert CATALOG.providers_of("local") == {"ollama"}
    assert CATALOG.providers_of("nothing") == frozenset()
    assert CATALOG.deployment_of("any/claude-y") == {"model": "anthropic/claude-y", "api_base": "b"}
    assert CATALOG.deployment_of("alias") == {"model": "openai/gpt-4o", "api_key": "k"}
    assert CATALOG.deployment_of("nothing") is None


def test_a_litellm_stack_trace_never_reaches_a_message():
    """LiteLLM appends the stack of some failures to their message; it is cut off."""
    text = 'litellm.APIConnectionError: it failed\nTraceback (most recent call last):\n  File "x.py"'
    assert clean_litellm_message(text) == "it failed"


async def test_token_counting_asks_litellm_with_the_deployment_s_credentials(monkeypatch):
    """count_tokens hands LiteLLM the deployment's model, key (``os.environ/`` resolved) and base, the
    system blocks as text; a failed count is the error of its status; without acount_tokens, a 404."""
    monkeypatch.setenv("COUNT_KEY", "sk-from-env")
    seen: dict[str, Any] = {}

    async def acount_tokens(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return SimpleNamespace(total_tokens=7, error=False)

    params = {"model": "anthropic/claude-x", "api_key": "os.environ/COUNT_KEY", "api_base": "http://b"}
    payload = {"messages": [{"role": "user", "content": "hi"}], "system": [{"type": "text", "text": "Be."}]}
    counted = await litellm_adapter.count_tokens(
        SimpleNamespace(acount_tokens=acount_tokens), params, payload
    )
    assert counted == {"input_tokens": 7}
    assert (seen["model"], seen["api_key"], seen["api_base"], seen["system"]) == (
        "anthropic/claude-x",
        "sk-from-env",
        "http://b",
        "Be.",
    )

    async def failing(**kwargs: Any) -> Any:
        return SimpleNamespace(error=True, status_code=None, error_message="no route")

    with pytest.raises(UpstreamError) as failed:
        await litellm_adapter.count_tokens(SimpleNamespace(acount_tokens=failing), params, payload)
    assert failed.value.status == 502
    with pytest.raises(RouteNotFound):
        await litellm_adapter.count_tokens(SimpleNamespace(), params, payload)


def test_previous_response_id_is_read_only_from_a_responses_call():
    """A Call continues a stored response only on the Responses API, and only with a non-empty id."""
    assert Call(Api.RESPONSES, "m", {"input": "x", "previous_response_id": "r"}).previous_response_id == "r"
    assert Call(Api.RESPONSES, "m", {"input": "x", "previous_response_id": ""}).previous_response_id is None
    assert Call(Api.CHAT, "m", {"messages": [], "previous_response_id": "r"}).previous_response_id is None

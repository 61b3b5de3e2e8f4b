"""The LiteLLM behaviour proxy/backends/litellm_adapter.py relies on, checked against the installed release.

Each test names one seam. When a LiteLLM release stops honouring it, the test that fails says which, and
the sdk backend's calls would silently bypass the shared session (and its cookie jar) without it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import Any

import httpx
import litellm
import pytest

from proxy.backends.litellm_adapter import (
    SUPPORTED_LITELLM,
    SessionSeams,
    missing_modules_explained,
    serialize,
)
from proxy.config import parse_config
from proxy.errors import InternalError
from proxy.model_catalog import ModelCatalog

PROVIDER = "http://provider.test"

ANTHROPIC_SSE = "".join(
    f"event: {event}\ndata: {json.dumps(data)}\n\n"
    for event, data in [
        ("message_start", {"type": "message_start", "message": {
            "id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip


def answer(request: httpx.Request) -> httpx.Response:
    """A provider that speaks OpenAI chat completions and Anthropic Messages, as little as LiteLLM needs."""
    body = json.loads(request.content)
    if request.url.path.endswith("/messages"):
        if body.get("stream"):
            return httpx.Response(200, text=ANTHROPIC_SSE, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={
            "id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1}})  # fmt: skip
    return httpx.Response(200, json={
        "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})  # fmt: skip


MODEL_LIST = [
    {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": f"{PROVIDER}/v1",
                                              "api_key": "sk-test-0123456789"}},
    {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": PROVIDER,
                                                 "api_key": "sk-ant-test-0123456789"}},
    {"model_name": "wild/*", "litellm_params": {"model": "anthropic/*", "api_base": PROVIDER,
                                                 "api_key": "sk-ant-test-0123456789"}},
]  # fmt: skip
MESSAGES = [{"role": "user", "content": "hi"}]


@contextlib.asynccontextmanager
async def installed_session(
    respond: Callable[[httpx.Request], httpx.Response] = answer,
) -> AsyncIterator[tuple[SessionSeams, list[httpx.Request]]]:
    """The seams installed on a session that reaches only the in-process provider, and what it sent."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return respond(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        installed = SessionSeams(litellm, http)
        installed.install()
        try:
            yield installed, sent
        finally:
            installed.uninstall()


@pytest.fixture
async def seams():
    """A Router on MODEL_LIST through an installed session, and the paths the session sent to."""
    async with installed_session() as (installed, sent):
        model_list, handler_groups = installed.model_list(MODEL_LIST)
        router = litellm.Router(model_list=model_list, num_retries=0)
        yield router, installed, handler_groups, sent


def paths(sent: list[httpx.Request]) -> list[str]:
    return [request.url.path for request in sent]


def test_the_installed_litellm_is_a_supported_release():
    assert version("litellm") in SUPPORTED_LITELLM


async def test_aclient_session_carries_openai_format_chat_completions(seams):
    """litellm.aclient_session is the httpx client LiteLLM's OpenAI SDK clients send through."""
    router, _, _, sent = seams
    for stream in (False, True):
        response = await router.acompletion(model="gpt", messages=MESSAGES, stream=stream)
        if stream:
            [chunk async for chunk in response]
    assert paths(sent) == ["/v1/chat/completions", "/v1/chat/completions"]


@pytest.mark.parametrize("model", ["claude", "wild/claude-sonnet-4-5"])
async def test_a_calls_client_carries_native_anthropic_chat_completions(seams, model):
    """A chat call's client= is the AsyncHTTPHandler LiteLLM's Anthropic provider sends through."""
    router, installed, handler_groups, sent = seams
    assert {"claude", "wild/*"} <= handler_groups
    for stream in (False, True):
        response = await router.acompletion(
            model=model, messages=MESSAGES, stream=stream, client=installed.handler
        )
        if stream:
            [chunk async for chunk in response]
    assert paths(sent) == ["/v1/messages", "/v1/messages"]


@pytest.mark.parametrize("model", ["claude", "wild/claude-sonnet-4-5"])
async def test_a_deployments_client_carries_anthropic_messages_calls(seams, model):
    """The Router drops a call's client= on aanthropic_messages but passes every litellm_params entry of
    the deployment it chose, its (deep-copied, so shared) client included."""
    router, _, _, sent = seams
    for stream in (False, True):
        response = await router.aanthropic_messages(
            model=model, messages=MESSAGES, max_tokens=5, stream=stream
        )
        if stream:
            [chunk async for chunk in response]
    assert paths(sent) == ["/v1/messages", "/v1/messages"]


@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
async def test_litellms_reconnect_after_a_refused_connection_uses_the_session(stream):
    """After a refused connection (nothing reached the provider) LiteLLM's handler sends once more, on a
    fresh client of its own making: that client sends through the shared session too."""
    refused: list[httpx.Request] = []

    def refuse_once(request: httpx.Request) -> httpx.Response:
        if not refused:
            refused.append(request)
            raise httpx.ConnectError("All connection attempts failed", request=request)
        return answer(request)

    async with installed_session(refuse_once) as (installed, sent):
        model_list, _ = installed.model_list(MODEL_LIST)
        router = litellm.Router(model_list=model_list, num_retries=0)
        response = await router.aanthropic_messages(
            model="claude", messages=MESSAGES, max_tokens=5, stream=stream
        )
        if stream:
            [chunk async for chunk in response]
    assert paths(sent) == ["/v1/messages", "/v1/messages"]


async def test_uninstalling_gives_litellm_its_own_clients_back(seams):
    """LiteLLM caches the SDK clients it builds by key and base URL: a later session must not find one
    wrapping an earlier, closed, session (the cache is flushed both ways)."""
    router, installed, _, sent = seams
    await router.acompletion(model="gpt", messages=MESSAGES)
    installed.uninstall()
    assert litellm.aclient_session is None
    async with installed_session() as (_, sent_later):
        await router.acompletion(model="gpt", messages=MESSAGES)
    assert paths(sent) == ["/v1/chat/completions"]
    assert paths(sent_later) == ["/v1/chat/completions"]


@pytest.mark.parametrize(
    ("names", "requested"),
    [
        (["claude/*"], "claude/claude-3-5-haiku"),
        (["claude/*"], "claude"),
        (["claude/*"], "xclaude/y"),
        (["*"], "anything"),
        (["claude-*-latest"], "claude-3-latest-extra"),
        (["gpt-[x]*"], "gpt-[x]4"),
        (["gpt-[x]*"], "gpt-x4"),
        (["a.b*"], "axb1"),
        (["*", "claude/*"], "claude/x"),
    ],
)
async def test_model_catalog_matches_wildcards_as_litellms_router(names, requested):
    """A requested name is served by the same wildcard group here as by LiteLLM's Router (each group's
    deployment has its own host, so the request the Router sends tells which group it chose)."""
    model_list = [
        {"model_name": name, "litellm_params": {
            "model": "openai/*", "api_base": f"http://group{index}.test/v1", "api_key": "sk-test-0123456789"}}
        for index, name in enumerate(names)
    ]  # fmt: skip
    async with installed_session() as (_, sent):
        router = litellm.Router(model_list=model_list, num_retries=0)
        with contextlib.suppress(Exception):  # no group: the Router refuses, and sends nothing
            await router.acompletion(model=requested, messages=MESSAGES)
    hosts = [request.url.host for request in sent]
    chosen = [names[int(host.removeprefix("group").removesuffix(".test"))] for host in hosts]
    catalog = ModelCatalog(parse_config({"model_list": model_list}, source="test"))
    assert [catalog.group_of(requested)] == (chosen or [None])


RESPONSES = {
    "text": {"choices": [{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": "hi"}}]},
    "tool call": {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]},
    "fingerprint and usage": {"system_fingerprint": "fp_1", "usage": {
        "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "x"}}]},
}  # fmt: skip


@pytest.mark.parametrize("fields", RESPONSES.values(), ids=RESPONSES.keys())
def test_serialize_answers_as_the_litellm_proxy_does(fields):
    """Both backends send the same JSON: the sdk backend serializes as the LiteLLM proxy does."""
    from litellm.proxy.utils import model_dump_with_preserved_fields  # needs LiteLLM's proxy extras ([dev])

    response = litellm.ModelResponse(**fields)
    assert serialize(response) == model_dump_with_preserved_fields(response, exclude_unset=True)


def test_serialize_keeps_the_null_content_of_a_tool_call():
    message: dict[str, Any] = serialize(litellm.ModelResponse(**RESPONSES["tool call"]))["choices"][0][
        "message"
    ]
    assert "content" in message
    assert message["content"] is None


def test_a_module_litellm_forgot_to_install_is_named_with_the_fix():
    """LiteLLM 1.110's Messages path imports modules only its proxy extras install: the error says so."""
    expected = pytest.raises(InternalError, match=r"'soundfile'.*pip install 'litellm\[proxy\]'")
    with expected, missing_modules_explained():
        raise ModuleNotFoundError("No module named 'soundfile'", name="soundfile")

"""The sdk backend's wiring: Router settings, the session seam, the Memory Router headers, safe kwargs."""

from __future__ import annotations

import litellm
import pytest

from conformance.harness import conformance_config
from conformance.mocks import MOCK_PROVIDER_URL
from proxy.backends.sdk import GENERIC_CALL, SdkBackend, _router_kwargs
from proxy.config import parse_config
from proxy.memory.router_mode import is_memory_router_base
from proxy.requests import ChatCompletionCall


def test_litellm_router_still_has_the_client_seams():
    """The session reaches LiteLLM through these Router methods; a litellm that renames one fails here."""
    import inspect

    assert callable(getattr(litellm.Router, "_get_async_openai_model_client", None))
    assert list(inspect.signature(litellm.Router._update_kwargs_with_deployment).parameters) == [
        "self",
        "deployment",
        "kwargs",
        "function_name",
    ]
    assert f'"{GENERIC_CALL}"' in inspect.getsource(litellm.Router._ageneric_api_call_with_fallbacks_helper)


def config_with(**raw):
    return parse_config(raw, source="test")


def test_cooldowns_are_off_unless_router_settings_ask():
    assert _router_kwargs(litellm.Router, config_with())["disable_cooldowns"] is True
    asked = config_with(router_settings={"allowed_fails": 3, "cooldown_time": 5})
    assert _router_kwargs(litellm.Router, asked)["disable_cooldowns"] is False


def test_litellm_settings_become_router_settings():
    kwargs = _router_kwargs(
        litellm.Router,
        config_with(litellm_settings={"num_retries": 2, "request_timeout": 12}, router_settings={"bogus": 1}),
    )
    assert kwargs["num_retries"] == 2
    assert kwargs["timeout"] == 12
    assert "bogus" not in kwargs


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        ("https://api.supermemory.ai/v3/https://api.openai.com/v1", True),
        ("http://sm.local/v3/http://provider/v1", True),
        ("https://api.openai.com/v1", False),
        (None, False),
    ],
)
def test_memory_router_base_detection(api_base, expected):
    assert is_memory_router_base(api_base, "http://sm.local/") is expected


def memory_router_config():
    return config_with(
        model_list=[
            {"model_name": "plain", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "k"}},
            {
                "model_name": "remembered",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": "k",
                    "api_base": "https://api.supermemory.ai/v3/https://api.openai.com/v1",
                },
            },
            {"model_name": "claude/*", "litellm_params": {"model": "anthropic/*", "api_key": "k"}},
        ],
        router_settings={"model_group_alias": {"alias": "plain"}},
        context_retrieval={"api_key": "sm-key-123"},
    )


def chat_call(model: str, **payload) -> ChatCompletionCall:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **payload}
    return ChatCompletionCall(model=model, payload=body, stream=False, user_id="pycharm-ai")


async def test_memory_router_headers_only_for_memory_router_models(mock_litellm_completion):
    backend = SdkBackend(memory_router_config())
    await backend.start()
    try:
        await backend.chat(chat_call("remembered"))
        sent = mock_litellm_completion.await_args.kwargs
        assert sent["extra_headers"] == {"x-sm-user-id": "pycharm-ai", "x-supermemory-api-key": "sm-key-123"}
        await backend.chat(chat_call("plain"))
        assert "extra_headers" not in mock_litellm_completion.await_args.kwargs
    finally:
        await backend.close()


async def test_client_cannot_set_litellm_control_fields(mock_litellm_completion):
    backend = SdkBackend(memory_router_config())
    await backend.start()
    try:
        await backend.chat(
            chat_call(
                "plain",
                api_base="http://evil",
                api_key="stolen",
                extra_headers={"x": "y"},
                litellm_logging_obj=1,
                mock_response="x",
                temperature=0.3,
                unknown_future_field=True,
            )
        )
        sent = mock_litellm_completion.await_args.kwargs
        assert sent.get("api_base") != "http://evil"
        assert sent["api_key"] == "k"  # the deployment's key, from the config
        assert "mock_response" not in sent
        assert sent["temperature"] == 0.3
        assert sent["unknown_future_field"] is True
    finally:
        await backend.close()


async def test_models_aliases_and_wildcards():
    backend = SdkBackend(memory_router_config())
    await backend.start()
    try:
        assert backend.has_model("plain")
        assert backend.has_model("alias")
        assert backend.has_model("claude/claude-3-5-haiku")
        assert not backend.has_model("missing")
        assert [m["id"] for m in await backend.list_models()] == ["plain", "remembered", "claude/*", "alias"]
        assert await backend.ready()
    finally:
        await backend.close()
    with pytest.raises(RuntimeError, match="not started"):
        backend.has_model("plain")


async def test_start_loads_litellms_tokenizer_beside_startup(monkeypatch):
    """The first streamed answer must not pay for loading tiktoken (LiteLLM counts stream tokens with it)."""
    import litellm

    counted: list[str] = []
    monkeypatch.setattr(litellm, "token_counter", lambda **kwargs: counted.append(kwargs["model"]) or 2)
    backend = SdkBackend(memory_router_config())
    await backend.start()
    try:
        await backend.tokenizer_warmed
        assert counted == ["gpt-4o-mini"]
    finally:
        await backend.close()


async def test_every_deployment_gets_a_session_client(mock_litellm_session):
    config = conformance_config(MOCK_PROVIDER_URL, "http://127.0.0.1:9")
    backend = SdkBackend(config, session=mock_litellm_session)
    await backend.start()
    try:
        clients = backend._session_clients
        assert len(clients) == len(config.model_list)
        openai_client = next(c for c in clients.values() if hasattr(c, "chat"))
        assert openai_client._client is mock_litellm_session.client
        handler = next(c for c in clients.values() if not hasattr(c, "chat"))
        assert handler.client is mock_litellm_session.client
    finally:
        await backend.close()


async def test_provider_without_a_key_keeps_litellms_own_client(mock_litellm_session):
    config = config_with(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini"}}])
    backend = SdkBackend(config, session=mock_litellm_session)
    await backend.start()
    try:
        assert backend._session_clients == {}
    finally:
        await backend.close()

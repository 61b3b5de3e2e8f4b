"""The sdk backend's wiring: Router settings, provider headers, safe kwargs, the session in every call."""

from __future__ import annotations

import litellm

from conformance.harness import conformance_config
from conformance.mocks import MOCK_PROVIDER_URL
from proxy.backends.litellm_adapter import router_kwargs
from proxy.backends.sdk import SdkBackend
from proxy.call import Api, Call
from proxy.config import parse_config


def config_with(**raw):
    return parse_config(raw, source="test")


def test_cooldowns_are_off_unless_router_settings_ask():
    assert router_kwargs(litellm.Router, config_with())["disable_cooldowns"] is True
    asked = config_with(router_settings={"allowed_fails": 3, "cooldown_time": 5})
    assert router_kwargs(litellm.Router, asked)["disable_cooldowns"] is False


def test_litellm_settings_become_router_settings():
    kwargs = router_kwargs(
        litellm.Router,
        config_with(litellm_settings={"num_retries": 2, "request_timeout": 12}, router_settings={"bogus": 1}),
    )
    assert kwargs["num_retries"] == 2
    assert kwargs["timeout"] == 12
    assert "bogus" not in kwargs


def models_config():
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


def chat_call(model: str, headers: dict[str, str] | None = None, **payload) -> Call:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **payload}
    return Call(api=Api.CHAT, model=model, payload=body, provider_headers=headers or {})


async def test_provider_headers_reach_litellm_as_extra_headers(mock_litellm_completion):
    backend = SdkBackend(models_config())
    await backend.start()
    try:
        await backend.complete(
            chat_call("remembered", {"x-sm-user-id": "pycharm-ai", "anthropic-beta": "b1"})
        )
        sent = mock_litellm_completion.await_args.kwargs
        assert sent["extra_headers"] == {"x-sm-user-id": "pycharm-ai", "anthropic-beta": "b1"}
        await backend.complete(chat_call("plain"))
        assert "extra_headers" not in mock_litellm_completion.await_args.kwargs
    finally:
        await backend.close()


async def test_client_cannot_set_litellm_control_fields(mock_litellm_completion):
    backend = SdkBackend(models_config())
    await backend.start()
    try:
        await backend.complete(
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


async def test_start_loads_litellms_tokenizer_beside_startup(monkeypatch):
    """The first streamed answer must not pay for loading tiktoken (LiteLLM counts stream tokens with it)."""
    import litellm

    counted: list[str] = []
    monkeypatch.setattr(litellm, "token_counter", lambda **kwargs: counted.append(kwargs["model"]) or 2)
    backend = SdkBackend(models_config())
    await backend.start()
    try:
        await backend.tokenizer_warmed
        assert counted == ["gpt-4o-mini"]
    finally:
        await backend.close()


async def test_every_call_goes_through_the_session_and_only_while_the_backend_runs(mock_litellm_session):
    """OpenAI-SDK providers take the session as litellm.aclient_session; the others (Anthropic here) as the
    handler their deployment and their chat calls carry. Closing the backend gives LiteLLM its own back."""
    config = conformance_config(MOCK_PROVIDER_URL, "http://127.0.0.1:9")
    backend = SdkBackend(config, session=mock_litellm_session)
    before = litellm.aclient_session
    await backend.start()
    try:
        assert litellm.aclient_session is mock_litellm_session.client
        claude = backend._call_kwargs(Call(api=Api.CHAT, model="claude-fake", payload={"messages": []}))
        assert claude["client"].client is mock_litellm_session.client
        gpt = backend._call_kwargs(Call(api=Api.CHAT, model="gpt-fake", payload={"messages": []}))
        assert "client" not in gpt
    finally:
        await backend.close()
    assert litellm.aclient_session is before

"""Seed group 4: the session was mocked with a sync ``Mock`` (not awaitable, no cookies), and
``LiteLLMSessionManager.get_session`` did not even exist.

Here the session is a real ``httpx.AsyncClient`` (its transport reaches the fake provider in process), the
sdk backend sends every provider call through it, whatever the provider's format, and its cookie jar
carries Cloudflare's ``cf_clearance`` across sequential and concurrent calls.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conformance.fakes import echo_reply, fake_directive
from conformance.harness import conformance_config
from conformance.mocks import MOCK_PROVIDER_URL
from conformance.suites.support import model_calls, unique
from proxy.backends.sdk import SdkBackend
from proxy.call import Api, Call

MODELS = ["gpt-fake", "claude-fake"]


@pytest.fixture
async def backend_on_mock_session(mock_litellm_session):
    config = conformance_config(MOCK_PROVIDER_URL, "http://127.0.0.1:9")
    backend = SdkBackend(config, session=mock_litellm_session)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


def call(text: str, model: str = "gpt-fake") -> Call:
    payload = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 20}
    return Call(api=Api.CHAT, model=model, payload=payload)


async def test_session_is_a_real_async_client(mock_litellm_session):
    client = mock_litellm_session.client
    assert isinstance(client, httpx.AsyncClient)
    async with client.stream("GET", f"{MOCK_PROVIDER_URL}/v1/models") as response:
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200
        await response.aread()
    assert mock_litellm_session.client is client  # one session, not one per call


@pytest.mark.parametrize("model", MODELS)
async def test_litellm_sdk_call_goes_through_the_session(backend_on_mock_session, fake_provider, model):
    text = unique()
    answer = await backend_on_mock_session.complete(call(text, model))
    assert answer["choices"][0]["message"]["content"] == echo_reply(text)
    # The fake is reachable only through the session's transport: a call that bypassed it would fail.
    assert len(model_calls(fake_provider)) == 1


@pytest.mark.parametrize("model", MODELS)
async def test_cookies_persist_across_calls(backend_on_mock_session, fake_provider, model):
    challenge = fake_directive("cookie_challenge")
    await backend_on_mock_session.complete(call(unique(challenge), model))
    assert backend_on_mock_session.session.cookies.get("cf_clearance") == fake_provider.cookie_value
    await backend_on_mock_session.complete(call(unique(challenge), model))
    assert f"cf_clearance={fake_provider.cookie_value}" in model_calls(fake_provider)[-1].headers["cookie"]


async def test_concurrent_requests_share_session(backend_on_mock_session, fake_provider):
    challenge = fake_directive("cookie_challenge")
    await backend_on_mock_session.complete(call(unique(challenge)))
    answers = await asyncio.gather(
        *(backend_on_mock_session.complete(call(unique(challenge), MODELS[i % 2])) for i in range(8))
    )
    assert len(answers) == 8
    for record in model_calls(fake_provider)[1:]:
        assert record.status == 200
        assert f"cf_clearance={fake_provider.cookie_value}" in record.headers["cookie"]


async def test_session_closed_on_shutdown(mock_litellm_session):
    backend = SdkBackend(
        conformance_config(MOCK_PROVIDER_URL, "http://127.0.0.1:9"), session=mock_litellm_session
    )
    await backend.start()
    client = mock_litellm_session.client
    await backend.close()
    assert client.is_closed

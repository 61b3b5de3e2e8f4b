"""Client credentials: a model may use the caller's own provider key or subscription token instead of the
config's, and the proxy's own key then travels in a header of its own; neither is ever given to the other."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.capabilities import Capability
from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import chat_body, last_call, model_calls, unique

__all__ = ["OAUTH_TOKEN", "ClientCredentialsSuite"]

OAUTH_TOKEN = "sk-ant-oat01-client-subscription-token-0123456789"
"""What a Claude Pro/Max subscription's Claude Code sends as its Bearer token (shape only)."""
CLIENT_KEY = "sk-ant-api03-client-own-key-0123456789"
OPENAI_CLIENT_KEY = "sk-proj-client-own-key-0123456789"
PROXY_KEY = "proxy-key-for-the-team-0123456789"
CONFIG_ANTHROPIC_KEY = "sk-ant-fake-provider-key-0123456789"
CONFIG_OPENAI_KEY = "sk-fake-provider-key-0123456789"
SETTINGS = {"memory_proxy": {"client_credentials": ["claude-fake", "gpt-fake"]}}
"""claude-fake and gpt-fake use the caller's credentials; every other model the config's."""
MESSAGES = {"model": "claude-fake", "max_tokens": 50}


def _ask_claude(http: Any, text: str, **body: Any) -> Any:
    return http.post(
        "/v1/messages", json={**MESSAGES, "messages": [{"role": "user", "content": text}], **body}
    )


@pytest.mark.parity
@pytest.mark.requires(Capability.CLIENT_CREDENTIALS)
class ClientCredentialsSuite:
    def test_a_subscription_token_reaches_anthropic_as_a_bearer_with_its_beta(self, open_proxy):
        """A Claude subscription's OAuth token reaches the provider as the Authorization Bearer, with
        Anthropic's OAuth beta, and never as x-api-key; the config's key is not sent."""
        with (
            open_proxy(**SETTINGS) as proxy,
            proxy.client(headers={"authorization": f"Bearer {OAUTH_TOKEN}"}) as http,
        ):
            response = _ask_claude(http, unique())
            assert response.status_code == 200, response.text
            upstream = last_call(proxy.provider)
        assert upstream.headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
        assert "oauth-2025-04-20" in upstream.headers.get("anthropic-beta", "")
        assert "x-api-key" not in upstream.headers
        assert CONFIG_ANTHROPIC_KEY not in str(upstream.headers)

    def test_the_sdks_own_keys_reach_their_providers(self, open_proxy):
        """An anthropic SDK's api_key reaches an Anthropic provider as x-api-key, an openai SDK's as the
        Bearer of an OpenAI provider, each instead of the config's key; the answers are the provider's."""
        text = unique()
        with open_proxy(**SETTINGS) as proxy:
            message = proxy.anthropic(api_key=CLIENT_KEY).messages.create(
                **MESSAGES, messages=[{"role": "user", "content": text}]
            )
            anthropic_call = last_call(proxy.provider)
            completion = proxy.openai(api_key=OPENAI_CLIENT_KEY).chat.completions.create(
                model="gpt-fake", messages=[{"role": "user", "content": text}]
            )
            openai_call = last_call(proxy.provider)
        assert message.content[0].text == echo_reply(text)
        assert anthropic_call.headers["x-api-key"] == CLIENT_KEY
        assert completion.choices[0].message.content == echo_reply(text)
        assert openai_call.headers["authorization"] == f"Bearer {OPENAI_CLIENT_KEY}"

    def test_a_model_without_the_setting_keeps_the_configs_key(self, open_proxy):
        """A model not named in client_credentials is called with the config's key, whatever the client
        sends."""
        with open_proxy(**SETTINGS) as proxy, proxy.client(headers={"x-api-key": CLIENT_KEY}) as http:
            wildcard = _ask_claude(http, unique(), model="claude-any/claude-sonnet-4-6")
            assert wildcard.status_code == 200, wildcard.text
            anthropic_call = last_call(proxy.provider)
            short = http.post(
                "/v1/chat/completions", json=chat_body(unique(), model="gpt-fake-short-timeout")
            )
            assert short.status_code == 200, short.text
            openai_call = last_call(proxy.provider)
        assert anthropic_call.headers["x-api-key"] == CONFIG_ANTHROPIC_KEY
        assert openai_call.headers["authorization"] == f"Bearer {CONFIG_OPENAI_KEY}"
        assert CLIENT_KEY not in str(anthropic_call.headers) + str(openai_call.headers)

    def test_without_a_credential_the_model_answers_401_before_the_provider(self, open_proxy):
        """A model that uses the caller's credentials, asked without any, is a 401 in the protocol's
        envelope saying what to send; nothing reaches the provider."""
        with open_proxy(**SETTINGS) as proxy, proxy.client() as http:
            response = _ask_claude(http, unique())
            calls = model_calls(proxy.provider)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "authentication_error"
        assert "x-api-key" in response.json()["error"]["message"]
        assert calls == []

    @pytest.mark.requires(Capability.PROXY_AUTH)
    def test_the_proxy_key_travels_in_its_own_header_beside_the_clients(self, open_proxy):
        """With a proxy key, the client sends it in x-memory-proxy-key and its provider credential as
        usual: the provider gets the credential, never the proxy key."""
        settings = {"memory_proxy": {**SETTINGS["memory_proxy"], "auth_key": PROXY_KEY}}
        headers = {"x-memory-proxy-key": PROXY_KEY, "authorization": f"Bearer {OAUTH_TOKEN}"}
        with open_proxy(**settings) as proxy, proxy.client(headers=headers) as http:
            response = _ask_claude(http, unique())
            assert response.status_code == 200, response.text
            upstream = last_call(proxy.provider)
            wrong = http.post(
                "/v1/messages",
                headers={"x-memory-proxy-key": "not-the-key-0123"},
                json={**MESSAGES, "messages": [{"role": "user", "content": "hi"}]},
            )
        assert upstream.headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
        assert PROXY_KEY not in str(upstream.headers) and PROXY_KEY not in upstream.text
        assert wrong.status_code == 401

    @pytest.mark.requires(Capability.PROXY_AUTH)
    def test_the_proxy_key_is_never_sent_on_as_a_provider_credential(self, open_proxy):
        """A client that sends the proxy key where the provider credential goes (and no other) gets a 401
        saying where each belongs; the proxy key never reaches the provider."""
        settings = {"memory_proxy": {**SETTINGS["memory_proxy"], "auth_key": PROXY_KEY}}
        with open_proxy(**settings) as proxy, proxy.client(headers={"x-api-key": PROXY_KEY}) as http:
            response = _ask_claude(http, unique())
            calls = model_calls(proxy.provider)
        assert response.status_code == 401, response.text
        assert "x-memory-proxy-key" in response.json()["error"]["message"]
        assert calls == []

    @pytest.mark.requires(Capability.ERROR_NORMALISATION)
    @pytest.mark.parametrize("directive", ["auth", "malformed"])
    def test_a_refused_or_garbled_answer_never_shows_the_clients_credential(self, open_proxy, directive):
        """A provider's 401 for the client's token is a 401 in Anthropic's envelope, and an answer that
        echoes the credentials it got (the fake's ``malformed``) is a 502: neither body holds the token."""
        with (
            open_proxy(**SETTINGS) as proxy,
            proxy.client(headers={"authorization": f"Bearer {OAUTH_TOKEN}"}) as http,
        ):
            response = _ask_claude(http, f"hi {fake_directive(directive)}")
        assert response.status_code == (401 if directive == "auth" else 502), response.text
        assert response.json()["type"] == "error"
        assert OAUTH_TOKEN not in response.text
        assert "client-subscription-token" not in response.text

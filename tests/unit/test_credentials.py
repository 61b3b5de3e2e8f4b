"""A client's own provider credential, and the proxy's key beside it: found, refused, masked, configured."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from proxy.auth import ProxyKey
from proxy.backends.binary import BinaryBackend
from proxy.call import Api, Call
from proxy.config import ConfigError, parse_config
from proxy.credentials import provider_credential, without_credentials
from proxy.errors import AuthenticationFailed, UpstreamUnreachable

TOKEN = "sk-ant-oat01-a-subscription-token"
KEY = "the-proxy-key-0123"
MODELS = [{"model_name": "claude", "litellm_params": {"model": "anthropic/claude-x"}}]


def _request(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


@pytest.mark.parametrize(
    "headers", [{"authorization": f"Bearer {TOKEN}"}, {"x-api-key": TOKEN}], ids=["bearer", "x-api-key"]
)
def test_the_credential_is_the_bearer_or_the_api_key(headers):
    """A client's credential is its Authorization Bearer or its x-api-key, as its SDK sends it."""
    assert provider_credential(Headers(headers), "claude", ProxyKey(None)) == TOKEN
    headers = {**headers, "x-memory-proxy-key": KEY}
    assert provider_credential(Headers(headers), "claude", ProxyKey(KEY)) == TOKEN


def test_no_credential_or_the_proxy_key_as_one_is_a_401_saying_what_to_send():
    """Without a credential the answer says where one goes; the proxy's key is never taken for one."""
    with pytest.raises(AuthenticationFailed, match="Authorization: Bearer or x-api-key"):
        provider_credential(Headers({}), "claude", ProxyKey(None))
    with pytest.raises(AuthenticationFailed, match="x-memory-proxy-key"):
        provider_credential(Headers({"authorization": f"Bearer {KEY}"}), "claude", ProxyKey(KEY))


def test_the_proxy_key_in_its_own_header_is_the_only_one_checked():
    """With x-memory-proxy-key the key is read there alone (Authorization is the provider's then); without
    it, from the Bearer or x-api-key as before."""
    key = ProxyKey(KEY)
    assert key.presented_by(_request({"x-memory-proxy-key": KEY, "authorization": f"Bearer {TOKEN}"}))
    assert not key.presented_by(
        _request({"x-memory-proxy-key": "wrong-key-0123", "authorization": f"Bearer {KEY}"})
    )
    assert key.presented_by(_request({"authorization": f"Bearer {KEY}"}))
    assert key.presented_by(_request({"x-api-key": KEY}))
    assert not key.presented_by(_request({"authorization": f"Bearer {TOKEN}"}))


def test_every_key_the_client_sent_is_masked_in_an_error():
    """An error quoting what the provider got has the client's credentials masked, however quoted."""
    custom = "an-azure-style-key-without-a-prefix"
    error = UpstreamUnreachable(f"the provider said: bad key {custom}; header was Bearer {custom}")
    masked = without_credentials(error, Headers({"x-api-key": custom}))
    assert custom not in masked.message
    assert "[REDACTED]" in masked.message


def test_client_credentials_must_name_configured_models():
    """memory_proxy.client_credentials names models of model_list; another name is a config error."""
    config = parse_config(
        {"model_list": MODELS, "memory_proxy": {"client_credentials": ["claude"]}}, source="test"
    )
    assert config.memory_proxy.client_credentials == ["claude"]
    with pytest.raises(ConfigError, match="not a model_name"):
        parse_config({"model_list": MODELS, "memory_proxy": {"client_credentials": ["gpt"]}}, source="test")


def test_the_binary_backend_needs_the_litellm_proxy_to_pass_a_key_on():
    """The binary backend refuses to start with client_credentials unless the LiteLLM proxy forwards a
    client's key (forward_llm_provider_auth_headers), and sends the credential as x-api-key beside the
    master key in x-litellm-api-key."""
    raw = {"model_list": MODELS, "memory_proxy": {"client_credentials": ["claude"]}}
    with pytest.raises(ConfigError, match="forward_llm_provider_auth_headers"):
        BinaryBackend(parse_config(raw, source="test"))
    settings = {"forward_llm_provider_auth_headers": True, "master_key": "sk-master-0123456789"}
    backend = BinaryBackend(parse_config({**raw, "general_settings": settings}, source="test"))
    call = Call(Api.MESSAGES, "claude", {"messages": []}).with_credential(TOKEN)
    assert backend._headers_for(call) == {"x-api-key": TOKEN, "x-litellm-api-key": "sk-master-0123456789"}
    assert TOKEN not in repr(call)

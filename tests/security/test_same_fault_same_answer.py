"""The same fault gets the same answer on both APIs and both backends, with nothing secret in it."""

from __future__ import annotations

import pytest

from conformance.suites.support import chat_body, unique

pytestmark = pytest.mark.parity

URL_PASSWORD = "url-password-0123456789"
"""In the api_base of the conformance config's *-unreachable-basic-auth models."""


@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"], ids=["chat", "messages"])
@pytest.mark.parametrize("model", ["gpt-unreachable-basic-auth", "claude-unreachable-basic-auth"])
def test_an_unreachable_provider_with_credentials_in_its_url_is_a_502_naming_no_password(
    open_proxy, model, path, stream
):
    """A model whose api_base carries a user and password (http://user:pass@host) and cannot be reached:
    502 on both APIs (it was a 500 on /v1/messages), and the password appears nowhere in the answer."""
    with open_proxy() as proxy, proxy.client() as http:
        response = http.post(path, json=chat_body(unique(), model=model, max_tokens=20, stream=stream))
    assert response.status_code == 502, response.text
    assert URL_PASSWORD not in response.text

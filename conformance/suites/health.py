"""Health and the optional proxy key."""

from __future__ import annotations

import pytest

from conformance.capabilities import Capability
from conformance.suites.support import chat_body, last_call, model_calls, unique

__all__ = ["HealthSuite"]

PROXY_KEY = "proxy-key-for-conformance-0123456789"


@pytest.mark.parity
class HealthSuite:
    def test_liveness(self, proxy):
        """/health answers 200 once the proxy has started."""
        with proxy.client() as http:
            assert http.get("/health").status_code == 200

    @pytest.mark.requires(Capability.HEALTH_DETAILS)
    def test_health_names_the_backend_and_readiness_is_ready(self, proxy):
        """/health names the backend; /health/readiness is 200 once the backend started."""
        with proxy.client() as http:
            live = http.get("/health")
            ready = http.get("/health/readiness")
        assert live.json()["backend"] == proxy.backend.name
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"

    @pytest.mark.requires(Capability.PROXY_AUTH, Capability.IDENTIFICATION)
    def test_health_needs_no_key_but_the_api_does(self, make_proxy):
        """With auth_key set, /health stays open while the API answers 401 without the key."""
        proxy = make_proxy(memory_proxy={"auth_key": PROXY_KEY})
        with proxy.client() as http:
            assert http.get("/health").status_code == 200
            for path in ("/v1/models", "/memory-routing/info"):
                response = http.get(path)
                assert response.status_code == 401
                assert response.json()["error"]["code"] == "invalid_api_key"
                assert PROXY_KEY not in response.text

    @pytest.mark.requires(Capability.PROXY_AUTH)
    @pytest.mark.parametrize(
        "headers",
        [{"authorization": f"Bearer {PROXY_KEY}"}, {"x-api-key": PROXY_KEY}],
        ids=["bearer", "x-api-key"],
    )
    def test_proxy_key_accepted_as_bearer_or_x_api_key(self, make_proxy, fake_provider, headers):
        """The proxy key works as 'Authorization: Bearer' and as 'x-api-key', and is not sent upstream."""
        proxy = make_proxy(memory_proxy={"auth_key": PROXY_KEY})
        with proxy.client(headers=headers) as http:
            response = http.post("/v1/chat/completions", json=chat_body(unique()))
        assert response.status_code == 200
        upstream = last_call(fake_provider)
        assert PROXY_KEY not in str(upstream.headers)

    @pytest.mark.requires(Capability.PROXY_AUTH)
    def test_wrong_proxy_key_is_401(self, make_proxy, fake_provider):
        """A wrong proxy key is a 401 authentication_error and nothing reaches the provider."""
        proxy = make_proxy(memory_proxy={"auth_key": PROXY_KEY})
        with proxy.client(headers={"authorization": "Bearer wrong"}) as http:
            response = http.post("/v1/chat/completions", json=chat_body(unique()))
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        assert model_calls(fake_provider) == []

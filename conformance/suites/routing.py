"""Routing parity: every backend names the same memory namespace for the same client (seed group 1)."""

from __future__ import annotations

import re

import pytest

from conformance import resources
from conformance.capabilities import Capability
from conformance.fakes import fake_directive
from conformance.suites.support import chat_body, model_calls, unique

__all__ = ["CLIENT_STRINGS", "RoutingSuite"]

_clients = resources.read_json("client_user_agents.json")
CLIENT_STRINGS: list[dict[str, str]] = _clients["real"] + _clients["seed"]
INFO_KEYS = {"user_id", "matched_pattern", "custom_header_present", "is_default"}
"""The seed's flat shape (who the client is), and beside it which memory the request reads and writes."""
SCOPE_KEYS = {"namespace", "client", "project", "project_from", "person"}


@pytest.mark.parity
@pytest.mark.requires(Capability.IDENTIFICATION)
class RoutingSuite:
    @pytest.mark.parametrize("client", CLIENT_STRINGS, ids=[c["user_agent"] for c in CLIENT_STRINGS])
    def test_info_reports_each_clients_namespace_flat(self, proxy, client):
        """/memory-routing/info answers the flat shape with the user_id the client's User-Agent maps to."""
        with proxy.client() as http:
            response = http.get("/memory-routing/info", headers={"user-agent": client["user_agent"]})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == INFO_KEYS | SCOPE_KEYS
        assert body["user_id"] == client["user_id"]
        assert (body["namespace"], body["client"], body["project"]) == (
            client["user_id"],
            client["user_id"],
            None,
        )
        assert body["is_default"] is (client["user_id"] == "default-dev")
        assert body["custom_header_present"] is False
        assert (body["matched_pattern"] is None) is body["is_default"]
        assert response.headers["x-memory-user-id"] == client["user_id"]

    def test_custom_header_overrides_user_agent(self, proxy):
        """An x-memory-user-id header names the namespace whatever the User-Agent says."""
        with proxy.client() as http:
            body = http.get(
                "/memory-routing/info",
                headers={"user-agent": "OpenAIClientImpl/Java", "x-memory-user-id": "project-alpha"},
            ).json()
        assert body == {
            "user_id": "project-alpha",
            "matched_pattern": None,
            "custom_header_present": True,
            "is_default": False,
            "namespace": "project-alpha",
            "client": "project-alpha",
            "project": None,
            "project_from": None,
            "person": None,
        }

    def test_info_names_the_project_a_coding_agent_works_in_and_never_its_path(self, proxy):
        """POSTed a request Claude Code sent, /memory-routing/info says the project its working directory
        names (a readable id, never the path), what named it, and the person whose memory it also reads."""
        captured = resources.read_json("claude-code-2.1.197-tool-loop.json")["requests"][0]
        with proxy.client() as http:
            response = http.post("/memory-routing/info", headers=captured["headers"], json=captured["body"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["client"] == "claude-code"
        assert re.fullmatch(r"project-[0-9a-f]{6}", body["project"]) and body["namespace"] == body["project"]
        assert body["project_from"] == "claude-code working directory"
        assert body["person"].startswith("person:")
        assert "/home/user" not in response.text

    @pytest.mark.parametrize("bad", ["has space", "a/b", "x" * 129])
    def test_invalid_custom_header_is_rejected_before_the_provider(self, proxy, fake_provider, bad):
        """An invalid x-memory-user-id is a 400 in the envelope and never reaches the provider."""
        with proxy.client() as http:
            response = http.post(
                "/v1/chat/completions", json=chat_body(unique()), headers={"x-memory-user-id": bad}
            )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "x-memory-user-id"
        assert model_calls(fake_provider) == []

    def test_every_proxied_response_carries_the_user_id(self, proxy):
        """JSON answers, streams, provider errors and rejected bodies all carry x-memory-user-id."""
        headers = {"user-agent": "claude-cli/2.1.197 (external, cli)"}
        with proxy.client(headers=headers) as http:
            answer = http.post("/v1/chat/completions", json=chat_body(unique()))
            with http.stream("POST", "/v1/chat/completions", json=chat_body(unique(), stream=True)) as stream:
                stream.read()
            failure = http.post("/v1/chat/completions", json=chat_body(fake_directive("rate_limit")))
            rejected = http.post(
                "/v1/chat/completions", content=b"not json", headers={"content-type": "application/json"}
            )
            unknown = http.post("/v1/chat/completions", json=chat_body(unique(), model="no-such-model"))
        assert [r.status_code for r in (answer, stream, failure, rejected, unknown)] == [
            200,
            200,
            429,
            400,
            404,
        ]
        for response in (answer, stream, failure, rejected, unknown):
            assert response.headers["x-memory-user-id"] == "claude-code"

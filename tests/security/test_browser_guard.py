"""The browser boundary's rules, request by request, in process (the real browser is in
test_browser_boundary.py): which Host, Origin and body type get in, and how a refusal is answered."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from conformance.harness import app_client
from proxy.app import create_app
from proxy.browser_guard import MachineNames, host_name
from proxy.config import parse_config
from tests.doubles import CannedBackend

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
MESSAGES = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]}
KEY = "sk-proxy-key-for-the-guard-tests"


def app(**memory_proxy: Any) -> Any:
    settings = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
        "context_retrieval": {"enabled": False},
        "memory_proxy": memory_proxy,
    }
    return create_app(parse_config(settings, source="test"), CannedBackend())


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8764", "127.0.0.1"), ("[::1]:8764", "::1"), ("LocalHost", "localhost"), ("a.b.:80", "a.b")],
)
def test_the_name_in_a_host_header(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize(
    "name",
    ["localhost", "127.0.0.1", "127.1.2.3", "::1", "app.localhost", "proxy.corp.example", "x.lan.example"],
)
def test_names_of_this_machine_and_allowed_ones_are_admitted(name):
    assert MachineNames("127.0.0.1", ["proxy.corp.example", ".lan.example"]).admits(name)


@pytest.mark.parametrize(
    "name", ["rebind.evil.example", "localhost.evil.example", "192.0.2.7", "0.0.0.0", "corp.example", ""]
)
def test_other_names_are_not(name):
    assert not MachineNames("127.0.0.1", ["proxy.corp.example", ".lan.example"]).admits(name)


def test_listening_everywhere_admits_this_hosts_names_and_addresses_but_no_other():
    names = MachineNames("0.0.0.0")
    hostname = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(hostname, None, socket.AF_INET)}
    assert names.admits(hostname.lower())
    assert all(names.admits(address) for address in addresses)
    assert not names.admits("192.0.2.7")  # TEST-NET-1: never an interface of this machine
    assert not names.admits("0.0.0.0")
    assert MachineNames("0.0.0.0", ["*"]).admits("rebind.evil.example")


@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)])
async def test_a_rebinding_host_is_refused_on_every_route_in_the_paths_envelope(path, body):
    async with app_client(app(), "http://rebind.evil.example:8764") as client:
        answers = [
            await client.post(path, json=body),
            await client.get("/v1/models"),
            await client.get("/memory-routing/info", headers={"x-memory-user-id": "bob"}),
            await client.get("/metrics"),
            await client.get("/health"),
            await client.get("/ui/api/overview"),
        ]
    assert [answer.status_code for answer in answers] == [403] * 6
    first = answers[0].json()
    error = first["error"]
    assert error["type"] == "permission_error"
    assert (first.get("type") == "error") is (path == "/v1/messages")  # Anthropic's envelope has a type
    assert "rebind.evil.example" in error["message"] and "allowed_hosts" in error["message"]


async def test_with_a_key_the_key_decides_whatever_the_name():
    async with app_client(app(auth_key=KEY), "http://proxy.team.example") as client:
        refused = await client.post("/v1/chat/completions", json=CHAT)
        admitted = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {KEY}"}
        )
    assert (refused.status_code, admitted.status_code) == (401, 200)
    assert refused.json()["error"]["message"] == (
        "Invalid proxy API key: send the proxy's key as a Bearer token in the Authorization header, or in "
        "x-api-key (or in x-memory-proxy-key, beside a provider credential of your own)."
    )  # whole, not cut by the redaction of credentials


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},  # a sandboxed frame, a file:// page
        {"origin": "http://127.0.0.1:3000"},  # another local server's page: another origin too
        {"sec-fetch-site": "cross-site"},
    ],
)
async def test_a_request_from_another_sites_page_is_refused(headers):
    async with app_client(app(), "http://127.0.0.1:8764") as client:
        answer = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
        console = await client.delete("/ui/api/clients/bob/memories", headers=headers)
    assert (answer.status_code, console.status_code) == (403, 403)
    assert answer.json()["error"]["code"] == "permission_denied"


async def test_the_proxys_own_pages_and_allowed_origins_get_in():
    async with app_client(app(allowed_origins=["https://app.example"]), "http://127.0.0.1:8764") as client:
        own = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"origin": "http://127.0.0.1:8764"}
        )
        allowed = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"origin": "https://app.example"}
        )
        plain = await client.post("/v1/chat/completions", json=CHAT, headers={"sec-fetch-site": "none"})
    assert (own.status_code, allowed.status_code, plain.status_code) == (200, 200, 200)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions", "/v1/messages"])
async def test_an_api_body_not_sent_as_json_is_a_415(path, content_type):
    """The bodies a page can send to another origin without a CORS preflight."""
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"model": "m", "messages": [{"role": "user", "content": "planted"}]}'
    async with app_client(app()) as client:
        answer = await client.post(path, content=body, headers=headers)
    assert answer.status_code == 415
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "Content-Type: application/json" in error["message"]


async def test_json_with_parameters_is_json():
    async with app_client(app()) as client:
        answer = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"content-type": "application/json; charset=utf-8"}
        )
    assert answer.status_code == 200


async def test_switched_off_the_guard_lets_everything_in():
    """The positive control's switch (memory_proxy.browser_guard: false), for a gateway that guards."""
    async with app_client(app(browser_guard=False), "http://rebind.evil.example") as client:
        answer = await client.post(
            "/v1/chat/completions",
            content=b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
            headers={"content-type": "text/plain", "origin": "https://evil.example"},
        )
    assert answer.status_code == 200

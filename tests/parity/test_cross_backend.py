"""Both backends side by side: for every scripted fault, the same status, envelope and Retry-After.

The per-backend suites check each backend against docs/errors.md; this one checks them against each
other, request for request, so that a client cannot tell which backend answered.
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest

from conformance.backends import REGISTRY
from conformance.fakes import fake_directive
from conformance.harness import conformance_raw_config, deep_merge, serve_proxy
from conformance.suites.errors import PROVIDER_FAULTS
from conformance.suites.support import chat_body

pytestmark = pytest.mark.parity
# What differs between any two requests: the provider's request ids, and how long a timeout took.
VARYING = [(re.compile(r"req_[0-9a-f]+"), "req_*"), (re.compile(r"time taken=[0-9.]+"), "time taken=*")]


def normalized(message: str) -> str:
    for pattern, replacement in VARYING:
        message = pattern.sub(replacement, message)
    return message


@pytest.fixture
def both_backends(fake_provider, fake_provider_url, unreachable_url, litellm_proxy_config):
    with ExitStack() as stack:
        proxies = {}
        for name, overrides in (("sdk", {}), ("binary", litellm_proxy_config)):
            config = deep_merge(conformance_raw_config(fake_provider_url, unreachable_url), overrides)
            proxies[name] = stack.enter_context(serve_proxy(REGISTRY[name], config, fake_provider))
        yield proxies


def answer_shape(response):
    body = response.json()
    return {
        "status": response.status_code,
        "retry-after": response.headers.get("retry-after"),
        "user-id": response.headers.get("x-memory-user-id"),
        "content-type": response.headers.get("content-type"),
        "keys": sorted(body),
        "error": {**body["error"], "message": normalized(body["error"]["message"])},
    }


REQUESTS = [
    pytest.param(chat_body(f"x {fake_directive(d, **p)}", model=m, max_tokens=20), id=f"{m}-{d}")
    for m, d, p, _ in PROVIDER_FAULTS
] + [
    pytest.param(chat_body("x", model="gpt-unreachable"), id="unreachable"),
    pytest.param(chat_body("x", model="claude-unreachable"), id="unreachable-anthropic"),
    pytest.param(chat_body("x", model="no-such-model"), id="unknown-model"),
    pytest.param({"model": "gpt-fake"}, id="missing-messages"),
    pytest.param(
        chat_body(f"x {fake_directive('rate_limit', retry_after=4)}", stream=True), id="stream-rate-limit"
    ),
]


@pytest.mark.parametrize("body", REQUESTS)
def test_backends_answer_each_fault_identically(both_backends, body):
    """The same faulty request gets the same status, envelope, message and Retry-After from both."""
    shapes = {}
    for name, proxy in both_backends.items():
        with proxy.client(headers={"user-agent": "OpenAIClientImpl/Java unknown"}) as http:
            shapes[name] = answer_shape(http.post("/v1/chat/completions", json=body))
    assert shapes["sdk"] == shapes["binary"]
    assert shapes["sdk"]["status"] >= 400

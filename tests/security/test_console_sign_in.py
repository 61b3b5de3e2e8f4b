"""Guessing the console's key is slow: a few wrong keys a minute per client, then 429 until it waits;
each failure logged with the address and never with what was entered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from conformance.harness import app_client
from proxy.app import create_app
from proxy.config import parse_config
from proxy.console.sign_in_limit import MAX_FAILURES, WINDOW_SECONDS, SignInLimit
from proxy.launcher import forwarding
from tests.doubles import CannedBackend

KEY = "sk-console-key-0123456789"
LOCAL = "http://127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keyed_app(clock: Clock, **memory_proxy: Any) -> Any:
    settings = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
        "context_retrieval": {"enabled": False},
        "memory_proxy": {"auth_key": KEY, **memory_proxy},
    }
    app = create_app(parse_config(settings, source="test"), CannedBackend())
    app.state.sign_in_limit = SignInLimit(clock=clock)
    return app


async def test_after_a_few_wrong_keys_a_client_must_wait_even_with_the_right_one(caplog):
    clock = Clock()
    async with app_client(keyed_app(clock)) as client:
        wrong = [await client.post("/ui/signin", json={"key": f"guess-{n}"}) for n in range(MAX_FAILURES)]
        limited = await client.post("/ui/signin", json={"key": KEY})
        clock.now += WINDOW_SECONDS + 1
        admitted = await client.post("/ui/signin", json={"key": KEY})
    assert [answer.status_code for answer in wrong] == [401] * MAX_FAILURES
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= WINDOW_SECONDS
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert admitted.status_code == 204
    failures = [record.getMessage() for record in caplog.records if "sign-in" in record.getMessage()]
    assert len(failures) == MAX_FAILURES and all("127.0.0.1" in line for line in failures)
    assert not any("guess-" in record.getMessage() or KEY in record.getMessage() for record in caplog.records)


async def test_the_form_without_javascript_is_limited_too():
    clock = Clock()
    async with app_client(keyed_app(clock)) as client:
        for n in range(MAX_FAILURES):
            await client.post(
                "/ui/signin", data={"key": f"guess-{n}"}, headers={"origin": "http://127.0.0.1"}
            )
        limited = await client.post("/ui/signin", data={"key": KEY}, headers={"origin": "http://127.0.0.1"})
    assert limited.status_code == 429


@pytest.mark.parametrize(
    ("trusted", "separate"), [([], False), (["127.0.0.1"], True)], ids=["untrusted", "trusted"]
)
async def test_forwarded_addresses_count_apart_only_behind_a_trusted_proxy(trusted, separate):
    """With memory_proxy.forwarded_allow_ips, uvicorn (as start-proxies configures it) believes the
    forwarded address, and each client has its own count; without it, X-Forwarded-For is ignored, so a
    guesser cannot escape the limit by inventing addresses."""
    clock = Clock()
    settings = forwarding(parse_config({"memory_proxy": {"forwarded_allow_ips": trusted}}, source="test"))
    app = keyed_app(clock)
    served = app
    if settings["proxy_headers"]:
        served = ProxyHeadersMiddleware(app, trusted_hosts=settings["forwarded_allow_ips"])
    transport = httpx.ASGITransport(app=served)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=LOCAL) as client,
    ):
        for n in range(MAX_FAILURES):
            await client.post(
                "/ui/signin", json={"key": "wrong"}, headers={"x-forwarded-for": f"203.0.113.{n}"}
            )
        next_one = await client.post(
            "/ui/signin", json={"key": "wrong"}, headers={"x-forwarded-for": "203.0.113.99"}
        )
    assert next_one.status_code == (401 if separate else 429)


async def test_guesses_held_back_and_released_together_are_each_counted():
    """Many sign-ins whose bodies arrive only when all are waiting: each wrong key is counted before the
    next one is checked, so no more than the limit get an answer other than 429."""
    clock = Clock()
    release = asyncio.Event()

    async def held_body(key: str):
        await release.wait()
        yield json.dumps({"key": key}).encode()

    async with app_client(keyed_app(clock)) as client:
        json_body = {"content-type": "application/json"}
        guesses = [
            asyncio.create_task(client.post("/ui/signin", content=held_body(f"guess-{n}"), headers=json_body))
            for n in range(MAX_FAILURES * 3)
        ]
        await asyncio.sleep(0.1)  # every request is in, its body not
        release.set()
        answers = await asyncio.gather(*guesses)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * MAX_FAILURES + [429] * (MAX_FAILURES * 2)

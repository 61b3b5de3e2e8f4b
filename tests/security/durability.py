"""What the durability tests share: a real proxy process in front of the fake provider, exchanges sent to it
the way clients send them (both APIs, streaming and not), and a look into the store past the proxy.

The proxy is the binary backend's app pointed straight at the fake provider (which speaks both APIs, as a
LiteLLM proxy does): the app, flow, memory service, journal and store are the ones every backend runs, and
a process without LiteLLM starts in a second, so these tests can afford to start and kill several."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from conformance.harness import conformance_raw_config, deep_merge
from proxy.processes import ManagedProcess, free_port

__all__ = ["Proxy", "contents", "outage_seconds", "proxy_process", "say", "send_many", "wait_until"]


def outage_seconds(name: str, default: float) -> float:
    """How long a fault lasts: short in ``./RUN_TESTS.sh all``, minutes in ``./RUN_TESTS.sh faults``
    (``MEMORY_PROXY_TEST_<NAME>_SECONDS``)."""
    return float(os.environ.get(f"MEMORY_PROXY_TEST_{name}_SECONDS", default))


@dataclass
class Proxy:
    url: str
    process: ManagedProcess

    def status(self) -> dict[str, Any]:
        with httpx.Client(timeout=30) as http:
            status: dict[str, Any] = http.get(f"{self.url}/memory/status").json()
        return status

    def readiness(self) -> dict[str, Any]:
        with httpx.Client(timeout=30) as http:
            body: dict[str, Any] = http.get(f"{self.url}/health/readiness").json()
        return body


@contextmanager
def proxy_process(
    tmp_path: Path, provider_url: str, unreachable_url: str, memory: dict[str, Any], name: str = "proxy"
) -> Iterator[Proxy]:
    """The proxy (``uvicorn proxy.binary:app`` in front of the fake provider) with ``memory`` as its
    context_retrieval section, until the block ends (by then a test may have killed it)."""
    config = deep_merge(
        conformance_raw_config(provider_url, unreachable_url),
        {
            "context_retrieval": {"enabled": True, "semantic": False, **memory},
            "memory_proxy": {"backend": "binary", "litellm_base_url": provider_url},
        },
    )
    config_file = tmp_path / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    environment = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MEMORY_PROXY_", "OPENAI_", "ANTHROPIC_"))
        },
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MEMORY_PROXY_CONFIG": str(config_file),
    }
    command = [sys.executable, "-m", "uvicorn", "proxy.binary:app", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with ManagedProcess(command, env=environment, cwd=tmp_path) as process:
        process.wait_for_line("Uvicorn running on", timeout=120)
        yield Proxy(f"http://127.0.0.1:{port}", process)


def say(http: httpx.Client, user: str, text: str, *, api: str = "chat", stream: bool = False) -> bool:
    """One exchange, as a client sends it; True when the client got its whole answer."""
    if api == "chat":
        path, body = (
            "/v1/chat/completions",
            {"model": "gpt-fake", "messages": [{"role": "user", "content": text}]},
        )
    else:
        path = "/v1/messages"
        body = {"model": "claude-fake", "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    headers = {"x-memory-user-id": user}
    try:
        if not stream:
            return http.post(path, json=body, headers=headers).status_code == 200
        with http.stream("POST", path, json={**body, "stream": True}, headers=headers) as answer:
            text_ = "".join(answer.iter_text())
        end = "data: [DONE]" if api == "chat" else "event: message_stop"
        return answer.status_code == 200 and end in text_
    except httpx.HTTPError:
        return False  # the proxy died mid-answer: not answered


def send_many(url: str, user: str, count: int, *, concurrency: int = 8, prefix: str = "fact") -> list[str]:
    """``count`` distinct exchanges (a quarter each: chat, chat streamed, messages, messages streamed);
    the texts whose answers the client got whole. One client for all (a client per request costs a TLS
    context each, which under the GIL makes thousands of refused requests after a kill take a minute)."""
    plan = [
        (f"{prefix} number {n} is {n * 7919 % 1000}", ("chat", "messages")[n % 4 // 2], n % 2 == 1)
        for n in range(count)
    ]
    client = httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency))
    with client as http, ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda item: say(http, user, item[0], api=item[1], stream=item[2]), plan))
    return [text for (text, _, _), answered in zip(plan, results, strict=True) if answered]


def contents(store: Path, user: str) -> list[str]:
    """What the local store file holds for ``user`` (read past the proxy)."""
    from proxy.memory.stores.local.store import LocalMemoryStore

    async def read() -> list[str]:
        opened = LocalMemoryStore(store)
        try:
            return [record.content for record in await opened.list(user, limit=100_000)]
        finally:
            await opened.close()

    return asyncio.run(read())


def wait_until(condition: Any, timeout: float, what: str) -> float:
    """Poll ``condition()`` until true; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:g} s"
        time.sleep(0.1)
    return time.monotonic() - started

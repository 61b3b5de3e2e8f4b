"""``--workers 4`` acts as one proxy: a conversation whose turns land on different workers carries the same
memory blocks, byte for byte, on every turn, so the provider's prompt cache keeps hitting (the shared
ledger, :mod:`proxy.memory.shared_ledger`); the console lists every worker's requests and ``/metrics``
counts them all. Real worker processes on one port, the echoing demo model."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx
import pytest

from proxy.demo import DEMO_MODEL_LIST, DEMO_SETTINGS
from proxy.processes import ManagedProcess, free_port
from tests.integration.test_entry_points import _spawned_workers, child_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.stack,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc"),
]

FACTS = [
    "Our staging database is called Orca.",
    "The billing service deploys from the release branch.",
    "Invoices are rendered with WeasyPrint.",
    "The on-call rota lives in the team wiki.",
]
QUESTIONS = [
    "Which database do we use for staging?",
    "How does the billing service deploy?",
    "What renders our invoices?",
    "Where is the on-call rota?",
]


def until_recalled(http: httpx.Client, asked: dict[str, Any]) -> int:
    """Ask until memory is used (write-back runs after the answer); how many requests it took."""
    for attempt in range(1, 51):
        if http.post("/v1/chat/completions", json=asked).headers["x-memory-status"] == "used":
            return attempt
        time.sleep(0.1)
    raise AssertionError("memory was not used after 50 tries")


def until_listed(http: httpx.Client, expected: int) -> int:
    """How many requests the console lists, once it lists ``expected`` (records are written off the
    request path) or after a few seconds."""
    deadline = time.monotonic() + 10
    while True:
        listed = http.get("/ui/api/requests", params={"limit": 1000}, headers={"connection": "close"})
        count = len(listed.json()["requests"])
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def requests_counted(exposition: str) -> int:
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in exposition.splitlines()
            if line.startswith("memory_proxy_requests_total{")
        )
    )


def provider_saw(answer: str) -> list[str]:
    """What the demo model received, one line per message (its answer echoes them)."""
    return answer.split("\n")[1:]


def test_a_conversation_spread_over_four_workers_keeps_one_set_of_memory_blocks(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": DEMO_MODEL_LIST,
                "litellm_settings": DEMO_SETTINGS,
                "context_retrieval": {
                    "local_store_path": str(tmp_path / "memory.sqlite3"),
                    "semantic": False,
                },
            }
        )
    )
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "proxy.launcher", "--config", str(config), "--port", str(port)]
    with ManagedProcess([*command, "--workers", "4"], env=child_env(), cwd=tmp_path) as launcher:
        launcher.wait_for_line(r"memory proxy \(4 workers\) at", timeout=120)
        launcher.wait_for_line(r"Application startup complete", timeout=120)
        sent = 0
        for fact, question in zip(FACTS, QUESTIONS, strict=True):
            told = {"model": "demo", "messages": [{"role": "user", "content": f"Remember: {fact}"}]}
            asked = {"model": "demo", "messages": [{"role": "user", "content": question}]}
            with httpx.Client(base_url=base_url, timeout=60) as http:
                assert http.post("/v1/chat/completions", json=told).is_success
                sent += 1 + until_recalled(http, asked)  # stored, and searchable from every worker
        assert len(_spawned_workers(launcher.process.pid)) == 4

        messages: list[dict[str, Any]] = []
        seen: list[list[str]] = []
        statuses = []
        for turn in range(20):
            text = QUESTIONS[turn % len(QUESTIONS)] if turn % 5 == 0 else f"Turn {turn}: go on with the plan."
            messages.append({"role": "user", "content": text})
            with httpx.Client(base_url=base_url, timeout=60) as http:  # a new connection: any worker
                answer = http.post(
                    "/v1/chat/completions",
                    json={"model": "demo", "messages": messages},
                    headers={"connection": "close"},
                )
            assert answer.is_success, answer.text
            sent += 1
            statuses.append(answer.headers["x-memory-status-reason"])
            reply = answer.json()["choices"][0]["message"]["content"]
            seen.append(provider_saw(reply))
            messages.append({"role": "assistant", "content": f"Answer {turn}."})  # the echo grows too fast

        with httpx.Client(base_url=base_url, timeout=60) as http:
            listed = [until_listed(http, sent) for _ in range(4)]  # any worker answers: each lists all
            counted = [
                requests_counted(http.get("/metrics", headers={"connection": "close"}).text) for _ in range(4)
            ]

    assert listed == [sent] * 4
    assert counted == [sent] * 4
    assert any("Orca" in line for line in seen[0]), seen[0]
    for turn in range(1, 20):
        earlier, now = seen[turn - 1], seen[turn]
        assert now[: len(earlier)] == earlier, (
            f"turn {turn + 1} changed what turn {turn} sent (the prompt cache would miss): {statuses[turn]}"
        )
    blocks = [line for line in seen[-1] if "Orca" in line or "WeasyPrint" in line]
    assert blocks, seen[-1]

"""What a person pastes is remembered without its credentials, and a request can say "do not remember"."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from conformance.harness import app_client
from proxy.app import create_app
from proxy.config import parse_config
from proxy.memory.secrets import MASK
from tests.doubles import CannedBackend

KEY = "sk-ant-api03-" + "Zx9" * 30
PASSWORD = "Tr0ub4dor-and-3"


def app(store: Path, backend: CannedBackend) -> Any:
    settings = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
        "context_retrieval": {"local_store_path": str(store), "semantic": False},
    }
    return create_app(parse_config(settings, source="test"), backend)


def sent(backend: CannedBackend) -> str:
    """What the provider got last, memory included."""
    return json.dumps(backend.calls[-1].payload)


async def say(client: httpx.AsyncClient, user: str, text: str, **headers: str) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    answer = await client.post(
        "/v1/chat/completions", json=body, headers={"x-memory-user-id": user, **headers}
    )
    assert answer.status_code == 200, answer.text
    return answer


async def memories(client: httpx.AsyncClient, user: str, stored: int) -> list[str]:
    """``user``'s memories once write-back has stored ``stored`` exchanges (it runs after the answer)."""
    deadline = time.monotonic() + 10
    while (await client.get("/memory/status")).json()["write_back"]["stored"] < stored:
        assert time.monotonic() < deadline, "write-back did not store the exchanges in time"
        await asyncio.sleep(0.02)
    found = (await client.get(f"/ui/api/clients/{user}/memories")).json()["memories"]
    return [memory["content"] for memory in found]


async def test_a_pasted_key_is_stored_masked_and_never_injected(tmp_path):
    backend = CannedBackend()
    async with app_client(app(tmp_path / "memory.sqlite3", backend)) as client:
        await say(client, "sam", f"my deploy failed, key {KEY} and DB_PASSWORD={PASSWORD}, on bazel 7")
        [stored] = await memories(client, "sam", 1)
        later = await say(client, "sam", "which bazel version did the deploy use?")
    assert KEY not in stored and PASSWORD not in stored
    assert stored.count(MASK) >= 2 and "on bazel 7" in stored  # the rest of what was said is kept
    assert later.headers["x-memory-status"] == "used"
    assert KEY not in sent(backend) and PASSWORD not in sent(backend)
    assert "bazel 7" in sent(backend)
    assert KEY not in (tmp_path / "memory.sqlite3").read_bytes().decode("latin-1")


async def test_x_memory_store_off_keeps_the_exchange_out_of_memory_but_still_recalls(tmp_path):
    backend = CannedBackend()
    async with app_client(app(tmp_path / "memory.sqlite3", backend)) as client:
        await say(client, "sam", "my editor is Helix")
        await memories(client, "sam", 1)
        off = {"x-memory-store": "off"}
        private = await say(client, "sam", "what is my editor? this one is private", **off)
        private_sent = sent(backend)
        await say(client, "sam", "my shell is fish")  # queued after the private one, were it queued
        kept = await memories(client, "sam", 2)
    assert private.headers["x-memory-status"] == "used" and "Helix" in private_sent
    assert "not stored (x-memory-store: off)" in private.headers["x-memory-status-reason"]
    assert len(kept) == 2 and not any("private" in memory for memory in kept)

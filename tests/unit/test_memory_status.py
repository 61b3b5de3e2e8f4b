"""Memory's state seen from outside: readiness knows a broken store at start-up, /memory/status counts
what write-back did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.harness import app_client
from proxy.app import create_app
from proxy.config import parse_config
from proxy.memory import service as service_module
from tests.doubles import CannedBackend


def config(store_path: Path, **memory_proxy: Any):
    return parse_config(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
            "context_retrieval": {"local_store_path": str(store_path), "semantic": False},
            "memory_proxy": memory_proxy,
        },
        source="test",
    )


def ask(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


async def test_a_store_that_cannot_open_makes_the_proxy_not_ready_but_still_answering(
    tmp_path: Path, monkeypatch
):
    # Nor can its journal beside it: shutdown would wait out the flush timeout for the exchange in memory.
    monkeypatch.setattr(service_module, "FLUSH_TIMEOUT_SECONDS", 0.5)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = create_app(config(blocker / "memory.sqlite3"), CannedBackend())
    async with app_client(app) as client:
        ready = await client.get("/health/readiness")
        answer = await client.post("/v1/chat/completions", json=ask("my favourite colour is teal"))
        status = (await client.get("/memory/status")).json()
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "local memory store" in ready.json()["memory_problem"]
    assert answer.status_code == 200
    assert answer.headers["x-memory-status"] == "error"
    assert status["store"]["problem"] == ready.json()["memory_problem"]


async def test_memory_status_counts_what_write_back_stored(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3"), CannedBackend())
    async with app_client(app) as client:
        assert (await client.get("/health/readiness")).status_code == 200
        for n in range(5):
            answer = await client.post("/v1/chat/completions", json=ask(f"fact number {n} is true"))
            assert answer.status_code == 200
        during = (await client.get("/memory/status")).json()
    after = app.state.flow.memory.status()  # shut down: the queue was flushed
    assert during["store"] == {"provider": "local", "problem": None, "recall_mode": None}
    assert sum(during["write_back"][key] for key in ("stored", "writing", "pending")) == 5
    counts = after["write_back"]
    assert [counts[key] for key in ("stored", "failed", "dropped", "writing", "pending")] == [5, 0, 0, 0, 0]
    assert 1 <= counts["batches"] <= 5


async def test_memory_status_is_behind_the_proxy_key(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", auth_key="proxy-key-123"), CannedBackend())
    async with app_client(app) as client:
        refused = await client.get("/memory/status")
        allowed = await client.get("/memory/status", headers={"authorization": "Bearer proxy-key-123"})
    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert allowed.json()["write_back"]["stored"] == 0

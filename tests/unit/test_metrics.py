"""The metrics' own rules: each app counts alone, and a store that cannot say its size never fails a
scrape (tests/integration/test_metrics_traffic.py scrapes a served proxy under real traffic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conformance.harness import app_client
from proxy import metrics
from proxy.app import create_app
from proxy.memory.stores.local.store import LocalMemoryStore
from tests.doubles import CannedBackend
from tests.unit.test_memory_status import ask, config

LOCAL = "http://127.0.0.1:8764"
"""The console answers only at this machine's own names while no proxy key is set."""


def families(text: str) -> dict[str, list[float]]:
    return {
        family.name: [sample.value for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


async def test_two_apps_in_one_process_count_apart(tmp_path: Path):
    busy = create_app(config(tmp_path / "a.sqlite3"), CannedBackend())
    idle = create_app(config(tmp_path / "b.sqlite3"), CannedBackend())
    async with app_client(busy, LOCAL) as one, app_client(idle, LOCAL) as other:
        assert (await one.post("/v1/chat/completions", json=ask("hello there"))).status_code == 200
        counted = families((await one.get("/metrics")).text)
        quiet = families((await other.get("/metrics")).text)
    assert counted["memory_proxy_requests"][0] == 1
    assert quiet["memory_proxy_requests"] == []


async def test_a_store_that_cannot_say_its_size_leaves_it_out_of_the_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    async def broken(self: LocalMemoryStore) -> list:
        raise OSError("disk on fire")

    monkeypatch.setattr(LocalMemoryStore, "users", broken)
    app = create_app(config(tmp_path / "memory.sqlite3"), CannedBackend())
    async with app_client(app, LOCAL) as client:
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    found = families(scrape.text)
    assert "memory_proxy_store_memories" not in found
    assert found["memory_proxy_store_up"] == [1.0]
    assert "could not be read: OSError" in caplog.text


async def test_labels_stay_bounded_whatever_clients_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(metrics, "MAX_CLIENT_SERIES", 2)
    app = create_app(config(tmp_path / "memory.sqlite3"), CannedBackend())
    async with app_client(app, LOCAL) as client:
        for n in range(4):
            headers = {"x-memory-user-id": f"client-{n}"}
            await client.post("/v1/chat/completions", json=ask("hello"), headers=headers)
        huge = {**ask("hello"), "model": "typo-" + "x" * 100_000}
        refused = await client.post("/v1/chat/completions", json=huge)
        scrape = (await client.get("/metrics")).text
        [record] = (await client.get("/ui/api/requests", params={"limit": 1})).json()["requests"]
    assert refused.status_code == 404
    labels = [
        sample.labels
        for family in text_string_to_metric_families(scrape)
        if family.name == "memory_proxy_requests"
        for sample in family.samples
        if sample.name == "memory_proxy_requests_total"
    ]
    assert sorted(label["client"] for label in labels if label["model"] == "m") == [
        "client-0",
        "client-1",
        "other",
    ]
    assert [label["model"] for label in labels if label["status"] == "404"] == [""]
    assert "x" * 1000 not in scrape
    assert len(record["model"]) == 200


async def test_store_up_is_asked_anew_at_each_scrape(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = create_app(config(blocker / "memory.sqlite3"), CannedBackend())
    async with app_client(app, LOCAL) as client:
        down = families((await client.get("/metrics")).text)
        blocker.unlink()  # the folder can be made now: the store opens at the next ask
        up = families((await client.get("/metrics")).text)
    assert down["memory_proxy_store_up"] == [0.0]
    assert up["memory_proxy_store_up"] == [1.0]

"""The metrics' own rules: each app counts alone, and a store that cannot say its size never fails a
scrape (tests/integration/test_metrics_traffic.py scrapes a served proxy under real traffic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conformance.harness import app_client
from proxy.app import create_app
from proxy.memory.local_store import LocalMemoryStore
from tests.doubles import CannedBackend
from tests.unit.test_memory_status import ask, config


def families(text: str) -> dict[str, list[float]]:
    return {
        family.name: [sample.value for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


async def test_two_apps_in_one_process_count_apart(tmp_path: Path):
    busy = create_app(config(tmp_path / "a.sqlite3"), CannedBackend())
    idle = create_app(config(tmp_path / "b.sqlite3"), CannedBackend())
    async with app_client(busy) as one, app_client(idle) as other:
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
    async with app_client(app) as client:
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    found = families(scrape.text)
    assert "memory_proxy_store_memories" not in found
    assert found["memory_proxy_store_up"] == [1.0]
    assert "could not be read: OSError" in caplog.text

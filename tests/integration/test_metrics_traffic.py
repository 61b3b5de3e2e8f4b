"""``GET /metrics`` on a served proxy, once per backend: it parses with prometheus_client's own parser, its
counters move with real traffic (both APIs, streamed and not, a refused body), and it needs the key when
one is set."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conformance.fakes import fake_directive
from conformance.suites.support import chat_body, unique

pytestmark = pytest.mark.parity

KEY = "metrics-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}


def scrape(http: httpx.Client) -> dict[str, list[Any]]:
    """Every sample of a scrape, by metric family name."""
    answer = http.get("/metrics", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(answer.text)}


def value(samples: dict[str, list[Any]], family: str, name: str, **labels: str) -> float:
    """The sample's value, 0 when the labels have none yet."""
    return sum(
        sample.value
        for sample in samples.get(family, [])
        if sample.name == name and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    )


def test_metrics_scrape_cleanly_and_move_with_traffic(make_proxy: Any, tmp_path: Path):
    proxy = make_proxy(
        memory_proxy={"auth_key": KEY},
        context_retrieval={
            "enabled": True,
            "provider": "local",
            "local_store_path": str(tmp_path / "memory.sqlite3"),
            "semantic": False,
        },
    )
    user = {"x-memory-user-id": f"metrics-{unique('u').split('#')[1]}", **AUTH}
    with proxy.client(headers=user) as http:
        before = scrape(http)
        assert http.post("/v1/chat/completions", json=chat_body(unique("my boat is red"))).status_code == 200
        streamed = {
            "model": "claude-fake",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": unique("my boat is red, what colour is it?")}],
        }
        with http.stream("POST", "/v1/messages", json=streamed) as answer:
            assert answer.status_code == 200
            answer.read()
        assert http.post("/v1/chat/completions", json={"model": "gpt-fake"}).status_code == 400
        deadline = time.monotonic() + 15
        while (
            value(
                after := scrape(http), "memory_proxy_writeback_stored", "memory_proxy_writeback_stored_total"
            )
            < 2
        ):
            assert time.monotonic() < deadline, "write-back did not store the two exchanges"
            time.sleep(0.05)
    client = user["x-memory-user-id"]
    requests = "memory_proxy_requests"
    total = f"{requests}_total"
    assert value(before, requests, total, client=client) == 0
    assert value(after, requests, total, client=client, surface="chat", model="gpt-fake", status="200") == 1
    assert (
        value(after, requests, total, client=client, surface="messages", model="claude-fake", status="200")
        == 1
    )
    assert value(after, requests, total, client=client, surface="chat", status="400") == 1
    memory = "memory_proxy_memory"
    assert value(after, memory, f"{memory}_total") - value(before, memory, f"{memory}_total") == 2
    recall = "memory_proxy_recall_seconds"
    assert value(after, recall, f"{recall}_count") - value(before, recall, f"{recall}_count") == 2
    upstream = "memory_proxy_upstream_seconds"
    assert value(after, upstream, f"{upstream}_count", model="claude-fake") >= 1
    assert value(after, upstream, f"{upstream}_bucket", model="gpt-fake", le="+Inf") >= 1
    assert value(after, "memory_proxy_store_memories", "memory_proxy_store_memories") >= 2
    assert value(after, "memory_proxy_store_up", "memory_proxy_store_up") == 1
    assert "memory_proxy_writeback_queue_depth" in after
    assert "memory_proxy_writeback_dropped" in after


def test_metrics_and_the_console_refuse_a_request_without_the_key(make_proxy: Any):
    proxy = make_proxy(memory_proxy={"auth_key": KEY})
    with proxy.client() as http:
        refused = {
            path: http.get(path) for path in ("/metrics", "/ui", "/ui/api/overview", "/ui/api/requests")
        }
        wrong = http.get("/metrics", headers={"authorization": "Bearer not-the-key-at-all"})
        allowed = {path: http.get(path, headers=AUTH) for path in ("/metrics", "/ui", "/ui/api/overview")}
    assert {path: answer.status_code for path, answer in refused.items()} == dict.fromkeys(refused, 401)
    assert wrong.status_code == 401
    assert {path: answer.status_code for path, answer in allowed.items()} == dict.fromkeys(allowed, 200)
    for answer in (*refused.values(), wrong):
        assert KEY not in answer.text


def test_a_stream_is_recorded_when_it_ends_and_says_how(make_proxy: Any):
    proxy = make_proxy(memory_proxy={"auth_key": KEY})
    user = {"x-memory-user-id": f"streams-{unique('u').split('#')[1]}", **AUTH}
    whole = chat_body(unique("a whole stream"), stream=True)
    cut = chat_body(unique(f"a broken stream {fake_directive('cut', after=2)}"), stream=True)
    with proxy.client(headers=user) as http:
        for body in (whole, cut):
            with http.stream("POST", "/v1/chat/completions", json=body) as answer:
                assert answer.status_code == 200
                answer.read()
        records = http.get("/ui/api/requests", headers=AUTH).json()["requests"]
    mine = [record for record in records if record["user_id"] == user["x-memory-user-id"]]
    broken, complete = mine
    assert (complete["stream"], complete["status_code"], complete["error"]) == (True, 200, None)
    assert broken["status_code"] == 200
    assert broken["error"].startswith("the stream failed after it began")
    assert broken["total_ms"] >= broken["upstream_ms"]

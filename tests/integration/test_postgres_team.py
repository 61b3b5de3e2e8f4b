"""A team's proxies on one PostgreSQL: what one proxy stored, another recalls; many writers lose nothing.

Real processes on loopback against a real PostgreSQL with pgvector (pgserver, or
``MEMORY_PROXY_TEST_POSTGRES_DSN``); skipped, saying why, where there is none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from proxy.demo import DEMO_MODEL_LIST, DEMO_SETTINGS
from proxy.processes import ManagedProcess, free_port
from tests.integration.test_entry_points import child_env, recall_when_stored

pytestmark = [pytest.mark.e2e, pytest.mark.stack]


@contextmanager
def two_proxies(tmp_path: Path, dsn: str) -> Iterator[list[str]]:
    """Two proxies of the demo on one database, sharing nothing else (each its own data home); their URLs."""
    config = tmp_path / "team.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": DEMO_MODEL_LIST,
                "litellm_settings": DEMO_SETTINGS,
                "context_retrieval": {"provider": "postgres", "dsn": dsn, "semantic": False},
            }
        )
    )
    ports = [free_port(), free_port()]
    launchers = [
        ManagedProcess(
            [sys.executable, "-m", "proxy.launcher", "--config", str(config), "--port", str(port)],
            env=child_env(XDG_DATA_HOME=str(tmp_path / f"host-{port}")),
            cwd=tmp_path,
        )
        for port in ports
    ]
    try:
        for launcher in launchers:
            launcher.wait_for_line(r"memory proxy ready", timeout=90)
            assert "PostgreSQL at" in launcher.tail()
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for launcher in launchers:
            launcher.stop()


def test_a_fact_told_to_one_proxy_is_recalled_through_another(tmp_path, postgres_database):
    with two_proxies(tmp_path, postgres_database) as urls:
        told = {"model": "demo", "messages": [{"role": "user", "content": "Our staging database is Orca."}]}
        with httpx.Client(base_url=urls[0], timeout=60) as http:
            assert http.post("/v1/chat/completions", json=told).is_success
        asked = {"model": "demo", "messages": [{"role": "user", "content": "What is our staging database?"}]}
        assert "Orca" in recall_when_stored(urls[1], asked)


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from proxy.memory.stores.base import NewMemory
    from proxy.memory.stores.postgres.store import PostgresMemoryStore

    async def main(dsn, writer):
        store = PostgresMemoryStore(dsn)
        await store.open()
        try:
            for batch in range(10):
                facts = [f"writer {writer} batch {batch} fact {n}" for n in range(25)]
                await store.add_batch([NewMemory(f"client-{n % 3}", f) for n, f in enumerate(facts)])
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def test_eight_processes_writing_at_once_lose_nothing(postgres_database):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, postgres_database, str(n)], env=child_env())
        for n in range(8)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 8
    with psycopg.connect(postgres_database) as conn:
        [(count, distinct)] = conn.execute(
            "SELECT count(*), count(DISTINCT content) FROM memory_proxy.memories"
        ).fetchall()
    assert (count, distinct) == (8 * 10 * 25, 8 * 10 * 25)


def test_a_conversation_alternating_between_two_proxies_keeps_one_set_of_memory_blocks(
    tmp_path, postgres_database
):
    """Each turn on the other host: every request the provider sees extends the previous one byte for byte
    (the ledger in PostgreSQL), so its prompt cache keeps hitting; either host's console lists them all."""
    question = "Which staging database do we use?"
    with two_proxies(tmp_path, postgres_database) as urls:
        told = {"model": "demo", "messages": [{"role": "user", "content": "Our staging database is Orca."}]}
        with httpx.Client(base_url=urls[0], timeout=60) as http:
            assert http.post("/v1/chat/completions", json=told).is_success
        recall_when_stored(urls[1], {"model": "demo", "messages": [{"role": "user", "content": question}]})
        messages: list[dict[str, str]] = []
        seen: list[list[str]] = []
        for turn in range(10):
            messages.append({"role": "user", "content": question if turn == 0 else f"Turn {turn}: go on."})
            with httpx.Client(base_url=urls[turn % 2], timeout=60) as http:
                answer = http.post("/v1/chat/completions", json={"model": "demo", "messages": messages})
            assert answer.is_success, answer.text
            seen.append(answer.json()["choices"][0]["message"]["content"].split("\n")[1:])
            messages.append({"role": "assistant", "content": f"Answer {turn}."})
        time.sleep(0.5)  # records are written off the request path
        listed = [
            httpx.get(f"{url}/ui/api/requests", params={"limit": 1000}).json()["requests"] for url in urls
        ]
    assert any("Orca" in line for line in seen[0]), seen[0]
    for turn in range(1, 10):
        assert seen[turn][: len(seen[turn - 1])] == seen[turn - 1], f"turn {turn + 1} changed turn {turn}'s"
    # Either host's console lists every request either answered.
    assert [r["id"] for r in listed[0]] == [r["id"] for r in listed[1]]
    assert len(listed[0]) >= 12 and {r["status_code"] for r in listed[0]} == {200}

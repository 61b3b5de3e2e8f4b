"""``memory-proxy memories export`` and ``import``: every memory of every client moves from one store to
another through the real commands, re-importing doubles nothing, and a bad file writes nothing.

What arrived is read back through a plain sqlite3 connection to the target file, where the store's own
answer could hide a fault (as test_local_store does).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from proxy.cli import app as cli
from proxy.memory.stores.base import MemoryStoreError, NewMemory
from proxy.memory.stores.local.store import EXPORT_PAGE, LocalMemoryStore
from proxy.memory.transfer import IMPORT_BATCH, import_memories

runner = CliRunner()

SEED = [
    NewMemory("pycharm-ai", "user: I moved to Lisbon", {"source": "chat", "tags": ["home"]}, None, 1_000.25),
    NewMemory("pycharm-ai", "user: my favourite colour is teal", {}, "exchange_teal", 2_000.5),
    NewMemory("claude-code", "user: the build uses uv — «ünïcode»\n", {"n": 1}, "doc-1", 1_500.0),
    NewMemory("claude-code", "user: tests run with pytest", {}, None, 500.0),
    NewMemory("aider", "user: tabs, never spaces", {"nested": {"a": None}}, "exchange_tabs", 3_000.0),
]


def _config(tmp_path: Path, name: str, **extra: str) -> Path:
    settings = {"provider": "local", "local_store_path": str(tmp_path / f"{name}.sqlite3"), "semantic": False}
    config = tmp_path / f"{name}.yaml"
    config.write_text(json.dumps({"context_retrieval": settings | extra}))  # JSON is YAML
    return config


def _seed(config: Path, memories: list[NewMemory]) -> None:
    async def seed() -> None:
        store = LocalMemoryStore(_path(config))
        try:
            await store.add_batch(memories, embed=False)
        finally:
            await store.close()

    asyncio.run(seed())


def _path(config: Path) -> str:
    return json.loads(config.read_text())["context_retrieval"]["local_store_path"]


def _rows(config: Path) -> list[tuple[Any, ...]]:
    """Every memory in the store's file (user, time, content, metadata, custom id), by user and time."""
    if not Path(_path(config)).exists():
        return []
    with sqlite3.connect(_path(config)) as conn:
        rows = conn.execute(
            "SELECT user_id, created_at, content, metadata, custom_id FROM memories "
            "ORDER BY user_id, created_at, rowid"
        ).fetchall()
    return [
        (user, when, content, json.loads(metadata), custom_id)
        for user, when, content, metadata, custom_id in rows
    ]


def _export(config: Path, *args: str) -> Result:
    return runner.invoke(cli, ["memories", "export", *args, "-c", str(config)])


def _import(config: Path, text: str) -> Result:
    return runner.invoke(cli, ["memories", "import", "-", "-c", str(config)], input=text)


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_every_memory_of_every_client_moves_and_reimporting_doubles_nothing(tmp_path):
    source, target = _config(tmp_path, "source"), _config(tmp_path, "target")
    _seed(source, SEED)
    exported = _export(source, "--all")
    assert exported.exit_code == 0, exported.stderr
    assert "exported 5 memories of 3 clients from the local store" in exported.stderr
    header, *memories, end = _lines(exported.stdout)
    assert header["format"] == "litellm-memory-proxy.memories" and header["version"] == 1
    assert header["store"] == "local" and header["exported_at"]
    assert end == {"end": True, "memories": 5}
    assert [(m["user_id"], m["created_at"]) for m in memories] == [  # by client, then oldest first
        ("aider", 3_000.0),
        ("claude-code", 500.0),
        ("claude-code", 1_500.0),
        ("pycharm-ai", 1_000.25),
        ("pycharm-ai", 2_000.5),
    ]
    assert set(memories[0]) == {"user_id", "id", "content", "metadata", "created_at", "custom_id"}
    ids = {m["content"]: m["id"] for m in memories}

    imported = _import(target, exported.stdout)
    assert imported.exit_code == 0, imported.stderr
    assert "imported 5 memories of 3 clients into the local store: 5 new, 0 already there" in imported.stderr
    assert imported.stdout == ""
    expected = [
        (m.user_id, m.created_at, m.content, m.metadata, m.custom_id or f"import_{ids[m.content]}")
        for m in sorted(SEED, key=lambda m: (m.user_id, m.created_at))
    ]
    assert _rows(target) == expected

    again = _import(target, exported.stdout)
    assert again.exit_code == 0, again.stderr
    assert "0 new, 5 already there (replaced)" in again.stderr
    assert _rows(target) == expected
    onward = _export(target, "--all")  # and on from there, unchanged but for the ids
    assert [m["content"] for m in _lines(onward.stdout)[1:-1]] == [m["content"] for m in memories]


def test_user_exports_only_that_client_and_all_or_user_is_required(tmp_path):
    source = _config(tmp_path, "source")
    _seed(source, SEED)
    one = _export(source, "--user", "claude-code")
    assert one.exit_code == 0, one.stderr
    assert {m["user_id"] for m in _lines(one.stdout)[1:-1]} == {"claude-code"}
    assert "exported 2 memories of claude-code" in one.stderr
    nobody = _export(source, "-u", "nobody")
    assert nobody.exit_code == 0 and _lines(nobody.stdout)[-1] == {"end": True, "memories": 0}
    for wrong in ([], ["--all", "--user", "aider"]):
        refused = _export(source, *wrong)
        assert refused.exit_code == 2 and refused.stdout == ""
    invalid = _export(source, "--user", "bad user")
    assert invalid.exit_code == 2 and "rejected" in invalid.stderr


def test_more_memories_than_a_page_all_come_through_in_order(tmp_path):
    """Written in one batch they share one time: the pages must go on by write order, not skip or repeat."""
    count = 2 * EXPORT_PAGE + 500
    source, target = _config(tmp_path, "source"), _config(tmp_path, "target")
    _seed(source, [NewMemory("bulk", f"user: memory number {n}") for n in range(count)])
    _seed(source, [NewMemory("aaa-first", "user: one more")])
    exported = _export(source, "--all")
    assert exported.exit_code == 0, exported.stderr
    contents = [m["content"] for m in _lines(exported.stdout)[1:-1]]
    assert contents == ["user: one more", *(f"user: memory number {n}" for n in range(count))]
    imported = _import(target, exported.stdout)
    assert imported.exit_code == 0, imported.stderr
    assert [row[2] for row in _rows(target)] == contents


def _file(*memories: dict[str, Any] | str, end: int | None = None) -> str:
    header = {"format": "litellm-memory-proxy.memories", "version": 1, "exported_at": "x", "store": "local"}
    lines = [json.dumps(header), *(m if isinstance(m, str) else json.dumps(m) for m in memories)]
    count = len(memories) if end is None else end
    return "\n".join([*lines, json.dumps({"end": True, "memories": count})]) + "\n"


GOOD = {
    "user_id": "u1",
    "id": "a",
    "content": "user: hi",
    "metadata": {},
    "created_at": 1.0,
    "custom_id": None,
}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (_file(GOOD, GOOD, "{not json"), 4, "not JSON"),
        (_file(GOOD, GOOD | {"created_at": "yesterday"}), 3, "created_at"),
        (_file(GOOD, GOOD | {"user_id": "bad user"}), 3, "user_id"),
        (_file(GOOD, {k: v for k, v in GOOD.items() if k != "content"}), 3, "lacks content"),
        (_file(GOOD, GOOD | {"vector": [0.1]}), 3, "unknown key vector"),
        (_file(GOOD, GOOD | {"metadata": []}), 3, "metadata"),
        (_file(GOOD, GOOD | {"created_at": float("nan")}), 3, "not JSON"),
        (_file(GOOD, GOOD | {"content": "\ud800"}), 3, "half a UTF-16 character"),
        (_file(GOOD, GOOD, end=3), 4, "the end line should be"),
        (_file(GOOD).replace('"version": 1', '"version": 2'), 1, "version 2"),
        (json.dumps(GOOD) + "\n", 1, "not a memory export"),
        (_file(GOOD).rsplit("\n", 2)[0] + "\n", 3, "cut off"),
        (_file(GOOD) + json.dumps(GOOD) + "\n", 4, "after the end line"),
        ("", 1, "empty"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(tmp_path, text, line, reason):
    target = _config(tmp_path, "target")
    _seed(target, [NewMemory("u1", "user: already here", {}, "import_a", 5.0)])
    before = _rows(target)
    result = _import(target, text)
    assert result.exit_code == 2
    assert f"line {line}: " in result.stderr and reason in result.stderr
    assert "nothing was written" in result.stderr
    assert _rows(target) == before


def test_text_that_is_not_utf8_is_named_by_line(tmp_path):
    target = _config(tmp_path, "target")
    text = _file(GOOD, GOOD | {"content": "PLACEHOLDER"}).encode().replace(b"PLACEHOLDER", b"\xff\xfe")
    result = runner.invoke(cli, ["memories", "import", "-", "-c", str(target)], input=text)
    assert result.exit_code == 2 and "line 3: not UTF-8" in result.stderr
    assert _rows(target) == []


def test_import_reads_a_file_and_says_how_vectors_are_made(tmp_path):
    target = _config(tmp_path, "target", semantic=True)
    dump = tmp_path / "memories.jsonl"
    dump.write_text(_file(GOOD))
    result = runner.invoke(cli, ["memories", "import", str(dump), "-c", str(target)])
    assert result.exit_code == 0, result.stderr
    assert "imported 1 memory of 1 client" in result.stderr
    assert "vectors for recall by meaning are not in the file" in result.stderr
    assert [row[2] for row in _rows(target)] == ["user: hi"]


def test_supermemory_cannot_be_exported_and_no_secret_is_shown(tmp_path):
    config = tmp_path / "sm.yaml"
    config.write_text(
        "context_retrieval: {provider: supermemory, api_key: sm-secret-key-123456, base_url: 'http://127.0.0.1:9'}\n"
    )
    result = _export(config, "--all")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "not supported" in result.stderr and "supermemory" in result.stderr
    assert "sm-secret-key-123456" not in result.output


class FailsSecondBatch:
    """A store whose second batch fails, as a disk that fills half way through an import."""

    def __init__(self) -> None:
        self.batches = 0

    async def add_batch(self, memories: Any) -> list[str]:
        self.batches += 1
        if self.batches == 2:
            raise MemoryStoreError("local memory store: disk I/O error")
        return ["x"] * len(memories)


def test_a_store_failing_half_way_says_how_far_the_import_got():
    memories = [NewMemory("u1", f"user: {n}") for n in range(IMPORT_BATCH + 1)]
    with pytest.raises(MemoryStoreError) as failed:
        asyncio.run(import_memories(FailsSecondBatch(), memories))  # type: ignore[arg-type]
    assert f"after {IMPORT_BATCH:,} of {IMPORT_BATCH + 1:,} memories were written" in str(failed.value)
    assert "importing the file again completes it" in str(failed.value)


def test_what_a_failing_store_did_not_take_waits_in_its_journal_for_the_proxy(tmp_path):
    """An import the store fails half way through leaves the rest in the store's journal, where the
    proxy's write-back (here a MemoryService on that store) finds it and stores it."""
    from proxy.config import ContextRetrieval
    from proxy.memory.service import MemoryService

    memories = [NewMemory("u1", f"user: {n}") for n in range(IMPORT_BATCH + 3)]
    journal = tmp_path / "journal"
    with pytest.raises(MemoryStoreError) as failed:
        asyncio.run(import_memories(FailsSecondBatch(), memories, journal=journal))  # type: ignore[arg-type]
    assert f"the other 3 are in the journal at {journal}" in str(failed.value)

    async def proxy_picks_them_up() -> list[str]:
        store = LocalMemoryStore(tmp_path / "memory.sqlite3")
        service = MemoryService(ContextRetrieval(semantic=False, journal_dir=str(journal)), store)
        await service.start()
        await service.close()  # flushes what the journal handed over
        reopened = LocalMemoryStore(tmp_path / "memory.sqlite3")
        try:
            return [record.content for record in await reopened.list("u1")]
        finally:
            await reopened.close()

    assert sorted(asyncio.run(proxy_picks_them_up())) == [
        f"user: {n}" for n in range(IMPORT_BATCH, IMPORT_BATCH + 3)
    ]


def test_memory_moves_from_the_local_store_to_postgresql_and_back(tmp_path, postgres_database):
    """Every memory of every client round-trips local → PostgreSQL → local: content, metadata, time and
    custom id, for each client (the issue's migration path, and its way back)."""
    source, back = _config(tmp_path, "source"), _config(tmp_path, "back")
    postgres = tmp_path / "postgres.yaml"
    postgres.write_text(
        json.dumps(
            {"context_retrieval": {"provider": "postgres", "dsn": postgres_database, "semantic": False}}
        )
    )
    _seed(source, SEED)
    exported = _export(source, "--all")
    assert exported.exit_code == 0, exported.stderr
    into_postgres = _import(postgres, exported.stdout)
    assert into_postgres.exit_code == 0, into_postgres.stderr
    assert "into the postgres store" in into_postgres.stderr
    from_postgres = _export(postgres, "--all")
    assert from_postgres.exit_code == 0, from_postgres.stderr
    assert _lines(from_postgres.stdout)[-1] == {"end": True, "memories": len(SEED)}
    assert _import(back, from_postgres.stdout).exit_code == 0
    moved = [(user, when, content, metadata) for user, when, content, metadata, _ in _rows(back)]
    assert moved == [
        (m.user_id, m.created_at, m.content, m.metadata)
        for m in sorted(SEED, key=lambda m: (m.user_id, m.created_at))
    ]

"""The memory service's own rules: fail open on recall, retry then give up on write-back, flush on close."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from proxy.config import ContextRetrieval
from proxy.memory import service as service_module
from proxy.memory.base import MemoryRecord, MemoryServiceError
from proxy.memory.service import MemoryService

MESSAGES = [{"role": "user", "content": "my favourite colour is teal"}]


class ScriptedStore:
    """A store double: searches answer ``found`` (or raise ``error``); adds fail ``fail_adds`` times."""

    def __init__(
        self, found: list[str] | None = None, error: BaseException | None = None, fail_adds: int = 0
    ):
        self.found = found or []
        self.error = error
        self.fail_adds = fail_adds
        self.added: list[tuple[str, str]] = []
        self.add_attempts = 0
        self.closed = False

    async def add(self, user_id: str, content: str, *, metadata: Any = None, custom_id: Any = None) -> str:
        self.add_attempts += 1
        if self.fail_adds:
            self.fail_adds -= 1
            raise MemoryServiceError("Supermemory answered 500")
        self.added.append((user_id, content))
        return "id"

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> list[MemoryRecord]:
        if self.error:
            raise self.error
        return [MemoryRecord(str(i), user_id, text, 0.0) for i, text in enumerate(self.found)][:limit]

    async def list(self, user_id: str, *, limit: int = 100) -> list[MemoryRecord]:
        return []

    async def forget(self, user_id: str, memory_id: str | None = None) -> int:
        return 0

    async def close(self) -> None:
        self.closed = True


async def started(store: ScriptedStore, **settings: Any) -> MemoryService:
    service = MemoryService(ContextRetrieval(**settings), store)
    await service.start()
    return service


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryServiceError("Supermemory answered 402"), "Supermemory answered 402"),
        (RuntimeError("bug"), "memory recall failed: RuntimeError"),
    ],
)
async def test_recall_fails_open(error, reason):
    service = await started(ScriptedStore(error=error))
    recall = await service.recall("u", "m", MESSAGES)
    await service.close()
    assert (recall.status, recall.reason, recall.context) == ("error", reason, "")


async def test_recall_is_used_and_counts_its_memories():
    service = await started(ScriptedStore(found=["likes teal", "lives in Lisbon"]))
    recall = await service.recall("u", "m", MESSAGES)
    await service.close()
    assert recall.status == "used"
    assert recall.reason == "2 memories recalled"
    assert recall.headers == {"x-memory-status": "used", "x-memory-status-reason": "2 memories recalled"}


async def test_enabled_for_models_limits_memory_to_those_models():
    service = await started(ScriptedStore(found=["x"]), enabled_for_models=["gpt"])
    assert (await service.recall("u", "claude", MESSAGES)).status == "skipped"
    assert (await service.recall("u", "gpt", MESSAGES)).status == "used"
    await service.close()


async def test_write_back_retries_then_succeeds_and_close_flushes(monkeypatch):
    monkeypatch.setattr(service_module, "WRITE_BACKOFF_SECONDS", 0.001)
    store = ScriptedStore(fail_adds=2)
    service = await started(store)
    service.remember_later("u", "m", MESSAGES, "Noted.")
    await service.close()  # flushes: the write happens before close returns
    assert store.add_attempts == 3
    assert store.added == [("u", "user: my favourite colour is teal\nassistant: Noted.")]
    assert store.closed


async def test_write_back_gives_up_after_bounded_attempts_and_logs(monkeypatch, caplog):
    monkeypatch.setattr(service_module, "WRITE_BACKOFF_SECONDS", 0.001)
    store = ScriptedStore(fail_adds=99)
    service = await started(store)
    with caplog.at_level(logging.ERROR, logger="proxy.memory"):
        service.remember_later("u", "m", MESSAGES, "Noted.")
        await service.close()
    assert store.add_attempts == service_module.WRITE_ATTEMPTS
    assert "failed 3 times, giving up" in caplog.text


async def test_a_full_queue_drops_with_a_log_line(monkeypatch, caplog):
    monkeypatch.setattr(service_module, "QUEUE_SIZE", 1)
    store = ScriptedStore()
    service = await started(store)
    with caplog.at_level(logging.ERROR, logger="proxy.memory"):
        for _ in range(3):  # the worker has not run yet: the second and third do not fit
            service.remember_later("u", "m", MESSAGES, "Noted.")
    await service.close()
    assert len(store.added) == 1
    assert caplog.text.count("queue is full") == 2


async def test_disabled_memory_starts_nothing_and_remembers_nothing():
    store = ScriptedStore(found=["x"])
    service = await started(store, enabled=False)
    service.remember_later("u", "m", MESSAGES, "Noted.")
    recall = await service.recall("u", "m", MESSAGES)
    await service.close()
    assert recall.status == "skipped"
    assert store.add_attempts == 0

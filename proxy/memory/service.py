"""The memory service: recall before a completion, write-back after it, never in the way of either.

Recall is time-boxed (``context_retrieval.timeout``) and fails open: slow, down, refusing or garbled
memory means the request goes on without context, and the answer's ``x-memory-status`` header says why.
Write-back goes through a bounded queue worked off the request path, with a bounded number of retries;
a failure is logged, never shown to the client, and pending writes are flushed on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from proxy.config import ContextRetrieval
from proxy.errors import redact
from proxy.memory.base import MemoryServiceError, MemoryStore
from proxy.memory.recall import exchange_text, format_context, message_text, query_for
from proxy.memory.supermemory_router import SupermemoryRouter

__all__ = ["STATUS_HEADER", "STATUS_REASON_HEADER", "MemoryService", "Recall", "open_store"]

logger = logging.getLogger("proxy.memory")

STATUS_HEADER = "x-memory-status"
STATUS_REASON_HEADER = "x-memory-status-reason"
QUEUE_SIZE = 1000
WRITE_ATTEMPTS = 3
WRITE_BACKOFF_SECONDS = 0.5
FLUSH_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Recall:
    """What recall did for one request: ``used`` (context injected), ``skipped`` or ``error``, and why."""

    status: Literal["used", "skipped", "error"]
    reason: str
    context: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {STATUS_HEADER: self.status, STATUS_REASON_HEADER: self.reason}


def open_store(settings: ContextRetrieval) -> MemoryStore:
    """The store ``context_retrieval.provider`` names."""
    if settings.provider == "supermemory":
        from proxy.memory.supermemory import SupermemoryStore

        return SupermemoryStore(settings.base_url, settings.api_key, timeout=settings.timeout)
    from proxy.memory.local_store import LocalMemoryStore

    return LocalMemoryStore(settings.local_store_path)


@dataclass(frozen=True)
class _Write:
    user_id: str
    content: str
    metadata: dict[str, Any]


class MemoryService:
    """Recall and write-back for one app; :meth:`start` and :meth:`close` run in the app's lifespan."""

    def __init__(
        self,
        settings: ContextRetrieval,
        store: MemoryStore | None = None,
        *,
        supermemory_router: SupermemoryRouter | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._supermemory_router = supermemory_router
        self._queue: asyncio.Queue[_Write] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        _ = self.store
        self._queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._worker = asyncio.create_task(self._write_forever(), name="memory write-back")

    async def close(self) -> None:
        if self._queue is not None and self._worker is not None:
            try:
                await asyncio.wait_for(self._queue.join(), FLUSH_TIMEOUT_SECONDS)
            except TimeoutError:
                logger.error("memory write-back: %d exchanges not stored at shutdown", self._queue.qsize())
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._queue = self._worker = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    def applies_to(self, model: str) -> str | None:
        """Why memory is off for ``model`` (None when it is on); both recall and write-back ask."""
        if not self.settings.enabled:
            return "memory is disabled (context_retrieval.enabled: false)"
        if self._supermemory_router is not None and self._supermemory_router.handles(model):
            return "the Supermemory Memory Router handles memory for this model"
        if self.settings.enabled_for_models and model not in self.settings.enabled_for_models:
            return f"memory is not enabled for model {model}"
        if model in self.settings.disabled_for_models:
            return f"memory is disabled for model {model}"
        return None

    async def recall(self, user_id: str, model: str, messages: Sequence[dict[str, Any]]) -> Recall:
        off = self.applies_to(model)
        if off:
            return Recall("skipped", off)
        query = query_for(messages, self.settings.query_strategy)
        if not query:
            return Recall("skipped", "nothing to recall with (no matching message text)")
        try:
            async with asyncio.timeout(self.settings.timeout):
                records = await self.store.search(user_id, query, limit=self.settings.max_results)
        except TimeoutError:
            return Recall("error", f"memory recall timed out after {self.settings.timeout:g}s")
        except MemoryServiceError as exc:
            return Recall("error", redact(str(exc)))
        except Exception as exc:  # a memory failure never fails a request
            logger.exception("memory recall failed")
            return Recall("error", f"memory recall failed: {type(exc).__name__}")
        context = format_context(
            [record.content for record in records],
            max_results=self.settings.max_results,
            max_length=self.settings.max_context_length,
        )
        if not context:
            return Recall("skipped", "no matching memories")
        used = context.count("\n")
        return Recall("used", f"{used} memor{'y' if used == 1 else 'ies'} recalled", context)

    def remember_later(
        self, user_id: str, model: str, messages: Sequence[dict[str, Any]], answer: str
    ) -> None:
        """Queue the new exchange (the last user turn and the answer) for storage, off the request path."""
        if self._queue is None or not self.settings.store_conversations or self.applies_to(model):
            return
        users = [m for m in messages if m.get("role") == "user"]
        if not users or not answer.strip():
            return
        write = _Write(user_id, exchange_text(message_text(users[-1]), answer), {"model": model})
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            logger.error("memory write-back queue is full; an exchange for %s was not stored", user_id)

    async def _write_forever(self) -> None:
        assert self._queue is not None
        while True:
            write = await self._queue.get()
            try:
                await self._write(write)
            finally:
                self._queue.task_done()

    async def _write(self, write: _Write) -> None:
        metadata = {"source": "litellm-memory-proxy", **write.metadata}
        custom_id = f"conv_{uuid.uuid4().hex}"
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await self.store.add(write.user_id, write.content, metadata=metadata, custom_id=custom_id)
                return
            except Exception as exc:
                if attempt == WRITE_ATTEMPTS:
                    logger.error(
                        "memory write-back for %s failed %d times, giving up: %s",
                        write.user_id,
                        attempt,
                        redact(str(exc)),
                    )
                    return
                await asyncio.sleep(WRITE_BACKOFF_SECONDS * attempt)

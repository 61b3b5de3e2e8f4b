"""``GET /metrics``: what the proxy does, in Prometheus' text format (``prometheus_client``).

Request metrics are counted as requests finish (:class:`Metrics` listens to
:class:`~proxy.activity.Activity`); write-back's counts and the store's size are read when Prometheus
scrapes, so they are never stale and cost nothing between scrapes. Each app has its own registry: two
apps in one process (the tests) never share counts, and nothing lands in ``prometheus_client``'s global
registry, where a host application's own metrics live. With several workers each process counts its own
requests (a scrape reaches one of them); the store's size is the same from every worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from proxy.activity import RequestRecord
from proxy.memory.service import MemoryService
from proxy.memory.stores.base import UserMemories

__all__ = ["CONTENT_TYPE", "Metrics"]

logger = logging.getLogger("proxy.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "memory_proxy"
RECALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Recall takes milliseconds (its time box, ``context_retrieval.timeout``, defaults to seconds)."""
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""A provider takes from tens of milliseconds (a stream's first chunk) to minutes (a long answer)."""
MAX_CLIENT_SERIES = 1_000
"""Clients with series of their own; more are counted as :data:`OTHER_CLIENTS` (a Prometheus series
lives as long as the process, and any ``x-memory-user-id`` is a client)."""
OTHER_CLIENTS = "other"
STORE_SIZE_TIMEOUT = 5.0
"""A scrape waits this long for the store's size, then goes on without it."""


class Metrics:
    """The app's Prometheus registry: request counters and histograms, and what memory reports."""

    def __init__(self, memory: MemoryService) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            f"{PREFIX}_requests",
            "Completion requests answered, by API surface, model, client (user id) and HTTP status.",
            ["surface", "model", "client", "status"],
            registry=self.registry,
        )
        self._memory = Counter(
            f"{PREFIX}_memory",
            "What memory did for a completion request: used, skipped or error.",
            ["status"],
            registry=self.registry,
        )
        self._recall = Histogram(
            f"{PREFIX}_recall_seconds",
            "Time spent recalling memory for a request.",
            buckets=RECALL_BUCKETS,
            registry=self.registry,
        )
        self._upstream = Histogram(
            f"{PREFIX}_upstream_seconds",
            "From the provider call until its answer (a stream: its first chunk) reached the proxy.",
            ["model"],
            buckets=UPSTREAM_BUCKETS,
            registry=self.registry,
        )
        self._clients: set[str] = set()
        self._store = _MemoryCollector(memory)
        self.registry.register(self._store)

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request (an :class:`~proxy.activity.Activity` listener).

        Labels are bounded: a model is named only once the proxy knows it serves it (recall runs only
        then; a refused name would make a series of any string a client sends), and past
        :data:`MAX_CLIENT_SERIES` clients the rest are counted together as ``other``."""
        model = (record.model or "") if record.memory_status is not None else ""
        client = record.user_id
        if client not in self._clients:
            if len(self._clients) >= MAX_CLIENT_SERIES:
                client = OTHER_CLIENTS
            else:
                self._clients.add(client)
        self._requests.labels(record.surface, model, client, str(record.status_code)).inc()
        if record.memory_status is not None:
            self._memory.labels(record.memory_status).inc()
        if record.recall_ms is not None:
            self._recall.observe(record.recall_ms / 1000)
        if record.upstream_ms is not None:
            self._upstream.labels(model).observe(record.upstream_ms / 1000)

    async def render(self) -> bytes:
        """The exposition, with the store's size read now."""
        await self._store.refresh()
        return generate_latest(self.registry)


class _MemoryCollector(Collector):
    """Write-back's counts and the store's size, read at scrape time."""

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory
        self._clients: list[UserMemories] | None = None

    async def refresh(self) -> None:
        try:
            await asyncio.wait_for(self._memory.problem(), STORE_SIZE_TIMEOUT)  # store_up, asked anew
            self._clients = await asyncio.wait_for(self._memory.clients(), STORE_SIZE_TIMEOUT)
        except Exception as exc:  # a slow or broken store leaves the size out, never the scrape
            logger.warning("metrics: the memory store's size could not be read: %s", type(exc).__name__)
            self._clients = None

    def collect(self) -> Iterator[Metric]:
        counts = self._memory.write_back
        yield _counter("writeback_stored", "Exchanges stored by write-back.", counts.stored)
        yield _counter("writeback_batches", "Write-back transactions (batches of exchanges).", counts.batches)
        yield _counter("writeback_failed", "Exchanges write-back gave up on after retries.", counts.failed)
        yield _counter("writeback_dropped", "Exchanges not stored: the queue was full.", counts.dropped)
        yield GaugeMetricFamily(
            f"{PREFIX}_writeback_queue_depth",
            "Exchanges waiting to be stored (queued, and in the batch being written).",
            value=counts.pending + counts.writing,
        )
        problem = self._memory.last_problem
        yield GaugeMetricFamily(
            f"{PREFIX}_store_up", "1 when the memory store could be opened.", value=0 if problem else 1
        )
        if self._clients is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_store_memories",
                "Memories in the store, of every client.",
                value=sum(client.memories for client in self._clients),
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_store_clients", "Clients with memories in the store.", value=len(self._clients)
            )


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)

"""``GET /metrics``: what the proxy does, in Prometheus' text format (``prometheus_client``).

Request metrics are counted as requests finish (:class:`Metrics` listens to
:class:`~proxy.activity.Activity`); write-back's counts and the store's size are read when Prometheus
scrapes, so they are never stale and cost nothing between scrapes. Each app has its own registry: two
apps in one process (the tests) never share counts, and nothing lands in ``prometheus_client``'s global
registry, where a host application's own metrics live.

Under ``start-proxies --workers N`` a scrape reaches one worker, so the counts are kept in
``prometheus_client``'s multiprocess mode: the launcher gives the run a ``PROMETHEUS_MULTIPROC_DIR``, each
worker's counters and histograms live in files there, and every scrape adds up all of them (the standard
way to serve one process group's metrics, with no round trip on the request path). Write-back's counters
follow by the increments each worker saw when it last finished a request or was scraped; the store's size is
the same from every worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
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
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set by the launcher for a ``--workers`` run (prometheus_client reads it when it is imported)."""
_WRITE_BACK_COUNTERS = {
    "stored": "Exchanges stored by write-back.",
    "batches": "Write-back transactions (batches of exchanges).",
    "failed": "Exchanges write-back gave up on after retries.",
    "dropped": "Exchanges not stored: the queue was full.",
}
_QUEUE_DEPTH = "Exchanges waiting to be stored (queued, and in the batch being written)."
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
        self._multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self._store = _MemoryCollector(memory, write_back=not self._multiprocess)
        self.registry.register(self._store)
        self._write_back = _WriteBackAcrossWorkers(memory, self.registry) if self._multiprocess else None

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
        if self._write_back is not None:
            self._write_back.sync()

    async def render(self) -> bytes:
        """The exposition, with the store's size read now (and every worker's counts, under ``--workers``)."""
        await self._store.refresh()
        if self._write_back is None:
            return generate_latest(self.registry)
        self._write_back.sync()
        everyone = CollectorRegistry()
        MultiProcessCollector(everyone)
        everyone.register(self._store)
        return generate_latest(everyone)


class _WriteBackAcrossWorkers:
    """Write-back's counts as multiprocess counters: each worker adds what it did since it last added."""

    def __init__(self, memory: MemoryService, registry: CollectorRegistry) -> None:
        self._memory = memory
        self._counters = {
            name: Counter(f"{PREFIX}_writeback_{name}", documentation, registry=registry)
            for name, documentation in _WRITE_BACK_COUNTERS.items()
        }
        self._queue = Gauge(
            f"{PREFIX}_writeback_queue_depth", _QUEUE_DEPTH, registry=registry, multiprocess_mode="livesum"
        )
        self._added = dict.fromkeys(self._counters, 0)

    def sync(self) -> None:
        counts = self._memory.write_back
        for name, counter in self._counters.items():
            now = getattr(counts, name)
            if now > self._added[name]:
                counter.inc(now - self._added[name])
                self._added[name] = now
        self._queue.set(counts.pending + counts.writing)


class _MemoryCollector(Collector):
    """Write-back's counts and the store's size, read at scrape time."""

    def __init__(self, memory: MemoryService, *, write_back: bool = True) -> None:
        self._memory = memory
        self._write_back = write_back
        """Whether write-back's counts are collected here (not under ``--workers``: see the module)."""
        self._clients: list[UserMemories] | None = None

    async def refresh(self) -> None:
        try:
            await asyncio.wait_for(self._memory.problem(), STORE_SIZE_TIMEOUT)  # store_up, asked anew
            self._clients = await asyncio.wait_for(self._memory.clients(), STORE_SIZE_TIMEOUT)
        except Exception as exc:  # a slow or broken store leaves the size out, never the scrape
            logger.warning("metrics: the memory store's size could not be read: %s", type(exc).__name__)
            self._clients = None

    def collect(self) -> Iterator[Metric]:
        if self._write_back:
            counts = self._memory.write_back
            for name, documentation in _WRITE_BACK_COUNTERS.items():
                yield _counter(f"writeback_{name}", documentation, getattr(counts, name))
            yield GaugeMetricFamily(
                f"{PREFIX}_writeback_queue_depth", _QUEUE_DEPTH, value=counts.pending + counts.writing
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

"""The conformance fakes as uvicorn app factories, so each runs in a process of its own.

Why separate processes: a fake served from a thread of the benchmark would share the GIL with the load
generator, and its CPU time would be charged to whichever target is being measured. Why subclasses: the
conformance fakes record every request for tests to assert on; over tens of thousands of requests that
is memory that only grows, and the fake Supermemory's word-overlap search is linear in its documents, so
a store that kept every written-back exchange would get slower as the run went on. These subclasses
forget each record once answered and acknowledge writes without keeping them (as the real API queues
them), so both fakes cost the same from the first request to the last.

``uvicorn --factory bench.fakes_app:provider_app`` / ``bench.fakes_app:supermemory_app``; the fake
Supermemory reads ``BENCH_SUPERMEMORY_DELAY`` (seconds before each answer) and
``BENCH_SUPERMEMORY_DOCUMENTS`` (documents seeded for the bench user) from the environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette

from bench.workload import BENCH_USER, Workload
from conformance.fakes import FakeProvider, FakeRequest, FakeResponse, FakeSupermemory, StoredDocument

__all__ = ["SENT_AT_PREFIX", "BenchProvider", "BenchSupermemory", "provider_app", "supermemory_app"]

SENT_AT_PREFIX = "sent-at-"
"""A streamed chat chunk's ``system_fingerprint`` is ``sent-at-<time.monotonic_ns()>``: when this process
handed the chunk to the transport. LiteLLM and the memory proxy pass the field on, and CLOCK_MONOTONIC
is one clock for every process, so the load generator can tell how long each hop kept the chunk."""

_UNSTAMPED = b'"system_fingerprint": null'


class BenchProvider(FakeProvider):
    """The fake provider, forgetting each request once it is answered, stamping each chunk it streams."""

    async def respond(self, request: FakeRequest) -> FakeResponse:
        response = await super().respond(request)
        self.records.clear()  # only the uvicorn loop thread touches the fake in this process
        if response.stream is not None:
            response.stream = _stamped(response.stream)
        return response


async def _stamped(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            stamp = f'"system_fingerprint": "{SENT_AT_PREFIX}{time.monotonic_ns()}"'.encode()
            yield chunk.replace(_UNSTAMPED, stamp)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


class BenchSupermemory(FakeSupermemory):
    """The fake Supermemory with a fixed seed: writes are acknowledged but not kept, records forgotten."""

    keep_writes: bool = True

    def add_document(
        self,
        content: str,
        container_tag: str,
        *,
        custom_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> StoredDocument:
        if self.keep_writes:
            return super().add_document(content, container_tag, custom_id=custom_id, metadata=metadata)
        return StoredDocument(
            id="bench-unkept",
            content=content,
            container_tag=container_tag,
            custom_id=custom_id,
            metadata=dict(metadata or {}),
            created_at="",
            updated_at="",
            seq=0,
        )

    async def respond(self, request: FakeRequest) -> FakeResponse:
        response = await super().respond(request)
        self.records.clear()
        return response


def provider_app() -> Starlette:
    return BenchProvider().app


def supermemory_app() -> Starlette:
    fake = BenchSupermemory()
    for content in Workload().memories(int(os.environ.get("BENCH_SUPERMEMORY_DOCUMENTS", "50"))):
        fake.add_document(content, BENCH_USER)
    fake.keep_writes = False
    fake.delay = float(os.environ.get("BENCH_SUPERMEMORY_DELAY", "0.005"))
    return fake.app

"""The load generator: one async HTTP client per target, bounded in requests and in seconds.

Why aiohttp by default although the proxy itself uses httpx: measured on the 2-core machine against the
fake provider alone, an ``httpx.AsyncClient`` spends ~1 ms of client CPU per request at concurrency 1 and
~2 ms at concurrency 32 (its connection pool), so it topped out near 400 req/s and the benchmark measured
the client; aiohttp spends ~0.1-0.3 ms and reaches ~2,700 req/s there. ``--client httpx`` keeps the httpx
driver for comparison.

Why interleaved rounds: on a shared 2-core machine the speed of everything drifts during a run (thermal
state, page cache, other processes). Each scenario runs ``rounds`` rounds, and in each round every target
gets one batch, in an order rotated from round to round, so drift and position in the round hit all
targets alike instead of biasing whichever target happened to run last.

Bodies are encoded once up front, so the client spends the same, small, time per request on every
target; the direct target's numbers are therefore also the ceiling the client itself imposes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from bench.fakes_app import SENT_AT_PREFIX
from bench.targets import CHAT_PATH, MESSAGES_PATH, RESPONSES_PATH, Target

__all__ = ["DRIVERS", "Batch", "Driver", "Sample", "Scenario", "request_body", "run_scenario"]

_HEADER_FIELDS = {
    "overhead_ms": "x-memory-proxy-overhead-ms",
    "upstream_ms": "x-memory-proxy-upstream-ms",
    "recall_ms": "x-memory-proxy-recall-ms",
    "litellm_overhead_ms": "x-litellm-overhead-duration-ms",
}

_SENT_AT = re.compile(rb'"system_fingerprint": ?"' + SENT_AT_PREFIX.encode() + rb'(\d+)"')


class FirstChunk:
    """When the stream's first byte arrived, and how long after the provider sent its first stamped chunk
    that chunk arrived (the relay delay: time any hop in between kept it)."""

    def __init__(self) -> None:
        self.first_byte: float | None = None
        self.relay_ms: float | None = None
        self._head = b""

    def saw(self, chunk: bytes) -> None:
        if self.first_byte is None:
            self.first_byte = time.perf_counter()
        if self.relay_ms is None:
            self._head += chunk
            found = _SENT_AT.search(self._head)
            if found is not None:
                self.relay_ms = (time.monotonic_ns() - int(found.group(1))) / 1e6
                self._head = b""


@dataclass(frozen=True)
class Scenario:
    """One load shape: how many requests at once, streaming or not, and how big each batch may be."""

    key: str
    title: str
    concurrency: int
    stream: bool
    requests: int
    """Per batch: at most this many requests ..."""
    seconds: float
    """... and no new request after this many seconds."""
    warmup: int


@dataclass
class Sample:
    """One request: its latency, time to first body byte (streams), and what the answer reported."""

    ok: bool
    latency_ms: float
    status: int | None = None
    """The HTTP status (None when no answer came: a connection error, a timeout)."""
    ttfb_ms: float | None = None
    relay_ms: float | None = None
    """Streams: the provider's first chunk, from its send to its arrival here (see :class:`FirstChunk`)."""
    error: str | None = None
    headers: dict[str, float] = field(default_factory=dict)
    memory_status: str | None = None


@dataclass
class Batch:
    """One target's share of one round."""

    round: int
    samples: list[Sample]
    elapsed_s: float

    @property
    def succeeded(self) -> int:
        return sum(sample.ok for sample in self.samples)


def _reported(headers: Mapping[str, str]) -> dict[str, float]:
    found = {}
    for name, header in _HEADER_FIELDS.items():
        value = headers.get(header)
        if value is not None:
            with contextlib.suppress(ValueError):
                found[name] = float(value)
    return found


async def _tail_of(chunks: AsyncIterator[bytes], first: FirstChunk) -> bytes:
    """Read a stream to its end, noting its first chunk; returns its last bytes (where ``[DONE]`` is)."""
    tail = b""
    async for chunk in chunks:
        first.saw(chunk)
        tail = (tail + chunk)[-TAIL_BYTES:]
    return tail


_COMPLETE = {
    CHAT_PATH: (b'"choices"', b"[DONE]"),
    MESSAGES_PATH: (b'"content"', b'"message_stop"'),
    RESPONSES_PATH: (b'"output"', b"response.completed"),
}
"""By surface: what a whole answer holds, and what a whole stream ends with."""
TAIL_BYTES = 8192
"""How much of a stream's end is kept to find its end marker (a Responses stream ends with the whole
response object, after the marker)."""


def _complete(target: Target) -> tuple[bytes, bytes]:
    return _COMPLETE[target.path]


def _sample(
    started: float,
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    first: FirstChunk | None,
    complete: tuple[bytes, bytes],
) -> Sample:
    """A finished request: ok when it answered 200 with a completion (a stream: one that ended, e.g. in
    [DONE]); ``complete`` is its surface's pair of markers (see ``_COMPLETE``)."""
    ok = status == 200 and complete[first is not None] in content
    first_byte = first.first_byte if first is not None else None
    return Sample(
        ok=ok,
        latency_ms=(time.perf_counter() - started) * 1000,
        status=status,
        ttfb_ms=None if first_byte is None else (first_byte - started) * 1000,
        relay_ms=first.relay_ms if first is not None else None,
        error=None if ok else f"HTTP {status}: {content[:200]!r}",
        headers=_reported(headers),
        memory_status=headers.get("x-memory-status"),
    )


def _failed(started: float, exc: BaseException) -> Sample:
    return Sample(False, (time.perf_counter() - started) * 1000, error=f"{type(exc).__name__}: {exc}")


class Driver(Protocol):
    """One HTTP client of one target: sends a request body, returns how it went."""

    async def once(self, body: bytes, stream: bool) -> Sample: ...

    async def close(self) -> None: ...


class _AiohttpDriver:
    """aiohttp: the default, because it costs the client ~0.1 ms of CPU per request at any concurrency."""

    def __init__(self, target: Target, concurrency: int) -> None:
        import aiohttp

        self._errors = (aiohttp.ClientError, TimeoutError)
        self._url = target.url + target.path
        self._complete = _complete(target)
        self._headers = {"content-type": "application/json", **target.headers}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
            timeout=aiohttp.ClientTimeout(total=60.0),
        )

    async def once(self, body: bytes, stream: bool) -> Sample:
        started = time.perf_counter()
        first = FirstChunk() if stream else None
        try:
            async with self._session.post(self._url, data=body, headers=self._headers) as response:
                if first is None:
                    content = await response.read()
                else:
                    content = await _tail_of(response.content.iter_any(), first)
        except self._errors as exc:
            return _failed(started, exc)
        return _sample(started, response.status, content, response.headers, first, self._complete)

    async def close(self) -> None:
        await self._session.close()


class _HttpxDriver:
    """httpx, for comparison: its connection pool costs the client ~1-2 ms of CPU per request at
    concurrency 32 on the 2-core machine, so it measures itself more than the servers there."""

    def __init__(self, target: Target, concurrency: int) -> None:
        self._path = target.path
        self._complete = _complete(target)
        self._client = httpx.AsyncClient(
            base_url=target.url,
            headers={"content-type": "application/json", **target.headers},
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx.Timeout(60.0),
            trust_env=False,
        )

    async def once(self, body: bytes, stream: bool) -> Sample:
        started = time.perf_counter()
        first = FirstChunk() if stream else None
        try:
            if first is None:
                response = await self._client.post(self._path, content=body)
                content = response.content
            else:
                async with self._client.stream("POST", self._path, content=body) as response:
                    content = await _tail_of(response.aiter_raw(), first)
        except httpx.HTTPError as exc:
            return _failed(started, exc)
        return _sample(started, response.status_code, content, response.headers, first, self._complete)

    async def close(self) -> None:
        await self._client.aclose()


DRIVERS: dict[str, Callable[[Target, int], Driver]] = {"aiohttp": _AiohttpDriver, "httpx": _HttpxDriver}
"""Load-generator clients by name (``--client``)."""


async def _batch(
    client: Driver,
    bodies: list[bytes],
    *,
    requests: int,
    seconds: float,
    concurrency: int,
    stream: bool,
    round_: int,
) -> Batch:
    samples: list[Sample] = []
    issued = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal issued
        while issued < requests and time.perf_counter() < deadline:
            body = bodies[issued % len(bodies)]
            issued += 1
            samples.append(await client.once(body, stream))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Batch(round_, samples, time.perf_counter() - started)


def request_body(target: Target, prompt: str, stream: bool) -> bytes:
    """One user turn for ``target``'s surface (Anthropic Messages needs ``max_tokens``)."""
    turn = [{"role": "user", "content": prompt}]
    body: dict[str, object] = {"model": target.model}
    if target.path == RESPONSES_PATH:
        body["input"] = turn
    else:
        body["messages"] = turn
    if target.path == MESSAGES_PATH:
        body["max_tokens"] = 256
    body["stream"] = stream
    return json.dumps(body).encode()


def _bodies(target: Target, prompts: list[str], stream: bool) -> list[bytes]:
    return [request_body(target, prompt, stream) for prompt in prompts]


async def run_scenario(
    scenario: Scenario,
    targets: list[Target],
    prompts: list[str],
    *,
    rounds: int,
    client: str = "aiohttp",
    log: Callable[[str], None] = print,
) -> dict[str, list[Batch]]:
    """Warm every target up, then ``rounds`` interleaved rounds; returns each target's batches."""
    clients = {target.key: DRIVERS[client](target, scenario.concurrency) for target in targets}
    bodies = {target.key: _bodies(target, prompts, scenario.stream) for target in targets}
    results: dict[str, list[Batch]] = {target.key: [] for target in targets}
    try:
        for target in targets:
            warm = await _batch(
                clients[target.key],
                bodies[target.key],
                requests=scenario.warmup,
                seconds=60.0,
                concurrency=scenario.concurrency,
                stream=scenario.stream,
                round_=-1,
            )
            failed = [sample.error for sample in warm.samples if not sample.ok]
            if failed:
                log(f"  warm-up {target.key}: {len(failed)} of {len(warm.samples)} failed, e.g. {failed[0]}")
        for round_ in range(rounds):
            shift = round_ % len(targets)
            order = targets[shift:] + targets[:shift]
            line = []
            for target in order:
                batch = await _batch(
                    clients[target.key],
                    bodies[target.key],
                    requests=scenario.requests,
                    seconds=scenario.seconds,
                    concurrency=scenario.concurrency,
                    stream=scenario.stream,
                    round_=round_,
                )
                results[target.key].append(batch)
                line.append(f"{target.key} {batch.succeeded / batch.elapsed_s:.0f}/s")
            log(f"  {scenario.key} round {round_ + 1}/{rounds}: " + ", ".join(line))
    finally:
        await asyncio.gather(*(driver.close() for driver in clients.values()))
    return results

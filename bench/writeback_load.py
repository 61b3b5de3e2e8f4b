"""``python -m bench load`` (``./RUN_TESTS.sh bench load``): does memory write-back keep every exchange
of a burst?

The issue it checks: 1,000 plain and 300 streaming requests at concurrency 64 with memory on were all
answered 200, yet only ~1,100 of the 1,300 exchanges were stored. For each backend this starts the real
stack as the benchmark does (the fake provider; for ``binary`` a real LiteLLM proxy; the memory proxy under
uvicorn) with memory on, the local store in a fresh SQLite file and recall by meaning as configured by
default, and sends that load: every request a distinct prompt (so no two answers are one memory), chat
completions and some Anthropic messages, from a few clients. Then it waits, bounded, until
``/memory/status`` counts every answered exchange as stored, failed or dropped, stops the proxy, and
reads the rows of the file with SQLite itself, so the counter is checked against the database rather than
against itself. Outside the timed test suite (it takes minutes); the exit code is 1 when a request failed
or an answered exchange is not in the store, so it serves as an acceptance check.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.cli import describe_machine, run_async
from bench.load import DRIVERS, Sample, request_body
from bench.targets import (
    CHAT_PATH,
    MESSAGES_PATH,
    ROOT,
    Target,
    bench_config,
    binary_litellm_proxy,
    start_fake,
    start_memory_proxy,
    wait_ready,
)
from bench.workload import Workload
from bench.writeback_report import judge, markdown, stored_exchanges, write_json
from conformance.harness import deep_merge
from proxy.processes import ManagedProcess

__all__ = ["CLIENTS", "Client", "Exchange", "Outcome", "main", "plan"]

BACKENDS = ("sdk", "binary")
SETTLE_SECONDS = 120.0
"""How long write-back may take, after the last answer, to account for every exchange."""
MODEL_SECONDS = 120.0
"""How long the proxy may take to load the embedding model before the load starts."""
POLL_SECONDS = 0.05
BACKLOG_POLL_SECONDS = 0.25
MODELS = {CHAT_PATH: "gpt-fake", MESSAGES_PATH: "claude-fake"}


@dataclass(frozen=True)
class Client:
    """One client of the load: the memory namespace its exchanges belong in, and the headers naming it."""

    user_id: str
    headers: dict[str, str]


CLIENTS = (
    Client("load-ada", {"x-memory-user-id": "load-ada"}),
    Client("load-bo", {"x-memory-user-id": "load-bo"}),
    Client("load-cy", {"x-memory-user-id": "load-cy"}),
    Client("claude-code", {"user-agent": "claude-cli/2.1.197 (external, cli)"}),
)
"""Three name themselves (``x-memory-user-id``); Claude Code is recognised by its User-Agent (the built-in
header mapping), so both ways of naming a namespace are under load."""


@dataclass(frozen=True)
class Exchange:
    """One request of the load; ``number`` ends its prompt, so its stored memory can be found again."""

    number: int
    client: Client
    surface: str
    """``CHAT_PATH`` or ``MESSAGES_PATH``."""
    stream: bool
    prompt: str


@dataclass
class Outcome:
    """How one exchange went, and when (``time.perf_counter``) its answer had arrived in full."""

    exchange: Exchange
    sample: Sample
    finished: float


def _spread(number: int, share: float) -> bool:
    """Whether the ``number``-th of a sequence is one of an evenly spread ``share`` of it."""
    return math.floor((number + 1) * share) > math.floor(number * share)


def plan(requests: int, streaming_share: float, messages_share: float, seed: int = 7) -> list[Exchange]:
    """``requests`` exchanges with distinct prompts: ``round(requests * streaming_share)`` streamed,
    ``messages_share`` of each kind on ``/v1/messages``, the clients in turn; shuffled with a fixed seed,
    so streams, surfaces and clients interleave the same way in every run."""
    streams = round(requests * streaming_share)
    prompts = Workload().prompts(requests)
    exchanges = [
        Exchange(
            number=n,
            client=CLIENTS[n % len(CLIENTS)],
            surface=MESSAGES_PATH if _spread(n, messages_share) else CHAT_PATH,
            stream=n < streams,
            # The number makes every prompt distinct: Zipf-drawn prompts repeat now and then, and a
            # repeated exchange is, on purpose, one memory.
            prompt=f"{prompts[n]} (exchange {n})",
        )
        for n in range(requests)
    ]
    random.Random(seed).shuffle(exchanges)
    return exchanges


async def _send(url: str, exchanges: list[Exchange], concurrency: int) -> list[Outcome]:
    """Every exchange, ``concurrency`` at a time, through the benchmark's aiohttp driver (one per client
    and surface)."""
    targets = {
        (client.user_id, surface): Target(
            key=f"{client.user_id}{surface}",
            label=f"{client.user_id} on {surface}",
            url=url,
            model=MODELS[surface],
            headers=client.headers,
            path=surface,
        )
        for client in CLIENTS
        for surface in MODELS
    }
    drivers = {key: DRIVERS["aiohttp"](target, concurrency) for key, target in targets.items()}
    keys = [(exchange.client.user_id, exchange.surface) for exchange in exchanges]
    # Encoded up front, as the benchmark's bodies are: the client's time goes to sending, not to JSON.
    bodies = [request_body(targets[key], e.prompt, e.stream) for key, e in zip(keys, exchanges, strict=True)]
    work = iter(zip(exchanges, keys, bodies, strict=True))
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for exchange, key, body in work:  # one iterator shared by all workers: each exchange goes once
            sample = await drivers[key].once(body, exchange.stream)
            outcomes.append(Outcome(exchange, sample, time.perf_counter()))

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await asyncio.gather(*(driver.close() for driver in drivers.values()))
    return outcomes


async def _status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/memory/status")
    response.raise_for_status()
    status: dict[str, Any] = response.json()
    return status


@dataclass
class _Backlog:
    """The most exchanges write-back held at once (being written plus queued) while the load ran, polled:
    how close a burst comes to the queue's bound, past which exchanges are dropped."""

    peak: int = 0

    async def watch(self, client: httpx.AsyncClient) -> None:
        while True:
            counts = (await _status(client))["write_back"]
            self.peak = max(self.peak, counts["writing"] + counts["pending"])
            await asyncio.sleep(BACKLOG_POLL_SECONDS)


async def _model_loaded(client: httpx.AsyncClient) -> str | None:
    """Wait (bounded) while the proxy loads its embedding model; returns how it recalls then (None: by
    words and meaning), so the load meets the store as it runs once started, not half-loaded."""
    deadline = time.monotonic() + MODEL_SECONDS
    while True:
        mode: str | None = (await _status(client))["store"]["recall_mode"]
        if mode is None or "loading" not in mode or time.monotonic() > deadline:
            return mode
        await asyncio.sleep(0.5)


async def _settled(client: httpx.AsyncClient, answered: int) -> tuple[dict[str, Any], float | None]:
    """Poll ``/memory/status`` until write-back has accounted for ``answered`` exchanges (stored, failed or
    dropped) with nothing writing or queued; returns the last status, and when (``perf_counter``) it
    settled, None when it did not within ``SETTLE_SECONDS``."""
    deadline = time.perf_counter() + SETTLE_SECONDS
    while True:
        status = await _status(client)
        counts = status["write_back"]
        accounted = counts["stored"] + counts["failed"] + counts["dropped"]
        now = time.perf_counter()
        if accounted >= answered and counts["writing"] == 0 and counts["pending"] == 0:
            return status, now
        if now > deadline:
            return status, None
        await asyncio.sleep(POLL_SECONDS)


async def _load(
    url: str, exchanges: list[Exchange], concurrency: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """The load, then the wait for write-back: the outcomes and what ``/memory/status`` said."""
    async with httpx.AsyncClient(base_url=url, timeout=10.0, trust_env=False) as client:
        recall_mode = await _model_loaded(client)
        log(f"  recall: {recall_mode or 'by words and meaning'}; sending {len(exchanges)} requests ...")
        started = time.perf_counter()
        backlog = _Backlog()
        watching = asyncio.create_task(backlog.watch(client))
        try:
            outcomes = await _send(url, exchanges, concurrency)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        answered = sum(outcome.sample.ok for outcome in outcomes)
        last_answer = max((outcome.finished for outcome in outcomes), default=started)
        log(f"  {answered} of {len(outcomes)} answered in {last_answer - started:.1f} s; write-back ...")
        status, settled = await _settled(client, answered)
    return {
        "outcomes": outcomes,
        "load_s": last_answer - started,
        "recall_mode": recall_mode,
        "status": status,
        "peak_backlog": backlog.peak,
        "settled_s": None if settled is None else max(settled - last_answer, 0.0),
    }


@contextmanager
def _stack(
    backend: str, workdir: Path, log: Callable[[str], None]
) -> Iterator[tuple[str, ManagedProcess, Path]]:
    """The fake provider, the LiteLLM proxy for ``binary``, and a memory proxy of ``backend`` with memory on
    and a fresh local store; yields the proxy's URL, its process and the store's file; stops all on exit."""
    store = workdir / f"{backend}.sqlite3"
    with ExitStack() as stack:
        provider, provider_url = start_fake("provider_app")
        stack.callback(provider.stop)
        config = bench_config(provider_url)
        upstream: dict[str, Any] = {"memory_proxy": {"litellm_base_url": provider_url}}
        if backend == "binary":
            log("  starting the LiteLLM proxy ...")
            upstream = stack.enter_context(
                binary_litellm_proxy(config, workdir / "litellm")
            ).config_overrides()
        # ``semantic`` is left to its default (on): recall and write-back embed as a default install does.
        memory = {"enabled": True, "provider": "local", "local_store_path": str(store)}
        config = deep_merge(config, deep_merge(upstream, {"context_retrieval": memory}))
        proxy, url = start_memory_proxy(workdir, backend, backend, config)
        stack.callback(proxy.stop)
        wait_ready(provider, provider_url)
        wait_ready(proxy, url)
        yield url, proxy, store


def _run_backend(
    backend: str, args: argparse.Namespace, exchanges: list[Exchange], log: Callable[[str], None]
) -> dict[str, Any]:
    log(f"{backend}: starting the stack ...")
    with tempfile.TemporaryDirectory(prefix=f"memory-proxy-load-{backend}-") as tmp:
        with _stack(backend, Path(tmp), log) as (url, proxy, store):
            run, client_loop = run_async(lambda: _load(url, exchanges, args.concurrency, log))
            exit_code = proxy.stop()  # flushes whatever write-back still holds, and closes the file
            output = proxy.tail(40)
        rows = stored_exchanges(store)
    result = judge(backend, run, rows, exit_code=exit_code, output=output)
    result["client_loop"] = client_loop
    verdict = "pass" if not result["problems"] else "FAIL: " + "; ".join(result["problems"])
    log(f"{backend}: {verdict}")
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="requests per backend (default 1300, quick 130)")
    parser.add_argument(
        "--streaming-share", type=float, default=300 / 1300, help="share streamed (default 300/1300 = 0.23)"
    )
    parser.add_argument("--messages-share", type=float, default=0.2, help="share sent to /v1/messages")
    parser.add_argument("--concurrency", type=int, help="requests at once (default 64, quick 16)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sdk, binary")
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run: 130 requests, concurrency 16"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where results go")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.requests = args.requests or (130 if args.quick else 1300)
    args.concurrency = args.concurrency or (16 if args.quick else 64)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if not backends or set(backends) - set(BACKENDS):
        parser.error(f"--backends: choose from {', '.join(BACKENDS)}")
    if not 0 <= args.streaming_share <= 1 or not 0 <= args.messages_share <= 1:
        parser.error("shares are between 0 and 1")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    exchanges = plan(args.requests, args.streaming_share, args.messages_share)
    meta = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "requests": args.requests,
        "streams": sum(exchange.stream for exchange in exchanges),
        "messages": sum(exchange.surface == MESSAGES_PATH for exchange in exchanges),
        "concurrency": args.concurrency,
        "clients": [dataclasses.asdict(client) for client in CLIENTS],
        "machine": describe_machine(),
    }
    results = {backend: _run_backend(backend, args, exchanges, log) for backend in backends}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "load.json", meta, results)
    table = markdown(meta, results)
    (args.out / "load.md").write_text(table, encoding="utf-8")
    print(table)
    log(f"wrote {args.out}/load.md, load.json")
    return 1 if any(result["problems"] for result in results.values()) else 0

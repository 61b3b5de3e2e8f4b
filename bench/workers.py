"""``python -m bench workers`` (also ``python -m bench load --workers``): requests per second through the
memory proxy with 1 and with 2 worker processes (``start-proxies --workers N``), same run, same load.

Each run starts the memory proxy as a user would, ``python -m proxy.launcher --workers N`` (the sdk
backend, LiteLLM in-process), on the fake provider the benchmark uses, with memory on: the local store (a
copy of one store seeded with 10,000 memories, so both runs start from the same file) and recall by
meaning as installed by default. It waits until the embedding model is loaded (every worker loads its
own), warms up, then sends the same distinct prompts (``--requests`` at ``--concurrency``); ``--rounds``
runs per count, interleaved, each on a fresh proxy (stopping it flushes its write-back, so no round
inherits another's work). Reports requests per second, p50 and p99 of the median round, and the ratio
of 2 workers to 1. The load generator runs on the same
machine (aiohttp, ~0.1 ms of CPU a request), so on 2 cores the workers share them with it.
Writes ``bench/results/workers.json`` and ``workers.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.cli import describe_machine, run_async
from bench.load import DRIVERS, Sample, request_body
from bench.report import percentile
from bench.targets import ROOT, Target, _child_env, bench_config, start_fake, wait_ready
from bench.workload import BENCH_USER, Workload, seed_local_store
from conformance.harness import deep_merge
from proxy.processes import ManagedProcess, free_port

__all__ = ["main", "measure"]

MODEL_SECONDS = 180.0
"""How long the workers may take to load the embedding model before the load starts."""
LOADED_IN_A_ROW = 12
"""Status answers in a row that must say the model is loaded (each may come from any worker)."""
SEEDED = 10_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _start(workers: int, config: dict[str, Any], workdir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    config_file = workdir / f"workers-{workers}.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = [sys.executable, "-m", "proxy.launcher", "--backend", "sdk", "--workers", str(workers)]
    args += ["--port", str(port), "--config", str(config_file), "--log-level", "warning"]
    return ManagedProcess(args, env=_child_env({}), cwd=ROOT), f"http://127.0.0.1:{port}"


async def _model_loaded(url: str) -> str | None:
    """Poll ``/memory/status`` until ``LOADED_IN_A_ROW`` answers in a row say recall is by meaning (the
    answers come from whichever worker takes the connection); returns the last recall mode."""
    deadline = time.monotonic() + MODEL_SECONDS
    in_a_row = 0
    mode: str | None = "?"
    while in_a_row < LOADED_IN_A_ROW and time.monotonic() < deadline:
        async with httpx.AsyncClient(base_url=url, timeout=10.0, trust_env=False) as client:
            mode = (await client.get("/memory/status")).json()["store"]["recall_mode"]
        in_a_row = in_a_row + 1 if mode is None or "loading" not in mode else 0
        await asyncio.sleep(0.05 if in_a_row else 0.5)
    return mode


async def _send(target: Target, bodies: list[bytes], concurrency: int) -> tuple[list[Sample], float]:
    driver = DRIVERS["aiohttp"](target, concurrency)
    work = iter(bodies)
    samples: list[Sample] = []

    async def worker() -> None:
        for body in work:
            samples.append(await driver.once(body, False))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await driver.close()
    return samples, time.perf_counter() - started


async def _drive(url: str, prompts: list[str], warmup: int, concurrency: int) -> dict[str, Any]:
    recall_mode = await _model_loaded(url)
    target = Target(
        key="memory-proxy",
        label="memory proxy",
        url=url,
        model="gpt-fake",
        headers={"x-memory-user-id": BENCH_USER},
        memory="local",
    )
    bodies = [request_body(target, prompt, False) for prompt in prompts]
    await _send(target, bodies[:warmup], concurrency)
    samples, seconds = await _send(target, bodies[warmup:], concurrency)
    ok = [sample.latency_ms for sample in samples if sample.ok]
    return {
        "recall_mode": recall_mode or "by words and meaning",
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "error_examples": [e for e, _ in Counter(s.error for s in samples if not s.ok).most_common(3)],
        "seconds": seconds,
        "rps": len(ok) / seconds if seconds else None,
        "p50_ms": percentile(ok, 50) if ok else None,
        "p99_ms": percentile(ok, 99) if ok else None,
        "recall": dict(Counter(sample.memory_status or "none" for sample in samples)),
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one worker count: the median round's numbers (by req/s), and every round's req/s."""
    ranked = sorted(runs, key=lambda run: run["rps"] or 0.0)
    median = ranked[(len(ranked) - 1) // 2]
    return median | {
        "rounds_rps": [run["rps"] for run in runs],
        "errors": sum(run["errors"] for run in runs),
        "recall": dict(sum((Counter(run["recall"]) for run in runs), Counter())),
    }


def measure(
    worker_counts: list[int], requests: int, concurrency: int, warmup: int, rounds: int
) -> dict[str, Any]:
    """``rounds`` runs per worker count, interleaved (1, 2, 1, 2, ...), each on a fresh proxy and a fresh
    copy of one seeded store, all on one fake provider; per count, the median round."""
    prompts = Workload().prompts(warmup + requests)
    runs: dict[str, list[dict[str, Any]]] = {str(workers): [] for workers in worker_counts}
    with tempfile.TemporaryDirectory(prefix="memory-proxy-workers-") as tmp:
        workdir = Path(tmp)
        seed = workdir / "seed.sqlite3"
        _log(f"seeding {SEEDED:,} memories ...")
        asyncio.run(seed_local_store(seed, Workload().memories(SEEDED)))
        provider, provider_url = start_fake("provider_app")
        try:
            wait_ready(provider, provider_url)
            for round_ in range(1, rounds + 1):
                for workers in worker_counts:
                    store = workdir / f"workers-{workers}.sqlite3"
                    shutil.copyfile(seed, store)
                    for suffix in ("-wal", "-shm"):
                        Path(f"{store}{suffix}").unlink(missing_ok=True)
                    memory = {"enabled": True, "provider": "local", "local_store_path": str(store)}
                    config = deep_merge(
                        bench_config(provider_url),
                        {"memory_proxy": {"litellm_base_url": provider_url}, "context_retrieval": memory},
                    )
                    proxy, url = _start(workers, config, workdir)
                    try:
                        wait_ready(proxy, url)
                        drive = functools.partial(_drive, url, prompts, warmup, concurrency)
                        result, client_loop = run_async(drive)
                    finally:
                        proxy.stop()
                    result["client_loop"] = client_loop
                    _log(
                        f"round {round_}, {workers} worker(s): {result['rps']:.0f} req/s, "
                        f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
                        f"{result['errors']} errors"
                    )
                    runs[str(workers)].append(result)
        finally:
            provider.stop()
    return {workers: _summary(found) for workers, found in runs.items()}


def _markdown(meta: dict[str, Any], results: dict[str, Any]) -> str:
    lines = [
        "# Memory proxy with several workers",
        "",
        f"Run {meta['timestamp']}; {meta['machine']['cpu']} ({meta['machine']['cpus']} CPUs). "
        "Reproduce: `python -m bench workers`.",
        "",
        f"The sdk backend on the fake provider, memory on (local store seeded with {SEEDED:,} memories, "
        f"recall by words and meaning), {meta['requests']} non-streaming requests at concurrency "
        f"{meta['concurrency']} after {meta['warmup']} to warm up, {meta['rounds']} rounds per worker count "
        "interleaved, each on a fresh `start-proxies --workers N` and a fresh copy of the store.",
        "",
        "| workers | req/s (median round) | p50 ms | p99 ms | req/s of each round | errors | recall |",
        "|--:|--:|--:|--:|---|--:|---|",
    ]
    for workers, row in results.items():
        recall = ", ".join(f"{k}: {v}" for k, v in row["recall"].items())
        lines.append(
            f"| {workers} | {row['rps']:.1f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {', '.join(f'{rps:.1f}' for rps in row['rounds_rps'])} | {row['errors']} | {recall} |"
        )
    if meta.get("ratio") is not None:
        lines += ["", f"Throughput, {meta['ratio_of']}: **{meta['ratio']:.2f}x**."]
    lines += [
        "",
        "The load generator shares the machine's cores with the workers (and with the fake provider).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--requests", type=int, default=400, help="timed requests per run (default 400)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests at once (default 32)")
    parser.add_argument("--warmup", type=int, default=64, help="requests before the timed ones")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per worker count (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where results go")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    started = time.perf_counter()
    meta: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "machine": describe_machine(),
    }
    results = measure(counts, args.requests, args.concurrency, args.warmup, args.rounds)
    first, last = str(counts[0]), str(counts[-1])
    if len(counts) > 1 and results[first]["rps"] and results[last]["rps"]:
        meta["ratio"] = results[last]["rps"] / results[first]["rps"]
        meta["ratio_of"] = f"{last} workers / {first} worker(s)"
    meta["duration_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "workers.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1), encoding="utf-8"
    )
    table = _markdown(meta, results)
    (args.out / "workers.md").write_text(table, encoding="utf-8")
    print(table)
    _log(f"wrote {args.out}/workers.md, workers.json in {meta['duration_s']:.0f} s")
    return 1 if any(row["errors"] for row in results.values()) else 0

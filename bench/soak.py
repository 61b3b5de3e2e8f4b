"""``python -m bench soak [--minutes N]``: a long run at a steady load, watching what grows.

A proxy that serves a team runs for weeks; LiteLLM's own users report memory growth in long-lived
FastAPI services (its issue 15128), which is what the sdk backend is. So both backends run side by side,
with memory on (a local store that grows with every exchange), at a steady rate of streamed and plain
requests from many clients, and every ``--every`` seconds each process is sampled: RSS, open file
descriptors and threads (from ``/proc``), the interval's latency p50/p99, and how many exchanges were
answered and stored. The binary backend's LiteLLM proxy is sampled too, apart. The verdict compares the
last sample with the one at a sixth of the run (minute 10 of an hour: start-up, imports and first caches
are behind by then): RSS within 1.10x, descriptors and threads within 2. Results: ``soak.json``,
``soak.md`` and ``soak.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.targets import (
    bench_config,
    binary_litellm_proxy,
    deep_merge,
    start_fake,
    start_memory_proxy,
    wait_ready,
)

__all__ = ["main"]

RSS_LIMIT = 1.10
"""The last RSS over the RSS at a sixth of the run, at most."""
COUNT_SLACK = 2
"""Open descriptors and threads may differ by this much between the same two samples."""


@dataclass
class Sample:
    minute: float
    rss_mb: float
    anon_mb: float
    """Anonymous memory (the heap, Python's objects, SQLite's page caches): what a leak grows."""
    file_mb: float
    """File-backed pages mapped in (the interpreter, libraries, model weights): the kernel reclaims them."""
    fds: int
    threads: int
    p50_ms: float | None
    p99_ms: float | None
    answered: int
    stored: int | None
    errors: int


@dataclass
class Watched:
    """One process of the run: how to find it, and what it looked like over time."""

    key: str
    label: str
    pid: int
    url: str | None = None
    """A memory proxy (its ``/memory/status`` says what was stored); None for the LiteLLM proxy."""
    samples: list[Sample] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    answered: int = 0
    errors: int = 0


def _proc(pid: int) -> tuple[float, float, float, int, int]:
    """RSS, its anonymous and file-backed parts in MB, open descriptors and threads of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss, anon, mapped = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "RssAnon", "RssFile"))
    threads = int(fields["Threads"])
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return rss, anon, mapped, fds, threads


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _client_loop(
    http: httpx.AsyncClient, target: Watched, number: int, rate: float, stop: float
) -> None:
    """One client: a request every ``1/rate`` s, alternately streamed and not, in a namespace of its own.
    Each is a conversation of one turn: the fake provider echoes the newest user turn, and memory added to a
    later turn would be echoed, stored and recalled again, growing every request (a benchmark artifact)."""
    headers = {"x-memory-user-id": f"soak-{number}"}
    turn = 0
    while time.monotonic() < stop:
        started = time.monotonic()
        text = f"client {number} request {turn}: note the figure {turn * 7} for the {turn % 50}th item"
        body = {"model": "gpt-fake", "messages": [{"role": "user", "content": text}], "stream": turn % 2 == 1}
        try:
            url = f"{target.url}/v1/chat/completions"
            async with http.stream("POST", url, json=body, headers=headers) as answer:
                await answer.aread()
            if answer.status_code != 200:
                raise RuntimeError(answer.status_code)
            target.latencies.append((time.monotonic() - started) * 1000)
            target.answered += 1
        except Exception:
            target.errors += 1
        turn += 1
        await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


async def _stored(http: httpx.AsyncClient, target: Watched) -> int | None:
    if target.url is None:
        return None
    try:
        status = (await http.get(f"{target.url}/memory/status")).json()
        return int(status["write_back"]["stored"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None


async def _run(watched: list[Watched], minutes: float, every: float, clients: int, rate: float) -> None:
    began = time.monotonic()
    stop = began + minutes * 60
    # Each client keeps one connection of its own, as a real one does: a shared pool would open and close
    # connections as the load shifts between the proxies, and their descriptors would be counted as growth.
    one = httpx.Limits(max_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=60, trust_env=False))
        loops = []
        for target in [target for target in watched if target.url is not None]:
            for number in range(clients):
                own = httpx.AsyncClient(timeout=60, limits=one, trust_env=False)
                await stack.enter_async_context(own)
                loops.append(asyncio.create_task(_client_loop(own, target, number, rate, stop)))
        while time.monotonic() < stop:
            await asyncio.sleep(min(every, max(0.0, stop - time.monotonic())))
            for target in watched:
                rss, anon, mapped, fds, threads = _proc(target.pid)
                window, target.latencies = target.latencies, []
                sample = Sample(
                    minute=round((time.monotonic() - began) / 60, 2),
                    rss_mb=round(rss, 1),
                    anon_mb=round(anon, 1),
                    file_mb=round(mapped, 1),
                    fds=fds,
                    threads=threads,
                    p50_ms=_quantile(window, 0.5),
                    p99_ms=_quantile(window, 0.99),
                    answered=target.answered,
                    stored=await _stored(http, target),
                    errors=target.errors,
                )
                target.samples.append(sample)
                print(
                    f"  {target.key:>14} {sample.minute:6.2f} min  {json.dumps(asdict(sample))}",
                    file=sys.stderr,
                )
        await asyncio.gather(*loops)


def verdict(target: Watched) -> dict[str, Any]:
    """The last sample against the one at a sixth of the run."""
    samples = target.samples
    reference = samples[max(0, len(samples) // 6 - 1)]
    last = samples[-1]
    ratio = last.rss_mb / reference.rss_mb
    return {
        "reference_minute": reference.minute,
        "last_minute": last.minute,
        "rss_ratio": round(ratio, 3),
        "fds_change": last.fds - reference.fds,
        "threads_change": last.threads - reference.threads,
        "flat": ratio <= RSS_LIMIT
        and abs(last.fds - reference.fds) <= COUNT_SLACK
        and abs(last.threads - reference.threads) <= COUNT_SLACK,
    }


def _markdown(watched: list[Watched], minutes: float) -> str:
    lines = [f"# Soak: {minutes:g} minutes", ""]
    lines += [
        "| process | RSS then → last (MB) | ratio | fds | threads | answered | stored | errors | flat |"
    ]
    lines += ["|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for target in watched:
        result = verdict(target)
        reference = target.samples[max(0, len(target.samples) // 6 - 1)]
        last = target.samples[-1]
        lines.append(
            f"| {target.label} | {reference.rss_mb:.0f} → {last.rss_mb:.0f} | {result['rss_ratio']:.3f} "
            f"| {reference.fds} → {last.fds} | {reference.threads} → {last.threads} | {last.answered:,} "
            f"| {last.stored if last.stored is not None else '-'} | {last.errors} | {result['flat']} |"
        )
    lines += ["", "Per sample (minute: RSS MB, p50/p99 ms):", ""]
    for target in watched:
        cells = [
            f"{s.minute:g}: {s.rss_mb:.0f}"
            + (f", {s.p50_ms:.1f}/{s.p99_ms:.1f}" if s.p50_ms is not None and s.p99_ms is not None else "")
            for s in target.samples
        ]
        lines.append(f"- {target.label}: " + "; ".join(cells))
    return "\n".join(lines) + "\n"


def _chart(path: Path, watched: list[Watched]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for target in watched:
        minutes = [s.minute for s in target.samples]
        axes[0].plot(minutes, [s.rss_mb for s in target.samples], label=target.label)
        axes[1].plot(minutes, [s.fds for s in target.samples], label=target.label)
        if target.url is not None:
            axes[2].plot(minutes, [s.p99_ms or 0 for s in target.samples], label=target.label)
    axes[0].set_ylabel("RSS (MB)")
    axes[1].set_ylabel("open fds")
    axes[2].set_ylabel("p99 (ms)")
    axes[2].set_xlabel("minutes")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long (default 3; the README's: 60)")
    parser.add_argument("--every", type=float, default=None, help="seconds between samples (default: run/30)")
    parser.add_argument("--clients", type=int, default=8, help="clients per memory proxy (default 8)")
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second per client (default 2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak"), help="where the results go")
    args = parser.parse_args(argv)
    every = args.every or max(5.0, args.minutes * 60 / 30)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="memory-proxy-soak-"))
    provider, provider_url = start_fake("provider_app")
    processes = [provider]
    try:
        base = bench_config(provider_url)
        wait_ready(provider, provider_url)
        with binary_litellm_proxy(base, workdir / "litellm") as litellm:
            watched: list[Watched] = []
            for key, label, backend, upstream in (
                (
                    "sdk",
                    "memory proxy sdk + local store",
                    "sdk",
                    {"memory_proxy": {"litellm_base_url": provider_url}},
                ),
                ("binary", "memory proxy binary + local store", "binary", litellm.config_overrides()),
            ):
                memory = {
                    "context_retrieval": {
                        "enabled": True,
                        "local_store_path": str(workdir / f"{key}.sqlite3"),
                        "semantic": False,
                    }
                }
                process, url = start_memory_proxy(
                    workdir, key, backend, deep_merge(deep_merge(base, upstream), memory)
                )
                processes.append(process)
                wait_ready(process, url)
                watched.append(Watched(key, label, process.process.pid, url))
            watched.append(
                Watched("litellm", "its LiteLLM proxy (binary backend)", litellm.process.process.pid)
            )
            print(
                f"soak: {args.minutes:g} min, {args.clients} clients x {args.rate:g} req/s per memory proxy, "
                f"a sample every {every:g} s",
                file=sys.stderr,
            )
            asyncio.run(_run(watched, args.minutes, every, args.clients, args.rate))
    finally:
        for process in processes:
            process.stop()
    results = {
        "minutes": args.minutes,
        "clients": args.clients,
        "rate": args.rate,
        "processes": [
            {"key": t.key, "label": t.label, "verdict": verdict(t), "samples": [asdict(s) for s in t.samples]}
            for t in watched
        ],
    }
    (args.out / "soak.json").write_text(json.dumps(results, indent=2))
    report = _markdown(watched, args.minutes)
    (args.out / "soak.md").write_text(report)
    _chart(args.out / "soak.png", watched)
    print(report)
    answered = sum(t.answered for t in watched)
    errors = sum(t.errors for t in watched)
    return 0 if errors <= 0.01 * max(1, answered) else 1


if __name__ == "__main__":
    raise SystemExit(main())

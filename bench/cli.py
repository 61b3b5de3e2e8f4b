"""``python -m bench [--quick] [--rounds N] [--out DIR] ...``: one benchmark run, start to finish.

Why one process drives everything: the issue asks for ratios "from one run", so the references (direct
call, LiteLLM proxy alone) are measured in the same minutes, on the same machine state, as each memory
proxy configuration. The exit code is 0 when every target answered (targets missed are reported, not
failed: they are findings), 1 when more than 5% of a target's requests failed, so a broken stack cannot
pass for a slow one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.load import DRIVERS, Scenario, run_scenario
from bench.report import markdown, summarize, verdicts, write_chart, write_json
from bench.targets import PROXIES, ROOT, StackOptions, running_stack
from bench.workload import Workload, count_memories

__all__ = ["default_scenarios", "describe_machine", "main", "run_async"]

MAX_ERROR_FRACTION = 0.05
"""More failed requests than this share of a target's makes the run fail: the stack is broken, not slow.
A few are reported, not failed: they are findings (e.g. a pooled connection the server had closed)."""

PROMPTS = 1000
"""Distinct prompts, cycled; each target gets them in the same order."""


def default_scenarios(quick: bool) -> list[Scenario]:
    """Sized so the default run takes ~5 minutes on 2 cores, and ``--quick`` about one."""
    if quick:
        return [
            Scenario("c1", "Concurrency 1, non-streaming", 1, False, requests=30, seconds=1.5, warmup=10),
            Scenario(
                "c32", "Concurrency 32, non-streaming", 32, False, requests=5000, seconds=1.0, warmup=64
            ),
            Scenario("stream", "Concurrency 1, streaming", 1, True, requests=15, seconds=1.5, warmup=5),
        ]
    return [
        Scenario("c1", "Concurrency 1, non-streaming", 1, False, requests=150, seconds=5.0, warmup=30),
        Scenario("c32", "Concurrency 32, non-streaming", 32, False, requests=20000, seconds=3.0, warmup=128),
        Scenario("stream", "Concurrency 1, streaming", 1, True, requests=60, seconds=4.0, warmup=10),
    ]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict[str, Any]:
    """What a run ran on (CPU, load, versions): numbers compare only with numbers from the same."""
    packages = ("litellm", "fastapi", "starlette", "uvicorn", "httpx", "uvloop", "httptools", "orjson")
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in packages},
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def run_async(main: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, str]:
    """Run ``main`` on uvloop when installed (a faster client measures the servers, not itself)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main()), "asyncio"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main()), "uvloop"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run (2 short rounds)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per scenario (default 5, quick 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where results go")
    parser.add_argument("--memories", type=int, default=10_000, help="memories seeded in the local stores")
    parser.add_argument(
        "--supermemory-delay", type=float, default=0.005, help="seconds the fake Supermemory waits"
    )
    parser.add_argument(
        "--only",
        help="comma-separated memory-proxy targets to run (default all): "
        + ", ".join(spec.key for spec in PROXIES),
    )
    parser.add_argument(
        "--client", choices=sorted(DRIVERS), default="aiohttp", help="load-generator HTTP client"
    )
    parser.add_argument("--scenarios", help="comma-separated scenarios to run (default all): c1, c32, stream")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    rounds = args.rounds or (2 if args.quick else 5)
    scenarios = default_scenarios(args.quick)
    if args.scenarios:
        chosen = {name.strip() for name in args.scenarios.split(",")}
        scenarios = [scenario for scenario in scenarios if scenario.key in chosen]
    only = frozenset(name.strip() for name in args.only.split(",")) if args.only else None
    unknown = (only or frozenset()) - {spec.key for spec in PROXIES}
    if unknown:
        _parser().error(f"unknown targets: {', '.join(sorted(unknown))}")
    options = StackOptions(memories=args.memories, supermemory_delay=args.supermemory_delay, only=only)
    machine = describe_machine()
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    prompts = Workload().prompts(PROMPTS)
    raw: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="memory-proxy-bench-") as tmp:
        workdir = Path(tmp)
        with running_stack(workdir, options, log=_log) as stack:
            targets = stack.targets
            _log(f"stack up in {stack.timings['stack_start_s']:.1f} s; {len(targets)} targets")

            async def drive() -> None:
                for scenario in scenarios:
                    _log(f"{scenario.title}: warm-up, then {rounds} rounds")
                    raw[scenario.key] = await run_scenario(
                        scenario, targets, prompts, rounds=rounds, client=args.client, log=_log
                    )

            _, client_loop = run_async(drive)
            # Whether the LiteLLM proxy logged per request (its default), which costs it some time.
            litellm_log_lines = stack.litellm[0].process.line_count
            _log("stopping every process ...")
        # After the proxies stopped (their pending write-backs flushed): how big the stores ended up.
        stores = {key: asyncio.run(count_memories(path)) for key, path in stack.local_stores.items()}

    summaries = {
        key: {target: summarize(batches) for target, batches in per.items()} for key, per in raw.items()
    }
    found = verdicts(summaries)
    machine["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    meta = {
        "timestamp": timestamp,
        "quick": args.quick,
        "rounds": rounds,
        "duration_s": time.perf_counter() - started,
        "machine": machine,
        "client": {"library": args.client, "event_loop": client_loop, "one_client_per_target": True},
        "memories": args.memories,
        "local_store_memories": stores,
        "supermemory_delay_s": args.supermemory_delay,
        "supermemory_documents": options.supermemory_documents,
        "timings_s": stack.timings,
        "litellm_proxy_output_lines": litellm_log_lines,
        "scenarios_config": [scenario.__dict__ for scenario in scenarios],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(scenarios, targets, summaries, found, meta)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    write_json(args.out / "results.json", meta, targets, summaries, raw, found)
    write_chart(args.out / "latency.png", scenarios, targets, summaries)
    print(table)
    _log(f"wrote {args.out}/results.md, results.json, latency.png in {meta['duration_s']:.0f} s")

    failing = [
        f"{scenario}/{target}: {summary['errors']} of {summary['requests']} failed"
        for scenario, per in summaries.items()
        for target, summary in per.items()
        if summary["errors"] > MAX_ERROR_FRACTION * summary["requests"]
    ]
    if failing:
        _log("too many requests failed (see results.md):\n  " + "\n  ".join(failing))
        return 1
    return 0

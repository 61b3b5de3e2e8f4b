"""``python -m bench memory_tool`` (``./RUN_TESTS.sh bench memory_tool``): what a memory tool step costs.

A memory proxy (sdk backend, ``memory_proxy.memory_tool: serve``, a local store) in front of the fake
provider, each in its own process. Two kinds of Anthropic Messages request, taken in turn: a plain one
(one provider call), and one whose model views ``/memories`` once before it answers (the fake provider's
``tool_call tool=memory``: two provider calls and the tool run between them). The difference of their
medians is what one memory tool step adds; the provider's own time for one call
(``x-memory-proxy-upstream-ms`` of the plain request) is beside it, so the step's cost reads against the
provider's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.targets import bench_config, start_fake, start_memory_proxy, wait_ready
from conformance.fakes import fake_directive
from conformance.harness import deep_merge

__all__ = ["main", "measure"]

HEADERS = {"x-memory-project": "/home/bench/project", "anthropic-version": "2023-06-01"}


def _body(text: str) -> dict[str, Any]:
    return {"model": "claude-fake", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}


def measure(requests: int) -> dict[str, float]:
    """p50 and p95 of each kind, over ``requests`` of each, after a warm-up."""
    step = fake_directive("tool_call", rounds=1, tool="memory", arg_command="view", arg_path="/memories")
    with tempfile.TemporaryDirectory(prefix="memory-tool-bench-") as tmp:
        provider, provider_url = start_fake("provider_app")
        with provider:
            wait_ready(provider, provider_url)
            config = deep_merge(
                bench_config(provider_url),
                {
                    "context_retrieval": {
                        "enabled": True,
                        "provider": "local",
                        "local_store_path": str(Path(tmp) / "memory.sqlite3"),
                        "semantic": False,
                    },
                    "memory_proxy": {"memory_tool": "serve"},
                },
            )
            proxy, url = start_memory_proxy(Path(tmp), "memory-tool", "sdk", config)
            with proxy, httpx.Client(base_url=url, timeout=30, headers=HEADERS) as client:
                wait_ready(proxy, url)
                times: dict[str, list[float]] = {"plain": [], "one memory tool step": [], "upstream": []}
                for n in range(requests + 20):
                    for kind, text in (("plain", f"hello {n}"), ("one memory tool step", f"look {n} {step}")):
                        started = time.perf_counter()
                        answer = client.post("/v1/messages", json=_body(text))
                        elapsed = (time.perf_counter() - started) * 1000
                        answer.raise_for_status()
                        assert answer.json()["stop_reason"] == "end_turn", answer.text
                        if n >= 20:  # the first ones warm LiteLLM's and the store's paths
                            times[kind].append(elapsed)
                            if kind == "plain":
                                times["upstream"].append(float(answer.headers["x-memory-proxy-upstream-ms"]))
    found = {f"{kind} p50 ms": statistics.median(values) for kind, values in times.items()}
    found["added by one step ms"] = found["one memory tool step p50 ms"] - found["plain p50 ms"]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench memory_tool", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind (default 200)")
    args = parser.parse_args(argv)
    found = measure(args.requests)
    for name, value in found.items():
        print(f"{name}: {value:.2f}", file=sys.stdout)
    return 0

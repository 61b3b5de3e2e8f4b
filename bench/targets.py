"""Every process the benchmark measures, started on free loopback ports and stopped by its handle.

One run holds: the fake provider and the fake Supermemory (each a uvicorn process), a real LiteLLM proxy
(``litellm --config``, as the binary parity suites run it), and one memory proxy process per
configuration (``uvicorn proxy.sdk:app`` / ``proxy.binary:app`` with ``MEMORY_PROXY_CONFIG``). Separate
processes, because that is how each is deployed and because none of them should share a GIL with the
load generator. Everything is stopped through its :class:`ManagedProcess` in an ``ExitStack``, on error
too.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.workload import BENCH_USER, Workload, seed_local_store, synthetic_vectors
from conformance.harness import (
    LiteLLMProxyUnderTest,
    conformance_raw_config,
    deep_merge,
    litellm_proxy_process,
)
from proxy.processes import ManagedProcess, free_port

__all__ = [
    "CHAT_PATH",
    "MESSAGES_PATH",
    "RESPONSES_PATH",
    "ROOT",
    "Stack",
    "StackOptions",
    "Target",
    "bench_config",
    "binary_litellm_proxy",
    "running_stack",
    "start_fake",
    "start_memory_proxy",
    "wait_ready",
]

ROOT = Path(__file__).resolve().parents[1]
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"
RESPONSES_TARGETS = ("own_hop", "sdk")
"""The memory proxies also measured on the Responses API (beside a direct Responses call)."""
UNREACHABLE_URL = "http://127.0.0.1:9"
"""For the config's ``gpt-unreachable`` model, which the benchmark never calls."""

_SCRUBBED_PREFIXES = ("LITELLM_", "OPENAI_", "ANTHROPIC_", "SUPERMEMORY_", "MEMORY_PROXY_")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@dataclass(frozen=True)
class Target:
    """One thing the load generator calls: where, with which model name, and what it is made of."""

    key: str
    label: str
    url: str
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    memory: str | None = None
    """``local`` or ``supermemory`` when recall and write-back are on."""
    ours: bool = True
    """A memory proxy (it reports the overhead headers)."""
    path: str = CHAT_PATH


@dataclass
class StackOptions:
    memories: int = 10_000
    supermemory_delay: float = 0.005
    supermemory_documents: int = 50
    only: frozenset[str] | None = None
    """Target keys to start (None: all); ``direct`` and ``litellm`` are always started."""


@dataclass
class Stack:
    """The running targets, and what it took to start them."""

    targets: list[Target]
    workdir: Path
    local_stores: dict[str, Path]
    timings: dict[str, float]
    litellm: list[Any] = field(default_factory=list)
    """The LiteLLM proxies: the stock reference, then the binary stack's."""


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without a developer's keys or proxies, so nothing leaks into the measurement."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_SCRUBBED_PREFIXES) and key.lower() not in _PROXY_VARIABLES
    }
    pythonpath = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "PYTHONUNBUFFERED": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "NO_PROXY": "127.0.0.1,localhost",
            **extra,
        }
    )
    return env


def _uvicorn(app: str, port: int, env: dict[str, str], *, factory: bool = False) -> ManagedProcess:
    """uvicorn as a user would run it (its default loop and HTTP parser), without per-request logging."""
    args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--no-access-log", "--log-level", "warning"]
    if factory:
        args.append("--factory")
    return ManagedProcess(args, env=_child_env(env), cwd=ROOT)


def wait_ready(process: ManagedProcess, url: str, timeout: float = 180.0) -> None:
    """Until ``url`` answers at all (uvicorn listens only once the app's startup is done)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.process.poll() is not None:
            raise RuntimeError(
                f"{url}: the process exited with {process.process.returncode}:\n{process.tail()}"
            )
        try:
            httpx.get(f"{url}/health", timeout=2.0, trust_env=False)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout}s:\n{process.tail()}") from None
            time.sleep(0.1)


def bench_config(provider_url: str, supermemory_url: str | None = None) -> dict[str, Any]:
    """The conformance suites' config on the fakes' URLs, for every process of a run: LiteLLM's cooldowns
    off, so a burst of load never benches the one deployment each model has."""
    urls = (provider_url, UNREACHABLE_URL) + ((supermemory_url,) if supermemory_url else ())
    return deep_merge(conformance_raw_config(*urls), {"router_settings": {"disable_cooldowns": True}})


def start_fake(app: str, env: dict[str, str] | None = None) -> tuple[ManagedProcess, str]:
    """One of :mod:`bench.fakes_app`'s fakes on a free port; returns it and its URL (ready: see
    :func:`wait_ready`)."""
    port = free_port()
    return _uvicorn(f"bench.fakes_app:{app}", port, env or {}, factory=True), f"http://127.0.0.1:{port}"


def start_memory_proxy(
    workdir: Path, key: str, backend: str, config: dict[str, Any]
) -> tuple[ManagedProcess, str]:
    """A memory proxy of ``backend`` on ``config`` (written to ``workdir/<key>.yaml``) on a free port;
    returns it and its URL (ready: see :func:`wait_ready`)."""
    port = free_port()
    config = deep_merge(config, {"memory_proxy": {"backend": backend, "port": port}})
    config_file = workdir / f"{key}.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = _uvicorn(f"proxy.{backend}:app", port, {"MEMORY_PROXY_CONFIG": str(config_file)})
    return process, f"http://127.0.0.1:{port}"


def binary_litellm_proxy(
    config: dict[str, Any], workdir: Path
) -> AbstractContextManager[LiteLLMProxyUnderTest]:
    """The LiteLLM proxy the binary backend runs on, started as start-proxies starts it (httpx transport:
    see proxy/litellm_process.py); its ``config_overrides()`` point a memory proxy at it."""
    return litellm_proxy_process(config, _fresh_dir(workdir), extra_env={"DISABLE_AIOHTTP_TRANSPORT": "True"})


def _memory_section(kind: str | None, store: Path | None, supermemory_url: str) -> dict[str, Any]:
    if kind is None:
        return {"enabled": False}
    if kind in ("local", "local-meaning"):
        # "local": recall by words, as the earlier runs measured it; "local-meaning": by meaning too.
        semantic = kind == "local-meaning"
        return {"enabled": True, "provider": "local", "local_store_path": str(store), "semantic": semantic}
    return {"enabled": True, "provider": "supermemory", "base_url": supermemory_url, "api_key": "sm-test-key"}


def _vector_model() -> tuple[str, int]:
    """The name the local store gives the installed model's vectors, and their dimensions."""
    from proxy.memory.recall.embeddings import shared_loader
    from proxy.memory.stores.local.store import vector_model

    encoder = shared_loader().wait(timeout=120)
    if encoder is None:
        raise SystemExit(f"own_hop_local_meaning needs the embedding model: {shared_loader().status}")
    return vector_model(encoder), encoder.dimensions


def _fresh_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class _ProxySpec:
    key: str
    label: str
    backend: str
    upstream: str  # "provider" or "litellm"
    memory: str | None = None
    pool: str = "linear"  # memory_proxy.connection_pool
    journal: bool = True  # context_retrieval.journal


PROXIES = (
    _ProxySpec("binary_litellm", "memory proxy binary → LiteLLM proxy", "binary", "litellm"),
    _ProxySpec("sdk", "memory proxy sdk", "sdk", "provider"),
    _ProxySpec("own_hop", "memory proxy binary → provider (own hop)", "binary", "provider"),
    _ProxySpec(
        "own_hop_httpx_pool", "own hop, httpx's own connection pool", "binary", "provider", pool="httpx"
    ),
    _ProxySpec("sdk_local", "memory proxy sdk + local store", "sdk", "provider", "local"),
    _ProxySpec("own_hop_local", "own hop + local store", "binary", "provider", "local"),
    _ProxySpec(
        "own_hop_local_no_journal",
        "own hop + local store, no journal",
        "binary",
        "provider",
        "local",
        journal=False,
    ),
    _ProxySpec(
        "own_hop_local_meaning",
        "own hop + local store, words and meaning",
        "binary",
        "provider",
        "local-meaning",
    ),
    _ProxySpec("sdk_supermemory", "memory proxy sdk + Supermemory (fake)", "sdk", "provider", "supermemory"),
)
"""Every memory-proxy configuration, in the order tables list them."""


@contextmanager
def running_stack(workdir: Path, options: StackOptions, log: Any = print) -> Iterator[Stack]:
    """Start everything, yield the targets once all answer, stop everything on the way out."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    wanted = [spec for spec in PROXIES if options.only is None or spec.key in options.only]

    stores: dict[str, Path] = {}
    if any(spec.memory in ("local", "local-meaning") for spec in wanted):
        log(f"seeding {options.memories} memories for {BENCH_USER} ...")
        seed_file = workdir / "seed.sqlite3"
        timings["seed_local_store_s"] = asyncio.run(
            seed_local_store(seed_file, Workload().memories(options.memories))
        )
        for spec in wanted:
            if spec.memory in ("local", "local-meaning"):
                # One file per target (and so one journal), so no target's write-back changes another's.
                stores[spec.key] = workdir / f"{spec.key}.sqlite3"
                stores[spec.key].write_bytes(seed_file.read_bytes())
            if spec.memory == "local-meaning":
                # Vectors for the seed, so no background embedding competes with the load.
                model = _vector_model()
                synthetic_vectors(stores[spec.key], *model)

    with ExitStack() as stack:
        provider, provider_url = start_fake("provider_app")
        stack.callback(provider.stop)
        supermemory, supermemory_url = start_fake(
            "supermemory_app",
            {
                "BENCH_SUPERMEMORY_DELAY": str(options.supermemory_delay),
                "BENCH_SUPERMEMORY_DOCUMENTS": str(options.supermemory_documents),
            },
        )
        stack.callback(supermemory.stop)

        base = bench_config(provider_url, supermemory_url)
        waiting: list[tuple[str, ManagedProcess, str]] = [
            ("fake provider", provider, provider_url),
            ("fake supermemory", supermemory, supermemory_url),
        ]
        urls: dict[str, str] = {}

        def start_proxy(spec: _ProxySpec, upstream_overrides: dict[str, Any]) -> None:
            memory = {
                **_memory_section(spec.memory, stores.get(spec.key), supermemory_url),
                "journal": spec.journal,
            }
            own = {"context_retrieval": memory, "memory_proxy": {"connection_pool": spec.pool}}
            config = deep_merge(base, deep_merge(upstream_overrides, own))
            process, urls[spec.key] = start_memory_proxy(workdir, spec.key, spec.backend, config)
            stack.callback(process.stop)
            waiting.append((spec.key, process, urls[spec.key]))

        # Everything that needs only the fakes starts now, while the LiteLLM proxy boots.
        direct = {"memory_proxy": {"litellm_base_url": provider_url}}
        for spec in wanted:
            if spec.upstream == "provider":
                start_proxy(spec, direct)
        # Two LiteLLM proxies: the reference as LiteLLM ships (its aiohttp transport), and the one the
        # binary stack runs on, started as start-proxies starts it (httpx transport: see
        # proxy/litellm_process.py). Both rows are in the table, so the transport's cost is visible.
        log("starting the LiteLLM proxies ...")
        litellm_started = time.perf_counter()
        litellm = stack.enter_context(
            litellm_proxy_process(
                base, _fresh_dir(workdir / "litellm-stock"), extra_env={"DISABLE_AIOHTTP_TRANSPORT": "False"}
            )
        )
        ours = stack.enter_context(binary_litellm_proxy(base, workdir / "litellm-ours"))
        timings["litellm_proxy_start_s"] = time.perf_counter() - litellm_started
        for spec in wanted:
            if spec.upstream == "litellm":
                start_proxy(spec, ours.config_overrides())
        for name, process, url in waiting:
            wait_ready(process, url)
            log(f"  ready: {name} at {url}")
        timings["stack_start_s"] = time.perf_counter() - started

        user = {"x-memory-user-id": BENCH_USER}
        targets = [
            Target("direct", "direct to the fake provider", provider_url, "gpt-4o-mini", ours=False),
            Target(
                "litellm",
                "LiteLLM proxy alone",
                litellm.url,
                "gpt-fake",
                {"authorization": f"Bearer {litellm.master_key}"},
                ours=False,
            ),
            Target(
                "litellm_httpx",
                "LiteLLM proxy alone, httpx transport (as start-proxies runs it)",
                ours.url,
                "gpt-fake",
                {"authorization": f"Bearer {ours.master_key}"},
                ours=False,
            ),
        ]
        targets += [
            Target(spec.key, spec.label, urls[spec.key], "gpt-fake", dict(user), spec.memory)
            for spec in wanted
        ]
        # The Responses API (Codex's), against a direct Responses call: its own surface's overhead.
        responses = [spec for spec in wanted if spec.key in RESPONSES_TARGETS]
        if responses:
            targets.append(
                Target(
                    "direct_responses",
                    "direct to the fake provider, Responses API",
                    provider_url,
                    "gpt-4o-mini",
                    ours=False,
                    path=RESPONSES_PATH,
                )
            )
        targets += [
            Target(
                f"{spec.key}_responses",
                f"{spec.label}, Responses API",
                urls[spec.key],
                "gpt-fake",
                dict(user),
                spec.memory,
                path=RESPONSES_PATH,
            )
            for spec in responses
        ]
        yield Stack(
            targets=targets, workdir=workdir, local_stores=stores, timings=timings, litellm=[litellm, ours]
        )

"""How the local store copes with many scopes: the same memories in 10 namespaces and in 10,000.

Projects multiply namespaces (one per project a person works in, and one per person), so what a store
costs must not grow with their number. Each figure is taken in a fresh process over a seeded file (the
memories' vectors synthetic, see :func:`bench.workload.synthetic_vectors`; the embedding model loaded
before any clock starts):

- ``restart_s``: open the file and answer a first question (a proxy restarting);
- ``first_query_ms``: that first question alone, on a new read connection;
- ``list_ms``: a namespace's latest 50 memories (``memory-proxy memories list``), the median of five;
- ``namespaces_ms``: every namespace with its count (``memory-proxy memories clients``, the console's
  list): one row per namespace, so this one grows with their number (a few microseconds each);
- ``export_s``: every memory of every namespace;
- ``rss_mb``: the process's resident memory after a question in every namespace.

``python -m bench memory`` runs it (:func:`run`); ``python -m bench.memory_scopes PATH`` measures one
store file and prints JSON, so a file written by another release can be measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.memory_data import filler
from bench.workload import synthetic_vectors
from proxy.memory.recall.embeddings import EncoderLoader
from proxy.memory.stores.base import NewMemory
from proxy.memory.stores.local.store import LocalMemoryStore

__all__ = ["SCOPES", "TOTAL_MEMORIES", "measure", "run", "seed"]

SCOPES = (10, 10_000)
TOTAL_MEMORIES = 20_000
QUESTION = "which build tool does the project use?"


async def seed(path: Path, scopes: int, total: int = TOTAL_MEMORIES) -> None:
    """``total`` filler memories spread evenly over ``scopes`` project namespaces, with vectors."""
    texts = filler(total, seed=3)
    store = LocalMemoryStore(path)
    try:
        batch = [NewMemory(f"project:p{n % scopes}", text, {}) for n, text in enumerate(texts)]
        for start in range(0, total, 5000):
            await store.add_batch(batch[start : start + 5000], embed=False)
    finally:
        await store.close()
    loader = EncoderLoader()
    encoder = loader.wait(timeout=120)
    if encoder is None:
        raise SystemExit(f"the embedding model is not available: {loader.status}")
    store = LocalMemoryStore(path, semantic=loader)  # the name vectors are stored under for this model
    try:
        await store.open()
        model = store.vector_model
    finally:
        await store.close()
    assert model is not None
    synthetic_vectors(path, model, encoder.dimensions)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(path: Path) -> dict[str, Any]:
    """The figures of the module's docstring for the store at ``path``, in this process."""
    loader = EncoderLoader()
    if loader.wait(timeout=120) is None:
        raise SystemExit(f"the embedding model is not available: {loader.status}")
    started = time.perf_counter()
    store = LocalMemoryStore(path, semantic=loader)
    try:
        await store.open()
        opened = time.perf_counter()
        await store.search("project:p0", QUESTION)
        answered = time.perf_counter()
        listings = []
        for _ in range(5):
            before = time.perf_counter()
            await store.list("project:p0", limit=50)
            listings.append(time.perf_counter() - before)
        listed = time.perf_counter()
        clients = await store.users()
        counted = time.perf_counter()
        exported = sum([1 async for _ in store.export(None)])
        done = time.perf_counter()
        for client in clients:
            await store.search(client.user_id, QUESTION)
        return {
            "scopes": len(clients),
            "memories": exported,
            "restart_s": answered - started,
            "first_query_ms": (answered - opened) * 1000,
            "list_ms": statistics.median(listings) * 1000,
            "namespaces_ms": (counted - listed) * 1000,
            "export_s": done - counted,
            "rss_mb": _rss_mb(),
        }
    finally:
        await store.close()


async def run(directory: Path) -> dict[str, Any]:
    """Seed a store at each of :data:`SCOPES` and measure each in a fresh process."""
    found: dict[str, Any] = {}
    for scopes in SCOPES:
        path = directory / f"scopes-{scopes}.sqlite3"
        print(f"memory bench: {TOTAL_MEMORIES:,} memories in {scopes:,} scopes ...", file=sys.stderr)
        await seed(path, scopes)
        measured = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.memory_scopes", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        found[str(scopes)] = json.loads(measured.stdout)
    return found


def markdown(found: dict[str, Any]) -> list[str]:
    """The table for ``memory.md``: each figure at each scope count, and the ratio to the fewest."""
    if not found:
        return []
    counts = sorted(found, key=int)
    base = found[counts[0]]
    figures = [
        ("restart (open, first answer)", "restart_s", "s", 2),
        ("first question", "first_query_ms", "ms", 1),
        ("list a namespace's latest 50", "list_ms", "ms", 1),
        ("list every namespace", "namespaces_ms", "ms", 1),
        ("export everything", "export_s", "s", 2),
        ("RSS after a question in each", "rss_mb", "MB", 0),
    ]
    lines = [
        f"Scopes: {TOTAL_MEMORIES:,} memories spread over {' and '.join(f'{int(c):,}' for c in counts)} "
        "namespaces, each figure from a fresh process (bench/memory_scopes.py):",
        "",
        "| figure | " + " | ".join(f"{int(c):,} scopes" for c in counts) + " | ratio |",
        "|---|" + "--:|" * (len(counts) + 1),
    ]
    for label, key, unit, digits in figures:
        cells = " | ".join(f"{found[c][key]:,.{digits}f} {unit}" for c in counts)
        ratio = found[counts[-1]][key] / base[key] if base[key] else float("nan")
        lines.append(f"| {label} | {cells} | {ratio:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.memory_scopes", description=description)
    parser.add_argument("path", type=Path, help="a local store's file to measure")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.path))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

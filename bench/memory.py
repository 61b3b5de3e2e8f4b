"""``python -m bench memory`` (``./RUN_TESTS.sh bench memory``): how well and how fast memory recalls.

Quality, on the data set of :mod:`bench.memory_data`: recall@5 of each fact by its keyword question and by
its paraphrase, among ~300 memories of one client and among 10,000, by words alone and by words and
meaning; leaks (another client's memory recalled); noise (anything recalled for a question memory has no
answer to). Cost: recall p50/p95 at 1,000, 10,000 and 100,000 memories (the query's embedding included),
and the cost of a write; the same recall p50/p95 of the PostgreSQL store at 10,000 and 100,000 beside
them (:mod:`bench.memory_postgres`: a pgserver for the run, or a row saying why there is none); the
store's costs with the same memories in 10 and in 10,000 namespaces (:mod:`bench.memory_scopes`); the
question's embedding on each runtime and the dense search alone (:mod:`bench.embedding_speed`). At
100,000 the filler's vectors are random unit vectors rather than embeddings (embedding 100,000 texts
takes ~10 minutes here): the search costs the same, only what it finds differs, and quality is not
measured there. An agentic trace (Claude Code's captured tool loop) checks what is stored from it. With
``--locomo DIR``, recall on LoCoMo's long conversations through the proxy (:mod:`bench.locomo`).
Writes ``bench/results/memory.json`` and ``memory.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import embedding_speed, locomo, memory_scopes
from bench.memory_data import FACTS, OTHER_CLIENT_FACTS, UNRELATED, filler, stored
from bench.memory_postgres import fresh_database, meaning_plan, new_memories, postgres_server, seed_filler
from bench.targets import ROOT
from bench.workload import synthetic_vectors
from conformance import resources
from proxy.call import Answer, Api, Call
from proxy.config import ContextRetrieval
from proxy.memory.recall import meaning
from proxy.memory.recall.embeddings import EncoderLoader
from proxy.memory.recall.meaning import vector_model
from proxy.memory.service import MemoryService
from proxy.memory.stores.local.store import LocalMemoryStore

__all__ = ["main"]

USER, OTHER = "bench-user", "bench-other"
LATENCY_QUERIES = 200


def _rank_of(results: list[Any], statement: str) -> int | None:
    return next((i for i, r in enumerate(results) if r.content.startswith(f"user: {statement}\n")), None)


async def _store(
    path: Path, size: int, loader: EncoderLoader | None, *, embed_filler: bool
) -> LocalMemoryStore:
    """A store holding the facts, the other client's, and filler up to ``size`` memories of the user."""
    store = LocalMemoryStore(path, semantic=loader)
    await store.add_many(USER, [stored(f.statement, i) for i, f in enumerate(FACTS)])
    await store.add_many(OTHER, [stored(s, i) for i, s in enumerate(OTHER_CLIENT_FACTS)])
    rest = filler(size - len(FACTS))
    for start in range(0, len(rest), 5000):
        await store.add_many(USER, rest[start : start + 5000], embed=embed_filler)
    return store


async def _quality(store: LocalMemoryStore) -> dict[str, Any]:
    found = {"keyword": 0, "paraphrase": 0}
    leaks = 0
    for fact in FACTS:
        for kind in found:
            results = await store.search(USER, getattr(fact, kind), limit=5)
            leaks += sum(r.user_id != USER for r in results)
            found[kind] += _rank_of(results, fact.statement) is not None
    noisy = [q for q in UNRELATED if await store.search(USER, q, limit=5)]
    return {
        "keyword_recall_at_5": found["keyword"] / len(FACTS),
        "paraphrase_recall_at_5": found["paraphrase"] / len(FACTS),
        "leaks": leaks,
        "noise": len(noisy) / len(UNRELATED),
    }


async def _latency(store: Any) -> dict[str, float]:
    questions = [q for f in FACTS for q in (f.keyword, f.paraphrase)]
    for question in questions[:5]:  # warm: the matrix loads, caches fill
        await store.search(USER, question)
    times = []
    for n in range(LATENCY_QUERIES):
        meaning.forget_vectors()  # each question embedded anew, as a question never asked before would be
        started = time.perf_counter()
        await store.search(USER, questions[n % len(questions)], limit=5)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}


async def _postgres(sizes: list[int], loader: EncoderLoader, model: str) -> dict[str, Any]:
    """Recall p50/p95 of the PostgreSQL store at ``sizes``, by words and with meaning, on the local store's
    questions and filler (see :mod:`bench.memory_postgres`); ``error`` says why when there is no server."""
    from proxy.memory.stores.postgres.store import PostgresMemoryStore

    found: dict[str, Any] = {"latency": {}, "seed_s": {}, "meaning_plan": {}}
    with postgres_server() as (server, where):
        found["server"] = where
        if server is None:
            print(f"memory bench: PostgreSQL skipped: {where}", file=sys.stderr)
            return found | {"error": where}
        for size in sizes:
            print(f"memory bench: PostgreSQL, {size:,} memories ...", file=sys.stderr)
            try:
                with fresh_database(server) as dsn:
                    store = PostgresMemoryStore(dsn, semantic=loader)
                    try:  # the facts as the proxy writes them (real vectors); the schema with them
                        await store.add_batch(
                            new_memories(USER, [stored(f.statement, i) for i, f in enumerate(FACTS)])
                            + new_memories(OTHER, [stored(s, i) for i, s in enumerate(OTHER_CLIENT_FACTS)])
                        )
                    finally:
                        await store.close()
                    rest = filler(size - len(FACTS))
                    found["seed_s"][str(size)] = await asyncio.to_thread(seed_filler, dsn, USER, rest, model)
                    found["meaning_plan"][str(size)] = meaning_plan(dsn, USER, model)
                    for mode, semantic in (("words", None), ("words and meaning", loader)):
                        store = PostgresMemoryStore(dsn, semantic=semantic)
                        try:
                            found["latency"][f"{size}:{mode}"] = await _latency(store)
                        finally:
                            await store.close()
            except Exception as exc:  # a failed size is a finding in the table, not the end of the run
                found["latency"][f"{size}:error"] = f"{type(exc).__name__}: {exc}"
                print(f"memory bench: PostgreSQL at {size:,} failed: {exc}", file=sys.stderr)
    return found


async def _write_cost(path: Path, loader: EncoderLoader | None) -> dict[str, float]:
    store = LocalMemoryStore(path, semantic=loader)
    try:
        times = []
        for n, text in enumerate(filler(100, seed=11)):
            started = time.perf_counter()
            await store.add(USER, f"{text} #{n}")
            times.append((time.perf_counter() - started) * 1000)
        return {"p50_ms": statistics.median(times)}
    finally:
        await store.close()


async def _agentic_trace() -> dict[str, Any]:
    """Claude Code's captured tool loop through the memory service: what ends up stored."""
    trace = resources.read_json("claude-code-2.1.197-tool-loop.json")["requests"]
    with tempfile.TemporaryDirectory(prefix="memory-bench-trace-") as tmp:
        path = Path(tmp) / "trace.sqlite3"
        service = MemoryService(ContextRetrieval(), LocalMemoryStore(path))
        await service.start()
        for number, request in enumerate(trace):
            call = Call(api=Api.MESSAGES, model="m", payload=request["body"], stream=True)
            recall = await service.recall("claude-code", call)
            last = number == len(trace) - 1
            text = "Your notes say the deploy key rotates on Fridays." if last else "Let me read it."
            service.remember_later("claude-code", call, Answer(text, calls_tool=not last), recall)
        await service.close()  # flushes the write-back
        store = LocalMemoryStore(path)
        try:
            memories = [r.content for r in await store.list("claude-code")]
        finally:
            await store.close()
    return {
        "requests": len(trace),
        "memories": len(memories),
        "with_client_boilerplate": sum("system-reminder" in m for m in memories),
        "with_tool_output": sum("\t" in m for m in memories),  # the Read tool numbers lines with tabs
        "stored": memories,
    }


def _markdown(results: dict[str, Any]) -> str:
    quality = results["quality"]
    lines = [
        "# Memory benchmark",
        "",
        f"Run {results['timestamp']}; {results['machine']}. Reproduce: `./RUN_TESTS.sh bench memory`.",
        "",
        "| memories of the client | recall | keyword recall@5 | paraphrase recall@5 | leaks | noise |",
        "|--:|---|--:|--:|--:|--:|",
    ]
    for key, row in quality.items():
        size, mode = key.split(":")
        lines.append(
            f"| {int(size):,} | {mode} | {row['keyword_recall_at_5']:.0%} "
            f"| {row['paraphrase_recall_at_5']:.0%} | {row['leaks']} | {row['noise']:.0%} |"
        )
    postgres = results.get("postgres", {})
    pg_latency = postgres.get("latency", {})
    lines += [
        "",
        "Recall latency (the query's embedding included), local store (SQLite) beside PostgreSQL "
        f"({postgres.get('server', 'not run')}):",
        "",
        "| memories of the client | recall | local p50 ms | local p95 ms "
        "| PostgreSQL p50 ms | PostgreSQL p95 ms |",
        "|--:|---|--:|--:|--:|--:|",
    ]
    for key, row in results["latency"].items():
        size, mode = key.split(":")
        pg = pg_latency.get(key)
        if pg is not None:
            pg_cells = f"{pg['p50_ms']:.2f} | {pg['p95_ms']:.2f}"
        elif f"{size}:error" in pg_latency:
            pg_cells = f"failed: {pg_latency[f'{size}:error']} | -"
        elif postgres.get("error"):
            pg_cells = f"not measured: {postgres['error']} | -"
        else:
            pg_cells = "- | -"
        lines.append(f"| {int(size):,} | {mode} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {pg_cells} |")
    writes = results["write"]
    trace = results["agentic_trace"]
    lines += [
        "",
        f"Write (one memory, one transaction): {writes['words']['p50_ms']:.2f} ms p50 by words alone, "
        f"{writes['words and meaning']['p50_ms']:.2f} ms with its embedding.",
        f"Agentic trace (Claude Code's captured tool loop, {trace['requests']} requests): "
        f"{trace['memories']} memory stored, {trace['with_client_boilerplate']} with client boilerplate, "
        f"{trace['with_tool_output']} with tool output.",
        "",
        "Noise: the share of questions with no answer in memory for which recall returned anything. Leaks: "
        "memories of another client in a result (its facts share the questions' words). At 100,000 the "
        "filler's vectors are synthetic (see bench/memory.py), so only the cost is measured there.",
    ]
    if results.get("embedding"):
        lines += ["", *embedding_speed.markdown(results["embedding"])]
    if results.get("scopes"):
        lines += ["", *memory_scopes.markdown(results["scopes"])]
    if results.get("locomo"):
        lines += ["", *locomo.markdown(results["locomo"])]
    if postgres.get("seed_s"):
        seeded = ", ".join(f"{int(n):,} in {t:.0f} s" for n, t in postgres["seed_s"].items())
        plans = "; ".join(f"{int(n):,}: {p}" for n, p in postgres["meaning_plan"].items())
        lines += [
            "",
            "PostgreSQL: a throwaway server for the run, a new database per size; the facts written by the "
            "store (real vectors), the filler (the same texts as the local store's) bulk-loaded with random "
            f"vectors at every size and the HNSW index built after (see bench/memory_postgres.py): {seeded}. "
            f"Recall by meaning's plan: {plans}.",
        ]
    return "\n".join(lines) + "\n"


async def run(sizes: list[int], quality_sizes: list[int], locomo_dir: Path | None = None) -> dict[str, Any]:
    loader = EncoderLoader()
    if loader.wait(timeout=120) is None:
        raise SystemExit(f"the embedding model is not available: {loader.status}")
    encoder = loader.encoder
    assert encoder is not None
    results: dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{sys.platform}, Python {sys.version.split()[0]}",
        "quality": {},
        "latency": {},
    }
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        for size in sorted(set(sizes) | set(quality_sizes)):
            measure_quality = size in quality_sizes
            path = Path(tmp) / f"{size}.sqlite3"
            print(f"memory bench: {size:,} memories ...", file=sys.stderr)
            store = await _store(path, size, loader, embed_filler=measure_quality)
            model = store.vector_model
            await store.close()
            if not measure_quality:
                assert model is not None
                synthetic_vectors(path, model, encoder.dimensions)
            for mode, semantic in (("words", None), ("words and meaning", loader)):
                store = LocalMemoryStore(path, semantic=semantic)
                try:
                    if measure_quality:
                        results["quality"][f"{size}:{mode}"] = await _quality(store)
                    if size in sizes:
                        results["latency"][f"{size}:{mode}"] = await _latency(store)
                finally:
                    await store.close()
        results["scopes"] = await memory_scopes.run(Path(tmp))
        print("memory bench: query embedding by runtime ...", file=sys.stderr)
        results["embedding"] = embedding_speed.run()
        results["write"] = {
            "words": await _write_cost(Path(tmp) / "w1.sqlite3", None),
            "words and meaning": await _write_cost(Path(tmp) / "w2.sqlite3", loader),
        }
    pg_sizes = [size for size in sorted(sizes) if size >= 10_000]
    results["postgres"] = await _postgres(pg_sizes, loader, vector_model(encoder))
    results["agentic_trace"] = await _agentic_trace()
    if locomo_dir is not None:
        print(f"memory bench: LoCoMo conversations of {locomo_dir} ...", file=sys.stderr)
        results["locomo"] = await locomo.run(locomo_dir)
    return results


def _write(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / "memory.md").write_text(_markdown(results), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 memories only")
    parser.add_argument(
        "--locomo",
        type=Path,
        help="a folder of LoCoMo conversations (https://github.com/snap-research/locomo, CC BY-NC 4.0: "
        "not in this repository): recall on them through the proxy, beside BM25 and meaning alone",
    )
    args = parser.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    results = asyncio.run(run(sizes, quality_sizes=[300, 10_000], locomo_dir=args.locomo))
    _write(args.out, results)
    print(_markdown(results))
    return 0

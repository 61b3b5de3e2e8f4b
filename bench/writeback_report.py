"""The load mode's verdict and outputs: every answered exchange looked up in the store file, the run's
numbers, the table and ``load.json``.

Why the store is read with SQLite itself (read-only, once the proxy has stopped) and each exchange found by
the number its prompt ends with: ``/memory/status`` is the proxy's account of itself, while one row per
answered exchange, in its client's namespace, is what the client gets back later. A counter that agrees
with itself but not with the file is exactly the kind of bug this mode is for.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import percentile
from proxy.memory.service import QUEUE_SIZE
from proxy.memory.turns import said_by_the_user

if TYPE_CHECKING:
    from bench.writeback_load import Outcome

__all__ = ["judge", "markdown", "stored_exchanges", "write_json"]

_NUMBER = re.compile(r"\(exchange (\d+)\)$")
MISSING_SHOWN = 20
"""Missing exchanges listed by number in load.json (all are counted)."""


def stored_exchanges(path: Path) -> list[tuple[str, int | None]]:
    """(user id, exchange number) of every memory in the store file; the number is None for a memory whose
    prompt does not end with one (the load stores no such memory)."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT user_id, content FROM memories").fetchall()
    return [(user_id, _number(content)) for user_id, content in rows]


def _number(content: str) -> int | None:
    found = _NUMBER.search(said_by_the_user(content))
    return int(found.group(1)) if found else None


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50 and p99 (None when there are no values: JSON has no NaN)."""
    found = {"p50": percentile(values, 50), "p99": percentile(values, 99)}
    return {key: None if math.isnan(value) else value for key, value in found.items()}


def _status_of(outcome: Outcome) -> str:
    """The HTTP status, or the exception's name when no answer came."""
    sample = outcome.sample
    return str(sample.status) if sample.status is not None else (sample.error or "?").split(":")[0]


def judge(
    backend: str,
    run: dict[str, Any],
    rows: list[tuple[str, int | None]],
    *,
    exit_code: int | None,
    output: str,
) -> dict[str, Any]:
    """One backend's numbers and ``problems`` (empty when every request was answered and every answered
    exchange is in the store once, under its client, with the counter agreeing)."""
    outcomes: list[Outcome] = run["outcomes"]
    answered = [outcome for outcome in outcomes if outcome.sample.ok]
    expected = {(outcome.exchange.client.user_id, outcome.exchange.number) for outcome in answered}
    found = Counter(rows)
    missing = sorted(expected - found.keys(), key=lambda key: key[1])
    unexpected = sum(count - (key in expected) for key, count in found.items())
    counts: dict[str, int] = run["status"]["write_back"]
    errors = Counter(outcome.sample.error for outcome in outcomes if not outcome.sample.ok)

    problems = []
    if len(answered) < len(outcomes):
        problems.append(f"{len(outcomes) - len(answered)} of {len(outcomes)} requests failed")
    if run["settled_s"] is None:
        problems.append(f"write-back had not accounted for every exchange when the wait ended: {counts}")
    if counts["stored"] != len(answered):
        problems.append(f"/memory/status counts {counts['stored']} stored of {len(answered)} answered")
    if len(rows) != len(answered) or missing or unexpected:
        problems.append(
            f"{len(rows)} rows in the store for {len(answered)} answered exchanges "
            f"({len(missing)} missing, {unexpected} unexpected)"
        )
    return {
        "backend": backend,
        "sent": len(outcomes),
        "answered": len(answered),
        "http_statuses": dict(Counter(_status_of(outcome) for outcome in outcomes)),
        "error_examples": [f"{count}x {error}" for error, count in errors.most_common(3)],
        "load_s": run["load_s"],
        "throughput_rps": len(answered) / run["load_s"] if run["load_s"] else None,
        "latency_ms": {
            "plain": _percentiles([o.sample.latency_ms for o in answered if not o.exchange.stream]),
            "stream": _percentiles([o.sample.latency_ms for o in answered if o.exchange.stream]),
        },
        "stream_ttfb_ms": _percentiles(
            [o.sample.ttfb_ms for o in answered if o.exchange.stream and o.sample.ttfb_ms is not None]
        ),
        "recall": dict(Counter(outcome.sample.memory_status or "none" for outcome in answered)),
        "recall_mode": run["recall_mode"] or "by words and meaning",
        "write_back": counts,
        "peak_backlog": run["peak_backlog"],
        "queue_size": QUEUE_SIZE,
        "stored_rows": len(rows),
        "missing": len(missing),
        "missing_examples": [f"{user_id} #{number}" for user_id, number in missing[:MISSING_SHOWN]],
        "unexpected_rows": unexpected,
        "settled_after_last_answer_s": run["settled_s"],
        "proxy_exit_code": exit_code,
        "proxy_output_tail": output if problems else None,
        "problems": problems,
    }


def _ms(stats: dict[str, float | None]) -> str:
    return " / ".join("-" if stats[key] is None else f"{stats[key]:.0f}" for key in ("p50", "p99"))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {count:,}" for name, count in sorted(counts.items()))


_ROWS: list[tuple[str, Any]] = [
    ("answered / sent", lambda r: f"{r['answered']:,} / {r['sent']:,}"),
    ("HTTP statuses", lambda r: _counts(r["http_statuses"])),
    ("plain latency p50 / p99 ms", lambda r: _ms(r["latency_ms"]["plain"])),
    ("stream latency p50 / p99 ms", lambda r: _ms(r["latency_ms"]["stream"])),
    ("stream first byte p50 / p99 ms", lambda r: _ms(r["stream_ttfb_ms"])),
    ("answered per second", lambda r: f"{r['throughput_rps'] or 0:.0f}"),
    ("recall (x-memory-status)", lambda r: _counts(r["recall"])),
    ("stored (counter)", lambda r: f"{r['write_back']['stored']:,}"),
    ("stored (rows in the store)", lambda r: f"{r['stored_rows']:,}"),
    ("missing / unexpected rows", lambda r: f"{r['missing']} / {r['unexpected_rows']}"),
    ("dropped / failed", lambda r: f"{r['write_back']['dropped']} / {r['write_back']['failed']}"),
    ("batches (transactions)", lambda r: f"{r['write_back']['batches']:,}"),
    ("peak backlog / queue bound", lambda r: f"{r['peak_backlog']:,} / {r['queue_size']:,}"),
    (
        "all stored, after the last answer",
        lambda r: (
            "not within the wait"
            if r["settled_after_last_answer_s"] is None
            else f"{r['settled_after_last_answer_s']:.2f} s"
        ),
    ),
    ("verdict", lambda r: "**FAIL**" if r["problems"] else "pass"),
]


def markdown(meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The table (one column per backend) with the run's shape above it and any problem below it."""
    backends = list(results)
    machine = meta["machine"]
    modes = sorted({result["recall_mode"] for result in results.values()})
    lines = [
        "# Memory write-back under load",
        "",
        f"Run {meta['timestamp']} on {machine['cpu']} ({machine['cpus']} cores). "
        f"Reproduce: `./RUN_TESTS.sh bench load{' --quick' if meta['quick'] else ''}`.",
        f"Per backend: {meta['requests']:,} requests ({meta['streams']:,} streamed, {meta['messages']:,} to "
        f"/v1/messages) at concurrency {meta['concurrency']}, from {len(meta['clients'])} clients, each a "
        f"distinct exchange; memory on, a fresh local store, recall {', '.join(modes)}.",
        "",
        "| | " + " | ".join(backends) + " |",
        "|---|" + "--:|" * len(backends),
    ]
    for label, cell in _ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(results[backend]) for backend in backends) + " |")
    if any(result["problems"] for result in results.values()):
        lines.append("")
    for backend, result in results.items():
        lines += [f"- {backend}: {problem}" for problem in result["problems"]]
        lines += [f"  - {example}" for example in result["error_examples"]]
    return "\n".join(lines) + "\n"


def write_json(path: Path, meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1), encoding="utf-8")

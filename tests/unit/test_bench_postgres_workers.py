"""The memory benchmark's PostgreSQL column and the workers mode's summary, without running either."""

from __future__ import annotations

from bench.memory import _markdown
from bench.workers import _summary


def _results(postgres: dict) -> dict:
    row = {"p50_ms": 1.0, "p95_ms": 2.0}
    return {
        "timestamp": "t",
        "machine": "m",
        "quality": {},
        "latency": {"1000:words": row, "10000:words": row, "10000:words and meaning": row},
        "write": {"words": {"p50_ms": 0.1}, "words and meaning": {"p50_ms": 1.0}},
        "agentic_trace": {"requests": 2, "memories": 1, "with_client_boilerplate": 0, "with_tool_output": 0},
        "postgres": postgres,
    }


def test_postgres_latency_sits_beside_the_local_store() -> None:
    postgres = {
        "server": "pgserver",
        "latency": {"10000:words": {"p50_ms": 3.0, "p95_ms": 4.0}},
        "seed_s": {"10000": 4.0},
        "meaning_plan": {"10000": "Index Scan using memories_meaning on memories"},
    }
    table = _markdown(_results(postgres))
    assert "| 10,000 | words | 1.00 | 2.00 | 3.00 | 4.00 |" in table
    assert "| 1,000 | words | 1.00 | 2.00 | - | - |" in table
    assert "10,000 in 4 s" in table


def test_no_server_says_why_and_the_local_rows_stay() -> None:
    table = _markdown(_results({"server": "none", "error": "pgserver could not start", "latency": {}}))
    assert "| 10,000 | words | 1.00 | 2.00 | not measured: pgserver could not start | - |" in table


def test_the_median_round_and_every_round() -> None:
    runs = [
        {"rps": 50.0, "errors": 0, "recall": {"used": 400}, "p50_ms": 1.0},
        {"rps": 60.0, "errors": 1, "recall": {"used": 399, "none": 1}, "p50_ms": 2.0},
    ]
    summary = _summary(runs)
    assert summary["rps"] == 50.0
    assert summary["rounds_rps"] == [50.0, 60.0]
    assert summary["errors"] == 1
    assert summary["recall"] == {"used": 799, "none": 1}

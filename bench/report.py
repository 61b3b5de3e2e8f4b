"""Numbers out of the batches: percentiles, throughput, ratios, the issue's targets, and the three outputs.

Why ratios to two references: the direct call is the floor (what the client pays anyway), and the
LiteLLM proxy alone is what users compare a gateway with. Why each target's verdict names the numbers it
rests on: a "met" must be checkable from the same table by whoever reads it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import Batch, Scenario
from bench.targets import Target

__all__ = ["Verdict", "markdown", "percentile", "summarize", "verdicts", "write_chart", "write_json"]

RAW_SAMPLE_CAP = 2000
"""Raw latencies kept per target and scenario in results.json (evenly strided beyond that)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linearly interpolated between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else math.nan,
        "min": min(values) if values else math.nan,
        "max": max(values) if values else math.nan,
    }


def summarize(batches: list[Batch]) -> dict[str, Any]:
    """One target in one scenario: counts, latency and TTFB percentiles, throughput, header medians."""
    samples = [sample for batch in batches for sample in batch.samples]
    good = [sample for sample in samples if sample.ok]
    elapsed = sum(batch.elapsed_s for batch in batches)
    per_round = [batch.succeeded / batch.elapsed_s for batch in batches if batch.elapsed_s > 0]
    headers: dict[str, list[float]] = {}
    for sample in good:
        for name, value in sample.headers.items():
            headers.setdefault(name, []).append(value)
    ttfb = [sample.ttfb_ms for sample in good if sample.ttfb_ms is not None]
    relay = [sample.relay_ms for sample in good if sample.relay_ms is not None]
    errors = Counter(sample.error for sample in samples if not sample.ok)
    return {
        "requests": len(samples),
        "errors": len(samples) - len(good),
        "error_examples": [f"{count}x {error}" for error, count in errors.most_common(3)],
        "elapsed_s": elapsed,
        "throughput_rps": len(good) / elapsed if elapsed else math.nan,
        "throughput_rps_per_round": per_round,
        "latency_ms": _stats([sample.latency_ms for sample in good]),
        "ttfb_ms": _stats(ttfb) if ttfb else None,
        "relay_ms": _stats(relay) if relay else None,
        "reported_header_medians_ms": {name: statistics.median(values) for name, values in headers.items()},
        "memory_status": dict(Counter(sample.memory_status for sample in good if sample.memory_status)),
    }


# -- the targets ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One target of the issue: what it asks, what was measured, and whether that meets it."""

    target: str
    measured: str
    met: bool | None
    """None when the run lacks what the target needs (a target left out, or every request failed)."""


def _get(summaries: dict[str, dict[str, Any]], scenario: str, key: str, *path: str) -> float | None:
    node: Any = summaries.get(scenario, {}).get(key)
    for part in path:
        if node is None:
            return None
        node = node.get(part)
    return None if node is None or (isinstance(node, float) and math.isnan(node)) else float(node)


def _throughput_verdict(
    summaries: dict[str, dict[str, Any]], key: str, reference: str, at_least: float, name: str
) -> Verdict:
    """Whether ``key`` serves ``at_least`` times the requests per second ``reference`` does (c=32)."""
    rps = _get(summaries, "c32", key, "throughput_rps")
    reference_rps = _get(summaries, "c32", reference, "throughput_rps")
    if rps is None or not reference_rps:
        return Verdict(name, "not measured", None)
    ratio = rps / reference_rps
    return Verdict(name, f"{ratio:.2f}x ({rps:.0f} vs {reference_rps:.0f} req/s)", ratio >= at_least)


def verdicts(summaries: dict[str, dict[str, Any]]) -> list[Verdict]:
    """The issue's targets, judged on this run's numbers (``summaries[scenario][target]``)."""
    found: list[Verdict] = []
    direct = _get(summaries, "c1", "direct", "latency_ms", "p50")
    hop = _get(summaries, "c1", "own_hop", "latency_ms", "p50")
    if direct is not None and hop is not None:
        added = hop - direct
        found.append(
            Verdict(
                "own hop adds ≤ 1 ms at p50, concurrency 1",
                f"{added:+.2f} ms (own hop {hop:.2f} ms - direct {direct:.2f} ms)",
                added <= 1.0,
            )
        )
    else:
        found.append(Verdict("own hop adds ≤ 1 ms at p50, concurrency 1", "not measured", None))

    direct_responses = _get(summaries, "c1", "direct_responses", "latency_ms", "p50")
    hop_responses = _get(summaries, "c1", "own_hop_responses", "latency_ms", "p50")
    name = "own hop adds ≤ 1 ms at p50 on the Responses API too, concurrency 1"
    if direct_responses is not None and hop_responses is not None:
        added = hop_responses - direct_responses
        found.append(
            Verdict(
                name,
                f"{added:+.2f} ms (own hop {hop_responses:.2f} ms - direct {direct_responses:.2f} ms)",
                added <= 1.0,
            )
        )
    else:
        found.append(Verdict(name, "not measured", None))

    found.append(
        _throughput_verdict(
            summaries,
            "own_hop",
            "litellm",
            10,
            "own hop throughput ≥ 10x the LiteLLM proxy's, concurrency 32",
        )
    )
    found.append(
        _throughput_verdict(
            summaries,
            "sdk",
            "binary_litellm",
            2,
            "sdk throughput ≥ 2x the binary stack's (memory proxy + LiteLLM proxy), concurrency 32",
        )
    )

    found.append(
        _throughput_verdict(
            summaries,
            "own_hop",
            "own_hop_httpx_pool",
            1.5,
            "the linear connection pool ≥ 1.5x httpx's own pool (own hop), concurrency 32",
        )
    )

    journaled = _get(summaries, "c1", "own_hop_local", "latency_ms", "p50")
    unjournaled = _get(summaries, "c1", "own_hop_local_no_journal", "latency_ms", "p50")
    name = "the journal adds ≤ 0.1 ms at p50 to the own hop with the local store, concurrency 1"
    if journaled is None or unjournaled is None:
        found.append(Verdict(name, "not measured", None))
    else:
        added = journaled - unjournaled
        found.append(
            Verdict(
                name, f"{added:+.2f} ms ({journaled:.2f} ms - {unjournaled:.2f} ms without)", added <= 0.1
            )
        )

    direct_ttfb = _get(summaries, "stream", "direct", "ttfb_ms", "p50")
    for key, label in (("own_hop", "own hop"), ("sdk", "sdk")):
        # The target's own terms: from the provider sending its first chunk to the client having it. The
        # TTFB difference to the direct call is shown beside it; it also holds the time before the provider
        # is called at all (LiteLLM's per-call work), which the concurrency-1 rows measure on their own.
        relay = _get(summaries, "stream", key, "relay_ms", "p50")
        ttfb = _get(summaries, "stream", key, "ttfb_ms", "p50")
        name = f"streaming: the client has the first chunk ≤ 5 ms after the provider sent it ({label}, p50)"
        if relay is None or ttfb is None or direct_ttfb is None:
            found.append(Verdict(name, "not measured", None))
            continue
        found.append(
            Verdict(
                name,
                f"{relay:.2f} ms from the provider's send to the client; first byte {ttfb - direct_ttfb:+.2f}"
                f" ms vs direct ({label} {ttfb:.2f} ms - direct {direct_ttfb:.2f} ms)",
                relay <= 5,
            )
        )

    for key, base, label in (("own_hop_local", "own_hop", "own hop"), ("sdk_local", "sdk", "sdk")):
        recall = _get(summaries, "c1", key, "reported_header_medians_ms", "recall_ms")
        name = f"local-store recall ≤ 2 ms at p50 ({label}, x-memory-proxy-recall-ms, concurrency 1)"
        if recall is None:
            found.append(Verdict(name, "not measured", None))
            continue
        with_memory = _get(summaries, "c1", key, "latency_ms", "p50")
        without = _get(summaries, "c1", base, "latency_ms", "p50")
        status = summaries["c1"][key]["memory_status"]
        detail = f"{recall:.2f} ms reported"
        if with_memory is not None and without is not None:
            detail += f"; client-side p50 {with_memory - without:+.2f} ms vs {label} without memory"
        detail += "; x-memory-status " + ", ".join(f"{name} {count}" for name, count in status.items())
        found.append(Verdict(name, detail, recall <= 2.0))
    return found


# -- Markdown --------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or not reference or math.isnan(value) or math.isnan(reference):
        return "-"
    return f"{value / reference:.2f}x"


def _header(summary: dict[str, Any], name: str) -> str:
    return _ms(summary["reported_header_medians_ms"].get(name))


def _table(scenario: Scenario, targets: list[Target], summaries: dict[str, dict[str, Any]]) -> list[str]:
    rows = summaries[scenario.key]
    direct, litellm = rows.get("direct"), rows.get("litellm")
    lines = [f"### {scenario.title}", ""]
    if scenario.stream:
        lines += [
            "| target | n | err | TTFB p50 | TTFB p99 | TTFB added vs direct | relay p50 | relay p99 "
            "| total p50 | total p99 "
            "| total p50 ÷ direct | total p50 ÷ LiteLLM | overhead hdr p50 |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
    elif scenario.concurrency == 1:
        lines += [
            "| target | n | err | p50 ms | p90 ms | p99 ms | added p50 vs direct | p50 ÷ direct "
            "| p50 ÷ LiteLLM | overhead hdr p50 | recall hdr p50 | upstream hdr p50 |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
    else:
        lines += [
            "| target | n | err | req/s | req/s ÷ direct | req/s ÷ LiteLLM | p50 ms | p99 ms "
            "| p99 ÷ direct | p99 ÷ LiteLLM | overhead hdr p50 |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
    for target in targets:
        summary = rows.get(target.key)
        if summary is None:
            continue
        latency = summary["latency_ms"]
        start = f"| {target.label} | {summary['requests']} | {summary['errors']} "
        if scenario.stream:
            ttfb = summary["ttfb_ms"] or {}
            relay = summary.get("relay_ms") or {}
            direct_ttfb = (direct or {}).get("ttfb_ms") or {}
            added = ttfb.get("p50", math.nan) - direct_ttfb.get("p50", math.nan)
            lines.append(
                start + f"| {_ms(ttfb.get('p50'))} | {_ms(ttfb.get('p99'))} | {_ms(added)} "
                f"| {_ms(relay.get('p50'))} | {_ms(relay.get('p99'))} "
                f"| {_ms(latency['p50'])} | {_ms(latency['p99'])} "
                f"| {_ratio(latency['p50'], direct and direct['latency_ms']['p50'])} "
                f"| {_ratio(latency['p50'], litellm and litellm['latency_ms']['p50'])} "
                f"| {_header(summary, 'overhead_ms')} |"
            )
        elif scenario.concurrency == 1:
            added = latency["p50"] - (direct["latency_ms"]["p50"] if direct else math.nan)
            lines.append(
                start + f"| {_ms(latency['p50'])} | {_ms(latency['p90'])} | {_ms(latency['p99'])} "
                f"| {_ms(added)} | {_ratio(latency['p50'], direct and direct['latency_ms']['p50'])} "
                f"| {_ratio(latency['p50'], litellm and litellm['latency_ms']['p50'])} "
                f"| {_header(summary, 'overhead_ms')} | {_header(summary, 'recall_ms')} "
                f"| {_header(summary, 'upstream_ms')} |"
            )
        else:
            rps = summary["throughput_rps"]
            lines.append(
                start + f"| {rps:.0f} | {_ratio(rps, direct and direct['throughput_rps'])} "
                f"| {_ratio(rps, litellm and litellm['throughput_rps'])} "
                f"| {_ms(latency['p50'])} | {_ms(latency['p99'])} "
                f"| {_ratio(latency['p99'], direct and direct['latency_ms']['p99'])} "
                f"| {_ratio(latency['p99'], litellm and litellm['latency_ms']['p99'])} "
                f"| {_header(summary, 'overhead_ms')} |"
            )
    return [*lines, ""]


def markdown(
    scenarios: list[Scenario],
    targets: list[Target],
    summaries: dict[str, dict[str, Any]],
    found: list[Verdict],
    meta: dict[str, Any],
) -> str:
    """results.md: how the run was made, one table per scenario, the targets met or not, the caveats."""
    machine = meta["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {meta['timestamp']} on {machine['cpu']} ({machine['cpus']} CPUs), Python {machine['python']}, "
        f"litellm {machine['versions'].get('litellm')}; {meta['rounds']} interleaved rounds per scenario; "
        f"whole run {meta['duration_s']:.0f} s{' (--quick)' if meta['quick'] else ''}.",
        "Reproduce: `./RUN_TESTS.sh bench` (or `.venv/bin/python -m bench`; `--quick` for a smoke run).",
        "",
        f"All times are milliseconds seen by the client (an async {meta['client']['library']} load generator"
        " on the same machine, one client per target)."
        " *hdr* columns are the medians of what the memory proxy reports about itself:"
        " `x-memory-proxy-overhead-ms` (its own time before the provider call, recall included),"
        " `x-memory-proxy-recall-ms`, `x-memory-proxy-upstream-ms` (LiteLLM and the provider).",
        "",
    ]
    for scenario in scenarios:
        if scenario.key in summaries:
            lines += _table(scenario, targets, summaries)
    lines += ["## Targets (issue 7)", "", "| target | measured | met |", "|---|---|---|"]
    for verdict in found:
        mark = {True: "met", False: "**not met**", None: "not measured"}[verdict.met]
        lines.append(f"| {verdict.target} | {verdict.measured} | {mark} |")
    failed = [
        f"- {scenario}/{target}: {summary['errors']} of {summary['requests']}: "
        + "; ".join(summary["error_examples"])
        for scenario, per in summaries.items()
        for target, summary in per.items()
        if summary["errors"]
    ]
    if failed:
        lines += ["", "## Failed requests", "", *failed]
    stores = meta.get("local_store_memories") or {}
    lines += [
        "",
        "## How to read this",
        "",
        f"- Workload: each request is one user message naming four words drawn from a 5,000-word Zipf"
        f" vocabulary; the local stores start with {meta['memories']:,} memories for the user, drawn the"
        f" same way (common words are in most memories, rare ones in a few). Write-back is on, so the"
        f" stores grow during the run (at the end: "
        + (", ".join(f"{key} {count:,}" for key, count in stores.items()) or "-")
        + "). The fake Supermemory answers after a fixed"
        f" {meta['supermemory_delay_s'] * 1000:.0f} ms and keeps {meta['supermemory_documents']} documents.",
        "- Every process (fake provider, fake Supermemory, LiteLLM proxy, each memory proxy, the load"
        " generator) shares the same CPUs, so at concurrency 32 the numbers are what the whole machine"
        " sustains: the direct row is also the ceiling of the load generator plus the fake provider.",
        "- The LiteLLM proxy alone runs as `litellm --config` starts it (one uvicorn worker, its default"
        f" logging: it printed {meta.get('litellm_proxy_output_lines', '?')} lines during the run, about one"
        " per request), and is the reference of the ratios. The binary stack's LiteLLM proxy is a second"
        " one, started as `start-proxies` starts it: with `DISABLE_AIOHTTP_TRANSPORT=True`, because"
        " LiteLLM's aiohttp transport drops the chunks a provider sent just before its connection broke;"
        " its own row shows what that costs. The memory proxies run as `uvicorn proxy.sdk:app` /"
        " `proxy.binary:app` without an access log.",
        "- *relay* (streams): how long after the fake provider handed its first chunk to the network the"
        " client had it (the provider stamps each chunk's `system_fingerprint` with its CLOCK_MONOTONIC"
        " time, which every hop passes on). TTFB also holds the time before the provider is called at all.",
        "- Added latency is a difference of medians from interleaved rounds; below ~0.3 ms it is within"
        " the run-to-run noise of this machine.",
        "",
    ]
    return "\n".join(lines)


# -- JSON and the chart ----------------------------------------------------------------------------------


def _strided(values: list[float]) -> list[float]:
    if len(values) <= RAW_SAMPLE_CAP:
        return [round(value, 3) for value in values]
    step = len(values) / RAW_SAMPLE_CAP
    return [round(values[int(index * step)], 3) for index in range(RAW_SAMPLE_CAP)]


def write_json(
    path: Path,
    meta: dict[str, Any],
    targets: list[Target],
    summaries: dict[str, dict[str, Any]],
    raw: dict[str, dict[str, list[Batch]]],
    found: list[Verdict],
) -> None:
    scenarios: dict[str, Any] = {}
    for scenario_key, per_target in raw.items():
        scenarios[scenario_key] = {}
        for target_key, batches in per_target.items():
            good = [sample for batch in batches for sample in batch.samples if sample.ok]
            scenarios[scenario_key][target_key] = {
                "summary": summaries[scenario_key][target_key],
                "rounds": [
                    {
                        "round": batch.round,
                        "requests": len(batch.samples),
                        "ok": batch.succeeded,
                        "elapsed_s": round(batch.elapsed_s, 4),
                    }
                    for batch in batches
                ],
                "latency_ms": _strided([sample.latency_ms for sample in good]),
                "ttfb_ms": _strided([sample.ttfb_ms for sample in good if sample.ttfb_ms is not None]),
                "relay_ms": _strided([sample.relay_ms for sample in good if sample.relay_ms is not None]),
                "raw_capped_at": RAW_SAMPLE_CAP,
            }
    document = {
        **meta,
        "targets": [
            {
                "key": t.key,
                "label": t.label,
                "url": t.url,
                "model": t.model,
                "memory": t.memory,
                "ours": t.ours,
            }
            for t in targets
        ],
        "scenarios": scenarios,
        "verdicts": [{"target": v.target, "measured": v.measured, "met": v.met} for v in found],
    }
    path.write_text(json.dumps(_finite(document), indent=1, allow_nan=False), encoding="utf-8")


def _finite(document: Any) -> Any:
    """NaN is not JSON: replaced by null before writing."""
    if isinstance(document, float) and math.isnan(document):
        return None
    if isinstance(document, dict):
        return {key: _finite(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_finite(value) for value in document]
    return document


def write_chart(
    path: Path, scenarios: list[Scenario], targets: list[Target], summaries: dict[str, dict[str, Any]]
) -> None:
    """latency.png: p50/p90/p99 bars per target, one panel per scenario (TTFB and total for streams)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, str, str]] = []
    for scenario in scenarios:
        if scenario.key not in summaries:
            continue
        if scenario.stream:
            panels.append((scenario.key, "ttfb_ms", f"{scenario.title}: time to first byte"))
        panels.append(
            (scenario.key, "latency_ms", f"{scenario.title}: total" if scenario.stream else scenario.title)
        )
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 3.4 * len(panels)), squeeze=False)
    labels = [target.label for target in targets]
    colours = {"p50": "#4c72b0", "p90": "#dd8452", "p99": "#c44e52"}
    width = 0.27
    for axis, (scenario_key, field_name, title) in zip(axes[:, 0], panels, strict=True):
        for offset, quantile in enumerate(("p50", "p90", "p99")):
            values = []
            for target in targets:
                stats = (summaries[scenario_key].get(target.key) or {}).get(field_name) or {}
                value = stats.get(quantile, math.nan)
                values.append(0.0 if value is None or math.isnan(value) else value)
            positions = [index + (offset - 1) * width for index in range(len(targets))]
            axis.barh(positions, values, height=width, label=quantile, color=colours[quantile])
        axis.set_yticks(range(len(targets)), labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_xscale("log")
        axis.set_xlabel("milliseconds (log scale)")
        axis.set_title(title, fontsize=10)
        axis.grid(axis="x", which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

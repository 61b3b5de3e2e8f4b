"""The benchmark's judging: the relay delay (stamped at the provider's send, read at the client's receipt)
and the throughput ratios."""

from __future__ import annotations

import json
import re
import time

from bench.fakes_app import SENT_AT_PREFIX, BenchProvider
from bench.load import FirstChunk
from bench.report import verdicts
from conformance.fakes import FakeRequest


async def test_the_provider_stamps_each_chunk_of_its_real_stream_as_it_sends_it():
    """Against the fake provider's own chunks: if their JSON changes shape, stamping must not stop quietly."""
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi there"}]}
    request = FakeRequest("POST", "/v1/chat/completions", body=json.dumps(body).encode())
    response = await BenchProvider().respond(request)
    before = time.monotonic_ns()
    sent = [chunk async for chunk in response.stream]
    after = time.monotonic_ns()
    frames = [chunk for chunk in sent if b'"choices"' in chunk]
    assert len(frames) >= 3
    stamps = [int(re.search(rb"sent-at-(\d+)", frame).group(1)) for frame in frames]
    assert before <= stamps[0] <= stamps[-1] <= after
    assert sent[-1].strip() == b"data: [DONE]"


def test_the_client_reads_the_first_stamp_even_split_across_reads():
    sent_at = time.monotonic_ns() - 2_000_000  # the provider sent it 2 ms ago
    frame = f'data: {{"system_fingerprint":"{SENT_AT_PREFIX}{sent_at}","choices":[]}}\n\n'.encode()
    first = FirstChunk()
    first.saw(frame[:30])
    assert first.first_byte is not None
    assert first.relay_ms is None  # the stamp is not complete yet
    first.saw(frame[30:])
    assert first.relay_ms is not None and 2.0 <= first.relay_ms < 1000
    measured = first.relay_ms
    first.saw(frame.replace(str(sent_at).encode(), str(sent_at - 10**9).encode()))
    assert first.relay_ms == measured  # only the first chunk counts


def _stream_summaries(relay_p50: float, ttfb_p50: float) -> dict:
    row = {"relay_ms": {"p50": relay_p50}, "ttfb_ms": {"p50": ttfb_p50}}
    return {"stream": {"direct": {"ttfb_ms": {"p50": 0.5}}, "own_hop": row, "sdk": row}}


def test_the_streaming_target_is_judged_on_the_relay_delay_with_the_ttfb_beside_it():
    within = [v for v in verdicts(_stream_summaries(3.0, 9.0)) if v.target.startswith("streaming")]
    assert [v.met for v in within] == [True, True]
    assert "+8.50 ms vs direct" in within[0].measured
    late = [v for v in verdicts(_stream_summaries(6.0, 7.0)) if v.target.startswith("streaming")]
    assert [v.met for v in late] == [False, False]


def test_the_throughput_targets_are_ratios_within_one_run():
    rps = {
        "own_hop": 700.0,
        "litellm": 71.0,
        "sdk": 100.0,
        "binary_litellm": 50.0,
        "own_hop_httpx_pool": 500.0,
    }
    summaries = {"c32": {key: {"throughput_rps": value} for key, value in rps.items()}}
    found = {v.target.split(" ")[0]: v for v in verdicts(summaries) if "req/s" in v.measured}
    assert (found["own"].met, found["own"].measured) == (False, "9.86x (700 vs 71 req/s)")
    assert (found["sdk"].met, found["sdk"].measured) == (True, "2.00x (100 vs 50 req/s)")
    assert (found["the"].met, found["the"].measured) == (False, "1.40x (700 vs 500 req/s)")
    del summaries["c32"]["litellm"]
    assert [v.met for v in verdicts(summaries) if "LiteLLM proxy's" in v.target] == [None]

"""The write-back load check's own parts: its plan of distinct exchanges, its reading of a whole answer on
both surfaces, and its verdict from the rows of a real store file."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.fakes_app import BenchProvider
from bench.load import FirstChunk, Sample, _complete, _sample, request_body
from bench.targets import CHAT_PATH, MESSAGES_PATH, Target
from bench.writeback_load import CLIENTS, Outcome, plan
from bench.writeback_report import judge, stored_exchanges
from conformance.fakes import FakeRequest
from proxy.memory.stores.base import NewMemory
from proxy.memory.stores.local.store import LocalMemoryStore
from proxy.memory.turns import exchange_text


def test_the_plan_is_the_issues_load_of_distinct_exchanges_from_every_client():
    exchanges = plan(1300, 300 / 1300, 0.2)
    assert sorted(e.number for e in exchanges) == list(range(1300))
    assert len({e.prompt for e in exchanges}) == 1300  # no two can be one memory
    assert sum(e.stream for e in exchanges) == 300
    assert sum(e.surface == MESSAGES_PATH for e in exchanges) == 260
    assert {e.client.user_id for e in exchanges} == {c.user_id for c in CLIENTS}
    assert [e.number for e in exchanges[:50]] == [e.number for e in plan(1300, 300 / 1300, 0.2)[:50]]
    assert sum(e.stream for e in exchanges[:130]) not in (0, 130)  # streams interleave with plain requests


async def _answer(target: Target, stream: bool) -> tuple[int, bytes]:
    """The fake provider's real answer to ``target``, with only the last 64 bytes of a stream (as the
    drivers keep them)."""
    body = request_body(target, "hi", stream)
    response = await BenchProvider().respond(FakeRequest("POST", target.path, body=body))
    if response.stream is None:
        return response.status, response.body
    return response.status, b"".join([chunk async for chunk in response.stream])[-64:]


async def test_a_whole_answer_is_recognised_on_both_surfaces_and_a_cut_one_is_not():
    for path, model in ((CHAT_PATH, "gpt-4o-mini"), (MESSAGES_PATH, "claude-sonnet-4-6")):
        target = Target("t", "t", "http://x", model, path=path)
        for stream in (False, True):
            status, content = await _answer(target, stream)
            first = FirstChunk() if stream else None
            sample = _sample(time.perf_counter(), status, content, {}, first, _complete(target))
            assert (sample.ok, sample.status) == (True, 200), (path, stream, content)
            cut = _sample(time.perf_counter(), status, content[:10], {}, first, _complete(target))
            assert not cut.ok, (path, stream)


def test_the_messages_body_carries_max_tokens_and_the_chat_body_stays_as_it_was():
    chat = json.loads(request_body(Target("t", "t", "u", "m"), "hi", True))
    assert chat == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    messages = json.loads(request_body(Target("t", "t", "u", "m", path=MESSAGES_PATH), "hi", False))
    assert messages["max_tokens"] > 1  # a one-token request is a probe, which memory skips


def _outcomes(count: int) -> list[Outcome]:
    exchanges = sorted(plan(count, 0.5, 0.5), key=lambda e: e.number)
    return [Outcome(e, Sample(ok=True, latency_ms=10.0, status=200), 0.0) for e in exchanges]


def _run(outcomes: list[Outcome], stored: int) -> dict:
    counts = {"stored": stored, "batches": 1, "failed": 0, "dropped": 0, "writing": 0, "pending": 0}
    return {
        "outcomes": outcomes,
        "load_s": 1.0,
        "recall_mode": None,
        "status": {"write_back": counts},
        "peak_backlog": 3,
        "settled_s": 0.1,
    }


async def _store(path: Path, outcomes: list[Outcome]) -> None:
    store = LocalMemoryStore(path)
    try:
        memories = [
            NewMemory(o.exchange.client.user_id, exchange_text(o.exchange.prompt, "ok", max_chars=4000))
            for o in outcomes
        ]
        await store.add_batch(memories)
    finally:
        await store.close()


async def test_every_answered_exchange_must_be_a_row_of_its_client_whatever_the_counter_says(tmp_path):
    outcomes = _outcomes(8)
    whole = tmp_path / "whole.sqlite3"
    await _store(whole, outcomes)
    assert judge("sdk", _run(outcomes, 8), stored_exchanges(whole), exit_code=0, output="")["problems"] == []

    # One exchange lost and another stored twice: as many rows as answers, and the counter agrees.
    partial = tmp_path / "partial.sqlite3"
    await _store(partial, [*outcomes[:-1], outcomes[0]])
    result = judge("sdk", _run(outcomes, 8), stored_exchanges(partial), exit_code=0, output="tail")
    assert (result["stored_rows"], result["missing"], result["unexpected_rows"]) == (8, 1, 1)
    assert result["problems"] == ["8 rows in the store for 8 answered exchanges (1 missing, 1 unexpected)"]
    assert result["proxy_output_tail"] == "tail"


async def test_a_failed_request_or_a_counter_short_of_the_answers_fails_the_run(tmp_path):
    outcomes = _outcomes(4)
    path = tmp_path / "store.sqlite3"
    await _store(path, outcomes[:3])
    outcomes[3].sample = Sample(ok=False, latency_ms=5.0, status=502, error="HTTP 502: b'...'")
    result = judge("binary", _run(outcomes, 2), stored_exchanges(path), exit_code=0, output="")
    assert result["http_statuses"] == {"200": 3, "502": 1}
    assert result["problems"] == ["1 of 4 requests failed", "/memory/status counts 2 stored of 3 answered"]

"""Recall on long multi-session conversations (LoCoMo), through the proxy's request path and beside baselines.

The data: LoCoMo's conversations (Maharana et al., ACL 2024; https://github.com/snap-research/locomo,
CC BY-NC 4.0: not in this repository, the benchmark takes a path). Each conversation is one client: each
turn is one chat request whose user message is ``"<speaker>: <text>"`` (a shared photo appended as
``" [shares a photo: <caption>]"``), answered by a recording backend (no LiteLLM: the proxy's flow, recall,
injection and write-back are the ones measured). Then each question (categories 1-4 with evidence) is a
request of that client; it counts as found when one of its evidence turns reached the "provider" among
the memories injected for it (any-evidence recall at k = ``max_results``, 5), and all of them for
all-evidence recall.

Beside the proxy (by words alone, and by words and meaning, the shipped default), over the same turns:
a plain Okapi BM25 (k1 1.2, b 0.75, every word), and meaning alone (the same embedding model, cosine),
each ranking the turns for each question, at k = 5 and 10. Recall latency p50/p99 comes from the proxy's
``x-memory-proxy-recall-ms``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import statistics
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conformance.harness import app_client
from proxy.app import create_app
from proxy.config import parse_config
from proxy.memory.recall.embeddings import EncoderLoader
from proxy.memory.recall.meaning import embed

__all__ = ["CATEGORIES", "Conversation", "as_stored", "load", "run", "through_proxy"]

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10)


@dataclass(frozen=True)
class Question:
    text: str
    evidence: tuple[str, ...]
    category: int


@dataclass(frozen=True)
class Conversation:
    name: str
    turns: tuple[tuple[str, str], ...]
    """(dia_id, the user message the turn is sent as)."""
    questions: tuple[Question, ...]


def load(directory: Path) -> list[Conversation]:
    """Every ``*.json`` conversation of ``directory``, its turns in order and its answerable questions."""
    conversations = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        turns = []
        sessions = sorted(
            (int(key.split("_")[1]), value)
            for key, value in data.items()
            if re.fullmatch(r"session_\d+", key) and isinstance(value, list)
        )
        for _, session in sessions:
            for turn in session:
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                turns.append((turn["dia_id"], text))
        questions = tuple(
            Question(str(qa["question"]), tuple(qa["evidence"]), int(qa["category"]))
            for qa in data.get("qa", [])
            if qa.get("category") in CATEGORIES and qa.get("evidence")
        )
        conversations.append(Conversation(path.stem, tuple(turns), questions))
    return conversations


class RecordingBackend:
    """A backend that answers every chat request with a short fixed reply and keeps the last request."""

    name = "recording"

    def __init__(self) -> None:
        self.last: Any = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        return True

    async def complete(self, call: Any) -> dict[str, Any]:
        self.last = call
        message = {"role": "assistant", "content": "ok"}
        return {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": call.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip

    async def stream(self, call: Any) -> Any:
        raise NotImplementedError


async def through_proxy(
    conversations: Sequence[Conversation], store: Path, *, semantic: bool
) -> tuple[list[tuple[Question, set[str]]], list[float]]:
    """Each conversation told to the proxy turn by turn, then asked its questions: for each question, the
    dia_ids whose turn text reached the backend; and each question's recall time (ms)."""
    config = parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "sk-bench"}}
            ],
            "context_retrieval": {"local_store_path": str(store), "semantic": semantic},
        },
        source="locomo benchmark",
    )
    backend = RecordingBackend()
    app = create_app(config, backend)
    found: list[tuple[Question, set[str]]] = []
    times: list[float] = []
    async with app_client(app, "http://127.0.0.1") as client:
        if semantic:
            await app.state.flow.memory.store.wait_for_model(120)
        for conversation in conversations:
            headers = {"x-memory-user-id": f"locomo-{conversation.name}"}
            for _, text in conversation.turns:
                body = {"model": "m", "messages": [{"role": "user", "content": text}]}
                (await client.post("/v1/chat/completions", json=body, headers=headers)).raise_for_status()
            await _written(client)
            needles = [(_as_sent(text), dia_id) for dia_id, text in conversation.turns]
            for question in conversation.questions:
                body = {"model": "m", "messages": [{"role": "user", "content": question.text}]}
                answer = await client.post("/v1/chat/completions", json=body, headers=headers)
                answer.raise_for_status()
                times.append(float(answer.headers.get("x-memory-proxy-recall-ms", "nan")))
                sent = json.dumps(backend.last.payload["messages"], ensure_ascii=False)
                reached = {dia_id for needle, dia_id in needles if needle in sent}
                found.append((question, reached))
    return found, times


def as_stored(text: str) -> str:
    """How a turn's memory begins, whitespace collapsed: the user's message, then the assistant's reply."""
    return f"user: {' '.join(text.split())} assistant:"


def _as_sent(text: str) -> str:
    """A turn's memory as the injected block writes it (whitespace collapsed), JSON-escaped as sent."""
    return json.dumps(as_stored(text), ensure_ascii=False)[1:-1]


async def _written(client: Any) -> None:
    """Until write-back has nothing queued or being written (it runs after each answer)."""
    while True:
        counts = (await client.get("/memory/status")).json()["write_back"]
        if counts["pending"] == 0 and counts["writing"] == 0:
            return
        await asyncio.sleep(0.05)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _bm25_rankings(conversation: Conversation) -> list[list[str]]:
    """For each question, the turns by Okapi BM25 (k1 1.2, b 0.75) over every word, best first."""
    docs = [Counter(_words(text)) for _, text in conversation.turns]
    lengths = [sum(doc.values()) for doc in docs]
    average = sum(lengths) / len(docs)
    frequency = Counter(word for doc in docs for word in doc)
    rankings = []
    for question in conversation.questions:
        scores = []
        for doc, length in zip(docs, lengths, strict=True):
            score = 0.0
            for word in set(_words(question.text)):
                if word in doc:
                    n = frequency[word]
                    idf = math.log((len(docs) - n + 0.5) / (n + 0.5) + 1)
                    tf = doc[word]
                    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average))
            scores.append(score)
        order = sorted(range(len(docs)), key=lambda i: -scores[i])
        rankings.append([conversation.turns[i][0] for i in order if scores[i] > 0][: max(KS)])
    return rankings


def _meaning_rankings(conversation: Conversation, encoder: Any) -> list[list[str]]:
    """For each question, the turns by cosine similarity of the embedding model, best first."""
    turns = embed(encoder, [text for _, text in conversation.turns])
    questions = embed(encoder, [question.text for question in conversation.questions])
    scores = questions @ turns.T
    return [[conversation.turns[i][0] for i in np.argsort(-row)[: max(KS)]] for row in scores]


def _summary(found: Sequence[tuple[Question, set[str]]]) -> dict[str, Any]:
    """Any-evidence and all-evidence recall, overall and per category."""
    result: dict[str, Any] = {"questions": len(found)}
    groups = {"all": list(found)} | {
        name: [(q, r) for q, r in found if q.category == number] for number, name in CATEGORIES.items()
    }
    for name, items in groups.items():
        if items:
            result[name] = {
                "any": sum(bool(set(q.evidence) & r) for q, r in items) / len(items),
                "all": sum(set(q.evidence) <= r for q, r in items) / len(items),
            }
    return result


async def run(directory: Path) -> dict[str, Any]:
    """Every measure of the module's docstring over the conversations in ``directory``."""
    conversations = load(directory)
    loader = EncoderLoader()
    encoder = loader.wait(timeout=120)
    if encoder is None:
        raise SystemExit(f"the embedding model is not available: {loader.status}")
    results: dict[str, Any] = {
        "conversations": [c.name for c in conversations],
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
    }
    for k in KS:
        for name, rank in (
            ("bm25", _bm25_rankings),
            ("meaning alone", lambda c: _meaning_rankings(c, encoder)),
        ):
            found = [
                (question, set(ranking[:k]))
                for conversation in conversations
                for question, ranking in zip(conversation.questions, rank(conversation), strict=True)
            ]
            results[f"{name} @{k}"] = _summary(found)
    with tempfile.TemporaryDirectory(prefix="locomo-bench-") as tmp:
        for name, semantic in (("proxy: words", False), ("proxy: words and meaning", True)):
            found, times = await through_proxy(
                conversations, Path(tmp) / f"{semantic}.sqlite3", semantic=semantic
            )
            times.sort()
            results[f"{name} @5"] = _summary(found) | {
                "recall_p50_ms": statistics.median(times),
                "recall_p99_ms": times[int(len(times) * 0.99) - 1],
            }
    return results


def markdown(results: dict[str, Any]) -> list[str]:
    """The table for ``memory.md``: each method's any-evidence recall overall and per category."""
    if not results:
        return []
    names = ["all", *CATEGORIES.values()]
    lines = [
        f"LoCoMo: {len(results['conversations'])} conversations ({', '.join(results['conversations'])}), "
        f"{results['turns']:,} turns, {results['questions']:,} questions; any-evidence recall (all-evidence "
        "in brackets):",
        "",
        "| method | " + " | ".join(names) + " | recall p50 / p99 ms |",
        "|---|" + "--:|" * (len(names) + 1),
    ]
    for method, row in results.items():
        if not isinstance(row, dict) or "all" not in row:
            continue
        cells = [f"{row[n]['any']:.1%} ({row[n]['all']:.1%})" if n in row else "-" for n in names]
        timing = f"{row['recall_p50_ms']:.1f} / {row['recall_p99_ms']:.1f}" if "recall_p50_ms" in row else ""
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {timing} |")
    return lines

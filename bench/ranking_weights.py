"""``python -m bench ranking_weights --locomo DIR``: learn recall's ranking weights
(:data:`proxy.memory.recall.ranking.WEIGHTS`) from LoCoMo's conversations, and say what they find.

Each conversation is told to the proxy and asked its questions as :mod:`bench.locomo` does (words and
meaning, the default). For each question, the features of every memory words or meaning found
(:func:`proxy.memory.recall.ranking.features`) are kept, with whether the memory is one of the
question's evidence turns. A pairwise logistic regression (each evidence memory against each other
candidate of its question, each question weighing the same) learns one weight a feature; on features
scaled to unit variance, then scaled back, so the weights apply to the features as they are.

It reports any-evidence recall at 5 by the learned weights, as learned and :func:`adjusted`, each
conversation ranked by the weights learned on the others (leave one conversation out: what the weights
find on conversations they have not seen), by the weights learned on all of them, and by the shipped
:data:`~proxy.memory.recall.ranking.WEIGHTS`; then the weights learned on all and adjusted, to paste. The
candidates are the same whatever the weights (words and meaning find them), so one pass through the proxy
serves every ranking compared.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import locomo
from proxy.memory.recall import ranking

__all__ = ["Ranked", "adjusted", "capture", "learn", "main", "recall_at"]

L2 = 1e-3
"""The regression's weight decay: enough to keep features that always move together from growing apart."""

STEPS = 300
"""Gradient steps (full batch, rate :data:`RATE`): the loss stops moving well before."""

RATE = 0.5


@dataclass(frozen=True)
class Ranked:
    """One question's candidates as :func:`~proxy.memory.recall.ranking.features` gave them, the same as a
    matrix (a row each, in :data:`~proxy.memory.recall.ranking.FEATURES`' order), and which are the
    question's evidence."""

    conversation: str
    candidates: Mapping[str, ranking.Features]
    features: np.ndarray
    evidence: np.ndarray


def capture(directory: Path, *, semantic: bool = True) -> list[Ranked]:
    """Every question of the conversations in ``directory`` with its candidates, through the proxy (by
    words and meaning, or with ``semantic`` false by words alone)."""
    conversations = locomo.load(directory)
    seen: dict[str, tuple[dict[str, ranking.Features], dict[str, str]]] = {}
    original = ranking.features

    def recording(
        lexical: Sequence[ranking.Candidate], dense: Sequence[ranking.Candidate], **kwargs: Any
    ) -> dict[str, ranking.Features]:
        found = original(lexical, dense, **kwargs)
        contents = {candidate.record.id: candidate.record.content for candidate in (*lexical, *dense)}
        seen[kwargs.get("query", "")] = (found, contents)
        return found

    ranking.features = recording
    try:
        with tempfile.TemporaryDirectory(prefix="ranking-weights-") as tmp:
            asyncio.run(locomo.through_proxy(conversations, Path(tmp) / "store.sqlite3", semantic=semantic))
    finally:
        ranking.features = original
    ranked: list[Ranked] = []
    width = len(ranking.FEATURES)
    for conversation in conversations:
        turns = dict(conversation.turns)
        for question in conversation.questions:
            if question.text not in seen:
                continue
            found, contents = seen[question.text]
            needles = [locomo.as_stored(turns[dia_id]) for dia_id in question.evidence if dia_id in turns]
            ids = list(found)
            ranked.append(
                Ranked(
                    conversation.name,
                    found,
                    np.array([found[memory_id].values for memory_id in ids], float).reshape(len(ids), width),
                    np.array([_is_one_of(contents[memory_id], needles) for memory_id in ids], bool),
                )
            )
    return ranked


def _is_one_of(content: str, needles: Sequence[str]) -> bool:
    collapsed = " ".join(content.split())
    return any(collapsed.startswith(needle) for needle in needles)


def learn(questions: Sequence[Ranked]) -> dict[str, float]:
    """The weights of a pairwise logistic regression over ``questions``' candidates (module docstring)."""
    stacked = np.vstack([question.features for question in questions])
    mean, spread = stacked.mean(axis=0), stacked.std(axis=0) + 1e-9
    differences, balance = [], []
    for question in questions:
        scaled = (question.features - mean) / spread
        good, other = scaled[question.evidence], scaled[~question.evidence]
        if len(good) and len(other):
            pairs = (good[:, None, :] - other[None, :, :]).reshape(-1, stacked.shape[1])
            differences.append(pairs)
            balance.append(np.full(len(pairs), 1.0 / len(pairs)))
    pairs, weight = np.vstack(differences), np.concatenate(balance)
    weight /= weight.mean()
    learned = np.zeros(stacked.shape[1])
    for _ in range(STEPS):
        gradient = -(weight / (1.0 + np.exp(pairs @ learned))) @ pairs / len(pairs) + L2 * learned
        learned -= RATE * gradient
    return dict(zip(ranking.FEATURES, (learned / spread).tolist(), strict=True))


def adjusted(learned: Mapping[str, float]) -> dict[str, float]:
    """``learned`` with a place in meaning's list counting as much as the same place in words' list, and a
    word match's strength and a memory's length counting half.

    LoCoMo's questions share more words with their evidence than a question in other words does: as
    learned, the weights found 84% of the paraphrase set (``./RUN_TESTS.sh bench memory``: 300 memories;
    88% among 10,000), where 0.12.0's fusion found 96%. So adjusted they find 96% and 96%, and LoCoMo as
    much (72.2% on all seven conversations, 72.0% held out, against 72.2% and 71.9% as learned).
    """
    weights = dict(learned)
    weights["meaning_place"] = weights["words_place"]
    weights["words_strength"] *= 0.5
    weights["length"] *= 0.5
    return weights


def recall_at(questions: Sequence[Ranked], weights: Mapping[str, float], k: int = 5) -> float:
    """The share of ``questions`` with an evidence memory among the ``k`` best by ``weights``, as recall
    ranks them (:func:`~proxy.memory.recall.ranking.scores`)."""
    found = 0
    for question in questions:
        scored = list(ranking.scores(question.candidates, weights).values())  # in the evidence's order
        best = sorted(range(len(scored)), key=lambda n, scored=scored: -scored[n])[:k]
        found += bool(question.evidence[best].any())
    return found / len(questions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ranking_weights", description=__doc__)
    parser.add_argument("--locomo", type=Path, required=True, help="the folder of LoCoMo's JSON files")
    args = parser.parse_args(argv)
    questions = capture(args.locomo)
    names = sorted({question.conversation for question in questions})
    held_out = {"learned": 0.0, "adjusted": 0.0}
    for name in names:
        tested = [question for question in questions if question.conversation == name]
        weights = learn([question for question in questions if question.conversation != name])
        held_out["learned"] += recall_at(tested, weights) * len(tested) / len(questions)
        held_out["adjusted"] += recall_at(tested, adjusted(weights)) * len(tested) / len(questions)
    learned = learn(questions)
    print(f"{len(questions)} questions of {len(names)} conversations; any-evidence recall at 5:")
    print(f"  learned, each conversation held out:  {held_out['learned']:.1%}")
    print(f"  adjusted, each conversation held out: {held_out['adjusted']:.1%}")
    print(f"  learned on all:                       {recall_at(questions, learned):.1%}")
    print(f"  adjusted, learned on all:             {recall_at(questions, adjusted(learned)):.1%}")
    print(f"  shipped WEIGHTS: {recall_at(questions, ranking.WEIGHTS):.1%}")
    print("WEIGHTS = {  # learned on all, adjusted")
    for name, value in adjusted(learned).items():
        print(f'    "{name}": {value:.3g},')
    print("}")
    return 0

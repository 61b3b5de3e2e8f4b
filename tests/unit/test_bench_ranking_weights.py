"""Learning recall's ranking weights: the candidates kept as the proxy ranked them, the evidence marked,
and a regression that finds the feature that tells evidence apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import ranking_weights
from proxy.memory.recall.ranking import FEATURES, Features
from tests.unit.test_bench_locomo import write


def test_capture_keeps_each_questions_candidates_and_marks_its_evidence(tmp_path: Path) -> None:
    questions = ranking_weights.capture(write(tmp_path))

    assert len(questions) == 2
    for question in questions:
        assert question.features.shape == (len(question.candidates), len(FEATURES))
        assert question.evidence.sum() == 1  # each question's one evidence turn is among its candidates
    assert ranking_weights.recall_at(questions, {"words_place": 1.0}) == 1.0


def test_learning_weighs_the_feature_that_tells_the_evidence_apart() -> None:
    """Evidence states a time and ranks low by words: the learned weights find it at 1 where words alone do
    not."""
    rng = np.random.default_rng(7)
    questions = []
    for n in range(40):
        values = rng.random((6, len(FEATURES)))
        values[:, FEATURES.index("says_when")] = 0.0
        values[5, FEATURES.index("says_when")] = 1.0
        values[:, FEATURES.index("words_place")] = np.linspace(1.0, 0.5, 6)  # evidence last by words
        candidates = {f"m{n}-{row}": Features(tuple(values[row])) for row in range(6)}
        evidence = np.array([row == 5 for row in range(6)])
        questions.append(ranking_weights.Ranked(f"conv-{n % 4}", candidates, values, evidence))

    learned = ranking_weights.learn(questions)

    assert max(learned, key=lambda name: learned[name]) == "says_when"
    assert ranking_weights.recall_at(questions, learned, k=1) == 1.0
    assert ranking_weights.recall_at(questions, {"words_place": 1.0}, k=1) == 0.0

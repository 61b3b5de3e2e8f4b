"""What a person says about themselves goes to every project; what they say about a project stays there.

Measured on ``fixtures/scope_statements.jsonl``: statements as people type them to coding agents, labelled
by hand, with project facts phrased personally ("I use poetry here", "my service talks to Postgres") among
them. A project fact taken for a person-wide one would be recalled in every other project, so precision is
the bar; recall is reported (``./RUN_TESTS.sh`` prints the figure).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.memory.person_wide import MAX_CHARS, is_person_wide, why_person_wide

STATEMENTS = [
    json.loads(line)
    for line in (Path(__file__).parents[2] / "fixtures" / "scope_statements.jsonl").read_text().splitlines()
    if line.strip()
]


def test_the_labelled_set_is_large_and_has_both_kinds():
    kinds = [statement["scope"] for statement in STATEMENTS]
    assert len(STATEMENTS) >= 200 and set(kinds) == {"person", "project"}
    assert kinds.count("person") >= 60 and kinds.count("project") >= 100


def test_person_wide_precision_is_at_least_0_95(record_property):
    said = [(s["text"], s["scope"] == "person", is_person_wide(s["text"])) for s in STATEMENTS]
    taken = [(text, truth) for text, truth, guess in said if guess]
    wrong = [text for text, truth in taken if not truth]
    precision = 1 - len(wrong) / len(taken)
    recall = sum(truth for _, truth in taken) / sum(truth for _, truth, _ in said)
    record_property(
        "figure",
        f"person-wide precision {precision:.3f}, recall {recall:.3f} on {len(said)} labelled statements",
    )
    assert precision >= 0.95, f"project facts taken for person-wide: {wrong}"
    assert recall >= 0.6  # below this, person-wide memory would rarely happen at all


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("I prefer tabs over spaces", "about the person ('I prefer')"),
        ("call me Sam", "about the person ('call me Sam')"),
        ("remember for all my projects: answers in British English", "said for every project"),
    ],
)
def test_the_reason_is_shown(text, why):
    reason = why_person_wide(text)
    assert reason is not None and reason.startswith(why)


@pytest.mark.parametrize(
    "text",
    [
        "I use bazel here",
        "Remember: the build tool in this project is bazel",
        "I prefer to keep this repo's tests in tests/unit",
        "we use tabs in this codebase, for all my projects too? no, just here",
        "I like this approach",
        "Call me when the Acme nightly export fails",
        "In general, the refund endpoint returns 409 when the invoice is locked",
        "I prefer Celery over RQ for the billing background tasks",
        "I'd rather you not touch the generated protobuf stubs in payments",
    ],
)
def test_project_facts_phrased_personally_stay_in_the_project(text):
    assert why_person_wide(text) is None


def test_a_long_prompt_is_a_task_and_stays_in_its_project():
    """Past MAX_CHARS a prompt is never person-wide, which also bounds what the rules cost on hostile text
    (unbounded, one pattern took 75 s on 200 KB)."""
    statement = "I prefer tabs over spaces."
    assert why_person_wide(statement) is not None
    assert why_person_wide(statement + " Also," * (MAX_CHARS // 6)) is None

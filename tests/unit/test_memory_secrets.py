"""Secrets are masked before anything is stored, and look-alikes are not: on a labelled set."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from proxy.memory.secrets import MASK, mask_secrets

LABELLED = [
    json.loads(line)
    for line in (Path(__file__).resolve().parents[2] / "fixtures" / "secrets.jsonl")
    .read_text()
    .splitlines()[1:]
]
SECRETS = [item for item in LABELLED if item["secrets"]]
LOOK_ALIKES = [item for item in LABELLED if not item["secrets"]]


def test_the_labelled_set_has_both_kinds():
    assert len(SECRETS) >= 40 and len(LOOK_ALIKES) >= 40


@pytest.mark.parametrize("item", SECRETS, ids=lambda item: item["text"][:40])
def test_every_secret_is_masked(item):
    masked = mask_secrets(item["text"])
    assert MASK in masked
    for secret in item["secrets"]:
        assert secret not in masked, masked


@pytest.mark.parametrize("item", LOOK_ALIKES, ids=lambda item: item["text"][:40])
def test_a_look_alike_stays_as_it_is(item):
    assert mask_secrets(item["text"]) == item["text"]


def test_what_is_not_secret_around_a_secret_stays():
    text = "the build broke with OPENAI_API_KEY=sk-proj-" + "a" * 48 + "T3BlbkFJ" + "b" * 48 + " set; bazel 7"
    assert mask_secrets(text) == f"the build broke with OPENAI_API_KEY={MASK} set; bazel 7"


def test_masking_twice_changes_nothing_more():
    once = mask_secrets("api_key: " + "k" * 30 + " and password = hunter2hunter2")
    assert mask_secrets(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "client-secret-rotation-policy-" * 3000,
        "password-" * 10_000,
        "a." * 40_000 + "://",
        "a-" * 40_000 + "@",
        "secret " * 20_000,
        "Authorization: Bearer " + "a" * 50_000,
        "-----BEGIN PRIVATE KEY-----" + "x" * 50_000,
    ],
    ids=[
        "hyphenated-keywords",
        "repeated-keyword",
        "dotted-url",
        "hyphenated-at",
        "spaced",
        "long-bearer",
        "open-pem",
    ],
)
def test_no_input_makes_masking_hang(text):
    """Masking runs before an exchange is journaled, on the request path, so no input may make it backtrack
    (these inputs once took from twenty seconds to minutes). A hang guard, not a speed measurement: every
    rule is linear, and each of these takes about 20 ms."""
    started = time.perf_counter()
    mask_secrets(text)
    assert time.perf_counter() - started < 10.0

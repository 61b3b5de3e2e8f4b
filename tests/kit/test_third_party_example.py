"""The kit as a third party uses it: ``examples/third_party_proxy`` (a relay that is not this project)
passes the generic suites and skips the product ones by capability; broken on purpose, it fails the tests
that name the fault, and the report shows what the proxy was sent and answered.

Runs in a subprocess (the inner run serves real proxies on loopback) from a copy of the example, so nothing
of this repository but the installed kit is on its path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).parents[2] / "examples" / "third_party_proxy"


@pytest.fixture
def example(pytester: pytest.Pytester) -> pytest.Pytester:
    for name in ("relay_proxy.py", "conftest.py", "test_conformance.py", "pyproject.toml"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    return pytester


def break_relay(example: pytest.Pytester, old: str, new: str) -> None:
    relay = example.path / "relay_proxy.py"
    text = relay.read_text()
    assert old in text, "the example changed: update the fault this test puts in it"
    relay.write_text(text.replace(old, new))


def test_the_example_passes_the_generic_suites_and_skips_the_product_ones(example: pytest.Pytester):
    result = example.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 20
    for capability in ("anthropic_messages", "memory", "identification", "error_normalisation"):
        result.stdout.fnmatch_lines([f"SKIPPED *relay: missing capability {capability}"])
    result.stdout.no_fnmatch_line("*[[]sdk[]]*")


def test_a_429_turned_into_a_500_fails_the_test_that_says_so(example: pytest.Pytester):
    break_relay(
        example,
        "return Response(content, status_code=answer.status_code, headers=headers)",
        "return Response(content, status_code=500 if answer.status_code == 429 else answer.status_code)",
    )
    result = example.runpytest_subprocess("-p", "no:cacheprovider", "-k", "TestErrors")
    result.stdout.fnmatch_lines(
        [
            "*test_provider_status_and_retry_after_reach_the_client[[]relay-rate_limit[]]*",
            "E *AssertionError: the provider answered 429*",
            "*what the proxy was sent and answered*",
            "*sent: POST /v1/chat/completions",
            "*rate_limit*",
            "*answered: 500*",
        ]
    )
    assert result.parseoutcomes()["failed"] == 1


def test_a_stream_buffered_to_the_end_fails_the_test_that_says_so(example: pytest.Pytester):
    break_relay(
        example,
        "    async for chunk in answer.aiter_raw():\n        yield chunk",
        "    yield await answer.aread()",
    )
    result = example.runpytest_subprocess("-p", "no:cacheprovider", "-k", "TestStreaming")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: the first chunk reached the client only once the provider had sent its last*",
            "FAILED *test_first_chunk_arrives_before_the_provider_finishes[[]relay[]]*",
        ]
    )

"""Hostile input: what a careless or malicious client sends is a 4xx in the protocol's envelope, never a
5xx and never a hang, on every API surface.

The minimal cases each once broke a proxy (a 500 from an encoder or a crash inside LiteLLM, a 502 for
LiteLLM's own validation error); the fuzz sends a few hundred seeded mutations of valid bodies per surface.
"""

from __future__ import annotations

import json

import pytest

from conformance.capabilities import Capability
from conformance.hostile import mutated_bodies
from conformance.suites.support import model_calls

__all__ = ["FUZZ_BODIES", "FUZZ_SEED", "MINIMAL_CASES", "HostileInputSuite"]

FUZZ_SEED = 20261130
FUZZ_BODIES = 400
"""Per surface and model format, per backend."""

_INT_TEXT = '{"role": "user", "content": [{"type": "text", "text": 5}]}'
_UNTYPED = '{"role": "user", "content": [{"foo": "bar"}]}'
_SURROGATE = '{"role": "user", "content": "\\ud800"}'
_USER = '{"role": "user", "content": "hello"}'


def _chat(message: str, extra: str = "") -> str:
    return f'{{"model": "gpt-fake", "messages": [{message}]{extra}}}'


def _messages(message: str, extra: str = "") -> str:
    return f'{{"model": "claude-fake", "max_tokens": 20, "messages": [{message}]{extra}}}'


def _nested(levels: int) -> str:
    """A user message carrying an object ``levels`` deep: small bodies that once overflowed a recursive
    walk of the body (476 levels did; JSON parsers stop at around 1,000)."""
    return '{"role": "user", "content": "hi", "x": ' + '{"a": ' * levels + "1" + "}" * levels + "}"


def _responses(item: str, extra: str = "") -> str:
    return f'{{"model": "gpt-fake", "input": [{item}]{extra}}}'


_RESPONSES = pytest.mark.requires(Capability.RESPONSES_API)
_COUNTING = pytest.mark.requires(Capability.TOKEN_COUNTING)
_EMBEDDINGS = pytest.mark.requires(Capability.EMBEDDINGS)

MINIMAL_CASES: list[tuple[str, str, str]] = [
    # (id, path, body text)
    ("chat-text-part-int", "/v1/chat/completions", _chat(_INT_TEXT)),
    ("chat-part-without-type", "/v1/chat/completions", _chat(_UNTYPED)),
    ("chat-temperature-nan", "/v1/chat/completions", _chat(_USER, ', "temperature": NaN')),
    ("chat-temperature-infinity", "/v1/chat/completions", _chat(_USER, ', "temperature": Infinity')),
    ("chat-lone-surrogate", "/v1/chat/completions", _chat(_SURROGATE)),
    ("chat-metadata-str", "/v1/chat/completions", _chat(_USER, ', "metadata": "x"')),
    ("chat-tools-str", "/v1/chat/completions", _chat(_USER, ', "tools": "x"')),
    ("chat-timeout-str", "/v1/chat/completions", _chat(_USER, ', "timeout": "str"')),
    ("messages-text-part-int", "/v1/messages", _messages(_INT_TEXT)),
    ("messages-part-without-type", "/v1/messages", _messages(_UNTYPED)),
    ("messages-temperature-nan", "/v1/messages", _messages(_USER, ', "temperature": NaN')),
    ("messages-lone-surrogate", "/v1/messages", _messages(_SURROGATE)),
    ("messages-metadata-str", "/v1/messages", _messages(_USER, ', "metadata": "x"')),
    ("messages-tools-str", "/v1/messages", _messages(_USER, ', "tools": "x"')),
    ("messages-timeout-str", "/v1/messages", _messages(_USER, ', "timeout": "str"')),
    ("messages-system-int", "/v1/messages", _messages(_USER, ', "system": 5')),
    (
        "responses-text-part-int",
        "/v1/responses",
        _responses('{"role": "user", "content": [{"type": "input_text", "text": 5}]}'),
    ),
    ("responses-item-untyped-roleless", "/v1/responses", _responses('{"foo": "bar"}')),
    ("responses-lone-surrogate", "/v1/responses", _responses(_SURROGATE)),
    ("responses-input-object", "/v1/responses", '{"model": "gpt-fake", "input": {"role": "user"}}'),
    ("responses-tools-str", "/v1/responses", _responses(_USER, ', "tools": "x"')),
    ("responses-include-int", "/v1/responses", _responses(_USER, ', "include": [1]')),
    ("responses-previous-id-empty", "/v1/responses", _responses(_USER, ', "previous_response_id": ""')),
    ("responses-nested-5000", "/v1/responses", _responses(_nested(5000))),
    ("chat-nested-476", "/v1/chat/completions", _chat(_nested(476))),
    ("chat-nested-5000", "/v1/chat/completions", _chat(_nested(5000))),
    ("messages-nested-476", "/v1/messages", _messages(_nested(476))),
    ("messages-nested-5000", "/v1/messages", _messages(_nested(5000))),
]


def _is_envelope(path: str, body: object) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return False
    if path.startswith("/v1/messages") and body.get("type") != "error":
        return False
    return isinstance(body["error"].get("message"), str) and bool(body["error"]["message"])


@pytest.mark.parity
@pytest.mark.requires(Capability.INPUT_VALIDATION)
class HostileInputSuite:
    @pytest.mark.parametrize(
        ("path", "text"), [case[1:] for case in MINIMAL_CASES], ids=[c[0] for c in MINIMAL_CASES]
    )
    def test_minimal_case_is_400_in_the_envelope(self, proxy, fake_provider, path, text):
        """Each body that once broke a proxy is a 400 in the surface's envelope, and reaches no provider."""
        with proxy.client() as http:
            response = http.post(path, content=text.encode(), headers={"content-type": "application/json"})
        assert response.status_code == 400, f"sent {text}\nanswered {response.status_code} {response.text}"
        assert _is_envelope(path, response.json()), response.text
        assert model_calls(fake_provider) == []

    @pytest.mark.parametrize(
        ("path", "surface", "model"),
        [
            ("/v1/chat/completions", "chat", "gpt-fake"),
            ("/v1/chat/completions", "chat", "claude-fake"),
            ("/v1/messages", "messages", "claude-fake"),
            ("/v1/messages", "messages", "gpt-fake"),
            pytest.param("/v1/responses", "responses", "gpt-fake", marks=_RESPONSES),
            pytest.param("/v1/responses", "responses", "claude-fake", marks=_RESPONSES),
            pytest.param("/v1/messages/count_tokens", "messages", "claude-fake", marks=_COUNTING),
            pytest.param("/v1/embeddings", "embeddings", "embed-fake", marks=_EMBEDDINGS),
        ],
        ids=["chat-openai", "chat-anthropic", "messages-anthropic", "messages-openai", "responses-openai",
             "responses-anthropic", "count-tokens-anthropic", "embeddings"],
    )  # fmt: skip
    def test_mutated_bodies_never_get_a_5xx(self, proxy, path, surface, model):
        """Seeded mutations of valid bodies are each answered 2xx or 4xx in the envelope, within the
        client's timeout (no hang)."""
        failures = []
        with proxy.client(timeout=30.0) as http:
            for body in mutated_bodies(surface, model, seed=FUZZ_SEED, count=FUZZ_BODIES):
                response = http.post(path, content=body.content, headers={"content-type": "application/json"})
                ok = response.status_code < 300 or (
                    response.status_code < 500 and _is_envelope(path, _json(response.text))
                )
                if not ok:
                    failures.append(f"{body.mutation}: {response.status_code} {response.text[:300]}")
        assert not failures, f"{len(failures)} of {FUZZ_BODIES} bodies:\n" + "\n".join(failures[:20])


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None

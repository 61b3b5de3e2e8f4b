"""Seed group 5 against real providers: opt-in with ``-m real_api``, and only where the keys are set.

Offline (as in CI) every test here skips, naming the missing key. With ``OPENAI_API_KEY`` and/or
``ANTHROPIC_API_KEY`` in the environment, ``./RUN_TESTS.sh e2e -m real_api`` sends a handful of tiny
requests through each backend to the real APIs. Keys reach LiteLLM through the environment only.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from conformance.backends import REGISTRY
from conformance.harness import ProxyUnderTest, litellm_proxy_process, serve_proxy

pytestmark = [pytest.mark.real_api, pytest.mark.e2e]

REAL_MODELS = {
    "OPENAI_API_KEY": {
        "model_name": "real-openai",
        "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"},
    },
    "ANTHROPIC_API_KEY": {
        "model_name": "real-anthropic",
        "litellm_params": {
            "model": "anthropic/claude-3-5-haiku-latest",
            "api_key": "os.environ/ANTHROPIC_API_KEY",
        },
    },
}


@pytest.fixture(scope="session")
def real_keys(developer_environment: dict[str, str]) -> dict[str, str]:
    found = developer_environment
    return {name: found[name] for name in REAL_MODELS if found.get(name)}


def real_raw_config(keys: dict[str, str]) -> dict:
    return {"model_list": [REAL_MODELS[name] for name in keys], "litellm_settings": {"num_retries": 0}}


@pytest.fixture(scope="session")
def real_litellm_proxy(real_keys, tmp_path_factory) -> Iterator[dict]:
    if not real_keys:
        pytest.skip("neither OPENAI_API_KEY nor ANTHROPIC_API_KEY is set: no real provider to call")
    with litellm_proxy_process(
        real_raw_config(real_keys), tmp_path_factory.mktemp("real-litellm"), extra_env=real_keys
    ) as process:
        yield process.config_overrides()


@pytest.fixture
def real_proxy(request, backend, real_keys, fake_provider, monkeypatch) -> Iterator[ProxyUnderTest]:
    if not real_keys:
        pytest.skip("neither OPENAI_API_KEY nor ANTHROPIC_API_KEY is set: no real provider to call")
    for name, value in real_keys.items():
        monkeypatch.setenv(name, value)  # for the in-process backend; the config only names the variable
    raw = real_raw_config(real_keys)
    if backend.name == "binary":
        raw.update(request.getfixturevalue("real_litellm_proxy"))
    with serve_proxy(REGISTRY[backend.name], raw, fake_provider) as proxy:
        yield proxy


def model_for(keys: dict[str, str], key: str) -> str:
    if key not in keys:
        pytest.skip(f"{key} is not set: this test calls that provider")
    return REAL_MODELS[key]["model_name"]


@pytest.mark.parametrize("key", list(REAL_MODELS))
def test_real_call(real_proxy, real_keys, key):
    model = model_for(real_keys, key)
    answer = real_proxy.openai().chat.completions.create(
        model=model, max_tokens=10, messages=[{"role": "user", "content": "Reply with the word: pong"}]
    )
    assert answer.choices[0].message.content
    assert answer.usage.total_tokens > 0


@pytest.mark.parametrize("key", list(REAL_MODELS))
def test_real_streaming(real_proxy, real_keys, key):
    model = model_for(real_keys, key)
    stream = real_proxy.openai().chat.completions.create(
        model=model, max_tokens=10, stream=True, messages=[{"role": "user", "content": "Count: 1 2 3"}]
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_real_invalid_parameter(real_proxy, real_keys):
    model = model_for(real_keys, "OPENAI_API_KEY")
    with pytest.raises(openai.BadRequestError):
        real_proxy.openai().chat.completions.create(
            model=model, max_tokens=-5, messages=[{"role": "user", "content": "hi"}]
        )

"""Which model names the proxy serves: config names, aliases (both of LiteLLM's forms), wildcards.

How wildcards match is held to LiteLLM's own Router in tests/unit/test_litellm_adapter.py.
"""

from __future__ import annotations

from proxy.config import parse_config
from proxy.model_catalog import ModelCatalog


def catalog(**raw) -> ModelCatalog:
    return ModelCatalog(parse_config(raw, source="test"))


MODELS = [
    {"model_name": "plain", "litellm_params": {"model": "openai/gpt-4o-mini"}},
    {"model_name": "claude/*", "litellm_params": {"model": "anthropic/*"}},
    {"model_name": "plain", "litellm_params": {"model": "openai/gpt-4o"}},  # a second deployment
]


def test_names_aliases_and_wildcards_resolve_to_their_group():
    served = catalog(
        model_list=MODELS,
        router_settings={
            "model_group_alias": {"short": "plain", "hidden": {"model": "plain", "hidden": True}}
        },
    )
    assert [served.group_of(name) for name in ("plain", "short", "hidden", "claude/haiku")] == [
        "plain",
        "plain",
        "plain",
        "claude/*",
    ]
    assert served.group_of("missing") is None
    assert "claude/haiku" in served
    assert "claude" not in served


def test_listing_names_each_group_once_in_config_order_then_the_aliases():
    served = catalog(model_list=MODELS, router_settings={"model_group_alias": {"short": "plain"}})
    assert [model["id"] for model in served.listing()] == ["plain", "claude/*", "short"]
    assert all(model["object"] == "model" for model in served.listing())


def test_the_most_specific_wildcard_wins():
    served = catalog(
        model_list=[
            {"model_name": "*", "litellm_params": {"model": "openai/*"}},
            {"model_name": "claude/*", "litellm_params": {"model": "anthropic/*"}},
        ]
    )
    assert served.group_of("claude/haiku") == "claude/*"
    assert served.group_of("gpt-4o") == "*"

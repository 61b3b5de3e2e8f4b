"""Supermemory's Memory Router: which models it serves, and the headers their calls carry."""

from __future__ import annotations

import pytest

from proxy.config import parse_config
from proxy.memory.service import MemoryService
from proxy.memory.supermemory_router import SupermemoryRouter, is_memory_router_base

ROUTED_BASE = "https://api.supermemory.ai/v3/https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        (ROUTED_BASE, True),
        ("http://sm.local/v3/http://provider/v1", True),
        ("https://api.openai.com/v1", False),
        (None, False),
    ],
)
def test_memory_router_base_detection(api_base, expected):
    assert is_memory_router_base(api_base, "http://sm.local/") is expected


def config(**context_retrieval):
    return parse_config(
        {
            "model_list": [
                {"model_name": "plain", "litellm_params": {"model": "openai/gpt-4o-mini"}},
                {
                    "model_name": "remembered",
                    "litellm_params": {"model": "openai/gpt-4o", "api_base": ROUTED_BASE},
                },
            ],
            "router_settings": {"model_group_alias": {"alias": "remembered", "other": "plain"}},
            "context_retrieval": context_retrieval,
        },
        source="test",
    )


def test_routed_models_and_their_aliases_get_the_headers_others_none():
    router = SupermemoryRouter(config(api_key="sm-key-123"))
    assert router.models == {"remembered", "alias"}
    assert router.headers_for("alias", "pycharm-ai") == {
        "x-sm-user-id": "pycharm-ai",
        "x-supermemory-api-key": "sm-key-123",
    }
    assert router.headers_for("other", "pycharm-ai") == {}
    assert SupermemoryRouter(config()).headers_for("remembered", "u") == {"x-sm-user-id": "u"}


def test_memory_is_off_for_routed_models_both_ways():
    """Recall and write-back ask the same question, so a Router model is neither recalled nor stored."""
    settings = config(api_key="sm-key-123")
    memory = MemoryService(settings.context_retrieval, supermemory_router=SupermemoryRouter(settings))
    assert memory.applies_to("remembered") == "the Supermemory Memory Router handles memory for this model"
    assert memory.applies_to("plain") is None

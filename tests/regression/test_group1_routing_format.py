"""Seed group 1: tests read routing from a nested ``routing`` key that /memory-routing/info never had.

The answer is flat on every backend:
``{"user_id", "matched_pattern", "custom_header_present", "is_default"}``.
"""

from __future__ import annotations

import pytest

SEED_STRINGS = [
    ("OpenAIClientImpl/Java", "pycharm-ai"),
    ("Claude Code CLI", "claude-code"),
    ("anthropic-sdk-python/1.0", "anthropic-python"),
    ("curl/7.68.0", "default-dev"),
]


@pytest.mark.parametrize(("user_agent", "expected_user_id"), SEED_STRINGS)
def test_user_id_detection_matches(proxy, user_agent, expected_user_id):
    with proxy.client() as http:
        data = http.get("/memory-routing/info", headers={"user-agent": user_agent}).json()
    assert "routing" not in data
    assert data["user_id"] == expected_user_id
    # The seed's flat shape; which memory the request reads (namespace, project, ...) sits beside it.
    assert {"user_id", "matched_pattern", "custom_header_present", "is_default"} <= set(data)


def test_custom_user_id_header(proxy):
    with proxy.client() as http:
        data = http.get(
            "/memory-routing/info", headers={"user-agent": "curl/7.68.0", "x-memory-user-id": "my-project"}
        ).json()
    assert data["user_id"] == "my-project"
    assert data["custom_header_present"] is True
    assert data["is_default"] is False

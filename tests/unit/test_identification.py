"""Client identification: custom header, ordered patterns, default; every real client string routes right."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from conformance import resources
from proxy.config import HeaderPattern, UserIdMappings
from proxy.errors import InvalidRequest
from proxy.identification import ClientIdentifier

CLIENTS = resources.read_json("client_user_agents.json")
ALL_CLIENTS = CLIENTS["real"] + CLIENTS["seed"]


def route(headers: dict[str, str], **mappings):
    return ClientIdentifier(UserIdMappings(**mappings)).identify(Headers(headers))


@pytest.mark.parametrize("client", ALL_CLIENTS, ids=[c["user_agent"] for c in ALL_CLIENTS])
def test_default_patterns_route_real_and_seed_client_strings(client):
    result = route({"user-agent": client["user_agent"]})
    assert result.user_id == client["user_id"]
    assert result.is_default == (client["user_id"] == "default-dev")


def test_codex_is_known_by_its_originator_header_whatever_its_user_agent():
    """Codex's ``originator`` header names it where the User-Agent is another program's."""
    result = route({"user-agent": "Mozilla/5.0 (an editor)", "originator": "codex_vscode"})
    assert result.user_id == "codex"
    assert result.matched_pattern is not None and result.matched_pattern.project is not None
    assert route({"user-agent": "curl/8.5.0", "originator": "someone_else"}).user_id == "default-dev"


def test_custom_header_wins_over_patterns():
    result = route({"user-agent": "OpenAIClientImpl/Java", "X-Memory-User-Id": "project-a"})
    assert result.as_info() == {
        "user_id": "project-a",
        "matched_pattern": None,
        "custom_header_present": True,
        "is_default": False,
    }


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 129, "ünïcode", "../etc"])
def test_invalid_custom_header_is_rejected_not_used(bad):
    with pytest.raises(InvalidRequest) as caught:
        route({"x-memory-user-id": bad})
    assert caught.value.status == 400
    assert caught.value.param == "x-memory-user-id"


def test_configured_patterns_replace_defaults_in_order_first_match_wins():
    patterns = [
        HeaderPattern(header="X-Client", pattern="^ide", user_id="first"),
        HeaderPattern(header="x-client", pattern="ide", user_id="second"),
    ]
    assert route({"x-client": "IDE 1"}, header_patterns=patterns).user_id == "first"
    assert route({"x-client": "my ide"}, header_patterns=patterns).user_id == "second"
    # Configured patterns replace the built-in ones entirely.
    assert route({"user-agent": "claude-cli/2.1.197"}, header_patterns=patterns).is_default


def test_matched_pattern_is_reported_flat():
    info = route({"user-agent": "claude-code/2.1.45"}).as_info()
    assert info["user_id"] == "claude-code"
    assert info["matched_pattern"]["header"] == "user-agent"
    assert "routing" not in info


def test_custom_header_name_and_default_are_configurable():
    assert route({"x-proj": "p1"}, custom_header="X-Proj").user_id == "p1"
    assert route({}, default_user_id="someone").user_id == "someone"

"""The client rules table, held to the real captures it was written from, and extended from config."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers

from conformance import resources
from proxy.call import Api, Call
from proxy.client_rules import CLIENT_RULES, client_context_of, side_requests_of
from proxy.config import ContextRetrieval, HeaderPattern, SideRequestRule, parse_config
from proxy.identification import DEFAULT_HEADER_PATTERNS, ClientIdentifier
from proxy.memory.service import MemoryService
from proxy.scopes import ScopeResolver, project_id

MY_AGENT = HeaderPattern(
    pattern=r"^my-agent/",
    user_id="my-agent",
    client_context=[r"<my-context>.*?</my-context>"],
    side_requests=[SideRequestRule(name="my agent's title", system=r"^Name this chat")],
)


def _capture(name: str, index: int | None = None) -> dict[str, Any]:
    captured: dict[str, Any] = resources.read_json(name)
    return captured["requests"][index] if index is not None else captured


def _reads(headers: dict[str, str], body: dict[str, Any], api: Api) -> tuple[str, str | None, str]:
    """Who a captured request is, the project it names, and the person's prompt in it."""
    config = parse_config({}, source="test")
    identifier = ClientIdentifier(config.user_id_mappings)
    identity = identifier.identify(Headers(headers))
    scope = ScopeResolver(config, identifier.patterns).resolve(identity, Headers(headers), body)
    memory = MemoryService(ContextRetrieval(enabled=False))
    prompt = memory.turns.prompt(Call(api, "m", body).messages)
    assert prompt is not None
    return identity.user_id, scope.project, prompt.text


def test_the_built_in_table_is_the_identifiers_default():
    """Identification uses the table as it ships; every rule's client context is the default context."""
    assert DEFAULT_HEADER_PATTERNS is CLIENT_RULES
    every = [pattern for rule in CLIENT_RULES for pattern in rule.client_context]
    assert client_context_of() == tuple(dict.fromkeys(every))
    assert [rule.name for rule in side_requests_of()] == ["a one-token probe", "Claude Code's session title"]


def test_claude_codes_capture_reads_as_its_rule_says():
    """Claude Code's real requests are claude-code, in the project of its working directory, and the
    prompt is the person's words without the CLI's <system-reminder> blocks; its tool loop's second request
    only hands back a tool's result."""
    first, second = _capture("claude-code-2.1.197-tool-loop.json")["requests"]
    client, project, prompt = _reads(first["headers"], first["body"], Api.MESSAGES)
    assert (client, project) == ("claude-code", project_id("/home/user/project"))
    assert prompt and "system-reminder" not in prompt
    memory = MemoryService(ContextRetrieval(enabled=False))
    assert memory.turns.continues_tool_loop(Call(Api.MESSAGES, "m", second["body"]).messages)


def test_codexs_captures_read_as_its_rule_says():
    """Codex's real requests are codex, in the project of its cwd; the prompt is without AGENTS.md and the
    environment block; the tool loop's second request only hands back the shell's output."""
    first = _capture("codex-0.171.0-exec-request.json", 0)
    client, project, prompt = _reads(first["headers"], first["body"], Api.RESPONSES)
    assert (client, project, prompt) == ("codex", project_id("/home/user/project"), "hello from codex")
    loop = _capture("codex-0.171.0-tool-loop.json", 1)
    memory = MemoryService(ContextRetrieval(enabled=False))
    assert memory.turns.continues_tool_loop(Call(Api.RESPONSES, "m", loop["body"]).messages)


def test_a_configured_rule_adds_its_client_context_and_side_requests_to_the_built_in_ones():
    """A rule in user_id_mappings.header_patterns brings its own client context and side requests; the
    built-in ones still hold (a request under another name carries its client's blocks all the same)."""
    memory = MemoryService(ContextRetrieval(enabled=False), client_rules=[MY_AGENT])
    said = {
        "role": "user",
        "content": "<my-context>cwd=/x</my-context>\nfix it <system-reminder>r</system-reminder>",
    }
    assert memory.turns.text(said) == "fix it"
    title = Call(Api.CHAT, "m", {"messages": [{"role": "system", "content": "Name this chat"}, said]})
    assert memory.side_requests.match(title) == "my agent's title"
    claude_title = Call(
        Api.MESSAGES, "m", {"system": "Generate a concise, sentence-case title", "messages": [said]}
    )
    assert memory.side_requests.match(claude_title) == "Claude Code's session title"


def test_explicit_settings_replace_every_rule():
    """context_retrieval.client_context_patterns and side_requests, when set, replace all the rules'."""
    settings = ContextRetrieval(enabled=False, client_context_patterns=[], side_requests=[])
    memory = MemoryService(settings, client_rules=[MY_AGENT])
    said = {"role": "user", "content": "<my-context>x</my-context> hi"}
    assert memory.turns.text(said) == "<my-context>x</my-context> hi"
    probe = Call(Api.CHAT, "m", {"messages": [said], "max_tokens": 1})
    assert memory.side_requests.match(probe) is None

"""The clients the proxy knows, as one table of data: how each is recognised, where it names its project,
which of its requests are its own housekeeping, and which parts of its prompts are its context rather than
the person's words.

Each row is a :class:`~proxy.config.HeaderPattern`, the shape a user writes in
``user_id_mappings.header_patterns`` to add or override one: identification (:mod:`proxy.identification`)
and scopes (:mod:`proxy.scopes`) read its first two columns for the client a request matched; memory reads
the last two from every rule, built-in and configured, since a client's blocks look like no one else's and
a request sent under another name (``x-memory-user-id``) still carries them. Every row was written from a
real capture (``conformance/resources``, ``fixtures/``) and is tested on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from proxy.config import HeaderPattern, SideRequestRule

__all__ = ["CLIENT_RULES", "GENERAL_SIDE_REQUESTS", "client_context_of", "side_requests_of"]

_CODEX_CWD = r"<environment_context>\s*<cwd>(?P<path>[^<\n]+)</cwd>"
_CODEX_CONTEXT = [
    # Codex (captured from 0.171): the AGENTS.md it read and its environment (cwd, shell, date), each a part
    # of a user message before the prompt.
    r"# AGENTS\.md instructions for [^\n]*\n+<INSTRUCTIONS>.*?(?:</INSTRUCTIONS>|\Z)",
    r"<environment_context>.*?(?:</environment_context>|\Z)",
]

CLIENT_RULES: tuple[HeaderPattern, ...] = (
    # JetBrains AI Assistant talks through the openai-java client.
    HeaderPattern(header="user-agent", pattern=r"^OpenAIClient(Async)?Impl/Java", user_id="pycharm-ai"),
    # "claude-cli/2.1.197 (external, cli)", "claude-code/2.1.45", and the seed's "Claude Code CLI".
    HeaderPattern(
        header="user-agent",
        pattern=r"\bclaude[- ](cli|code)\b",
        user_id="claude-code",
        project=r"Primary working directory: (?P<path>[^\n]+)",
        # Captured from 2.1.197: tool and skill lists, the date, CLAUDE.md, IDE context, each block a text
        # part of its own. A block cut short (a truncated capture) ends with its part.
        client_context=[r"<system-reminder>.*?(?:</system-reminder>|\Z)"],
        # Captured from 2.1.197 (-p mode): the title request of every session.
        side_requests=[
            SideRequestRule(
                name="Claude Code's session title", system=r"Generate a concise, sentence-case title"
            )
        ],
    ),
    # "codex_exec/0.171.0 (Debian 12.0.0; x86_64) ...", "codex_cli_rs/0.171.0 ..." (the interactive one),
    # and "codex-mcp-client/0.171.0", its MCP client (/mcp).
    HeaderPattern(
        header="user-agent",
        pattern=r"^codex(_\w+|-mcp-client)/",
        user_id="codex",
        project=_CODEX_CWD,
        client_context=_CODEX_CONTEXT,
    ),
    # Codex names itself in an "originator" header too ("codex_exec", "codex_cli_rs", "codex_vscode"), which
    # holds where its User-Agent is another's (an editor extension's, a wrapper's).
    HeaderPattern(
        header="originator",
        pattern=r"^codex_",
        user_id="codex",
        project=_CODEX_CWD,
        client_context=_CODEX_CONTEXT,
    ),
    # "Anthropic/Python 0.69.0", "AsyncAnthropic/Python 0.69.0", and the seed's "anthropic-sdk-python/1.0".
    HeaderPattern(
        header="user-agent",
        pattern=r"^(Async)?Anthropic/Python|anthropic-sdk-python",
        user_id="anthropic-python",
    ),
    HeaderPattern(header="user-agent", pattern=r"^(Async)?OpenAI/Python", user_id="openai-python"),
)
"""The built-in rules, in the order they are tried (the README's client table is this table)."""

GENERAL_SIDE_REQUESTS: tuple[SideRequestRule, ...] = (
    # A request that lets the model say at most one token is a probe (of a quota, of reachability).
    SideRequestRule(name="a one-token probe", max_tokens_at_most=1),
)
"""Housekeeping requests whatever the client."""


def _every(rules: Iterable[HeaderPattern]) -> list[HeaderPattern]:
    return [*CLIENT_RULES, *rules]


def client_context_of(rules: Iterable[HeaderPattern] = ()) -> tuple[str, ...]:
    """The client-context patterns of the built-in rules and of ``rules`` (configured ones), once each."""
    return tuple(dict.fromkeys(pattern for rule in _every(rules) for pattern in rule.client_context))


def side_requests_of(rules: Iterable[HeaderPattern] = ()) -> tuple[SideRequestRule, ...]:
    """The general side requests, then those of the built-in rules and of ``rules``, once each."""
    found = [*GENERAL_SIDE_REQUESTS, *(side for rule in _every(rules) for side in rule.side_requests)]
    return tuple(dict.fromkeys(found))

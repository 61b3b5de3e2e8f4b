"""Which memory a request reads and writes: the project its client names (on captured requests of the real
clients), the person's, or a namespace named outright; never a raw path in what leaves the resolver."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from starlette.datastructures import Headers

from conformance import resources
from proxy.config import Config, parse_config
from proxy.errors import InvalidRequest
from proxy.identification import ClientIdentifier
from proxy.interceptor.port_registry import project_id as directory_project_id
from proxy.scopes import PROJECT_HEADER, Scope, ScopeResolver, project_id, request_texts

CLAUDE_CODE = resources.read_json("claude-code-2.1.197-tool-loop.json")["requests"][0]
CODEX = resources.read_json("codex-0.171.0-exec-request.json")["requests"][0]
CAPTURED_PROJECT = "/home/user/project"  # both captures ran there


def config(**sections: Any) -> Config:
    return parse_config({"model_list": [], **sections}, source="test")


def resolve(headers: dict[str, str], body: dict[str, Any] | None, settings: Config | None = None) -> Scope:
    settings = settings or config(user_id_mappings={"person": "Sam"})
    identifier = ClientIdentifier(settings.user_id_mappings)
    identity = identifier.identify(Headers(headers))
    return ScopeResolver(settings, identifier.patterns).resolve(identity, Headers(headers), body)


def moved_to(captured: dict[str, Any], directory: str) -> dict[str, Any]:
    """The captured body as the same client would send it from ``directory``."""
    return json.loads(json.dumps(captured["body"]).replace(CAPTURED_PROJECT, directory))


@pytest.mark.parametrize(
    ("captured", "client"), [(CLAUDE_CODE, "claude-code"), (CODEX, "codex")], ids=["claude-code", "codex"]
)
def test_a_coding_agents_own_request_names_its_project(captured, client):
    scope = resolve(captured["headers"], captured["body"])
    assert scope == Scope(
        namespace=project_id(CAPTURED_PROJECT),
        client=client,
        person="person:sam",
        project=project_id(CAPTURED_PROJECT),
        project_from=f"{client} working directory",
    )
    assert scope.project is not None and scope.project.startswith("project-")
    assert "/" not in json.dumps(scope.as_info())  # a path never leaves the resolver


def test_claude_code_and_codex_in_one_directory_share_a_project_and_two_directories_do_not():
    billing = [resolve(c["headers"], moved_to(c, "/home/sam/billing-api")) for c in (CLAUDE_CODE, CODEX)]
    web = resolve(CLAUDE_CODE["headers"], moved_to(CLAUDE_CODE, "/home/sam/web"))
    other_billing = resolve(CLAUDE_CODE["headers"], moved_to(CLAUDE_CODE, "/srv/checkouts/billing-api"))
    assert billing[0].namespace == billing[1].namespace
    assert billing[0].namespace.startswith("billing-api-")
    assert web.namespace.startswith("web-") and web.namespace != billing[0].namespace
    assert (
        other_billing.namespace.startswith("billing-api-") and other_billing.namespace != billing[0].namespace
    )
    assert {s.person for s in (*billing, web)} == {"person:sam"}


def test_the_interceptor_of_a_directory_names_the_same_project_as_an_agent_working_there(tmp_path):
    directory = tmp_path / "my-app"
    directory.mkdir()
    agent = resolve(CLAUDE_CODE["headers"], moved_to(CLAUDE_CODE, str(directory.resolve())))
    interceptor = resolve(
        {"user-agent": "OpenAIClientImpl/Java", PROJECT_HEADER: directory_project_id(directory)}, {}
    )
    assert agent.namespace == interceptor.namespace == directory_project_id(directory)
    assert interceptor.project_from == PROJECT_HEADER and interceptor.client == "pycharm-ai"


@pytest.mark.parametrize(
    "path", ["/home/sam/billing-api", "/home/sam/billing-api/", "/home/sam/./x/../billing-api"]
)
def test_x_memory_project_takes_a_path_in_any_spelling(path):
    scope = resolve({"user-agent": "curl/8.5.0", PROJECT_HEADER: path}, None)
    assert scope.project == project_id("/home/sam/billing-api")
    assert (scope.client, scope.person) == ("default-dev", "person:sam")


@pytest.mark.parametrize("bad", ["has space", "a/b", "x" * 129, "ünïcode", ""])
def test_a_bad_x_memory_project_is_a_400_naming_the_header(bad):
    with pytest.raises(InvalidRequest) as caught:
        resolve({PROJECT_HEADER: bad}, None)
    assert caught.value.param == PROJECT_HEADER


def test_a_namespace_named_outright_is_used_as_it_is():
    scope = resolve({**CLAUDE_CODE["headers"], "x-memory-user-id": "scratch"}, CLAUDE_CODE["body"])
    assert scope == Scope(namespace="scratch", client="scratch")


def test_a_client_without_a_project_keeps_its_own_namespace():
    """An SDK's request that happens to quote Claude Code's prompt is still the SDK's: only a client's own
    rule says where its project is."""
    scope = resolve({"user-agent": "Anthropic/Python 0.69.0"}, CLAUDE_CODE["body"])
    assert scope == Scope(namespace="anthropic-python", client="anthropic-python")
    plain = copy.deepcopy(CLAUDE_CODE["body"])
    plain["system"] = [block for block in plain["system"] if "Primary working directory" not in block["text"]]
    assert resolve(CLAUDE_CODE["headers"], plain).namespace == "claude-code"


def test_project_scopes_off_makes_a_project_one_namespace_with_no_person():
    settings = config(context_retrieval={"project_scopes": False})
    scope = resolve(CLAUDE_CODE["headers"], CLAUDE_CODE["body"], settings)
    assert (scope.namespace, scope.person) == (project_id(CAPTURED_PROJECT), None)


def test_a_rule_of_the_users_own_finds_a_project_where_its_client_says_it():
    settings = config(
        user_id_mappings={
            "person": "kim",
            "header_patterns": [
                {
                    "pattern": "^gemini-cli/",
                    "user_id": "gemini",
                    "project": r"working directory is (?P<path>\S+)",
                }
            ],
        }
    )
    body = {"messages": [{"role": "user", "content": "My working directory is /work/site\nHi"}]}
    scope = resolve({"user-agent": "gemini-cli/0.9"}, body, settings)
    assert (scope.client, scope.project, scope.person) == ("gemini", project_id("/work/site"), "person:kim")


def test_a_rule_must_say_where_the_path_is():
    with pytest.raises(ValueError, match="path"):
        config(
            user_id_mappings={"header_patterns": [{"pattern": "x", "user_id": "x", "project": "cwd=(.*)"}]}
        )


def test_project_ids_are_readable_bounded_and_stable():
    assert project_id("/home/sam/My App!") == project_id("/home/sam//My App!/")
    assert project_id("/home/sam/My App!").startswith("my-app-")
    assert len(project_id("/" + "x" * 500)) == 128
    assert project_id("/").startswith("project-")


def test_only_the_leading_text_of_a_huge_request_is_searched():
    body = {"system": "x" * 300_000 + "\nPrimary working directory: /late", "messages": []}
    assert "/late" not in request_texts(body)
    assert "/early" in request_texts(
        {"instructions": "cwd /early", "input": [{"role": "user", "content": "hi"}]}
    )


@pytest.mark.parametrize("bad", ["~/code/api", "person:root", "..", "."])
def test_a_project_header_that_would_name_the_wrong_memory_is_a_400(bad):
    """'~' is the client's to expand (the proxy may be elsewhere); a person's namespace or dots are no
    project."""
    with pytest.raises(InvalidRequest) as caught:
        resolve({PROJECT_HEADER: bad}, None)
    assert caught.value.param == PROJECT_HEADER


def test_a_windows_path_is_one_project_whatever_its_case_and_slashes():
    assert (
        project_id(r"C:\Users\Sam\api") == project_id("c:/users/sam/api") == project_id("C:/Users/Sam/api/")
    )
    assert project_id(r"C:\Users\Sam\api").startswith("api-")

"""Config loading: our sections strict, LiteLLM's untouched, errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import (
    CONFIG_ENV_VAR,
    ConfigError,
    ContextRetrieval,
    load_config,
    parse_config,
    resolve_env,
)
from proxy.memory.recall.meaning import DEFAULT_MIN_SIMILARITY


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_full_design_example_loads_and_resolves_our_env_values(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMEMORY_API_KEY", "sm-secret")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-master-0123456789")
    config = load_config(
        write(
            tmp_path,
            """
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
litellm_settings: {drop_params: true}
general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}
user_id_mappings:
  custom_header: x-memory-user-id
  header_patterns:
    - {header: User-Agent, pattern: '^OpenAIClient(Async)?Impl/Java', user_id: pycharm-ai}
  default_user_id: default-dev
context_retrieval: {provider: supermemory, api_key: os.environ/SUPERMEMORY_API_KEY, timeout: 1.5}
memory_proxy: {backend: binary, port: 9000, auth_key: null, max_body_mb: 8}
cache: true
""",
        )
    )
    assert config.context_retrieval.api_key == "sm-secret"
    assert config.master_key == "sk-master-0123456789"
    # LiteLLM resolves its own sections: they stay exactly as written.
    assert config.model_list[0]["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert config.model_extra == {"cache": True}
    assert config.user_id_mappings.header_patterns[0].header == "user-agent"
    assert config.memory_proxy.max_body_bytes == 8 * 1024 * 1024
    assert config.model_names == ["gpt"]


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("memory_proxy: {prot: 1}", "memory_proxy.prot", "Extra inputs are not permitted"),
        (
            "context_retrieval: {query_strategy: newest}",
            "context_retrieval.query_strategy",
            "Input should be",
        ),
        (
            "user_id_mappings: {header_patterns: [{pattern: '(', user_id: x}]}",
            "user_id_mappings.header_patterns.0.pattern",
            "invalid regular expression",
        ),
        (
            "user_id_mappings: {default_user_id: 'has space'}",
            "user_id_mappings.default_user_id",
            "String should match pattern",
        ),
        (
            "context_retrieval: {enabled_for_models: [a], disabled_for_models: [b]}",
            "context_retrieval",
            "not both",
        ),
        ("model_list: [{model_name: x}]", "model_list", "litellm_params"),
        (
            "context_retrieval: {provider: postgres}",
            "context_retrieval.dsn",
            "required with provider postgres",
        ),
        (
            "context_retrieval: {provider: postgres, dsn: os.environ/UNSET_MEMORY_DSN}",
            "context_retrieval.dsn",
            "environment variable UNSET_MEMORY_DSN is not set",
        ),
    ],
)
def test_bad_values_fail_with_key_path_and_reason(tmp_path, text, path, reason):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert f"  {path}:" in message
    assert reason in message
    assert str(tmp_path) in message


def test_not_yaml_and_not_a_mapping_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model_list: [\n"))
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_lookup_order_env_var_then_cwd_then_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config().source == "<built-in demo>"
    assert "demo" in load_config().model_names
    write(tmp_path, "memory_proxy: {port: 1111}")
    assert load_config().memory_proxy.port == 1111
    other = tmp_path / "other.yaml"
    other.write_text("memory_proxy: {port: 2222}")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(other))
    assert load_config().memory_proxy.port == 2222


def test_unset_env_reference_becomes_none(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    assert resolve_env({"a": ["os.environ/NOT_SET_ANYWHERE", "plain"]}) == {"a": [None, "plain"]}
    config = parse_config({"context_retrieval": {"api_key": "os.environ/NOT_SET_ANYWHERE"}}, source="t")
    assert config.context_retrieval.api_key is None


def test_unset_proxy_key_variable_refuses_to_start_open(monkeypatch):
    """A proxy key from an unset variable would silently leave the proxy open: that is a config error."""
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match=r"memory_proxy\.auth_key: environment variable NOT_SET_ANYWHERE"):
        parse_config({"memory_proxy": {"auth_key": "os.environ/NOT_SET_ANYWHERE"}}, source="t")
    with pytest.raises(ConfigError, match=r"memory_proxy\.auth_key"):
        parse_config({"memory_proxy": {"auth_key": ""}}, source="t")


def test_secrets_lists_every_resolved_credential(monkeypatch):
    monkeypatch.setenv("PROVIDER_KEY", "sk-from-env-123456")
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {"model": "openai/x", "api_key": "os.environ/PROVIDER_KEY"},
                },
                {
                    "model_name": "b",
                    "litellm_params": {"model": "bedrock/x", "aws_secret_access_key": "aws-secret"},
                },
            ],
            "general_settings": {"master_key": "sk-master-123456"},
            "memory_proxy": {"auth_key": "proxy-key-123456"},
        },
        source="t",
    )
    assert set(config.secrets) == {"sk-from-env-123456", "aws-secret", "sk-master-123456", "proxy-key-123456"}


@pytest.mark.parametrize(
    ("dsn", "secrets"),
    [
        ("postgresql://memory:pa%40ss-word@db.internal:5432/memory", {"pa%40ss-word", "pa@ss-word"}),
        ("postgres://memory@db/memory?sslmode=require&password=query-pass", {"query-pass"}),
        ("host=db user=memory password='it\\'s secret' dbname=memory", {"'it\\'s secret'", "it's secret"}),
        ("host=db user=memory password=plainpass", {"plainpass"}),
        ("postgresql://memory@db/memory", set()),
    ],
    ids=["uri", "uri-query", "keywords-quoted", "keywords", "no-password"],
)
def test_the_databases_password_is_a_secret_and_kept_out_of_reprs(monkeypatch, dsn, secrets):
    monkeypatch.setenv("MEMORY_DSN", dsn)
    config = parse_config(
        {"context_retrieval": {"provider": "postgres", "dsn": "os.environ/MEMORY_DSN"}}, source="t"
    )
    assert config.context_retrieval.dsn == dsn
    assert set(config.secrets) == secrets
    assert all(secret not in repr(config) for secret in secrets)


def test_empty_file_is_all_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.model_list == []
    assert config.memory_proxy.host == "127.0.0.1"
    assert config.user_id_mappings.header_patterns is None


def test_no_key_of_our_sections_shows_in_a_repr():
    config = parse_config(
        {
            "context_retrieval": {"api_key": "sm-secret-key-123", "dsn": "postgresql://u:pw-secret-456@h/d"},
            "memory_proxy": {"auth_key": "proxy-secret-789"},
        },
        source="t",
    )
    shown = repr(config.context_retrieval) + repr(config.memory_proxy)
    for secret in ("sm-secret-key-123", "pw-secret-456", "proxy-secret-789"):
        assert secret not in shown


def test_the_configured_min_similarity_defaults_to_what_the_stores_default_to():
    """One threshold, tuned on the memory benchmark: a store built without the config recalls alike."""
    assert ContextRetrieval().min_similarity == DEFAULT_MIN_SIMILARITY

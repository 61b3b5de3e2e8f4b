"""The one YAML config file, shared with the LiteLLM proxy.

LiteLLM's sections (``model_list``, ``litellm_settings``, ``router_settings``, ``general_settings`` and
any other top-level key) pass through untouched; LiteLLM resolves their ``os.environ/NAME`` values itself.
Our sections (``user_id_mappings``, ``context_retrieval``, ``memory_proxy``) are validated strictly: an
unknown key, a bad regex or a bad value fails at load with the key's path and the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from proxy.memory.stores.postgres.dsn import dsn_passwords
from proxy.people import PERSON_NAME_PATTERN, RESERVED_NAME

__all__ = [
    "CONFIG_ENV_VAR",
    "DEMO_SOURCE",
    "USER_ID_PATTERN",
    "Config",
    "ConfigError",
    "ContextRetrieval",
    "HeaderPattern",
    "MemoryProxySettings",
    "PersonKey",
    "SideRequestRule",
    "UserIdMappings",
    "demo_config",
    "load_config",
    "parse_config",
    "resolve_env",
]

CONFIG_ENV_VAR = "MEMORY_PROXY_CONFIG"
DEMO_SOURCE = "<built-in demo>"
"""The ``source`` of the built-in demo config (no file)."""
ENV_PREFIX = "os.environ/"
USER_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
"""What may name a memory namespace (it ends up in storage keys and URLs)."""


class ConfigError(ValueError):
    """The config file cannot be used; the message names each offending key path and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SideRequestRule(_Section):
    """A client's own housekeeping request (a session title, a quota probe): memory neither recalls for it
    nor stores it. Every condition given must hold; a rule with none matches nothing."""

    name: str
    system: str | None = None
    """A regular expression searched (case-insensitive) in the request's system prompt."""
    max_tokens_at_most: int | None = Field(default=None, ge=0)
    """The request allows at most this many output tokens."""

    @field_validator("system")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class HeaderPattern(_Section):
    """A routing rule: if ``header`` matches ``pattern`` (case-insensitive ``re.search``), use ``user_id``."""

    header: str = "user-agent"
    pattern: str
    user_id: str = Field(pattern=USER_ID_PATTERN)
    project: str | None = None
    """Where this client names its project: a regular expression with a ``path`` group, searched in the
    request's system prompt and first user message (:mod:`proxy.scopes`)."""
    client_context: list[str] = Field(default_factory=list)
    """Text this client puts into the person's turn that is not the person's (regular expressions, each
    matched within one text part): kept out of what is stored and of the recall query."""
    side_requests: list[SideRequestRule] = Field(default_factory=list)
    """This client's own housekeeping requests (a session title), which neither recall nor store."""
    _regex: re.Pattern[str] = PrivateAttr()

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @field_validator("client_context")
    @classmethod
    def _context_compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value

    @field_validator("header")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()

    @field_validator("project")
    @classmethod
    def _has_a_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        if "path" not in compiled.groupindex:
            raise ValueError(f"{value!r} has no (?P<path>...) group: it must say where the project's path is")
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._regex = re.compile(self.pattern, re.IGNORECASE)

    @property
    def regex(self) -> re.Pattern[str]:
        return self._regex


class UserIdMappings(_Section):
    custom_header: str = "x-memory-user-id"
    # None means "use the built-in patterns for the known clients"; [] means "no patterns at all".
    header_patterns: list[HeaderPattern] | None = None
    default_user_id: str = Field(default="default-dev", pattern=USER_ID_PATTERN)
    person: str | None = None
    """Who the person behind this machine's clients is (their person-wide memories are ``person:<name>``);
    default: this machine's user name."""


class ContextRetrieval(_Section):
    enabled: bool = True
    provider: Literal["local", "supermemory", "postgres"] = "local"
    api_key: str | None = Field(default=None, repr=False)
    base_url: str = "https://api.supermemory.ai"
    query_strategy: Literal["last_user", "first_user", "all_user", "last_assistant"] = "last_user"
    injection_strategy: Literal["system", "user_prefix", "user_suffix"] = "system"
    max_results: int = Field(default=5, ge=1, le=100)
    max_context_length: int = Field(default=4000, ge=1)
    timeout: float = Field(default=2.0, gt=0)
    enabled_for_models: list[str] = Field(default_factory=list)
    disabled_for_models: list[str] = Field(default_factory=list)
    store_conversations: bool = True
    # A request in a project (a coding agent's working directory, x-memory-project) reads and writes its
    # project's memory and its person's (proxy/scopes.py); false: a project is one namespace, as before.
    project_scopes: bool = True
    # Retention, per namespace (a project, a person, a client), off by default: the oldest go first.
    max_memories: int | None = Field(default=None, ge=1)
    max_age_days: float | None = Field(default=None, gt=0)
    # The local store's SQLite file (default: $XDG_DATA_HOME/litellm-memory-proxy/memory.sqlite3).
    local_store_path: str | None = None
    # The PostgreSQL store's database (a libpq URI or key=value string); kept out of reprs: its password.
    dsn: str | None = Field(default=None, repr=False, validate_default=True)
    # Blocks a client puts into the user's turn that are not the person's words (None: those of every
    # client rule, built-in and configured, proxy/client_rules.py; a list replaces them all).
    client_context_patterns: list[str] | None = None
    # Housekeeping requests, which neither recall nor store (None: a one-token probe, and those of every
    # client rule; a list replaces them all).
    side_requests: list[SideRequestRule] | None = None
    # Recall by meaning too, where the embedding model is installed (the local store).
    semantic: bool = True
    # What computes the embeddings: onnx (int8 in onnxruntime, ~1 ms a question), numpy (the float32
    # reference, ~6 ms), or auto: onnx where onnxruntime is installed, numpy otherwise.
    embedding_runtime: Literal["auto", "onnx", "numpy"] = "auto"
    # How close in meaning (cosine similarity) a memory must be to be recalled by meaning alone.
    min_similarity: float = Field(default=0.32, ge=-1, le=1)
    # At most this many characters of an exchange are stored (half for the prompt, half for the answer).
    max_memory_chars: int = Field(default=4000, ge=100)
    # Each exchange is journaled on local disk before its answer ends, until the store has it
    # (proxy/memory/journal.py): nothing answered is lost to a crash or an outage of the store.
    journal: bool = True
    # The journal's folder (default: beside the local store's file; for the other stores, one per store
    # under $XDG_DATA_HOME/litellm-memory-proxy/journal).
    journal_dir: str | None = None
    # Past this size the journal refuses new exchanges (counted and logged; kept in memory only).
    journal_max_mb: float = Field(default=64, gt=0)

    @field_validator("client_context_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value

    @field_validator("dsn")
    @classmethod
    def _postgres_has_a_database(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("provider") == "postgres" and not value:
            raise ValueError("required with provider postgres (e.g. postgresql://user@host/db)")
        return value

    @model_validator(mode="after")
    def _one_model_filter(self) -> ContextRetrieval:
        if self.enabled_for_models and self.disabled_for_models:
            raise ValueError("set enabled_for_models or disabled_for_models, not both")
        return self


class PersonKey(_Section):
    """One person's key on a proxy a team shares (``memory_proxy.keys``)."""

    key: str = Field(min_length=16, repr=False)
    person: str = Field(pattern=PERSON_NAME_PATTERN)
    """Whose memory the key's requests read and write: lower-case letters, digits, ``.``, ``_`` or ``-``
    (``person`` itself is taken)."""
    admin: bool = False
    """Sees and changes every person's memories in the console."""

    @field_validator("person")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == RESERVED_NAME:
            raise ValueError(f"{RESERVED_NAME!r} is no one's name: person:<name> is a person's own memory")
        return value


class MemoryProxySettings(_Section):
    backend: Literal["sdk", "binary"] = "sdk"
    host: str = "127.0.0.1"
    port: int = Field(default=8764, ge=0, le=65535)
    litellm_base_url: str = "http://127.0.0.1:4000"
    auth_key: str | None = Field(default=None, min_length=8, repr=False)
    keys: list[PersonKey] = Field(default_factory=list)
    """A key per person instead of ``auth_key``: each person's clients keep a memory of their own
    (:mod:`proxy.people`)."""
    max_body_mb: float = Field(default=32, gt=0)
    workers: int = Field(default=1, ge=1, le=64)
    """Server processes on the one port (``start-proxies``); they share the store and the LiteLLM proxy."""
    client_timeout: float = Field(default=30, gt=0)
    """Seconds a client has to send a request's headers, and again its body: a slow or stalled client is
    answered 408 (or, still in its headers, disconnected) instead of holding a connection for ever."""
    console: bool = True
    """The memory console at ``/ui`` (behind ``auth_key`` when one is set)."""
    request_log: bool = True
    """A line per request on the terminal (INFO, uvicorn's access-log style): client, project, model,
    status, what memory did and how long it took; never content or keys (:mod:`proxy.request_log`)."""
    mcp: bool = True
    """The MCP endpoint at ``/mcp``: the memory as tools an agent calls (behind ``auth_key`` when set)."""
    memory_tool: Literal["off", "serve"] = "off"
    """``serve``: Anthropic's memory tool added to Anthropic Messages requests to Anthropic models and run
    by the proxy on the project's ``/memories`` (:mod:`proxy.memory_tool`)."""
    memory_tool_steps: int = Field(default=8, ge=1, le=50)
    """Memory tool rounds one request may take before its answer is returned as it is."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Names besides this machine's own by which clients may address the proxy without a key (its ``Host``
    header): a reverse proxy's or a LAN name; ``.example.com`` for a domain and its subdomains, ``*`` for any
    (:mod:`proxy.browser_guard`)."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Web origins (``https://app.example.com``) whose pages may use the proxy from a browser (``*``: any)."""
    forwarded_allow_ips: list[str] = Field(default_factory=list)
    """Addresses (or networks) of reverse proxies in front of this one whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed: the console's sign-in limit then counts the forwarded client, and
    its cookie is ``Secure`` behind TLS. Empty: nobody's (``start-proxies`` passes this to uvicorn)."""
    browser_guard: bool = True
    """The browser boundary (:mod:`proxy.browser_guard`): turn it off only behind a gateway that enforces
    the same rules, since without it any web page the user visits can use the proxy and plant memories."""
    client_credentials: list[str] = Field(default_factory=list)
    """Model names (of ``model_list``) called with the caller's own provider credential, its
    ``Authorization: Bearer`` or ``x-api-key`` (a Claude subscription's token, an SDK's key), instead of
    the config's; the proxy's own key then travels in ``x-memory-proxy-key``."""
    connection_pool: Literal["linear", "httpx"] = "linear"
    """The provider session's connection pool: ``linear`` (this project's, twice httpx's throughput at
    concurrency 32) where the installed httpcore is one it was built for, else httpx's own."""

    @model_validator(mode="after")
    def _one_kind_of_key(self) -> MemoryProxySettings:
        if self.keys and self.auth_key is not None:
            raise ValueError(
                "set auth_key or keys, not both: with keys, give the admin a key of their own there "
                "(admin: true)"
            )
        for field, values in (("key", [k.key for k in self.keys]), ("person", [k.person for k in self.keys])):
            repeated = {value for value in values if values.count(value) > 1}
            if repeated:
                shown = "a key is given twice" if field == "key" else f"{', '.join(sorted(repeated))}"
                raise ValueError(f"keys: each {field} once ({shown})")
        return self

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


class Config(BaseModel):
    """The whole file. Unknown top-level keys belong to LiteLLM and are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model_list: list[dict[str, Any]] = Field(default_factory=list)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)
    router_settings: dict[str, Any] = Field(default_factory=dict)
    general_settings: dict[str, Any] = Field(default_factory=dict)
    user_id_mappings: UserIdMappings = Field(default_factory=UserIdMappings)
    context_retrieval: ContextRetrieval = Field(default_factory=ContextRetrieval)
    memory_proxy: MemoryProxySettings = Field(default_factory=MemoryProxySettings)
    source: str = Field(default=DEMO_SOURCE, exclude=True)

    @field_validator("model_list")
    @classmethod
    def _model_entries(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, entry in enumerate(value):
            if not isinstance(entry.get("model_name"), str) or not isinstance(
                entry.get("litellm_params"), dict
            ):
                raise ValueError(f"entry {index} needs a model_name and a litellm_params mapping")
            if not isinstance(entry["litellm_params"].get("model"), str):
                raise ValueError(f"entry {index} ({entry['model_name']}) needs litellm_params.model")
        return value

    @model_validator(mode="after")
    def _client_credentials_name_models(self) -> Config:
        unknown = [name for name in self.memory_proxy.client_credentials if name not in self.model_names]
        if unknown and self.model_list:
            raise ValueError(
                f"memory_proxy.client_credentials names {', '.join(unknown)}, not a model_name of model_list"
            )
        return self

    @property
    def forwards_client_credentials(self) -> bool:
        """Whether a LiteLLM proxy on this config passes a client's ``x-api-key`` on as the provider's key
        (its ``forward_llm_provider_auth_headers``), as the binary backend needs for
        ``memory_proxy.client_credentials``."""
        return any(
            bool(section.get("forward_llm_provider_auth_headers"))
            for section in (self.general_settings, self.litellm_settings)
        )

    def litellm_view(self) -> dict[str, Any]:
        """The config as a LiteLLM proxy reads it (for the demo, which has no file of its own)."""
        return self.model_dump(mode="json", exclude={"user_id_mappings", "context_retrieval", "memory_proxy"})

    @property
    def master_key(self) -> str | None:
        """The LiteLLM proxy's master key (``general_settings.master_key``), resolved from the environment."""
        value = resolve_env(self.general_settings.get("master_key"))
        return value if isinstance(value, str) and value else None

    @property
    def secrets(self) -> list[str]:
        """Every credential the config holds (resolved), so that errors and logs can mask them."""
        found = [self.master_key, self.memory_proxy.auth_key, self.context_retrieval.api_key]
        found += [entry.key for entry in self.memory_proxy.keys]
        found += dsn_passwords(self.context_retrieval.dsn or "")
        for entry in self.model_list:
            params = resolve_env(entry["litellm_params"])
            found += [
                value for key, value in params.items() if "key" in key or "secret" in key or "token" in key
            ]
        return [value for value in found if isinstance(value, str) and value]

    @property
    def model_names(self) -> list[str]:
        return list(dict.fromkeys(entry["model_name"] for entry in self.model_list))


def resolve_env(value: Any) -> Any:
    """Replace every ``os.environ/NAME`` string inside ``value`` by that variable (None when unset)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        return os.environ.get(value.removeprefix(ENV_PREFIX)) or None
    if isinstance(value, dict):
        return {key: resolve_env(item) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_env(item) for item in value]
    return value


_OUR_SECTIONS = ("user_id_mappings", "context_retrieval", "memory_proxy")


def parse_config(raw: Any, *, source: str) -> Config:
    """Validate an already-parsed YAML document; raise :class:`ConfigError` with key paths."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the config must be a mapping at the top level, not {type(raw).__name__}"
        )
    data = dict(raw)
    # Silently running without the proxy key the user asked for would expose the proxy; a database
    # named by an unset variable is better named in the error than reported as missing.
    memory = data.get("context_retrieval") if isinstance(data.get("context_retrieval"), dict) else {}
    required = [("memory_proxy", "auth_key")]
    if memory.get("provider") == "postgres":
        required.append(("context_retrieval", "dsn"))
    proxy_section = data.get("memory_proxy") if isinstance(data.get("memory_proxy"), dict) else {}
    person_keys = proxy_section.get("keys") if isinstance(proxy_section.get("keys"), list) else []
    for index, entry in enumerate(person_keys):
        unset = _unset_variable(entry, "key")
        if unset:  # said now, rather than a person locked out without a word
            raise ConfigError(
                f"{source}: invalid config\n  memory_proxy.keys.{index}.key: environment variable {unset} "
                "is not set"
            )
    for section, key in required:
        unset = _unset_variable(data.get(section), key)
        if unset:
            raise ConfigError(
                f"{source}: invalid config\n  {section}.{key}: environment variable {unset} is not set"
            )
    for section in _OUR_SECTIONS:
        if data.get(section) is not None:
            data[section] = resolve_env(data[section])
        else:
            data.pop(section, None)
    try:
        return Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems = [f"  {'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(problems)) from None


def _unset_variable(section: Any, key: str) -> str | None:
    """The variable ``section[key]`` names as ``os.environ/NAME``, when it is not set."""
    value = section.get(key) if isinstance(section, dict) else None
    if isinstance(value, str) and value.startswith(ENV_PREFIX) and not resolve_env(value):
        return value.removeprefix(ENV_PREFIX)
    return None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load ``path``, else ``$MEMORY_PROXY_CONFIG``, else ``./config.yaml``, else the built-in demo."""
    chosen = path or os.environ.get(CONFIG_ENV_VAR)
    if not chosen and Path("config.yaml").is_file():
        chosen = "config.yaml"
    if not chosen:
        return demo_config()
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    return parse_config(raw, source=str(file))


def demo_config() -> Config:
    """A config that needs no key and no network: the echoing demo model (any name) and a local store of
    its own."""
    from proxy.demo import DEMO_MODEL_LIST, DEMO_SETTINGS, DEMO_STORE_NAME
    from proxy.paths import data_home

    return parse_config(
        {
            "model_list": DEMO_MODEL_LIST,
            "litellm_settings": DEMO_SETTINGS,
            "context_retrieval": {"local_store_path": str(data_home() / DEMO_STORE_NAME)},
        },
        source=DEMO_SOURCE,
    )

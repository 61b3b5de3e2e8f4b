"""Every place the sdk backend meets LiteLLM, through the seams LiteLLM offers its users.

LiteLLM releases several times a week and rewrites its internals (1.110 replaced the Router's Python
core), so nothing here reaches into a private name. What it relies on, each held by a test in
tests/unit/test_litellm_adapter.py that fails when a supported release stops honouring it:

- ``litellm.Router(model_list, **settings)`` with ``acompletion`` and ``aanthropic_messages``: the Router
  gives aliases, wildcards, retries and timeouts the meaning they have in the LiteLLM proxy;
- ``litellm.aclient_session``: the ``httpx.AsyncClient`` LiteLLM wraps in the OpenAI SDK clients it builds
  (OpenAI, Azure, and the OpenAI-compatible providers), for chat completions;
- a call's ``client=``: the ``AsyncHTTPHandler`` LiteLLM's other providers (Anthropic's native API, custom
  providers) send a chat completion through;
- a deployment's ``litellm_params.client``: the same handler for Anthropic Messages calls, which the Router
  does not pass a call's ``client`` on to (every ``litellm_params`` entry reaches the call);
- ``litellm.in_memory_llm_clients_cache.flush_cache()``: LiteLLM caches the SDK clients it builds by key
  and base URL, not by HTTP client, so a client wrapping a closed session must not outlive it.

Where no seam reaches, the call keeps LiteLLM's own HTTP client (so no shared cookie jar): OpenAI-format
models called through ``/v1/messages`` (LiteLLM translates those on a path that takes no client), and a
model group that mixes OpenAI-SDK and other providers (one ``client=`` cannot suit both).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from proxy.config import Config, resolve_env
from proxy.errors import InternalError, RouteNotFound, for_status

__all__ = [
    "SUPPORTED_LITELLM",
    "SessionSeams",
    "count_tokens",
    "import_litellm",
    "missing_modules_explained",
    "register_custom_providers",
    "router_kwargs",
    "serialize",
    "serialize_object",
    "uses_openai_sdk",
    "warm_tokenizer",
]

logger = logging.getLogger("proxy.backends.litellm")

SUPPORTED_LITELLM = SpecifierSet(">=1.108.7,<2")
"""The LiteLLM releases the sdk backend is tested against (the lowest and the highest in CI)."""

_OPENAI_SDK_PROVIDERS = frozenset({"openai", "custom_openai", "azure", "azure_text"})


def import_litellm() -> Any:
    """LiteLLM, imported once (~5 s), without its network lookup of the model cost map."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    version = _installed_version()
    if version is not None and version not in SUPPORTED_LITELLM:
        logger.warning(
            "LiteLLM %s is outside the releases this proxy is tested with (%s); the sdk backend may "
            "misbehave. The binary backend does not depend on it.",
            version,
            SUPPORTED_LITELLM,
        )
    return litellm


def _installed_version() -> Version | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return Version(version("litellm"))
    except PackageNotFoundError:
        return None


def router_kwargs(router_cls: type, config: Config) -> dict[str, Any]:
    """The ``litellm.Router`` settings the config asks for, as the LiteLLM proxy derives them."""
    settings = config.litellm_settings
    accepted = set(inspect.signature(router_cls.__init__).parameters)
    kwargs: dict[str, Any] = {}
    for key, value in config.router_settings.items():
        if key in accepted:
            kwargs[key] = value
        else:
            logger.warning(
                "router_settings.%s is not a litellm.Router setting; ignored by the sdk backend", key
            )
    if "num_retries" in settings:
        kwargs.setdefault("num_retries", settings["num_retries"])
    if "request_timeout" in settings:
        kwargs.setdefault("timeout", settings["request_timeout"])
    # With one deployment per model group, a cooldown only turns the real error into "no deployments
    # available" 429s; honour cooldowns only when router_settings asks for them.
    asks_for_cooldowns = any(
        key in kwargs for key in ("allowed_fails", "cooldown_time", "allowed_fails_policy")
    )
    kwargs.setdefault("disable_cooldowns", not asks_for_cooldowns)
    return kwargs


def register_custom_providers(litellm: Any, entries: list[dict[str, Any]]) -> None:
    """Apply ``litellm_settings.custom_provider_map`` as the LiteLLM proxy does (``module.attr`` handlers)."""
    resolved = []
    for entry in entries:
        handler = entry["custom_handler"]
        if isinstance(handler, str):
            module, _, attr = handler.rpartition(".")
            handler = getattr(importlib.import_module(module), attr)
        resolved.append({"provider": entry["provider"], "custom_handler": handler})
    known = {item["provider"] for item in litellm.custom_provider_map}
    litellm.custom_provider_map.extend(item for item in resolved if item["provider"] not in known)
    litellm.utils.custom_llm_setup()


_KEPT_NULLS = {"message": ("content", "role", "refusal"), "delta": ("content",)}
"""Fields OpenAI sends as null, which a client may index (``message.content`` on a tool call)."""


def serialize_object(value: Any) -> dict[str, Any]:
    """A LiteLLM Responses API object (a response, or a stream event) or embeddings answer as JSON,
    without the nulls and unset fields LiteLLM adds. LiteLLM keeps the usage of a response bridged from
    chat completions as a plain dict where its model expects a typed one; pydantic's warning about that
    says nothing a user can act on, so it is not raised."""
    if isinstance(value, dict):
        return value
    dumped: dict[str, Any] = value.model_dump(mode="json", exclude_none=True, warnings=False)
    return dumped


async def count_tokens(litellm: Any, params: dict[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic's ``count_tokens`` answer for a Messages body, from ``litellm.acount_tokens`` with the
    deployment's ``litellm_params``: the provider's own count where it has a counting API (Anthropic), else
    LiteLLM's local tokenizer's."""
    counter = getattr(litellm, "acount_tokens", None)
    if counter is None:
        raise RouteNotFound("Token counting needs a newer LiteLLM (litellm.acount_tokens).")
    params = resolve_env(params)
    system = payload.get("system")
    if isinstance(system, list):
        system = "\n".join(
            b.get("text", "") for b in system if isinstance(b, dict) and b.get("type") == "text"
        )
    result = await counter(
        model=params["model"],
        messages=list(payload["messages"]),
        tools=payload.get("tools"),
        system=system if isinstance(system, str) and system else None,
        api_key=params.get("api_key"),
        api_base=params.get("api_base"),
    )
    if getattr(result, "error", False):
        status = getattr(result, "status_code", None) or 502
        raise for_status(int(status), str(getattr(result, "error_message", None) or "token counting failed"))
    return {"input_tokens": int(result.total_tokens)}


def serialize(response: Any) -> dict[str, Any]:
    """A LiteLLM ``ModelResponse`` (or chunk) as the LiteLLM proxy sends it, so both backends answer alike.

    LiteLLM's unset and empty extras are dropped; the nulls OpenAI always sends are kept (and
    ``system_fingerprint`` and ``logprobs`` when set). The LiteLLM proxy's own function for this lives in
    ``litellm.proxy``, which needs LiteLLM's proxy extras; tests/unit/test_litellm_adapter.py holds this one
    to it.
    """
    result: dict[str, Any] = response.model_dump(exclude_none=True, exclude_unset=True)
    if "system_fingerprint" in response.model_fields_set and "system_fingerprint" not in result:
        result["system_fingerprint"] = response.system_fingerprint
    for choice, dumped in zip(getattr(response, "choices", ()), result.get("choices") or (), strict=False):
        for part, names in _KEPT_NULLS.items():
            source, target = getattr(choice, part, None), dumped.get(part)
            if source is None or target is None:
                continue
            for name in names:
                if name not in target and hasattr(source, name):
                    target[name] = getattr(source, name)
        if "logprobs" not in dumped and hasattr(choice, "logprobs"):
            dumped["logprobs"] = choice.logprobs
    return result


@contextlib.contextmanager
def missing_modules_explained() -> Iterator[None]:
    """A module LiteLLM imports for a call but did not install becomes an error that says what to install.

    LiteLLM 1.110's Anthropic Messages path imports parts of its proxy package (``orjson``, ``soundfile``),
    which only ``litellm[proxy]`` installs.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        raise InternalError(
            f"LiteLLM {_installed_version()} needs the Python package {exc.name!r} for this call but did not "
            "install it: pip install 'litellm[proxy]' (or 'litellm-memory-proxy[binary]')"
        ) from exc


def warm_tokenizer(litellm: Any) -> None:
    """Count one token, so LiteLLM loads its tokenizer now rather than during the first streamed answer.

    LiteLLM counts a stream's tokens when the provider sends no usage; the first count loads tiktoken's
    encoding (about 0.4 s on the 2-core machine), which would delay that answer's first byte.
    """
    try:
        litellm.token_counter(model="gpt-4o-mini", text="warm up")
    except Exception:  # a missing tokenizer only costs the first stream its load time, as before
        logger.debug("could not preload LiteLLM's tokenizer", exc_info=True)


def uses_openai_sdk(litellm: Any, params: dict[str, Any]) -> bool | None:
    """Whether LiteLLM calls this deployment through the OpenAI SDK (None: its provider is unknown, and
    the call itself will fail with LiteLLM's own message)."""
    try:
        _, provider, _, _ = litellm.get_llm_provider(
            model=params["model"],
            custom_llm_provider=params.get("custom_llm_provider"),
            api_base=params.get("api_base"),
            api_key=params.get("api_key"),
        )
    except Exception as exc:
        logger.warning("cannot tell the provider of %s: %s", params.get("model"), exc)
        return None
    return provider in _OPENAI_SDK_PROVIDERS or provider in litellm.openai_compatible_providers


class SessionSeams:
    """Hands LiteLLM one shared ``httpx.AsyncClient`` (with its cookie jar) for every provider call.

    ``install`` sets the process-wide ``litellm.aclient_session`` (one sdk backend runs per process; a
    later one takes over, and ``uninstall`` gives it back only if it is still this one's).
    """

    def __init__(self, litellm: Any, http: httpx.AsyncClient) -> None:
        self._litellm = litellm
        self._http = http
        self._handler = _shared_handler(http)
        self._previous: Any = None

    def install(self) -> None:
        self._previous = self._litellm.aclient_session
        self._litellm.aclient_session = self._http
        self._litellm.in_memory_llm_clients_cache.flush_cache()

    def uninstall(self) -> None:
        if self._litellm.aclient_session is self._http:
            self._litellm.aclient_session = self._previous
        self._litellm.in_memory_llm_clients_cache.flush_cache()

    def model_list(self, model_list: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], frozenset[str]]:
        """A copy of ``model_list`` whose non-OpenAI-SDK deployments carry the shared handler as their
        ``client``, and the model groups made only of such deployments (their chat calls get it too)."""
        deployments: list[dict[str, Any]] = []
        sdk_of_group: dict[str, set[bool | None]] = {}
        for entry in copy.deepcopy(list(model_list)):
            openai_sdk = uses_openai_sdk(self._litellm, entry["litellm_params"])
            sdk_of_group.setdefault(entry["model_name"], set()).add(openai_sdk)
            if openai_sdk is False:
                entry["litellm_params"]["client"] = self._handler
            deployments.append(entry)
        handler_groups = frozenset(group for group, kinds in sdk_of_group.items() if kinds == {False})
        for group, kinds in sdk_of_group.items():
            if kinds >= {True, False}:
                logger.warning(
                    "model group %s mixes OpenAI-SDK and other providers: its chat completions to the "
                    "others use LiteLLM's own HTTP client (no shared cookie jar)",
                    group,
                )
        return deployments, handler_groups

    @property
    def handler(self) -> Any:
        """The shared session as LiteLLM's ``AsyncHTTPHandler``: a chat call's ``client=``."""
        return self._handler


def _shared_handler(http: httpx.AsyncClient) -> Any:
    """An ``AsyncHTTPHandler`` sending through ``http``, which the Router's copies of its model list share."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    class SharedSessionHandler(AsyncHTTPHandler):  # type: ignore[misc]
        def __deepcopy__(self, memo: dict[int, Any]) -> SharedSessionHandler:
            return self  # the Router deep-copies its model list; every copy must keep the one session

        def __copy__(self) -> SharedSessionHandler:
            return self

    handler = SharedSessionHandler(transport=_ThroughSession(http))
    handler.client = http  # the public setter: the handler no longer owns (or closes) a client of its own
    return handler


class _ThroughSession(httpx.AsyncBaseTransport):
    """What the clients the handler builds itself send through: the shared session.

    The handler's first client is replaced at once, but after a refused connection LiteLLM sends once more
    on a fresh client of the handler's making (``create_client`` builds it on this transport); that
    attempt, and the provider's real error if it fails too, must come from the session as well.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._http.send(request, stream=True)

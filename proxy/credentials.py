"""A client's own provider credential, for the models that use it (``memory_proxy.client_credentials``).

A Claude Pro or Max subscriber's Claude Code sends its OAuth token (``Authorization: Bearer
sk-ant-oat01-…``); an SDK user's client sends the key it holds. For a model named in
``client_credentials`` that credential, not the config's, goes to the provider: the backend hands it to
LiteLLM as the call's key, and LiteLLM sends it as the provider expects (Anthropic's OAuth token as a
Bearer with its OAuth beta, an API key as ``x-api-key`` or a Bearer). The proxy's own key and the client's
credential never stand in for each other: with both, the proxy's key travels in ``x-memory-proxy-key``,
and a credential that is the proxy's key is refused rather than sent on. The credential is part of no id,
record or memory; error messages have it masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from proxy.auth import PROXY_KEY_HEADER, ProxyKey, bearer_or_api_key
from proxy.errors import AuthenticationFailed, ProxyError

__all__ = ["CREDENTIAL_HEADERS", "provider_credential", "without_credentials"]

CREDENTIAL_HEADERS = ("authorization", "x-api-key", PROXY_KEY_HEADER)
"""Where a client may put a key; their values are masked in whatever error it is answered."""


def provider_credential(headers: Mapping[str, str], model: str, key: ProxyKey) -> str:
    """The client's provider credential for ``model``, which uses it; a 401 saying what to send when
    there is none, or when it is the proxy's own key (which never goes to a provider)."""
    credential = bearer_or_api_key(headers)
    if not credential:
        raise AuthenticationFailed(
            f"The model '{model}' is called with your own provider credential "
            "(memory_proxy.client_credentials): send your API key or subscription token as "
            "Authorization: Bearer or x-api-key."
        )
    if key.required and key.matches(credential):  # any person's
        raise AuthenticationFailed(
            f"The model '{model}' is called with your own provider credential, and what you sent as one "
            f"is the proxy's key: send the proxy's key in {PROXY_KEY_HEADER} and your provider key or "
            "subscription token as Authorization: Bearer or x-api-key."
        )
    return credential


def without_credentials(error: ProxyError, headers: Mapping[str, str]) -> ProxyError:
    """``error`` with every key the client sent masked in its message (a provider may quote what it got)."""
    for secret in _sent(headers):
        error.message = error.message.replace(secret, "[REDACTED]")
    return error


def _sent(headers: Mapping[str, str]) -> Iterable[str]:
    for name in CREDENTIAL_HEADERS:
        value = headers.get(name, "")
        for part in (value, value[7:].strip() if value.lower().startswith("bearer ") else ""):
            if len(part) >= 6:
                yield part

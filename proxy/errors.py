"""Every failure, whatever raised it, becomes one :class:`ProxyError` and one envelope per protocol.

The hierarchy (status, ``type``, ``code``)::

    ProxyError
    ├── InvalidRequest          400 invalid_request_error  invalid_request | missing_parameter
    │   └── ContextLengthExceeded   400 invalid_request_error  context_length_exceeded
    ├── AuthenticationFailed    401 authentication_error   invalid_api_key
    ├── PermissionDenied        403 permission_error       permission_denied
    ├── ModelNotFound           404 not_found_error        model_not_found
    ├── RouteNotFound           404 not_found_error        not_found             (no such path)
    ├── ClientTooSlow           408 invalid_request_error  client_timeout        (+Connection: close)
    ├── RequestTooLarge         413 invalid_request_error  request_too_large
    ├── UnsupportedMediaType    415 invalid_request_error  unsupported_media_type (a body not sent as JSON)
    ├── RateLimited             429 rate_limit_error       rate_limit_exceeded   (+Retry-After)
    ├── UpstreamError           5xx api_error              upstream_error        (the provider's status)
    ├── UpstreamUnreachable     502 api_connection_error   upstream_unreachable
    ├── ServiceUnavailable      503 service_unavailable    service_unavailable   (+Retry-After)
    ├── UpstreamTimeout         504 timeout_error          request_timeout
    └── InternalError           500 api_error              internal_error

:func:`to_proxy_error` maps litellm's and openai's exceptions (by status, with the special cases LiteLLM
hides in its class names and exception chains) onto this tree. Messages are scrubbed of anything that
looks like a credential before they reach a client or a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from typing import Any, ClassVar

import httpx

from proxy.redaction import redact

__all__ = [
    "AuthenticationFailed",
    "ClientTooSlow",
    "ContextLengthExceeded",
    "InternalError",
    "InvalidRequest",
    "ModelNotFound",
    "PermissionDenied",
    "ProxyError",
    "RateLimited",
    "RequestTooLarge",
    "RouteNotFound",
    "ServiceUnavailable",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "anthropic_envelope",
    "clean_litellm_message",
    "for_status",
    "openai_envelope",
    "to_proxy_error",
]

logger = logging.getLogger("proxy.errors")


class ProxyError(Exception):
    """Base of every error the proxy answers with; subclasses fix ``status``, ``type`` and ``code``."""

    status: int = 500
    type: ClassVar[str] = "api_error"
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = redact(message)
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": self.retry_after} if self.retry_after else {}


class InvalidRequest(ProxyError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationFailed(ProxyError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class PermissionDenied(ProxyError):
    status, type, code = 403, "permission_error", "permission_denied"


class ModelNotFound(ProxyError):
    status, type, code = 404, "not_found_error", "model_not_found"


class RouteNotFound(ProxyError):
    status, type, code = 404, "not_found_error", "not_found"


class ClientTooSlow(ProxyError):
    """The client did not send its whole request in time; the connection is closed after the answer (the
    rest of the body may still be on its way, and would otherwise be read as the next request)."""

    status, type, code = 408, "invalid_request_error", "client_timeout"

    @property
    def headers(self) -> dict[str, str]:
        return {"connection": "close"}


class RequestTooLarge(ProxyError):
    status, type, code = 413, "invalid_request_error", "request_too_large"


class UnsupportedMediaType(ProxyError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class RateLimited(ProxyError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


class UpstreamError(ProxyError):
    status, type, code = 500, "api_error", "upstream_error"


class UpstreamUnreachable(ProxyError):
    status, type, code = 502, "api_connection_error", "upstream_unreachable"


class ServiceUnavailable(ProxyError):
    status, type, code = 503, "service_unavailable", "service_unavailable"


class UpstreamTimeout(ProxyError):
    status, type, code = 504, "timeout_error", "request_timeout"


class InternalError(ProxyError):
    status, type, code = 500, "api_error", "internal_error"


# A status from the provider (or LiteLLM) → the class that answers it. 408 is the provider's timeout.
_BY_STATUS: dict[int, type[ProxyError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: ModelNotFound,
    408: UpstreamTimeout,
    413: RequestTooLarge,
    422: InvalidRequest,
    429: RateLimited,
    502: UpstreamError,
    503: ServiceUnavailable,
    504: UpstreamTimeout,
    529: ServiceUnavailable,  # Anthropic's "overloaded"
}

_LITELLM_PREFIX = re.compile(r"^(litellm\.\w+:\s*)+(\w+Error:\s*)?")
_LITELLM_SUFFIX = re.compile(r"\s*(Received Model Group=|LiteLLM: model group|LiteLLM Retried:).*$", re.S)
_LITELLM_ADVICE = re.compile(r"\s*Handle with `litellm\.\w+`\.")
_OBJECT_REPR = re.compile(r"\s*(?:\w+[:=])?<[^<>]* at 0x[0-9a-fA-F]+>")
"""A Python object's repr and the label before it, as aiohttp's connection errors carry their SSL
context (``ssl:<ssl.SSLContext object at 0x7f…>``): an address that changes every run, telling a client
nothing."""


_TRACEBACK = "Traceback (most recent call last):"


def clean_litellm_message(text: str) -> str:
    """LiteLLM's message without its class-name prefixes, its advice on which of its exceptions to catch,
    the object reprs of the libraries below it, a stack trace, and its router trailer."""
    text = text.split(_TRACEBACK, 1)[0]  # LiteLLM appends the stack of some failures to their message
    text = _LITELLM_PREFIX.sub("", text.strip())
    text = _OBJECT_REPR.sub("", _LITELLM_ADVICE.sub("", text))
    return _LITELLM_SUFFIX.sub("", text).strip()


def _clean_message(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return clean_litellm_message(text) or type(exc).__name__


def for_status(status: int, message: str, *, retry_after: str | None = None) -> ProxyError:
    """The error for a provider (or LiteLLM) status that no more specific signal explains."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(message, retry_after=retry_after, status=status if cls is UpstreamError else None)
    if status >= 500:
        return UpstreamError(message, status=status)
    return InvalidRequest(message, status=status)


def _retry_after(exc: BaseException) -> str | None:
    for source in (
        getattr(exc, "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
    ):
        if source:
            value = httpx.Headers(source).get("retry-after")
            if value:
                return value
    return None


_TRANSPORT_FAILURES: tuple[type[BaseException], ...] = (httpx.TransportError, json.JSONDecodeError)


def _caused_by_transport_failure(exc: BaseException, openai: Any) -> bool:
    """True when, somewhere in the chain, the provider could not be reached or did not speak HTTP/JSON."""
    failures = _TRANSPORT_FAILURES
    timeouts: tuple[type[BaseException], ...] = ()
    if openai is not None:
        failures = (*failures, openai.APIConnectionError, openai.APIResponseValidationError)
        timeouts = (openai.APITimeoutError,)
    return any(
        (isinstance(cause, failures) and not isinstance(cause, timeouts)) or _refused_by_http_client(cause)
        for cause in _chain(exc)
    )


_HTTP_CLIENTS = ("/aiohttp/", "/httpx/", "/httpcore/")


def _refused_by_http_client(exc: BaseException) -> bool:
    """A ValueError the HTTP client raised while building the request, before any connection: the
    provider's URL cannot be used as configured (aiohttp refuses credentials in a URL beside an
    Authorization header). The provider was not reached, as on the paths whose client takes such a URL."""
    if not isinstance(exc, ValueError) or exc.__traceback__ is None:
        return False
    return any(
        part in frame.filename for frame in traceback.extract_tb(exc.__traceback__) for part in _HTTP_CLIENTS
    )


class _Absent:
    """Stands in for a library that is not loaded: no exception is an instance of its classes."""

    def __getattr__(self, name: str) -> type:
        return _Never


class _Never(Exception):
    pass


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not item for item in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _provider_status(exc: BaseException) -> int | None:
    """The status to answer with: LiteLLM's, unless it turned a provider's specific 5xx into a plain 500.

    LiteLLM reports an Anthropic 529 (overloaded) or a provider's 503 as InternalServerError(500); the
    provider's own status is still on the exception LiteLLM was handling when it raised.
    """
    status = getattr(exc, "status_code", None)
    if status == 500:
        for cause in _chain(exc)[1:]:
            original = getattr(cause, "status_code", None)
            if isinstance(original, int) and original > 500:
                return original
    return status


def to_proxy_error(exc: BaseException) -> ProxyError:
    """Map any exception to the :class:`ProxyError` a client should see."""
    if isinstance(exc, ProxyError):
        return exc
    # Only what is already loaded can have raised: never import litellm (~5 s) just to map an error.
    litellm = sys.modules.get("litellm") or _Absent()
    openai = sys.modules.get("openai")
    sdk = openai or _Absent()

    message = _clean_message(exc)
    retry_after = _retry_after(exc)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextLengthExceeded(message, param="messages")
    if isinstance(exc, (litellm.Timeout, sdk.APITimeoutError, httpx.TimeoutException)):
        return UpstreamTimeout(message)
    # LiteLLM also wraps its own failures in APIConnectionError: only a transport failure in the chain (or
    # the openai SDK's "Connection error.") means the provider could not be reached.
    if isinstance(exc, (sdk.APIConnectionError, httpx.TransportError)) or (
        isinstance(exc, (sdk.APIError, litellm.APIConnectionError))
        and (_caused_by_transport_failure(exc, openai) or "Connection error." in message)
    ):
        return UpstreamUnreachable(f"The provider could not be reached or sent an invalid answer: {message}")
    status = _provider_status(exc)
    if isinstance(status, int) and 400 <= status < 600:
        return for_status(status, message, retry_after=retry_after)
    _log_unexpected(exc)
    return InternalError("The proxy failed unexpectedly; see its log for details.")


_TRACEBACKS_LOGGED: set[tuple[str, str]] = set()
_MAX_TRACEBACKS = 256


def _log_unexpected(exc: BaseException) -> None:
    """A bug's traceback once per place it happens; every later occurrence in one line, so that a client
    repeating a request that triggers it cannot flood the log. The message only redacted: a traceback's
    last line could carry a credential."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    place = (type(exc).__name__, where)
    if place in _TRACEBACKS_LOGGED:
        logger.error("unexpected %s at %s (its traceback was logged before): %s", *place, redact(str(exc)))
        return
    if len(_TRACEBACKS_LOGGED) < _MAX_TRACEBACKS:
        _TRACEBACKS_LOGGED.add(place)
    logger.error(
        "unexpected %s: %s\n%s", type(exc).__name__, redact(str(exc)), "".join(traceback.format_list(frames))
    )


def openai_envelope(error: ProxyError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


_ANTHROPIC_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "service_unavailable": "overloaded_error",
    "timeout_error": "api_error",
    "api_connection_error": "api_error",
    "api_error": "api_error",
}


def anthropic_envelope(error: ProxyError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ANTHROPIC_TYPES[error.type], "message": error.message}}

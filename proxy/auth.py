"""The proxy key (``memory_proxy.auth_key``): who may use the API, the console and the metrics.

API clients and Prometheus send the key with every request (``Authorization: Bearer KEY`` or
``x-api-key``, or ``x-memory-proxy-key``, which leaves the first two to a provider credential of the
client's own: :mod:`proxy.credentials`). A browser cannot, and the key must never sit in a URL, so the
console asks for it once and answers with a session cookie instead: an expiry time and an HMAC of it keyed
with the proxy key. The cookie proves the key was entered without holding it, needs no server-side state
(any worker of a ``--workers`` proxy, or a restarted one, accepts it), and stops working when the key
changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from starlette.requests import Request

from proxy.errors import AuthenticationFailed

__all__ = ["PROXY_KEY_HEADER", "SESSION_COOKIE", "SESSION_SECONDS", "ProxyKey", "bearer_or_api_key"]

PROXY_KEY_HEADER = "x-memory-proxy-key"
"""Where a client that sends its own provider credential puts the proxy's key."""

SESSION_COOKIE = "memory_proxy_console"
SESSION_SECONDS = 7 * 24 * 3600
"""How long the console remembers that the key was entered."""


class ProxyKey:
    """The key the proxy asks for, or none (then everyone who can reach the port may use it)."""

    def __init__(self, key: str | None) -> None:
        self._key = key

    @property
    def required(self) -> bool:
        return self._key is not None

    def presented_by(self, request: Request) -> bool:
        """Whether the request carries the key in a header (always, when no key is set): in
        ``x-memory-proxy-key`` when it has one, else as its Bearer token or ``x-api-key``."""
        if self._key is None:
            return True
        own = request.headers.get(PROXY_KEY_HEADER)
        return self.matches(own if own is not None else bearer_or_api_key(request.headers))

    def matches(self, presented: str) -> bool:
        if self._key is None:
            return True
        return secrets.compare_digest(presented.encode(), self._key.encode())

    def check(self, request: Request) -> None:
        """Raise a 401 unless the request carries the key (an API route's dependency)."""
        if not self.presented_by(request):
            raise AuthenticationFailed(
                "Invalid proxy API key: send the proxy's key as a Bearer token in the Authorization header, "
                f"or in x-api-key (or in {PROXY_KEY_HEADER}, beside a provider credential of your own)."
            )

    def check_console(self, request: Request) -> None:
        """Raise a 401 unless the request carries the key or a console session."""
        if not self.admits_console(request):
            raise AuthenticationFailed(
                "The console needs the proxy key: enter it at /ui, or send it as a Bearer token in the "
                "Authorization header."
            )

    def admits_console(self, request: Request) -> bool:
        return self.presented_by(request) or self._session_valid(request.cookies.get(SESSION_COOKIE, ""))

    def new_session(self) -> str:
        """A session cookie's value, valid for :data:`SESSION_SECONDS`."""
        expires = int(time.time()) + SESSION_SECONDS
        return f"{expires}.{self._sign(expires)}"

    def _session_valid(self, value: str) -> bool:
        if self._key is None:
            return True
        expires, _, signature = value.partition(".")
        # Anything a browser can send arrives here: only ASCII digits (str.isdigit also takes '²') and an
        # ASCII signature (compare_digest refuses other text) are compared at all.
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and signature.isascii()):
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(signature, self._sign(int(expires)))

    def _sign(self, expires: int) -> str:
        assert self._key is not None
        message = f"litellm-memory-proxy console session until {expires}".encode()
        return hmac.new(self._key.encode(), message, hashlib.sha256).hexdigest()


def bearer_or_api_key(headers: Mapping[str, str]) -> str:
    """The key a client sends the usual way: ``x-api-key``, else its ``Authorization: Bearer`` token."""
    presented = headers.get("x-api-key") or ""
    authorization = headers.get("authorization", "")
    if not presented and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    return presented

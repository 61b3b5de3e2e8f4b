"""Only real clients get in: the browser boundary, in front of every route of the proxy and the interceptor.

The proxy listens on loopback, and the one party on this machine that runs other people's code against it
is a web browser. Any page can send *simple* cross-site requests (a ``text/plain`` POST needs no CORS
preflight) and can point a name of its own at 127.0.0.1 (DNS rebinding), after which its requests are
same-origin to it. Memory is injected into coding agents' prompts, so a memory a page plants is a prompt
injection into an agent that can run commands. Three rules close both doors, before any route runs:

1. **Host**: without a proxy key, a request must address this machine by one of its own names
   (:class:`MachineNames`: loopback names and addresses, the address the proxy listens on, and when it
   listens on every address, this host's name and addresses) or a name the config allows. A rebinding page
   names its own site. With a key the key decides, so a team's proxy can sit behind any name.
2. **Origin**: a request a browser marks as coming from another origin (``Origin`` that is not the
   request's own ``scheme://host``, ``Sec-Fetch-Site: cross-site``/``same-site``) is refused unless the
   config allows that origin. Real clients (SDKs, curl, CLIs) send neither header.
3. **JSON only**: an API body must be sent as ``application/json``, which a page cannot send to another
   origin without a preflight the proxy never grants.

Refusals are 403 (415 for the body's type) in the envelope of the path's protocol, logged in one line
without the request's content.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from collections.abc import Callable, Collection, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.asgi import send_json
from proxy.errors import PermissionDenied, ProxyError, UnsupportedMediaType

__all__ = ["EVERY_ADDRESS", "BrowserGuard", "MachineNames", "host_name"]

logger = logging.getLogger("proxy.browser_guard")

EVERY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
"""Listening addresses that mean every interface of the machine."""
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_CROSS_SITE = frozenset({"cross-site", "same-site"})


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without its port and brackets, lower case (``[::1]:8764`` → ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


@functools.lru_cache(maxsize=256)
def _is_local_address(address: str) -> bool:
    """Whether ``address`` belongs to one of this machine's interfaces (it can be bound to)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


class MachineNames:
    """The names by which a request may address this machine: loopback (``localhost`` and its
    subdomains, which browsers never look up in DNS; ``127.0.0.0/8``; ``::1``), the listening address, and
    ``allowed`` (exact names, ``.example.com`` for a domain and its subdomains, ``*`` for any). Listening on
    every address adds this host's own names and the addresses of its interfaces."""

    def __init__(self, listening: str, allowed: Sequence[str] = ()) -> None:
        self.any = "*" in allowed
        self._every_address = listening.strip("[]") in EVERY_ADDRESS
        names = {name.lower().rstrip(".") for name in allowed if not name.startswith(".")}
        names.add(listening.strip("[]").lower())
        if self._every_address:  # this host's own names (no DNS lookup: it could block the start)
            hostname = socket.gethostname().lower()
            names |= {hostname, f"{hostname}.local"}
        self._names = frozenset(names - EVERY_ADDRESS)
        self._domains = tuple(name.lower().rstrip(".") for name in allowed if name.startswith("."))

    def admits(self, name: str) -> bool:
        if self.any or name in self._names or name in _LOOPBACK_NAMES or name.endswith(".localhost"):
            return True
        if any(name.endswith(domain) or name == domain[1:] for domain in self._domains):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if address.is_loopback:
            return True
        return self._every_address and not address.is_unspecified and _is_local_address(name)


class BrowserGuard:
    """ASGI middleware applying the three rules above to every HTTP request before ``app`` sees it.

    ``check_host`` is off when the proxy has a key; ``json_paths`` are the API paths whose POST bodies must
    be JSON; ``envelope_for`` answers a refusal in the path's protocol.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        names: MachineNames,
        check_host: bool,
        allowed_origins: Collection[str] = (),
        json_paths: Collection[str] = (),
        envelope_for: Callable[[str], Callable[[ProxyError], dict[str, Any]]],
    ) -> None:
        self.app = app
        self.names = names
        self.check_host = check_host and not names.any
        self.allowed_origins = frozenset(origin.rstrip("/").lower() for origin in allowed_origins)
        self.any_origin = "*" in self.allowed_origins
        self.json_paths = frozenset(json_paths)
        self.envelope_for = envelope_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        logger.warning(
            "refused %s %s: %s", scope["method"], scope["path"][:200], refusal.message.split(":")[0]
        )
        await send_json(send, refusal.status, self.envelope_for(scope["path"])(refusal))

    def refusal(self, scope: Scope) -> ProxyError | None:
        """Why the request may not go on (None: it may)."""
        headers = _headers(scope)
        host = headers.get("host", "")
        name = host_name(host)
        if self.check_host and host and not self.names.admits(name):
            return PermissionDenied(
                f"Host {name[:100]!r} is not a name of this machine: without a proxy key the "
                "proxy answers only requests addressed to it (127.0.0.1, localhost). Add the name to "
                "memory_proxy.allowed_hosts, or set memory_proxy.auth_key."
            )
        origin = headers.get("origin")
        own = f"{scope.get('scheme', 'http')}://{host}".lower()
        foreign = origin is not None and origin.lower() not in (own, *self.allowed_origins)
        if foreign and not self.any_origin:
            return PermissionDenied(
                f"Requests from the web page at {origin[:100]!r} are refused: browsers may not use this "
                "proxy from other sites (memory_proxy.allowed_origins lists any that may)."
            )
        if origin is None and headers.get("sec-fetch-site") in _CROSS_SITE and not self.any_origin:
            return PermissionDenied("Requests a browser sends from another site are refused.")
        if scope["method"] == "POST" and scope["path"] in self.json_paths:
            media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                got = media_type[:60] or "none"
                return UnsupportedMediaType(
                    f"The body must be sent as Content-Type: application/json (got {got!r})."
                )
        return None


def _headers(scope: Scope) -> dict[str, str]:
    """The request headers this guard reads (the first of each), decoded."""
    wanted = {b"host", b"origin", b"content-type", b"sec-fetch-site"}
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered in wanted and lowered.decode() not in found:
            found[lowered.decode()] = value.decode("latin-1")
    return found

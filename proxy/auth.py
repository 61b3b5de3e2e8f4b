"""The proxy's keys: who may use the API, the console and the metrics, and as whom.

One key (``memory_proxy.auth_key``) lets in the proxy's one person; ``memory_proxy.keys`` gives each person
of a team their own, and a request's key says whose memory it reads and writes (:mod:`proxy.people`). API
clients and Prometheus send a key with every request (``Authorization: Bearer KEY`` or ``x-api-key``, or
``x-memory-proxy-key``, which leaves the first two to a provider credential of the client's own:
:mod:`proxy.credentials`). Every key is compared in constant time, each one every time, so the time taken
says nothing about which key came close. A browser cannot send a key, and a key must never sit in a URL, so
the console asks for it once and answers with a session cookie instead: an expiry time, a nonce, the
person's name and an HMAC of them keyed with that person's key. The cookie proves the key was entered
without holding it, needs no server-side state to be accepted (any worker of a ``--workers`` proxy, or a
restarted one, accepts it), and stops working when the key changes or the session signs out
(:mod:`proxy.signed_out`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request

from proxy.errors import AuthenticationFailed
from proxy.people import OWNER, Person
from proxy.signed_out import SignedOut, StoreSignedOut

if TYPE_CHECKING:
    from proxy.config import MemoryProxySettings

__all__ = ["PROXY_KEY_HEADER", "SESSION_COOKIE", "SESSION_SECONDS", "ProxyKey", "bearer_or_api_key"]

PROXY_KEY_HEADER = "x-memory-proxy-key"
"""Where a client that sends its own provider credential puts the proxy's key."""

SESSION_COOKIE = "memory_proxy_console"
SESSION_SECONDS = 7 * 24 * 3600
"""How long the console remembers that the key was entered."""


class ProxyKey:
    """The keys the proxy asks for, each with its person; none at all lets everyone who can reach the port
    in, as the one person (:data:`proxy.people.OWNER`)."""

    def __init__(
        self,
        key: str | None,
        people: Sequence[tuple[str, Person]] = (),
        signed_out: SignedOut | StoreSignedOut | None = None,
    ) -> None:
        entries = list(people) if people else ([(key, OWNER)] if key is not None else [])
        self._keys = [(secret.encode(), person) for secret, person in entries]
        self._people = {person.name: secret for secret, person in self._keys}
        self._signed_out = signed_out if signed_out is not None else SignedOut()

    @classmethod
    def of(
        cls, settings: MemoryProxySettings, signed_out: SignedOut | StoreSignedOut | None = None
    ) -> ProxyKey:
        """The keys ``memory_proxy`` sets: ``keys`` (one per person), else ``auth_key``, else none."""
        people = [(entry.key, Person(entry.person, entry.admin)) for entry in settings.keys]
        return cls(settings.auth_key, people, signed_out)

    @property
    def required(self) -> bool:
        return bool(self._keys)

    @property
    def for_people(self) -> bool:
        """Whether each person has a key of their own (``memory_proxy.keys``)."""
        return any(person.name is not None for _, person in self._keys)

    def person_of(self, headers: Mapping[str, str]) -> Person | None:
        """Whose key ``headers`` carry (the one person when no key is set), else None: in
        ``x-memory-proxy-key`` when they have one, else as the Bearer token or ``x-api-key``."""
        if not self._keys:
            return OWNER
        own = headers.get(PROXY_KEY_HEADER)
        return self.owner_of(own if own is not None else bearer_or_api_key(headers))

    def owner_of(self, presented: str) -> Person | None:
        """The person whose key ``presented`` is, comparing it with every key (no early exit)."""
        if not self._keys:
            return OWNER
        given = presented.encode()
        found = None
        for secret, person in self._keys:
            if secrets.compare_digest(given, secret):
                found = person
        return found

    def matches(self, presented: str) -> bool:
        return self.owner_of(presented) is not None

    def presented_by(self, request: Request) -> bool:
        return self.person_of(request.headers) is not None

    def check(self, request: Request) -> Person:
        """The person whose key the request carries; a 401 when it carries none (an API route's
        dependency, which leaves the person on ``request.state.person``)."""
        person = self.person_of(request.headers)
        if person is None:
            raise AuthenticationFailed(
                "Invalid proxy API key: send the proxy's key as a Bearer token in the Authorization header, "
                f"or in x-api-key (or in {PROXY_KEY_HEADER}, beside a provider credential of your own)."
            )
        request.state.person = person
        return person

    async def check_console(self, request: Request) -> Person:
        """The person the request carries the key or a console session of; a 401 otherwise."""
        person = await self.console_person(request)
        if person is None:
            raise AuthenticationFailed(
                "The console needs the proxy key: enter it at /ui, or send it as a Bearer token in the "
                "Authorization header."
            )
        request.state.person = person
        return person

    async def admits_console(self, request: Request) -> bool:
        return await self.console_person(request) is not None

    async def console_person(self, request: Request) -> Person | None:
        """Whose key the request carries, else whose session its cookie is (one not signed out)."""
        person = self.person_of(request.headers)
        if person is not None:
            return person
        session = request.cookies.get(SESSION_COOKIE, "")
        person = self._session_person(session)
        if person is None or not self._keys or not await self._signed_out.contains(session):
            return person
        return None

    def new_session(self, person: Person = OWNER) -> str:
        """A session cookie's value for ``person``, valid for :data:`SESSION_SECONDS`."""
        expires = int(time.time()) + SESSION_SECONDS
        nonce = secrets.token_hex(8)  # two sign-ins in one second are two sessions: each signs out alone
        name = person.name or ""
        return f"{expires}.{nonce}.{name}.{self._sign(expires, nonce, name)}"

    async def end_session(self, value: str) -> None:
        """Sign ``value`` out for every process, when it is a valid session at all."""
        if self._keys and self._session_person(value) is not None:
            await self._signed_out.add(value, float(value.partition(".")[0]))

    def _session_valid(self, value: str) -> bool:
        return self._session_person(value) is not None

    def _session_person(self, value: str) -> Person | None:
        """Whose session ``value`` is, by its signature and expiry alone (sign-outs aside)."""
        if not self._keys:
            return OWNER
        expires, _, rest = value.partition(".")
        nonce, _, rest = rest.partition(".")
        name, _, signature = rest.rpartition(".")
        # Anything a browser can send arrives here: only ASCII digits (str.isdigit also takes '²') and an
        # ASCII nonce and signature (compare_digest refuses other text) are compared at all.
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and signature.isascii()):
            return None
        if not (nonce.isascii() and len(nonce) == 16):
            return None
        if int(expires) < time.time() or (name or None) not in self._people:
            return None
        if not hmac.compare_digest(signature, self._sign(int(expires), nonce, name)):
            return None
        return next(person for _, person in self._keys if person.name == (name or None))

    def _sign(self, expires: int, nonce: str, name: str = "") -> str:
        key = self._people[name or None]
        message = f"litellm-memory-proxy console session {nonce} of {name!r} until {expires}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()


def bearer_or_api_key(headers: Mapping[str, str]) -> str:
    """The key a client sends the usual way: ``x-api-key``, else its ``Authorization: Bearer`` token."""
    presented = headers.get("x-api-key") or ""
    authorization = headers.get("authorization", "")
    if not presented and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    return presented

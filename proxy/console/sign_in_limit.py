"""How often a client may get the console's key wrong: a few times a minute, then 429 until it waits.

The key is the only thing between a process on this machine (or, on a team proxy, anyone who reaches it)
and every memory, so guessing must be slow. Failures are counted per client address: the peer's, or with
``memory_proxy.forwarded_allow_ips`` set, the address a trusted reverse proxy forwarded (uvicorn's proxy
headers handling, which the launcher configures from that setting). Each failure is logged with the address
and the count, never with what was entered.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["MAX_FAILURES", "WINDOW_SECONDS", "SignInLimit"]

logger = logging.getLogger("proxy.console")

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000
"""Addresses remembered at once (the least recently failing forgotten first), so the limit's own memory
stays bounded whatever comes."""


class SignInLimit:
    """Failed sign-ins per address over the last :data:`WINDOW_SECONDS`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Seconds ``address`` must wait before it may try again (None: it may try now)."""
        failures = self._recent(address)
        if len(failures) < MAX_FAILURES:
            return None
        return max(1, math.ceil(failures[0] + WINDOW_SECONDS - self._clock()))

    def failed(self, address: str) -> None:
        failures = self._recent(address)
        failures.append(self._clock())
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
        logger.warning(
            "console sign-in with a wrong key from %s (%d in the last %g s)",
            address,
            len(failures),
            WINDOW_SECONDS,
        )

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address, deque())
        horizon = self._clock() - WINDOW_SECONDS
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

"""A web site of an attacker's, on loopback, for the browser boundary's tests.

It serves a page at ``/``. Behind its own origin it can also put a victim (``behind``): every other request
is forwarded there as the browser sent it, ``Host`` and ``Origin`` included. That is what DNS rebinding
does: the attacker's name first resolves to the attacker's server, which serves the page, then to
127.0.0.1, so the page's same-origin requests reach the proxy, naming the attacker's site in ``Host``.
"""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from proxy.asgi import receive_body

__all__ = ["PAGE", "AttackSite"]

PAGE = b"<!doctype html><title>a page of another site</title><p>nothing to see here</p>"


class AttackSite:
    """ASGI app: the page at ``/``; with ``behind`` (a base URL), everything else forwarded there."""

    def __init__(self, behind: str | None = None) -> None:
        self.behind = behind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/" or self.behind is None:
            found = scope["path"] == "/"
            await send(
                {
                    "type": "http.response.start",
                    "status": 200 if found else 404,
                    "headers": [(b"content-type", b"text/html")],
                }
            )
            await send({"type": "http.response.body", "body": PAGE if found else b""})
            return
        body = await receive_body(receive)
        url = (
            self.behind
            + scope["path"]
            + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        )
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"connection", b"content-length")]
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            answer = await client.request(scope["method"], url, headers=headers, content=body)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [(b"content-type", answer.headers.get("content-type", "text/plain").encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})

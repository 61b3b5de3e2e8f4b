"""Answering at the ASGI level, where there is no framework: one JSON body, complete."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Send

__all__ = ["receive_body", "send_json"]


async def receive_body(receive: Receive) -> bytes:
    """The whole request body, as the server hands it over in parts."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def send_json(send: Send, status: int, body: dict[str, Any], *, head: bool = False) -> None:
    """``body`` as the whole answer, with its length (none of it for a ``HEAD``)."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else payload})

"""Answering at the ASGI level, where there is no framework: one JSON body, complete."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send

__all__ = ["send_json"]


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

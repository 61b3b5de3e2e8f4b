"""Seed group 6: some errors came back as FastAPI's ``{"detail": ...}`` or as bare 500s with a trace.

Every exception a backend can raise, and every bad request, is answered in the OpenAI envelope with the
status and type of docs/errors.md.
"""

from __future__ import annotations

import httpx
import litellm
import pytest

from conformance.harness import app_client
from proxy.app import create_app
from proxy.config import parse_config
from tests.doubles import CannedBackend

REQUEST = httpx.Request("POST", "http://provider.test/v1/chat/completions")


CONFIG = parse_config(
    {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}]}, source="test"
)


CASES = [
    (ValueError("bad value"), 500, "internal_error"),
    (KeyError("missing"), 500, "internal_error"),
    (TypeError("wrong type"), 500, "internal_error"),
    (litellm.BadRequestError("bad", "m", "openai"), 400, "invalid_request"),
    (litellm.AuthenticationError("no key", "openai", "m"), 401, "invalid_api_key"),
    (litellm.RateLimitError("slow", "openai", "m"), 429, "rate_limit_exceeded"),
    (litellm.Timeout("late", "m", "openai"), 504, "request_timeout"),
    (litellm.APIConnectionError("down", "openai", "m"), 502, "upstream_unreachable"),
    (litellm.ServiceUnavailableError("busy", "openai", "m"), 503, "service_unavailable"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("exc", "status", "code"), CASES, ids=lambda v: type(v).__name__)
async def test_backend_exceptions_use_the_envelope(exc, status, code, stream):
    app = create_app(CONFIG, CannedBackend(error=exc))
    async with app_client(app) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": stream},
        )
    assert response.status_code == status
    body = response.json()
    assert "detail" not in body
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    assert response.headers["x-memory-user-id"] == "default-dev"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/chat/completions", 405), ("GET", "/nope", 404), ("DELETE", "/v1/models", 405)],
)
async def test_http_errors_use_the_envelope(method, path, status):
    app = create_app(CONFIG, CannedBackend(error=ValueError()))
    async with app_client(app) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == {"error"}

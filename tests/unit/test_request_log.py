"""A line per request on the terminal: who, where, which model, the status, what memory did, how long;
never what was said, never a key."""

from __future__ import annotations

import logging
from pathlib import Path

from conformance.harness import app_client
from proxy.app import create_app
from proxy.config import parse_config
from proxy.request_log import REQUEST_LOGGER
from tests.doubles import CannedBackend

KEY = "request-log-key-5e1d"
SECRET = "my-private-thought-0x17"


def config(tmp_path: Path, **memory_proxy: object) -> object:
    return parse_config(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "sk-x"}}],
            "context_retrieval": {"local_store_path": str(tmp_path / "memory.sqlite3"), "semantic": False},
            "memory_proxy": {"auth_key": KEY, **memory_proxy},
        },
        source="test",
    )


async def test_each_request_is_one_line_naming_what_happened_and_nothing_said(tmp_path, caplog):
    app = create_app(config(tmp_path), CannedBackend())
    headers = {"authorization": f"Bearer {KEY}", "x-memory-project": "/home/sam/billing-api"}
    body = {"model": "m", "messages": [{"role": "user", "content": SECRET}]}
    with caplog.at_level(logging.INFO, logger=REQUEST_LOGGER):
        async with app_client(app) as client:
            ok = await client.post("/v1/chat/completions", json=body, headers=headers)
            missing = await client.post(
                "/v1/chat/completions", json={**body, "model": "nope"}, headers=headers
            )
    lines = [r.getMessage() for r in caplog.records if r.name == REQUEST_LOGGER]
    assert (ok.status_code, missing.status_code) == (200, 404)
    assert len(lines) == 2
    first, second = lines
    assert '"POST /v1/chat/completions" 200 default-dev billing-api-' in first
    assert " m memory=skipped recall=" in first and "upstream=" in first and "total=" in first
    assert '"POST /v1/chat/completions" 404' in second and "error=" in second
    assert SECRET not in "\n".join(lines) and KEY not in "\n".join(lines)


async def test_the_line_can_be_turned_off(tmp_path, caplog):
    app = create_app(config(tmp_path, request_log=False), CannedBackend())
    with caplog.at_level(logging.INFO, logger=REQUEST_LOGGER):
        async with app_client(app) as client:
            await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {KEY}"},
            )
    assert [r for r in caplog.records if r.name == REQUEST_LOGGER] == []


def test_on_its_own_terminal_a_line_is_printed_once_whatever_is_set_up_later(monkeypatch):
    """With no logging set up the line gets uvicorn's style on stderr; a root handler added afterwards (a
    library's basicConfig) must not print it a second time."""
    from proxy.request_log import _terminal

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    log = _terminal(logging.getLogger("proxy.requests.test-own-terminal"))
    assert len(log.handlers) == 1
    assert log.propagate is False

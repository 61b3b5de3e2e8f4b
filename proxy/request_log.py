"""A line per request on the terminal, in uvicorn's access-log style, with what the proxy did.

uvicorn's own access log is off (``start-proxies`` runs it with ``access_log=False``): it would say only
the path and the status. This line comes when a request has ended (a stream: when it ended), and says
what a person watching the terminal wants to know: who asked (the client, the project's id), which model,
the status, what memory did, and how long recall, the provider and the whole request took. Never a
prompt, an answer, a recalled memory or a key. ``memory_proxy.request_log: false`` turns it off.
"""

from __future__ import annotations

import logging
import sys

from uvicorn.logging import DefaultFormatter

from proxy.activity import RequestRecord

__all__ = ["REQUEST_LOGGER", "log_request"]

REQUEST_LOGGER = "proxy.requests"

logger = logging.getLogger(REQUEST_LOGGER)


def _terminal(log: logging.Logger) -> logging.Logger:
    """The logger at INFO, writing to the terminal as uvicorn does (``INFO:     ...``) unless logging is
    set up already (an application's own handlers: the lines go there instead)."""
    log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False  # a root handler set up later (a library's basicConfig) would print it twice
    return log


_terminal(logger)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms" if value >= 10 else f"{value:.1f}ms"


def log_request(record: RequestRecord) -> None:
    """``127.0.0.1:51234 - "POST /v1/messages" 200 claude-code billing-api-3f9c1e claude-sonnet-4-6
    memory=used recall=2.1ms upstream=340ms total=345ms`` (a failed stream: ``ended=<why>`` at its end,
    the reason cut to its first words)."""
    parts = [
        f'{record.peer or "-"} - "{record.request_line or record.surface}" {record.status_code}',
        record.user_id,
        record.project or "-",
        record.model or "-",
        f"memory={record.memory_status or '-'}",
        f"recall={_ms(record.recall_ms)}",
        f"upstream={_ms(record.upstream_ms)}",
        f"total={_ms(record.total_ms)}",
    ]
    if record.status_code >= 400 or record.error:
        parts.append(f"error={_error_kind(record.error)}")
    logger.info(" ".join(parts))


def _error_kind(error: str | None) -> str:
    """An error's first words, no more (a provider's message may quote what the client sent)."""
    if not error:
        return "-"
    head = error.split(":", 1)[0].split(".", 1)[0]
    return "_".join(head.lower().split()[:6])[:60]

"""Masking credentials in whatever the proxy shows: log lines, error bodies, the status endpoint, reprs.

Two kinds are masked: the credentials the config holds (registered at start-up, masked wherever they appear
verbatim), and anything shaped like one (bearer tokens, ``sk-`` keys, ``key=`` parameters, a URL's or a
libpq DSN's password). This is for the proxy's own output; what a person says that holds a secret is masked
before it is remembered by :mod:`proxy.memory.secrets`, with rules of its own.
"""

from __future__ import annotations

import re

__all__ = ["redact", "register_secrets"]

_SECRET_PATTERNS = (
    re.compile(r"([?&](?:key|api_key|token|access_token)=)[^&\s\"']{6,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|x-api-key|authorization|master[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
    ),
    re.compile(r"\b(sk-(?:ant-)?)[A-Za-z0-9_-]{8,}"),
    # A database URL's password (postgresql://user:PASSWORD@host), and libpq's password=... pair.
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+(?=@)"),
    re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'\"]+)"),
)


_KNOWN_SECRETS: set[str] = set()


def register_secrets(*values: object) -> None:
    """Credentials from the config (provider keys, master key, proxy key): masked wherever they appear."""
    _KNOWN_SECRETS.update(v for v in values if isinstance(v, str) and len(v) >= 6)


def redact(text: str) -> str:
    """Mask every known credential and anything that looks like one (keys, bearer tokens, key= params)."""
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[REDACTED]", text)
    return text

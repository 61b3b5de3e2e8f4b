"""The password a PostgreSQL DSN holds, so that it can be masked wherever the DSN or a driver's message
about it might show (logs, errors, ``/memory/status``, reprs).

Read here without the driver (the config lists its secrets whichever store is used, and psycopg is only
imported when the PostgreSQL store is). Both of libpq's forms are read: a URI
(``postgresql://user:password@host/db``, or ``?password=`` in its query) and keyword/value pairs
(``host=... password='...'``). A password is masked as written and as meant (percent-decoded or unquoted),
since a message may quote either.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["dsn_passwords"]

_URI = re.compile(r"^\s*postgres(?:ql)?://", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def dsn_passwords(dsn: str) -> list[str]:
    """Every form of the password in ``dsn`` (none when it has none)."""
    if _URI.match(dsn):
        written = []
        userinfo = urlsplit(dsn.strip()).netloc.rpartition("@")
        if userinfo[1] and ":" in userinfo[0]:
            written.append(userinfo[0].partition(":")[2])
        query = dsn.partition("?")[2]
        written += [value for key, value in _raw_pairs(query) if key == "password"]
        meant = [unquote(value) for value in written]  # libpq percent-decodes a URI's parts
    else:
        written = _KEYWORD_PASSWORD.findall(dsn)
        meant = [
            re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith("'") else value for value in written
        ]
    return [value for value in dict.fromkeys([*written, *meant]) if value]


def _raw_pairs(query: str) -> list[tuple[str, str]]:
    """A URI query's ``key=value`` pairs as written (not decoded)."""
    return [(key, value) for key, _, value in (pair.partition("=") for pair in query.split("&"))]

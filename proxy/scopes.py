"""Which memory a request reads and writes: its project's, and its person's that hold in every project.

Coding agents name the directory they work in on every request, with no setting: Claude Code's system
prompt says ``Primary working directory: /home/sam/billing-api``, Codex's first user message carries
``<environment_context><cwd>/home/sam/billing-api</cwd>``. A client rule says where its client puts it
(:attr:`proxy.config.HeaderPattern.project`: a regular expression with a ``path`` group), and
``x-memory-project`` names a project for any client (a path, or a project id as the interceptor sends).
So a project's memory is shared by every client working in it, and two projects never see each other's.

A request in a project reads two namespaces: the project's (``billing-api-3f9c1e``: the directory's name
and a hash of its path, the interceptor's scheme, so an interceptor in that directory shares it) and the
person's (``person:sam``), which holds what the person says about themselves (:mod:`proxy.memory.
person_wide` decides what that is). On one machine the person is its user; a team proxy names people by
their keys, and every namespace of theirs carries their name (:mod:`proxy.people`). A request with no
project (an SDK, curl) keeps its client's namespace, and ``x-memory-user-id`` names a namespace outright,
as before. Raw paths never leave this module: only project ids do.
"""

from __future__ import annotations

import getpass
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from proxy.config import USER_ID_PATTERN, Config, HeaderPattern
from proxy.errors import InvalidRequest
from proxy.identification import ClientIdentity
from proxy.people import OWNER, Person

__all__ = [
    "PROJECT_HEADER",
    "Scope",
    "ScopeResolver",
    "namespace_kind",
    "person_namespace",
    "project_id",
    "request_texts",
]

PROJECT_HEADER = "x-memory-project"

_MAX_ID = 128
_INVALID_ID_CHARS = re.compile(r"[^a-z0-9._:-]+")
_USER_ID = re.compile(USER_ID_PATTERN)
_DRIVE = re.compile(r"^[A-Za-z]:/")
_SEARCHED_CHARS = 200_000
"""How much of a request's leading text a project pattern is searched in (Claude Code's system prompt is
about 26 KB; a body can be megabytes)."""


def project_id(project_path: str, prefix: str = "") -> str:
    """A project's id: ``<prefix><dir-name>-<6 hex>``, from its absolute path.

    The directory name keeps the id readable in listings; the first six hex digits of the SHA-256 of the
    normalised path keep two checkouts called ``api`` in different folders apart. The name is lowercased
    and every run of characters an id cannot hold becomes one ``-``, so the id is always a valid namespace
    (1-128 of ``[A-Za-z0-9._:-]``). The path is normalised as text (``a/./b/``, ``a//b``), never looked up
    on disk: a proxy may not see the client's files. A Windows path is read with ``/`` for ``\\``, in lower
    case (its names are the same whatever their case), so the id is the same whichever system the proxy runs
    on."""
    normalised = _collapse(project_path)
    suffix = "-" + hashlib.sha256(normalised.encode()).hexdigest()[:6]
    clean_prefix = _INVALID_ID_CHARS.sub("-", prefix.lower())
    name = _INVALID_ID_CHARS.sub("-", PurePosixPath(normalised).name.lower()).strip("-.:_") or "project"
    room = _MAX_ID - len(clean_prefix) - len(suffix)
    if room < 1:
        raise ValueError(f"the project id prefix {prefix!r} is too long (at most {_MAX_ID - 8} characters)")
    return f"{clean_prefix}{name[:room].rstrip('-.:_') or 'project'}{suffix}"


def _collapse(path: str) -> str:
    """``..`` and ``.`` resolved as text, so ``/a/b/../c`` and ``/a/c`` are one project (``C:\\a`` is
    ``/c:/a``)."""
    path = path.strip().replace("\\", "/")
    if _DRIVE.match(path):  # Windows: names are the same whatever their case
        path = "/" + path.lower()
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def request_texts(payload: Mapping[str, Any]) -> str:
    """Where clients state their environment: the system prompt (Anthropic's ``system``, OpenAI's system
    and developer messages, the Responses API's ``instructions``) and the first user message, in any of the
    three APIs' shapes; at most :data:`_SEARCHED_CHARS` of it."""
    texts = [_text_of(payload.get("system")), _text_of(payload.get("instructions"))]
    items = payload.get("messages")
    if not isinstance(items, list):
        items = payload.get("input") if isinstance(payload.get("input"), list) else []
    for item in items[:8]:
        if not isinstance(item, Mapping):
            continue
        role = item.get("role")
        if role in ("system", "developer"):
            texts.append(_text_of(item.get("content")))
        elif role == "user":
            texts.append(_text_of(item.get("content")))
            break
    joined = "\n".join(text for text in texts if text)
    return joined[:_SEARCHED_CHARS]


@dataclass(frozen=True, slots=True)
class Scope:
    """The memory one request reads and writes."""

    namespace: str
    """Where its memories are recalled from first and stored: the project's, else the client's (or the
    one ``x-memory-user-id`` names)."""
    client: str
    """The client it came from (``claude-code``), recorded with each memory it leaves."""
    person: str | None = None
    """The person's namespace (``person:sam``), for requests in a project: recalled second, and where what
    the person says about themselves is stored."""
    project: str | None = None
    """The project's id (``billing-api-3f9c1e``); never a path."""
    project_from: str | None = None
    """What named the project: ``x-memory-project``, or the client rule that found it in the request."""

    def as_info(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "client": self.client,
            "project": self.project,
            "project_from": self.project_from,
            "person": self.person,
        }


class ScopeResolver:
    """Gives each request its :class:`Scope`; built once per app from the config."""

    def __init__(self, config: Config, patterns: tuple[HeaderPattern, ...]) -> None:
        self.enabled = config.context_retrieval.project_scopes
        self.person = person_namespace(config.user_id_mappings.person)
        self._patterns = [
            (pattern, re.compile(pattern.project)) for pattern in patterns if pattern.project is not None
        ]

    def resolve(
        self,
        identity: ClientIdentity,
        headers: Mapping[str, str],
        payload: Mapping[str, Any] | None,
        person: Person = OWNER,
    ) -> Scope:
        """The scope of a request from ``identity``'s client with these headers and body (None: no body,
        as for ``GET /memory-routing/info``), inside the memory of the ``person`` whose key it carries. A
        bad ``x-memory-project`` is a 400."""
        client = identity.user_id
        if identity.custom_header_present:
            return Scope(namespace=person.namespace(client), client=client)
        found = self._project(identity, headers, payload)
        if found is None:
            return Scope(namespace=person.namespace(client), client=client)
        project, source = found
        namespace = person.namespace(project)
        if not self.enabled:  # project_scopes: false: a project is a namespace of its own, as before
            return Scope(namespace=namespace, client=client, project=project, project_from=source)
        person_wide = self.person if person.name is None else person_namespace(person.name)
        return Scope(
            namespace=namespace, client=client, person=person_wide, project=project, project_from=source
        )

    def _project(
        self, identity: ClientIdentity, headers: Mapping[str, str], payload: Mapping[str, Any] | None
    ) -> tuple[str, str] | None:
        named = headers.get(PROJECT_HEADER)
        if named is not None:
            return _named_project(named.strip()), PROJECT_HEADER
        if payload is None:
            return None
        rules = [(p, regex) for p, regex in self._patterns if p is identity.matched_pattern]
        if not rules:
            return None
        text = request_texts(payload)
        for pattern, regex in rules:
            match = regex.search(text)
            if match and match.group("path").strip():
                return project_id(match.group("path").strip()), f"{pattern.user_id} working directory"
        return None


def _named_project(value: str) -> str:
    """``x-memory-project``: an absolute path (the project of that directory) or a project id as is. A path
    is taken as written: the client resolves ``~`` and symlinks (a coding agent reports the resolved working
    directory, and the interceptor resolves its own), since the proxy may run on another machine."""
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        return project_id(value)
    if value.startswith("~"):
        raise InvalidRequest(
            f"Invalid {PROJECT_HEADER}: send an absolute path ('~' is the client's to expand).",
            param=PROJECT_HEADER,
        )
    if not _USER_ID.fullmatch(value) or value.startswith("person:") or not value.strip("."):
        raise InvalidRequest(
            f"Invalid {PROJECT_HEADER}: an absolute path, or a project id of 1-128 letters, digits, "
            "'.', '_', ':' or '-' (not 'person:...', which names a person's memory).",
            param=PROJECT_HEADER,
        )
    return value


def person_namespace(person: str | None) -> str:
    """``person:<name>``: where a person's memories that hold in every project are kept; ``None`` is this
    machine's user."""
    name = person or _this_machines_user()
    return "person:" + (_INVALID_ID_CHARS.sub("-", name.lower()).strip("-") or "me")[:100]


def namespace_kind(namespace: str) -> str:
    """What a namespace holds: a person's memories (``person:sam``), a project's (its id ends in its path's
    6-hex hash, as :func:`project_id` makes it), or a client's."""
    if namespace.startswith("person:"):
        return "person"
    return "project" if _PROJECT_SUFFIX.search(namespace) else "client"


_PROJECT_SUFFIX = re.compile(r"-[0-9a-f]{6}$")


def _this_machines_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): still one person
        return "me"

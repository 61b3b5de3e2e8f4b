"""``memory-proxy``: inspect what the proxy would do, and what it remembers, without running it."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from starlette.datastructures import Headers

from proxy import __version__
from proxy.cli_support import ConfigOption, load_config_or_exit
from proxy.config import ContextRetrieval
from proxy.errors import ProxyError
from proxy.identification import ClientIdentifier, validate_user_id
from proxy.interceptor.cli import interceptor_app
from proxy.memory.stores import journal_folder, open_store
from proxy.memory.stores.base import ExportableStore, MemoryRecord, MemoryStore, MemoryStoreError
from proxy.memory.transfer import (
    ExportFileError,
    already_there,
    import_memories,
    move_memories,
    read_export,
    write_export,
)
from proxy.people import OWNER, PERSON_NAME_PATTERN, Person
from proxy.scopes import namespace_kind
from proxy.service_unit import UNIT_NAME, UnitSpec, unit_path, unit_text

__all__ = [
    "app",
    "check_config",
    "main",
    "memories_clients",
    "memories_export",
    "memories_forget",
    "memories_import",
    "memories_list",
    "memories_move",
    "memories_projects",
    "memories_search",
    "route",
    "systemd_unit",
    "version",
]

app = typer.Typer(help="litellm-memory-proxy: tools for the memory proxy.", no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
"""For commands whose standard output is data (an export): what they say goes to standard error."""


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command("systemd-unit")
def systemd_unit(
    config_file: Annotated[Path, typer.Option("--config", "-c", help="The config the service runs on")],
    system: Annotated[
        bool, typer.Option("--system", help="A machine's service (a team's proxy), not your session's")
    ] = False,
    run_as: Annotated[
        str | None, typer.Option("--run-as", help="The user a --system service runs as (not root)")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, max=64, help="Server processes")] = None,
    environment_file: Annotated[
        Path | None,
        typer.Option("--environment-file", help="A file of NAME=value lines the service reads (its keys)"),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Write it where systemd looks, not to stdout")
    ] = False,
) -> None:
    """A systemd unit that keeps the proxy running (printed, or written with --write)."""
    config_file = config_file.expanduser().resolve()
    config = load_config_or_exit(config_file, errors)  # a unit on a config that cannot start helps nobody
    store = config.context_retrieval.local_store_path
    own_store = config.context_retrieval.provider == "local" and store not in (None, ":memory:")
    if system and run_as in (None, "root"):
        raise typer.BadParameter(
            "a --system service runs as a user of its own: name one", param_hint="--run-as"
        )
    spec = UnitSpec(
        config=config_file,
        system=system,
        run_as=run_as,
        workers=workers,
        environment_file=environment_file.expanduser().resolve() if environment_file else None,
        data_dir=Path(store).expanduser().resolve().parent if own_store and store else None,
    )
    text = unit_text(spec)
    if not write:
        sys.stdout.write(text)
        return
    target = unit_path(system)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        errors.print(
            f"[red]cannot write {target}:[/red] {exc.strerror}" + (" (run as root)" if system else "")
        )
        raise typer.Exit(1) from None
    scope = "" if system else " --user"
    errors.print(f"wrote {target}; start it now and at every boot with:")
    errors.print(f"  systemctl{scope} daemon-reload && systemctl{scope} enable --now {UNIT_NAME}")
    if not system:
        errors.print(
            f"  (and `loginctl enable-linger {getpass.getuser()}` to keep it running after you log out)"
        )


@app.command("check-config")
def check_config(config_file: ConfigOption = None) -> None:
    """Validate the config file and summarise it (exit 2 when it is invalid)."""
    config = load_config_or_exit(config_file, console)
    settings = config.memory_proxy
    console.print(f"config: {config.source}")
    console.print(f"models: {', '.join(config.model_names) or '(none)'}")
    console.print(f"backend: {settings.backend} on {settings.host}:{settings.port}")
    if settings.keys:
        people = ", ".join(k.person + (" (admin)" if k.admin else "") for k in settings.keys)
        console.print(f"proxy key required: yes, one per person: {people}")
    else:
        console.print(f"proxy key required: {'yes' if settings.auth_key else 'no'}")


@app.command()
def route(
    header: Annotated[
        list[str], typer.Option("--header", "-H", help="NAME: VALUE, as a client would send it")
    ],
    config_file: ConfigOption = None,
) -> None:
    """Show which memory namespace a request with these headers would use."""
    pairs = []
    for item in header:
        name, sep, value = item.partition(":")
        if not sep:
            raise typer.BadParameter(f"expected 'NAME: VALUE', got {item!r}", param_hint="--header")
        pairs.append((name.strip().lower().encode(), value.strip().encode()))
    identifier = ClientIdentifier(load_config_or_exit(config_file, console).user_id_mappings)
    try:
        result = identifier.identify(Headers(raw=pairs))
    except ProxyError as exc:
        console.print(f"[red]rejected:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print_json(data=result.as_info())


memories = typer.Typer(
    help="See and delete what is remembered: a project's memory, a person's, or a client's (its namespace).",
    no_args_is_help=True,
)
app.add_typer(memories, name="memories")
UserOption = Annotated[
    str,
    typer.Option(
        "--user",
        "-u",
        "--project",
        help="The namespace: a project's id (billing-api-3f9c1e), person:<name>, or a client id (pycharm-ai)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts")]
PersonOption = Annotated[
    str | None,
    typer.Option("--person", help="Only the memories of this person of memory_proxy.keys (a team's proxy)"),
]


def _person(name: str | None) -> Person:
    """The person ``--person`` names (their namespaces only), or everyone's when it is not given."""
    if name is None:
        return OWNER
    if not re.fullmatch(PERSON_NAME_PATTERN, name):
        raise typer.BadParameter("a person's name as memory_proxy.keys gives it", param_hint="--person")
    return Person(name)


app.add_typer(interceptor_app, name="interceptor")


def _with_store(config_file: Path | None, action: Callable[[MemoryStore], Awaitable[Any]]) -> Any:
    return _on_store(load_config_or_exit(config_file, console).context_retrieval, action, console)


def _on_store(
    settings: ContextRetrieval, action: Callable[[MemoryStore], Awaitable[Any]], out: Console
) -> Any:
    """Run ``action`` on the configured store, closed afterwards; its failures as one line on ``out``."""

    async def run() -> Any:
        store = open_store(settings)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except MemoryStoreError as exc:
        out.print(f"[red]memory store error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except ProxyError as exc:  # an invalid --user
        out.print(f"[red]rejected:[/red] {escape(exc.message)}")
        raise typer.Exit(2) from None


def _print_records(
    records: list[MemoryRecord], empty: str, *, ranked: bool = False, as_json: bool = False
) -> None:
    if as_json:
        for record in records:
            sys.stdout.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        return
    if not records:
        console.print(empty)
        return
    table = Table(show_lines=False)
    table.add_column("id", no_wrap=True, min_width=len(records[0].id))  # a command needs it whole
    table.add_column("when", no_wrap=True)
    if ranked:
        table.add_column("found by")
        table.add_column("score")
    table.add_column("memory")
    for record in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at)) if record.created_at else ""
        found = [record.signal, f"{record.score:.3f}"] if ranked else []
        path = record.metadata.get("memory_file")  # a file of the memory tool's /memories
        shown = (
            f"[bold]{escape(path)}[/bold]\n{escape(record.content)}"
            if isinstance(path, str)
            else escape(record.content)
        )
        table.add_row(record.id, when, *found, shown)
    console.print(table)


@memories.command("list")
def memories_list(
    user: UserOption,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    as_json: JsonOption = False,
    config_file: ConfigOption = None,
) -> None:
    """List a namespace's memories, newest first."""
    records = _with_store(
        config_file, lambda store: store.list(validate_user_id(user, source="--user"), limit=limit)
    )
    _print_records(records, f"no memories for {user}", as_json=as_json)


@memories.command("search")
def memories_search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    user: UserOption,
    limit: Annotated[int, typer.Option(help="At most this many")] = 10,
    as_json: JsonOption = False,
    config_file: ConfigOption = None,
) -> None:
    """Search a namespace's memories as recall would (by words, and by meaning once the model has loaded)."""

    async def search(store: MemoryStore) -> list[MemoryRecord]:
        user_id = validate_user_id(user, source="--user")
        await store.wait_for_model(60)  # a one-off search may wait for the model, as no request would
        return await store.search(user_id, query, limit=limit)

    records = _with_store(config_file, search)
    _print_records(records, f"no memories of {user} match {query!r}", ranked=True, as_json=as_json)


@memories.command("clients")
def memories_clients(
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only namespaces of this kind: project, person or client")
    ] = None,
    person: PersonOption = None,
    as_json: JsonOption = False,
    config_file: ConfigOption = None,
) -> None:
    """Every namespace with memories: projects, people and clients, with how many and the newest's time."""
    settings = load_config_or_exit(config_file, errors).context_retrieval

    async def listed(store: MemoryStore) -> list[Any]:
        if not isinstance(store, ExportableStore):
            errors.print(
                f"[red]not supported:[/red] the {settings.provider} store cannot list its namespaces"
            )
            raise typer.Exit(2)
        return await store.users()

    rows = [
        (client, namespace_kind(client.user_id))
        for client in _on_store(settings, listed, errors)
        if (kind is None or namespace_kind(client.user_id) == kind) and _person(person).sees(client.user_id)
    ]
    if as_json:
        for client, of in rows:
            entry = {
                "namespace": client.user_id,
                "kind": of,
                "memories": client.memories,
                "newest": client.newest,
            }
            sys.stdout.write(json.dumps(entry) + "\n")
        return
    table = Table("namespace", "kind", "memories", "newest")
    for client, of in rows:
        newest = time.strftime("%Y-%m-%d %H:%M", time.localtime(client.newest)) if client.newest else ""
        table.add_row(escape(client.user_id), of, f"{client.memories:,}", newest)
    console.print(table if rows else "no memories")


@memories.command("projects")
def memories_projects(as_json: JsonOption = False, config_file: ConfigOption = None) -> None:
    """The projects with memories (``memories clients --kind project``)."""
    memories_clients(kind="project", as_json=as_json, config_file=config_file)


@memories.command("forget")
def memories_forget(
    user: UserOption,
    memory_id: Annotated[str | None, typer.Option("--id", help="Forget only this memory")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before forgetting everything")] = False,
    config_file: ConfigOption = None,
) -> None:
    """Forget one memory (--id: the whole id or a unique start of it) or everything in a namespace."""
    if memory_id is None and not yes:
        typer.confirm(f"Forget everything remembered about {user}?", abort=True)

    async def forget(store: MemoryStore) -> int:
        namespace = validate_user_id(user, source="--user")
        if memory_id is None:
            return await store.forget(namespace)
        return await store.forget(namespace, await _whole_id(store, namespace, memory_id))

    count = _with_store(config_file, forget)
    console.print(f"forgot {count} memor{'y' if count == 1 else 'ies'} of {user}")


@memories.command("move")
def memories_move(
    user: UserOption,
    to: Annotated[
        str, typer.Option("--to", help="The namespace it goes to: person:<name>, a project's id, a client id")
    ],
    memory_id: Annotated[
        str | None, typer.Option("--id", help="Only this memory (or a unique start)")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every memory of --user")] = False,
    config_file: ConfigOption = None,
) -> None:
    """Move memories to another namespace: a project fact taken for yours back to its project, what you
    said of yourself to person:<name>, or a client's memories from before projects into one."""
    if (memory_id is None) == (not everything):
        raise typer.BadParameter("give either --id ID or --all", param_hint="--id / --all")

    async def move(store: MemoryStore) -> int:
        source = validate_user_id(user, source="--user")
        target = validate_user_id(to, source="--to")
        only = None if memory_id is None else {await _whole_id(store, source, memory_id)}
        return await move_memories(store, source, target, only)

    count = _with_store(config_file, move)
    console.print(f"moved {_memories(count)} from {user} to {to}")


async def _whole_id(store: MemoryStore, namespace: str, given: str) -> str:
    """The id of ``namespace``'s one memory whose id starts with ``given`` (exit 1 when none or several)."""
    matching = [r.id for r in await store.list(namespace, limit=1_000_000) if r.id.startswith(given)]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        errors.print(f"[red]no memory of {escape(namespace)} has an id starting {escape(given)!r}[/red]")
    else:
        shown = ", ".join(matching[:5]) + (" ..." if len(matching) > 5 else "")
        errors.print(
            f"[red]{len(matching)} memories of {escape(namespace)} start {escape(given)!r}:[/red] {shown}"
        )
    raise typer.Exit(1)


@memories.command("export")
def memories_export(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this client's memories")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every client's memories")] = False,
    person: PersonOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Write memories to standard output, one JSON object per line, for `memories import` into any store."""
    everyone = everyone or person is not None
    if (user is None) == (not everyone):
        raise typer.BadParameter("give either --user ID, --all or --person NAME", param_hint="--user / --all")
    settings = load_config_or_exit(config_file, errors).context_retrieval

    async def export(store: MemoryStore) -> tuple[int, int]:
        if not isinstance(store, ExportableStore):
            errors.print(
                f"[red]not supported:[/red] the {settings.provider} store cannot list every memory of its "
                "clients, so it cannot be exported (see ExportableStore in proxy/memory/stores/base.py)"
            )
            raise typer.Exit(2)
        only = validate_user_id(user, source="--user") if user is not None else None
        return await write_export(store, settings.provider, only, sys.stdout.write, _person(person))

    count, clients = _on_store(settings, export, errors)
    whose = user if user is not None else f"{clients:,} client{'' if clients == 1 else 's'}"
    if person is not None:
        whose = f"{person} ({whose})"
    errors.print(f"exported {_memories(count)} of {whose} from the {settings.provider} store")


@memories.command("import")
def memories_import(
    source: Annotated[
        typer.FileBinaryRead,
        typer.Argument(help="A file `memories export` wrote, or - for standard input"),
    ],
    config_file: ConfigOption = None,
) -> None:
    """Store the memories of an export in the configured store; importing a file again doubles nothing."""
    settings = load_config_or_exit(config_file, errors).context_retrieval
    try:
        memories = read_export(source)
    except ExportFileError as exc:
        errors.print(f"[red]cannot import:[/red] {escape(str(exc))}; nothing was written")
        raise typer.Exit(2) from None

    async def store_them(store: MemoryStore) -> int | None:
        there = await already_there(store, memories)
        await import_memories(store, memories, journal=journal_folder(settings) if settings.journal else None)
        return there

    there = _on_store(settings, store_them, errors)
    clients = len({memory.user_id for memory in memories})
    counted = "" if there is None else f": {len(memories) - there:,} new, {there:,} already there (replaced)"
    errors.print(
        f"imported {_memories(len(memories))} of {clients:,} client{'' if clients == 1 else 's'} "
        f"into the {settings.provider} store{counted}"
    )
    if settings.provider == "supermemory":
        errors.print("Supermemory indexes them itself, and times them by when they arrived")
    elif settings.semantic:
        errors.print(
            "vectors for recall by meaning are not in the file: the store made them as it wrote where "
            "its embedding model had loaded, and makes the rest in the background when the proxy runs"
        )


def _memories(count: int) -> str:
    return f"{count:,} memor{'y' if count == 1 else 'ies'}"


def main() -> None:
    app()

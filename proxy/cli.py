"""``memory-proxy``: inspect what the proxy would do, and what it remembers, without running it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from starlette.datastructures import Headers

from proxy import __version__
from proxy.cli_support import ConfigOption, load_config_or_exit
from proxy.errors import ProxyError
from proxy.identification import ClientIdentifier, validate_user_id
from proxy.interceptor.cli import interceptor_app
from proxy.memory.base import MemoryRecord, MemoryServiceError, MemoryStore
from proxy.memory.service import open_store

__all__ = [
    "app",
    "check_config",
    "main",
    "memories_forget",
    "memories_list",
    "memories_search",
    "route",
    "version",
]

app = typer.Typer(help="litellm-memory-proxy: tools for the memory proxy.", no_args_is_help=True)
console = Console(highlight=False)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command("check-config")
def check_config(config_file: ConfigOption = None) -> None:
    """Validate the config file and summarise it (exit 2 when it is invalid)."""
    config = load_config_or_exit(config_file, console)
    settings = config.memory_proxy
    console.print(f"config: {config.source}")
    console.print(f"models: {', '.join(config.model_names) or '(none)'}")
    console.print(f"backend: {settings.backend} on {settings.host}:{settings.port}")
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
    help="See and delete what is remembered about a client (its user_id).", no_args_is_help=True
)
app.add_typer(memories, name="memories")
UserOption = Annotated[str, typer.Option("--user", "-u", help="The client's user_id, e.g. pycharm-ai")]
app.add_typer(interceptor_app, name="interceptor")


def _with_store(config_file: Path | None, action: Callable[[MemoryStore], Awaitable[Any]]) -> Any:
    settings = load_config_or_exit(config_file, console).context_retrieval

    async def run() -> Any:
        store = open_store(settings)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except MemoryServiceError as exc:
        console.print(f"[red]memory service error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except ProxyError as exc:  # an invalid --user
        console.print(f"[red]rejected:[/red] {escape(exc.message)}")
        raise typer.Exit(2) from None


def _print_records(records: list[MemoryRecord], empty: str, *, ranked: bool = False) -> None:
    if not records:
        console.print(empty)
        return
    columns = ["id", "when", *(["found by", "score"] if ranked else []), "memory"]
    table = Table(*columns, show_lines=False)
    for record in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at)) if record.created_at else ""
        found = [record.signal, f"{record.score:.3f}"] if ranked else []
        table.add_row(record.id, when, *found, escape(record.content))
    console.print(table)


@memories.command("list")
def memories_list(
    user: UserOption,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    config_file: ConfigOption = None,
) -> None:
    """List a client's memories, newest first."""
    records = _with_store(
        config_file, lambda store: store.list(validate_user_id(user, source="--user"), limit=limit)
    )
    _print_records(records, f"no memories for {user}")


@memories.command("search")
def memories_search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    user: UserOption,
    limit: Annotated[int, typer.Option(help="At most this many")] = 10,
    config_file: ConfigOption = None,
) -> None:
    """Search a client's memories as recall would (by words, and by meaning once the model has loaded)."""

    async def search(store: MemoryStore) -> list[MemoryRecord]:
        user_id = validate_user_id(user, source="--user")
        await store.wait_for_model(60)  # a one-off search may wait for the model, as no request would
        return await store.search(user_id, query, limit=limit)

    records = _with_store(config_file, search)
    _print_records(records, f"no memories of {user} match {query!r}", ranked=True)


@memories.command("forget")
def memories_forget(
    user: UserOption,
    memory_id: Annotated[str | None, typer.Option("--id", help="Forget only this memory")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before forgetting everything")] = False,
    config_file: ConfigOption = None,
) -> None:
    """Forget one memory (--id) or everything remembered about a client."""
    if memory_id is None and not yes:
        typer.confirm(f"Forget everything remembered about {user}?", abort=True)
    count = _with_store(
        config_file, lambda store: store.forget(validate_user_id(user, source="--user"), memory_id)
    )
    console.print(f"forgot {count} memor{'y' if count == 1 else 'ies'} of {user}")


def main() -> None:
    app()

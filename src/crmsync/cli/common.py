"""Shared pieces of the CLI: consoles, the config option, running a coroutine against a service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crmsync.errors import ConfigError, CrmsyncError, Recovery

console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="CRMSYNC_CONFIG", help="config file (YAML)", show_default=False),
]


def fail(exc: CrmsyncError) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2 if isinstance(exc, ConfigError) or exc.recovery is Recovery.FATAL else 1)


def run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except CrmsyncError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: progress up to the last checkpoint is kept; run again to resume")
        raise typer.Exit(130) from None


def service(config: Path) -> Any:
    from crmsync.config import load_config
    from crmsync.service import Service

    return Service(load_config(config))


def run_async(config: Path, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Open the service for ``config``, run ``fn(service)``, close it; errors become exit codes."""

    async def go() -> Any:
        svc = service(config)
        try:
            return await fn(svc)
        finally:
            await svc.aclose()

    return run(go())

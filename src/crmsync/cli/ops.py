"""``crmsync dlq ...`` and ``crmsync log ...``: operating on failures and the sync log."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from crmsync.cli.common import ConfigOpt, console, run_async

dlq_app = typer.Typer(
    help="Dead letters: deliveries that failed for good, kept with their context.", no_args_is_help=True
)


IdsArg = Annotated[list[int] | None, typer.Argument(help="dead letter ids")]
AllOpt = Annotated[bool, typer.Option("--all", help="every open dead letter")]


def _chosen(svc: Any, ids: list[int] | None, all_open: bool) -> list[int]:
    """The letters a replay or discard acts on: the given ids, or every open one with ``--all``."""
    chosen = [d.id for d in svc.dlq_list("open", limit=100_000)] if all_open else list(ids or [])
    if not chosen:
        raise typer.BadParameter("give dead letter ids or --all")
    return chosen


def _dump(obj: Any) -> str:
    return json.dumps(asdict(obj) if hasattr(obj, "__dataclass_fields__") else obj, default=str, indent=2)


@dlq_app.command("list")
def dlq_list(
    config: ConfigOpt,
    status: Annotated[str, typer.Option(help="open | replayed | discarded | all")] = "open",
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List dead letters (open ones by default)."""

    async def go(svc: Any) -> Any:
        return svc.dlq_list(None if status == "all" else status, limit=limit)

    letters = run_async(config, go)
    if as_json:
        print(json.dumps([asdict(d) for d in letters], default=str))
        return
    table = Table(title=f"dead letters ({status})")
    for col in ("id", "flow", "record", "reason", "attempts", "last failed", "status"):
        table.add_column(col)
    for d in letters:
        table.add_row(
            str(d.id),
            d.flow,
            f"{d.kind}:{d.record_key}",
            d.reason[:80],
            str(d.attempts),
            d.last_failed_at.isoformat(timespec="seconds"),
            d.status,
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(letter_id: Annotated[int, typer.Argument(help="dead letter id")], config: ConfigOpt) -> None:
    """Everything kept about one dead letter: payload, reason, field, status, detail, correlation id,
    and the record's last requests and responses from the sync log."""

    async def go(svc: Any) -> Any:
        letter = svc.dlq_get(letter_id)
        return {**asdict(letter), "requests": [asdict(e) for e in svc.dlq_requests(letter)]}

    console.print_json(_dump(run_async(config, go)))


@dlq_app.command("replay")
def dlq_replay(
    config: ConfigOpt,
    ids: IdsArg = None,
    all_open: AllOpt = False,
) -> None:
    """Send the records through the normal pipeline again (idempotent)."""

    async def go(svc: Any) -> Any:
        chosen = _chosen(svc, ids, all_open)
        return await svc.dlq_replay(chosen)

    results = run_async(config, go)
    failed = 0
    for letter_id, outcome in results.items():
        console.print(f"{letter_id}: {outcome}")
        failed += outcome.startswith("failed")
    raise typer.Exit(1 if failed else 0)


@dlq_app.command("discard")
def dlq_discard(
    config: ConfigOpt,
    ids: IdsArg = None,
    all_open: AllOpt = False,
) -> None:
    """Resolve dead letters without delivering them (kept for the record, status 'discarded')."""

    async def go(svc: Any) -> Any:
        chosen = _chosen(svc, ids, all_open)
        return svc.dlq_discard(chosen)

    console.print(f"discarded {run_async(config, go)}")


def log_command(
    config: ConfigOpt,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id", help="one correlation id")] = None,
    record: Annotated[str | None, typer.Option("--record", help="KIND:ID, e.g. customer:3cd...")] = None,
    limit: Annotated[int, typer.Option(help="at most this many entries")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The sync log: every outbound request for a correlation id or a record (the latest without)."""

    async def go(svc: Any) -> Any:
        return svc.log_entries(correlation_id=correlation_id, record=record, limit=limit)

    entries = run_async(config, go)
    if as_json:
        print(json.dumps([asdict(e) for e in entries], default=str))
        return
    table = Table(title="sync log")
    for col in ("at", "connection", "request", "status", "ms", "attempt", "correlation id", "record"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e.at.isoformat(timespec="milliseconds"),
            e.connection,
            f"{e.method} {e.url}",
            str(e.status or e.error or ""),
            f"{e.latency_ms:.0f}",
            str(e.attempt),
            e.correlation_id or "",
            f"{e.kind}:{e.record_key}" if e.record_key else "",
        )
    console.print(table)


__all__ = ["dlq_app", "log_command"]

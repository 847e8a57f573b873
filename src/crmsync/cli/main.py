"""``crmsync`` command line: a thin layer over the service layer.

Every option can also be set through an environment variable (shown in ``--help``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmsync import __version__
from crmsync.cli.common import ConfigOpt, console, err
from crmsync.cli.common import fail as _fail
from crmsync.cli.common import run as _run
from crmsync.cli.common import service as _service
from crmsync.cli.ops import dlq_app, log_command
from crmsync.cli.privacy import erase_command, explain_command, review_duplicates_command
from crmsync.errors import CrmsyncError
from crmsync.sync_jobs import JobConflictError

app = typer.Typer(
    name="crmsync",
    help="Commerce <-> CRM sync engine: customers, orders and consent, in bulk and in near real time.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
mapping_app = typer.Typer(
    help="Check mapping contracts and preview what one record becomes.", no_args_is_help=True
)
emulate_app = typer.Typer(
    help="Run one vendor emulator as a standalone server on 127.0.0.1.", no_args_is_help=True
)
app.add_typer(mapping_app, name="mapping")
app.add_typer(emulate_app, name="emulate")

app.add_typer(dlq_app, name="dlq")
app.command("log")(log_command)
app.command("erase")(erase_command)
app.command("explain")(explain_command)
review_app = typer.Typer(help="Reports for a human to review.", no_args_is_help=True)
review_app.command("duplicates")(review_duplicates_command)
app.add_typer(review_app, name="review")


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", envvar="CRMSYNC_VERBOSE", help="debug logging")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="customers seeded into the commercetools emulator")] = 3000,
    orders: Annotated[int, typer.Option(help="orders seeded (with a catalog); 0 = customers only")] = 3000,
    changes: Annotated[int, typer.Option(help="live changes made after the initial load")] = 150,
    change_rate: Annotated[float, typer.Option(help="live changes per second")] = 25.0,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds in total")] = None,
    stop_when_idle: Annotated[
        float | None,
        typer.Option(help="after the live changes, stop once nothing happened for this many seconds"),
    ] = 3.0,
    forever: Annotated[bool, typer.Option(help="keep syncing and serving until Ctrl-C")] = False,
    rate_limits: Annotated[bool, typer.Option(help="Klaviyo emulator enforces the real rate limits")] = True,
    store: Annotated[
        str | None, typer.Option(help="state store URL (default: a temporary SQLite file)")
    ] = None,
    port: Annotated[int, typer.Option(help="port for the crmsync HTTP API (0 = any free port)")] = 0,
    seed: Annotated[int, typer.Option(help="random seed for the generated data")] = 42,
) -> None:
    """Run the embedded demo: emulators in-process, bulk loads of customers, the catalog and orders,
    then live sync."""
    from crmsync.cli.demo import DemoOptions, run_demo

    opts = DemoOptions(
        customers=customers,
        orders=orders,
        changes=changes,
        change_rate=change_rate,
        duration=duration,
        stop_when_idle=None if forever else stop_when_idle,
        rate_limits=rate_limits,
        store=store,
        port=port,
        seed=seed,
    )
    ok = _run(run_demo(opts, console))
    raise typer.Exit(0 if ok else 1)


@app.command()
def sync(
    entity: Annotated[str, typer.Argument(help="customers | orders | categories | products")],
    config: ConfigOpt,
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="only these source ids (repeat or comma-separate)")
    ] = None,
    flow: Annotated[
        str | None, typer.Option(help="flow name (default: the first that syncs the entity)")
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="ignore the saved checkpoint and start from the beginning")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")] = False,
) -> None:
    """Bulk sync one entity kind (resumable: an interrupted sync continues from its checkpoint)."""
    id_list = [p.strip() for v in (ids or []) for p in v.split(",") if p.strip()] or None

    async def go() -> bool:
        svc = _service(config)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            ) as bar:
                read_task = bar.add_task("read", total=None, info="")
                deliver_task = bar.add_task("deliver", total=None, info="", visible=False)

                def on_progress(job: Any, p: Any) -> None:
                    bar.update(
                        read_task,
                        description=f"job {job.id}: read",
                        completed=p.read,
                        info=f"delivered {p.delivered}  unchanged {p.unchanged}  failed {p.failed}",
                    )
                    if p.phase == "delivering" and p.batch_total:
                        bar.update(deliver_task, visible=True, total=p.batch_total, completed=p.batch_done)

                try:
                    job = await svc.jobs.run(
                        entity, ids=id_list, flow_name=flow, progress=on_progress, restart=restart
                    )
                except JobConflictError as exc:
                    err.print(f"[red]{exc.message}[/]: wait for it, or stop it with POST /sync/{entity}/stop")
                    return False
            counts = {k: v for k, v in job.counts.items() if k not in ("phase", "batch_done", "batch_total")}
            if as_json:
                print(
                    json.dumps(
                        {
                            "complete": job.status == "completed",
                            "job": job.id,
                            "status": job.status,
                            **counts,
                            "failures": job.errors,
                        }
                    )
                )
            else:
                _print_counts(job.id, job.status, counts)
            if job.errors:
                err.print(f"[yellow]{counts.get('failed', len(job.errors))} record(s) failed:[/]")
                for f in job.errors[:20]:
                    field = f" (field {f['field']})" if f.get("field") else ""
                    err.print(f"  {f.get('record_key')}: {f.get('reason')}{field}")
            return job.status == "completed" and not job.errors
        finally:
            await svc.aclose()

    ok = _run(go())
    raise typer.Exit(0 if ok else 1)


def _print_counts(job_id: int, status: str, counts: dict[str, Any]) -> None:
    table = Table(title=f"sync job {job_id}: {status}", show_header=False)
    for k, v in counts.items():
        if isinstance(v, int | float):
            table.add_row(k.replace("_", " "), f"{v:,}")
    console.print(table)


@app.command()
def status(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show flows, checkpoints, inbox and store counts."""

    async def go() -> dict[str, Any]:
        svc = _service(config)
        try:
            return svc.status()  # type: ignore[no-any-return]
        finally:
            await svc.aclose()

    data = _run(go())
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    console.print(f"store: {data['store']}")
    for f in data["flows"]:
        console.print(f"flow [bold]{f['flow']}[/] {f['entity']}: {f['source']} → {f['target']}")
        console.print(f"  bulk checkpoint: {f['bulk']}")
        console.print(f"  feed cursor: {(f['feed'] or {}).get('last_created_at')}")
    if data["unsupported"]:
        console.print(f"not supported yet: {', '.join(data['unsupported'])}")
    console.print(f"inbox: {data['inbox']}")
    console.print(f"counts: {data['counts']}")


@app.command()
def run(
    config: ConfigOpt,
    http: Annotated[bool, typer.Option(help="serve the HTTP API (ingress, status, health)")] = True,
    worker: Annotated[
        bool,
        typer.Option(
            help="a worker: share the feed and the inbox with other processes (PostgreSQL), no HTTP API"
        ),
    ] = False,
) -> None:
    """The long-running service: change feed polling, inbox processing and the HTTP API.

    Any number of ``crmsync run --worker`` processes, on any number of machines, can share one
    PostgreSQL store: records are claimed with leases (one worker per record at a time), one
    worker polls the feed at a time, and a dead worker's claims pass to the others.
    """
    if worker:
        http = False

    async def go() -> None:
        from crmsync.api.app import create_app
        from crmsync.api.server import ApiServer

        svc = _service(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        server = None
        try:
            if http:
                hs = svc.config.http
                server = ApiServer(create_app(svc), hs.host, hs.port)
                url = await server.start()
                err.print(f"crmsync {__version__} serving {url} (health: {url}/health)")
            err.print(f"live sync of {len(svc.flows)} flow(s) started; Ctrl-C to stop")
            await svc.run_live(stop)
        finally:
            if server is not None:
                await server.stop()
            await svc.aclose()

    _run(go())


@mapping_app.command("check")
def mapping_check(
    contract: Annotated[str, typer.Argument(help="'default' or a path to a contract YAML")] = "default",
) -> None:
    """Validate a mapping contract against its schema."""
    from crmsync.mapping import load_contract

    try:
        c = load_contract(contract)
    except CrmsyncError as exc:
        _fail(exc)
        return
    console.print(
        f"[green]ok[/] {c.name} v{c.version}: {c.source.system}.{c.source.entity} → "
        f"{c.target.system}.{c.target.entity}"
    )


@mapping_app.command("preview")
def mapping_preview(
    record_id: Annotated[str, typer.Argument(help="source id of the customer")],
    config: ConfigOpt,
    flow: Annotated[str | None, typer.Option(help="flow name")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show one customer's source fields, its projected payload and the diff against the last delivery."""

    async def go() -> Any:
        svc = _service(config)
        try:
            return await svc.preview(record_id, flow_name=flow)
        finally:
            await svc.aclose()

    pv = _run(go())
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "record_id": pv.record_id,
                    "source_fields": pv.source_fields,
                    "payload": pv.payload,
                    "identifiers": pv.identifiers,
                    "last_delivered": pv.last_delivered,
                    "changes": [
                        {"path": c.path, "kind": c.kind, "old": c.old, "new": c.new} for c in pv.changes
                    ],
                },
                default=str,
            )
        )
        return
    src = Table(title=f"source fields of {record_id}")
    src.add_column("field")
    src.add_column("value")
    for k, v in pv.source_fields.items():
        src.add_row(k, json.dumps(v, default=str, ensure_ascii=False))
    console.print(src)
    console.print_json(json.dumps(pv.payload, default=str), indent=2)
    diff = Table(
        title="changes against the last delivered projection"
        if pv.last_delivered is not None
        else "never delivered: every field is new"
    )
    for col in ("field", "change", "last delivered", "now"):
        diff.add_column(col)
    for c in pv.changes:
        diff.add_row(c.path, c.kind, json.dumps(c.old, default=str), json.dumps(c.new, default=str))
    if not pv.changes:
        diff.add_row("—", "unchanged: no call would be made", "", "")
    console.print(diff)
    for w in pv.warnings:
        err.print(f"[yellow]warning:[/] {w}")


@emulate_app.command("commercetools")
def emulate_commercetools(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8989,
    project_key: Annotated[str, typer.Option(help="project key")] = "demo",
    subscription_url: Annotated[
        str | None, typer.Option(help="deliver messages as Pub/Sub push envelopes to this URL")
    ] = None,
    subscription_format: Annotated[str, typer.Option(help="Platform | CloudEvents")] = "Platform",
    duplicate_rate: Annotated[float, typer.Option(help="share of deliveries sent twice (0..1)")] = 0.0,
    reorder_rate: Annotated[
        float, typer.Option(help="share of deliveries delayed out of order (0..1)")
    ] = 0.0,
    seed_customers: Annotated[int, typer.Option(help="seed this many generated customers")] = 0,
    seed_catalog: Annotated[
        bool, typer.Option(help="seed a category tree and products (implied by --seed-orders)")
    ] = False,
    seed_orders: Annotated[int, typer.Option(help="seed this many orders for the seeded customers")] = 0,
    faults: Annotated[str | None, typer.Option(help=FAULTS_HELP)] = None,
) -> None:
    """The commercetools emulator (any client id/secret accepted)."""
    from crmsync.emulators.commercetools import CommercetoolsEmulator
    from crmsync.emulators.commercetools.seed import generate_customer_drafts

    async def go() -> None:
        emu = CommercetoolsEmulator(
            project_key,
            subscription_url=subscription_url,
            subscription_format=subscription_format,
            duplicate_rate=duplicate_rate,
            reorder_rate=reorder_rate,
            faults=_fault_plan(faults),
        )
        for draft in generate_customer_drafts(seed_customers):
            emu.create_customer(draft)
        if seed_catalog or seed_orders:
            emu.seed_catalog()
        if seed_orders:
            emu.seed_orders(seed_orders)
        url = await emu.start(port)
        err.print(f"commercetools emulator: api_url=auth_url={url} project_key={project_key}")
        await _wait_forever(emu)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())


@emulate_app.command("klaviyo")
def emulate_klaviyo(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8765,
    rate_limits: Annotated[bool, typer.Option(help="enforce the spec's per-endpoint rate limits")] = True,
    faults: Annotated[str | None, typer.Option(help=FAULTS_HELP)] = None,
) -> None:
    """The Klaviyo emulator (any pk_ key accepted)."""
    from crmsync.emulators.klaviyo import KlaviyoEmulator

    async def go() -> None:
        emu = KlaviyoEmulator(rate_limits=rate_limits, faults=_fault_plan(faults))
        url = await emu.start(port)
        err.print(f"klaviyo emulator: base_url={url} rate_limits={'on' if rate_limits else 'off'}")
        await _wait_forever(emu)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())


FAULTS_HELP = (
    "fault injection, e.g. 'error=0.2,throttle=0.1,timeout=0.05,reset=0.01,latency=20,"
    "after_effect=0.5,seed=1'; switch at run time with PUT /__emulator/faults"
)


def _fault_plan(spec: str | None) -> Any:
    if not spec:
        return None
    from crmsync.emulators.faults import FaultPlanError, parse_fault_spec

    try:
        return parse_fault_spec(spec)
    except FaultPlanError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None


async def _wait_forever(emu: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main() -> None:
    try:
        app()
    except CrmsyncError as exc:  # pragma: no cover - commands handle their own
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()

"""``crmsync demo``: the embedded default — emulators in-process, bulk load, live sync, summary.

No credentials, no services, no network: the commercetools and Klaviyo emulators run in this
process on 127.0.0.1, the state store is a temporary SQLite file, and the real connectors, engine,
store and HTTP API do the work exactly as they would against the vendors.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmsync.api.app import create_app
from crmsync.api.server import ApiServer
from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts, generate_update_actions
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.engine import BulkProgress
from crmsync.ports import LISTS
from crmsync.service import Service

LIST_NAME = "{store} customers"  # the demo's per-store Klaviyo lists


@dataclass
class DemoOptions:
    customers: int = 3000
    orders: int = 3000
    changes: int = 150
    change_rate: float = 25.0
    duration: float | None = None
    stop_when_idle: float | None = 3.0
    rate_limits: bool = True
    store: str | None = None
    port: int = 0
    seed: int = 42


def demo_config(ct_url: str, klaviyo_url: str, store: str, port: int, admin_token: str) -> dict[str, Any]:
    return {
        "store": store,
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "demo",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "demo-client",
                "client_secret": "demo-secret",
                "poll_overlap_seconds": 2.0,
            },
            "marketing": {"type": "klaviyo", "api_key": "pk_demo_0000000000", "base_url": klaviyo_url},
        },
        "http": {"listen": f"127.0.0.1:{port}", "admin_token": admin_token},
        "flows": [
            {
                "name": "shop-to-klaviyo",
                "source": "shop",
                "target": "marketing",
                "entities": ["customer", "order", "category", "product"],
                "poll_interval_seconds": 0.5,
                "segmentation": {"store_lists": True, "list_name": LIST_NAME},
            }
        ],
    }


async def run_demo(opts: DemoOptions, console: Console) -> bool:
    started = time.monotonic()
    ct = CommercetoolsEmulator("demo", seed=opts.seed)
    kl = KlaviyoEmulator(rate_limits=opts.rate_limits, seed=opts.seed)
    ct_url = await ct.start()
    kl_url = await kl.start()
    tmp = tempfile.TemporaryDirectory(prefix="crmsync-demo-")
    store = opts.store or f"sqlite:///{Path(tmp.name) / 'crmsync.db'}"
    admin_token = secrets.token_urlsafe(16)
    service: Service | None = None
    server: ApiServer | None = None
    try:
        console.rule("[bold]crmsync demo")
        console.print(f"commercetools emulator  {ct_url}  (project 'demo')")
        console.print(
            f"Klaviyo emulator        {kl_url}  (rate limits {'on' if opts.rate_limits else 'off'})"
        )
        console.print(f"state store             {store}")

        all_drafts = generate_customer_drafts(opts.customers + max(1, opts.changes // 5), seed=opts.seed)
        drafts, extra_drafts = all_drafts[: opts.customers], all_drafts[opts.customers :]
        for draft in drafts:
            ct.create_customer(draft)
        console.print(f"seeded {len(drafts):,} customers (addresses, stores, locales, custom fields)")
        if opts.orders:
            ct.seed_catalog(seed=opts.seed)
            ct.seed_orders(opts.orders, seed=opts.seed)
            console.print(
                f"seeded {len(ct.categories)} categories, {len(ct.products)} products and "
                f"{len(ct.orders):,} orders (guests, shipments, cancellations, refunds)"
            )

        cfg = parse_config(demo_config(ct_url, kl_url, store, opts.port, admin_token))
        service = Service(cfg)
        server = ApiServer(create_app(service), "127.0.0.1", opts.port)
        api_url = await server.start()
        console.print(f"crmsync HTTP API        {api_url}  (GET /health; admin token {admin_token})")

        # 1. initial load --------------------------------------------------------------------
        console.rule("1. initial bulk load (commercetools keyset pages → Klaviyo bulk import jobs)")
        t0 = time.monotonic()
        with Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            read_t = bar.add_task("read", total=len(drafts))
            job_t = bar.add_task("import", total=None, visible=False)

            def on_progress(p: BulkProgress) -> None:
                bar.update(read_t, completed=p.read)
                if p.phase == "delivering" and p.batch_total:
                    bar.update(job_t, visible=True, total=p.batch_total, completed=p.batch_done)

            complete, bulk = await service.sync("customers", progress=on_progress)
        bulk_secs = time.monotonic() - t0
        console.print(
            f"read {bulk.read:,}, delivered {bulk.delivered:,}, "
            f"{bulk.failed} failed, {bulk.target_writes} Klaviyo write request(s), {bulk_secs:.1f}s"
        )

        # 1b. catalog and orders ----------------------------------------------------------------
        commerce = await _commerce_backfill(service, console) if opts.orders else None

        # 2. live changes --------------------------------------------------------------------
        console.rule("2. live sync (commercetools Messages API → inbox → Klaviyo profile-import)")
        flow = service.flow("customer")
        flow.stats = type(flow.stats)()
        writes_before = service.requests.writes["marketing"]
        stop = asyncio.Event()
        last_activity = time.monotonic()

        def on_cycle(busy: bool) -> None:
            nonlocal last_activity
            if busy:
                last_activity = time.monotonic()

        live_task = asyncio.create_task(service.run_live(stop, on_cycle=on_cycle))
        made = {"updates": 0, "creates": 0, "noops": 0}
        rng = random.Random(opts.seed)

        async def make_changes() -> None:
            nonlocal last_activity
            ids = list(ct.customers)
            new_drafts = extra_drafts
            for _ in range(opts.changes):
                roll = rng.random()
                if roll < 0.1 and new_drafts:
                    created = ct.create_customer(new_drafts.pop())
                    ids.append(created["id"])
                    made["creates"] += 1
                elif roll < 0.2:  # a change that does not alter the projection: no Klaviyo call
                    c = ct.get_customer(rng.choice(ids))
                    if c is not None:  # pragma: no branch
                        ct.update_customer(
                            c["id"],
                            c["version"],
                            [{"action": "setFirstName", "firstName": c.get("firstName")}],
                        )
                        made["noops"] += 1
                else:
                    c = ct.get_customer(rng.choice(ids))
                    if c is not None:
                        ct.update_customer(c["id"], c["version"], generate_update_actions(c, rng))
                        made["updates"] += 1
                last_activity = time.monotonic()
                await asyncio.sleep(1.0 / opts.change_rate if opts.change_rate > 0 else 0)

        def live_table() -> Table:
            s = flow.stats
            t = Table(show_header=False, box=None)
            t.add_row("changes made", f"{sum(made.values())} / {opts.changes}")
            t.add_row("events received", str(s.events_received))
            t.add_row("events processed", str(s.events_processed))
            t.add_row("profiles written", str(s.delivered))
            t.add_row("unchanged (no call)", str(s.unchanged))
            t.add_row("Klaviyo write requests", str(service.requests.writes["marketing"] - writes_before))
            return t

        changer = asyncio.create_task(make_changes())
        with Live(live_table(), console=console, refresh_per_second=4) as live:
            while True:
                await asyncio.sleep(0.25)
                live.update(live_table())
                now = time.monotonic()
                if opts.duration is not None and now - started >= opts.duration:
                    break
                if changer.done() and opts.stop_when_idle is not None:
                    pending = service.store.inbox_counts().get("pending", 0)
                    if pending == 0 and now - last_activity >= opts.stop_when_idle:
                        break
        changer.cancel()
        stop.set()
        await live_task
        live_stats = flow.stats
        live_writes = service.requests.writes["marketing"] - writes_before

        # 3. reconciliation --------------------------------------------------------------------
        console.rule("3. reconciliation (full delta sync: only what differs is written)")
        _, recon = await service.sync("customers", resume=False)
        console.print(
            f"compared {recon.read:,} customers: {recon.unchanged:,} unchanged, {recon.delivered} written "
            f"({recon.target_writes} write request(s))"
        )
        if recon.delivered:
            console.print(
                "  [dim]written: changes that produce no Message (e.g. setLocale) — in production the "
                "Subscription's ResourceUpdated change notifications reach the ingress for those[/]"
            )

        # 4. verification --------------------------------------------------------------------
        matched, mismatched = _verify(ct, kl, flow.projector)
        summary = Table(title="crmsync demo — summary", show_header=False)
        summary.add_row("customers in commercetools", f"{len(ct.customers):,}")
        guests = sum(1 for p in kl.profiles.values() if not p.get("external_id"))
        summary.add_row(
            "profiles in Klaviyo",
            f"{len(kl.profiles):,}" + (f" (incl. {guests:,} guest buyers from orders)" if guests else ""),
        )
        summary.add_row(
            "initial load",
            f"{bulk.delivered:,} profiles in {bulk.target_writes} Klaviyo write request(s), "
            f"{bulk.read / bulk_secs if bulk_secs else 0:,.0f} customers/s",
        )
        summary.add_row(
            "live changes made",
            f"{made['updates']} updates, {made['creates']} new customers, {made['noops']} no-op updates",
        )
        summary.add_row(
            "live sync",
            f"{live_stats.events_received} events → {live_stats.delivered} profile "
            f"writes, {live_stats.unchanged} unchanged (no call), {live_writes} write requests",
        )
        p50, p99 = live_stats.latency_percentile(50), live_stats.latency_percentile(99)
        if p50 is not None and p99 is not None:
            summary.add_row("event stored → Klaviyo write", f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms")
        summary.add_row("reconciliation", f"{recon.delivered} written, {recon.unchanged:,} unchanged")
        commerce_ok = True
        if commerce is not None:
            want_events, want_items = await _expected_commerce(service)
            got_events = {(e["metric_name"], e["unique_id"]) for e in kl.events}
            got_items = {i[len("$custom:::$default:::") :] for i in kl.catalog_items}
            commerce_ok = got_events == want_events and got_items == want_items
            summary.add_row(
                "catalog",
                f"{len(kl.catalog_categories)} categories, {len(kl.catalog_items)} items "
                f"({'as expected' if got_items == want_items else 'DIFFERENT from the source'})",
            )
            summary.add_row(
                "orders",
                f"{commerce['orders']:,} orders → {len(got_events):,} events "
                f"({len(want_events - got_events)} missing), {commerce['event_calls']} Klaviyo calls, "
                f"{commerce['events_per_s']:,.0f} events/s",
            )
        summary.add_row("failures", str(bulk.failed + live_stats.failed + recon.failed))
        lists_ok, lists_note = _verify_lists(ct, kl)
        summary.add_row("store lists", lists_note)
        summary.add_row("verified", f"{matched:,} profiles match their customer, {mismatched} differ")
        summary.add_row("elapsed", f"{time.monotonic() - started:.1f}s")
        console.print(summary)
        return mismatched == 0 and complete and commerce_ok and lists_ok
    finally:
        if server is not None:
            await server.stop()
        if service is not None:
            await service.aclose()
        await ct.stop()
        await kl.stop()
        tmp.cleanup()


async def _commerce_backfill(service: Service, console: Console) -> dict[str, float]:
    console.rule("1b. catalog and orders (catalog bulk jobs; orders → events through event bulk jobs)")
    out: dict[str, float] = {}
    for entity in ("categories", "products", "orders"):
        before = service.requests.writes["marketing"]
        t0 = time.monotonic()
        _, stats = await service.sync(entity)
        secs = time.monotonic() - t0
        calls = service.requests.writes["marketing"] - before
        console.print(
            f"{entity}: read {stats.read:,}, {stats.delivered:,} delivered"
            + (f" as {stats.created:,} events" if entity == "orders" else "")
            + f", {stats.failed} failed, {calls} Klaviyo write request(s), {secs:.1f}s"
        )
        if entity == "orders":
            out = {
                "orders": stats.read,
                "event_calls": calls,
                "events_per_s": stats.created / secs if secs else 0,
            }
    return out


async def _expected_commerce(service: Service) -> tuple[set[tuple[str, str]], set[str]]:
    """The events every order should have produced, and the published products, per the source."""
    from crmsync.mapping.orders import OrderEventProjector

    projector = OrderEventProjector()
    events: set[tuple[str, str]] = set()
    orders = service.flow("order")
    async for page in orders.source.read_pages("order"):
        for record in page:
            events |= {(e["metric"], e["unique_id"]) for e in projector.events(record.data)}
    items: set[str] = set()
    async for page in service.flow("product").source.read_pages("product"):
        items |= {r.id for r in page}
    return events, items


def _verify(ct: CommercetoolsEmulator, kl: KlaviyoEmulator, projector: Any) -> tuple[int, int]:
    """Every commercetools customer must be a Klaviyo profile equal to its projection."""
    by_external = {}
    for profile in kl.profiles.values():
        attrs = profile.get("attributes", profile)
        if attrs.get("external_id"):
            by_external[attrs["external_id"]] = attrs
    matched = mismatched = 0
    for customer in ct.customers.values():
        payload = {
            k: v for k, v in projector.project(customer).payload.items() if k not in ("consent", LISTS)
        }
        attrs = by_external.get(customer["id"])
        if attrs is not None and _contains(attrs, payload):
            matched += 1
        else:
            mismatched += 1
    return matched, mismatched


def _verify_lists(ct: CommercetoolsEmulator, kl: KlaviyoEmulator) -> tuple[bool, str]:
    """Each store's Klaviyo list must hold exactly the store's customers."""
    want: dict[str, set[str]] = {}
    for customer in ct.customers.values():
        for ref in customer.get("stores") or []:
            want.setdefault(LIST_NAME.format(store=ref["key"]), set()).add(customer["id"])
    got = {
        klist.name: {kl.profiles[pid].get("external_id") for pid in klist.members}
        for klist in kl.lists.values()
        if klist.name in want
    }
    exact = sum(1 for name, ids in want.items() if got.get(name) == ids)
    note = f"{exact} of {len(want)} store lists hold exactly their store's customers"
    return exact == len(want), note


def _contains(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    for key, value in expected.items():
        if isinstance(value, dict):
            sub = actual.get(key)
            if not isinstance(sub, dict) or not _contains(sub, value):
                return False
        elif actual.get(key) != value:
            return False
    return True

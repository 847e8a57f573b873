"""``crmsync erase``: GDPR erasure of one person from every target, the store and the sync log."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from crmsync.cli.common import ConfigOpt, console, err, run_async


def erase_command(
    config: ConfigOpt,
    record_id: Annotated[str | None, typer.Argument(help="the customer's id in the source")] = None,
    email: Annotated[str | None, typer.Option(help="the person's e-mail address")] = None,
    phone: Annotated[str | None, typer.Option(help="the person's phone number (E.164)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Erase a customer (GDPR): deletion requests at every target, then purge the state store and
    the sync log, leaving a tombstone of hashed identifiers that refuses any later event for them.
    If a target refuses, nothing is purged and the command can simply be run again."""
    if not (record_id or email or phone):
        raise typer.BadParameter("give the customer's id, --email or --phone")

    async def go(svc: Any) -> Any:
        return await svc.erase("customer", record_key=record_id, email=email, phone_number=phone)

    results = run_async(config, go)
    rows = [{**asdict(r), "purged": asdict(r.purged) if r.purged else None} for r in results]
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        for target, outcome in row["targets"].items():
            console.print(f"{target}: deletion {outcome}")
        purged = row["purged"] or {}
        console.print(
            "store: purged "
            + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in purged.items())
            + f"; {row['tombstones']} tombstone digest(s) kept"
        )
    err.print("[green]erased[/]: later events for this person will be refused")


def explain_command(
    config: ConfigOpt,
    kind: Annotated[str, typer.Argument(help="customer | order | category | product")],
    record_id: Annotated[str, typer.Argument(help="the record's id in the source")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Everything crmsync knows about one record: its ids in every system, how the target record
    was matched, what was last delivered, and its history (events, requests, dead letters)."""
    from crmsync.explain import explain

    async def go(svc: Any) -> Any:
        return explain(svc, kind, record_id)

    found = run_async(config, go)
    if as_json:
        print(json.dumps(found, default=str))
        return
    console.rule(f"{found['kind']} {found['record']}")
    if found["erased"]:
        console.print(f"[red]erased[/] {found['erased']['erased_at']}: {found['erased']['reason']}")
    for link in found["links"]:
        console.print(
            f"id  {link['system']}.{link['id_kind']} = {link['value']}  (since {link['created_at']})"
        )
    for target, info in found["targets"].items():
        console.print(f"[bold]{target}[/]: {info['match']}")
        if info["last_delivered"]:
            last = info["last_delivered"]
            console.print_json(json.dumps({"delivered_at": str(last["delivered_at"]), **last["payload"]}))
        for attr in info.get("attributes") or []:
            others = {k: v for k, v in attr["values"].items() if k != attr["owner"]}
            mine = attr["values"].get(attr["owner"])
            shown = repr(mine["value"]) if mine else "(no value)"
            extra = "".join(
                f"; {k} says {v['value']!r}"
                for k, v in others.items()
                if v["value"] != (mine or {}).get("value")
            )
            console.print(f"  {attr['path']} = {shown}  owner {attr['owner']}{extra}")  # fmt: skip
    for c in found.get("conflicts") or []:
        console.print(
            f"[yellow]conflict[/] {c['at']} {c['path']}: {c['owner']} (owner) {c['owner_value']!r} "
            f"vs {c['other']} {c['other_value']!r} -> {c['decision']}"
        )
    console.print(f"events: {len(found['inbox'])}, requests: {len(found['requests'])}, "
                  f"dead letters: {len(found['dead_letters'])}")  # fmt: skip
    for e in found["requests"][-10:]:
        console.print(f"  {e['at']}  {e['method']} {e['url']} -> {e['status']}  {e.get('error') or ''}")


def review_duplicates_command(
    config: ConfigOpt,
    threshold: Annotated[float, typer.Option(help="minimum name similarity, 0..100")] = 90.0,
    flow: Annotated[str | None, typer.Option(help="flow name (default: the first customer flow)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Possible duplicates by fuzzy name match within a postal code — suggestions for a human to
    review; crmsync never merges records on a fuzzy match."""
    from crmsync.review import suggest_duplicates

    async def go(svc: Any) -> Any:
        target = svc.flow("customer", flow).target_key
        return suggest_duplicates(svc.store, target, threshold=threshold)

    found = run_async(config, go)
    if as_json:
        print(json.dumps([asdict(s) for s in found]))
        return
    for s in found:
        console.print(f"{s.score:5.1f}  {s.a}  ~  {s.b}  ({s.reason})")
    err.print(f"{len(found)} suggestion(s); nothing was merged")

"""`tisa audit verify|checkpoint|show|export|prove`: the tamper-evident log, for the auditor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tisa.node.settings import (
    Settings,
)

if TYPE_CHECKING:
    pass

from tisa.cli.app import NodeDir, audit_app, err, out


@audit_app.command("verify")
def audit_verify(
    root: NodeDir,
    peers: Annotated[bool, typer.Option(help="Also ask peers what they hold.")] = False,
) -> None:
    """Check the hash chain, the Merkle roots, and every checkpoint this node signed."""
    from tisa.audit.proofs import verify_log
    from tisa.node.runtime import Runtime

    with Runtime(Settings.load(root)) as rt:
        witnessed: dict[str, list[str]] = {}
        if peers:
            witnessed, errors = rt.witnessed_checkpoints()
            for peer, error in errors.items():
                err.print(f"[yellow]{peer} not asked:[/yellow] {error}")
        report = verify_log(rt.ctx.db, rt.ctx.trust, witnessed)
    for line in report["checked"]:
        out.print(f"[green]✓[/green] {line}")
    for line in report["problems"]:
        out.print(f"[red]✗[/red] {line}")
    if not report["ok"]:
        raise typer.Exit(1)
    out.print(f"audit log of {report['size']} entries verified; root {report['root']}")


@audit_app.command("checkpoint")
def audit_checkpoint(root: NodeDir) -> None:
    """Sign a checkpoint over the log now."""
    from tisa.node.runtime import Runtime

    with Runtime(Settings.load(root)) as rt:
        row = rt.audit.checkpoint()
    if row is None:
        out.print("the audit log is empty; nothing to seal yet")
        return
    out.print(f"checkpoint: size {row.size}, root {row.root}")


def _entries(root: Path, **filters: object) -> list[dict[str, object]]:
    from tisa.api.views import entry_view
    from tisa.store import audit
    from tisa.store.database import Database

    settings = Settings.load(root)
    with Database(settings.database_url) as db, db.read() as conn:
        rows = audit.entries(conn, **filters)  # type: ignore[arg-type]
    return [entry_view(e) for e in rows]


Since = Annotated[datetime | None, typer.Option(help="From this time (ISO 8601, UTC if no zone).")]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@audit_app.command("show")
def audit_show(
    root: NodeDir,
    product: Annotated[str | None, typer.Option(help="Product id.")] = None,
    party: Annotated[str | None, typer.Option(help="Party code.")] = None,
    action: Annotated[str | None, typer.Option(help="Action, e.g. product.release.")] = None,
    since: Since = None,
    until: Since = None,
    limit: Annotated[int, typer.Option()] = 200,
) -> None:
    """Show audit entries, filtered by product, party, action and time."""
    rows = _entries(
        root,
        product_id=product,
        party=party,
        action=action,
        since=_utc(since),
        until=_utc(until),
        limit=limit,
    )
    table = Table()
    for column in ("seq", "at", "action", "actor", "party", "product", "detail"):
        table.add_column(column)
    for e in rows:
        table.add_row(
            str(e["seq"]),
            str(e["at"]),
            str(e["action"]),
            str(e["actor"]),
            str(e["party"] or ""),
            f"{e['product_id'] or ''}"[:8],
            json.dumps(e["detail"], ensure_ascii=False)[:80],
        )
    out.print(table)


@audit_app.command("export")
def audit_export(
    root: NodeDir,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON Lines file.")],
) -> None:
    """Write every entry, with its chain hashes, as JSON Lines (rows that cannot be read as
    entries are named on stderr, and the command exits 1)."""
    from tisa.api.views import entry_view
    from tisa.audit.chain import Damaged
    from tisa.store import audit
    from tisa.store.database import Database

    settings = Settings.load(root)
    count = 0
    damaged: list[Damaged] = []
    with Database(settings.database_url) as db, db.read() as conn, output.open("w") as handle:
        for entry in audit.stream(conn):
            if isinstance(entry, Damaged):
                damaged.append(entry)
                continue
            handle.write(json.dumps(entry_view(entry), ensure_ascii=False) + "\n")
            count += 1
    out.print(f"{count} entries written to {output}")
    for damage in damaged:
        last = "end" if damage.last is None else damage.last
        err.print(f"[red]✗[/red] entries {damage.first}–{last} not written: {damage.reason}")
    if damaged:
        raise typer.Exit(1)


@audit_app.command("prove")
def audit_prove(
    root: NodeDir,
    product: Annotated[str, typer.Argument(help="Product id.")],
    peers: Annotated[bool, typer.Option(help="Use checkpoints peers hold.")] = True,
) -> None:
    """Print and verify the signed chain of one product: released, relayed, received."""
    from tisa.audit.proofs import prove
    from tisa.node.runtime import Runtime

    with Runtime(Settings.load(root)) as rt:
        witnessed = rt.witnessed_checkpoints()[0] if peers else {}
        report = prove(rt.ctx.db, rt.ctx.trust, product, witnessed, blobs=rt.blobs)
    for item in report["links"]:
        mark = "[green]✓[/green]" if item["verified"] else "[red]✗[/red]"
        out.print(
            f"{mark} {item['claim']}  [dim](signed by {item['signed_by']}: {item['detail']})[/dim]"
        )
    if not report["ok"]:
        raise typer.Exit(1)

"""`tisa events` and `tisa events show`: the fused picture, through a node's API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    pass

from tisa.cli.app import NodeDir, app, out
from tisa.cli.files import Password, User, signed_in

# -- the fused picture ----------------------------------------------------------------------------

events_app = typer.Typer(
    help="The fused picture: events from every party's reports (`tisa events show ID`).",
    invoke_without_command=True,
)
app.add_typer(events_app, name="events")


@events_app.callback()
def events_list(
    ctx: typer.Context,
    root: Annotated[
        Path | None, typer.Option("--dir", "-d", help="The node's data directory.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Your user name at the node.")
    ] = None,
) -> None:
    """List the events you may see, newest first (password: TISA_PASSWORD or a prompt)."""
    if ctx.invoked_subcommand is not None:
        return
    if root is None or user is None:
        raise typer.BadParameter("give --dir and --user (or use `tisa events show ID ...`)")
    password = os.environ.get("TISA_PASSWORD") or typer.prompt("Password", hide_input=True)
    with signed_in(root, user, password) as client:
        events = client.events()
    table = Table(title=f"{len(events)} event" + ("" if len(events) == 1 else "s"))
    for column in ("time (UTC)", "event", "parties", "reports", "disagreements", "id"):
        table.add_column(column)
    for e in events:
        flagged = str(e["disagreements"])
        table.add_row(
            e["time"],
            e["label"],
            ", ".join(e["parties"]),
            str(e["reports"]),
            f"[red]{flagged}[/red]" if e["disagreements"] else flagged,
            e["id"],
        )
    out.print(table)


@events_app.command("show")
def events_show(
    event_id: Annotated[str, typer.Argument(help="The event id (ev-…).")],
    root: NodeDir,
    user: User,
    password: Password,
) -> None:
    """One event: every party's figures side by side, the fused figures, disagreements."""
    with signed_in(root, user, password) as client:
        e = client.event(event_id)
    out.print(f"[bold]{e['label']}[/bold]  {e['id']}  ({', '.join(e['parties'])})")
    table = Table()
    table.add_column("figure")
    for r in e["reports"]:
        table.add_column(f"{r['originator']} {r['product_id'][:8]} v{r['version']}")
    table.add_column("fused", style="bold")
    quantities = list(
        dict.fromkeys([q for r in e["reports"] for q in r["figures"]] + list(e["fused"]))
    )
    for q in quantities:
        cells = [r["figures"].get(q, {}).get("text", "") for r in e["reports"]]
        fused = e["fused"].get(q)
        table.add_row(
            q, *cells, "" if fused is None else f"{fused['text']} [dim]({fused['method']})[/dim]"
        )
    out.print(table)
    for d in e["disagreements"]:
        out.print(f"[red]disagreement[/red] {d['text']}")
    if not e["disagreements"]:
        out.print("no disagreements beyond the stated uncertainties")

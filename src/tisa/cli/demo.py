"""`tisa demo`: the three-node demo on this machine, and `tisa demo stop DIR` for the nodes
`tisa demo --keep` left running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tisa.cli.app import demo_app, out


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the steps as JSON.")] = False,
    keep: Annotated[
        bool,
        typer.Option(help="Leave the nodes running; print addresses and how to stop them."),
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Where to put the nodes (kept); default: a temporary folder."),
    ] = None,
) -> None:
    """Start USA, KOR and JPN as separate processes and run the arrangement end to end.

    A temporary folder is removed at the end if every step passed (kept, and named, if not);
    with --keep the nodes run on until `tisa demo stop DIR`."""
    if ctx.invoked_subcommand is not None:
        return
    from tisa.demo.scenario import run_demo

    report = run_demo(workdir=workdir, keep=keep, echo=None if as_json else out.print)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["ok"]:
        raise typer.Exit(1)


@demo_app.command("stop")
def demo_stop(
    base: Annotated[Path, typer.Argument(help="The folder `tisa demo --keep` named.")],
) -> None:
    """Stop the nodes `tisa demo --keep` left running in DIR (SIGTERM, then SIGKILL for any
    not stopped within 20 s); their data stays in DIR."""
    from tisa.demo.kept import stop

    stopped = stop(base)
    for node in stopped:
        out.print(f"{node.party} (pid {node.pid}): {node.outcome}", highlight=False)
    if any(node.outcome == "still running" for node in stopped):
        out.print(f"[red]not every node stopped[/red]; run `tisa demo stop {base}` again")
        raise typer.Exit(1)
    out.print(
        f"its data stays in {base} (keys, users.json, stores, node logs): "
        f"rm -r {base} to remove it",
        highlight=False,
        soft_wrap=True,
    )

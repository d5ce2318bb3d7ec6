"""`tisa arrangement` and `peer`: what a node is told before it serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tisa.node.settings import (
    default_arrangement_text,
    load_arrangement,
    pin_arrangement,
    set_peer,
)

if TYPE_CHECKING:
    pass

from tisa.cli.app import NodeDir, arrangement_app, out, peer_app


@arrangement_app.command("pin")
def arrangement_pin(
    cards: Annotated[list[Path], typer.Argument(help="card.json of every party.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it.")],
    base: Annotated[
        Path | None, typer.Option(help="Arrangement to pin (default: shipped).")
    ] = None,
) -> None:
    """Write the arrangement with every party's signing key and TLS certificate pinned."""
    text = base.read_text(encoding="utf-8") if base else default_arrangement_text()
    pinned = pin_arrangement(text, [json.loads(c.read_text()) for c in cards])
    output.write_text(pinned, encoding="utf-8")
    out.print(f"pinned arrangement written to {output}; copy it to every node as arrangement.toml")


@arrangement_app.command("show")
def arrangement_show(
    path: Annotated[
        Path | None, typer.Argument(help="Arrangement file (default: shipped).")
    ] = None,
) -> None:
    """Validate an arrangement and show its parties, channels, scope and digest."""
    from tisa.domain.arrangement import parse_arrangement

    arrangement = (
        load_arrangement(path)
        if path
        else parse_arrangement(default_arrangement_text(), source="shipped arrangement")
    )
    out.print(f"[bold]{arrangement.title}[/bold] ({arrangement.id})")
    out.print(f"digest {arrangement.digest}; hub {arrangement.hub}")
    for channel in arrangement.channels:
        out.print(f"  channel {channel.label}: ceiling {channel.ceiling.label} — {channel.basis}")
    out.print("  scope: " + ", ".join(sorted(arrangement.scope)))
    for code, party in arrangement.parties.items():
        pin = "pinned" if party.pinned else "not pinned"
        out.print(f"  {code} {party.name}: {pin}")


@peer_app.command("add")
def peer_add(
    root: NodeDir,
    party: Annotated[str, typer.Argument(help="The peer's party code.")],
    url: Annotated[str, typer.Argument(help="The peer's federation URL, https://…")],
) -> None:
    """Record a peer's federation address."""
    set_peer(root, party.upper(), url)
    out.print(f"{party.upper()} at {url}")

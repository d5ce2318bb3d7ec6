"""`tisa arrangement` and `peer`: what a node is told before it serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tisa.errors import ArrangementInvalid
from tisa.node.settings import (
    Settings,
    default_arrangement_text,
    load_arrangement,
    pin_arrangement,
    remove_peer,
    set_peer,
)

if TYPE_CHECKING:
    from tisa.domain.arrangement import Arrangement

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
    root: Annotated[
        Path | None,
        typer.Option("--dir", "-d", help="Show the arrangement this node runs under."),
    ] = None,
) -> None:
    """Validate an arrangement and show its parties, channels, scope and digest, and say
    which digest it is (the shipped file's, or a pinned one nodes compare)."""
    from tisa.domain.arrangement import parse_arrangement

    if path is not None and root is not None:
        raise typer.BadParameter("give a file or --dir, not both")
    if root is not None:
        path = Settings.load(root).paths.arrangement
    arrangement = (
        load_arrangement(path)
        if path
        else parse_arrangement(default_arrangement_text(), source="shipped arrangement")
    )
    out.print(f"[bold]{arrangement.title}[/bold] ({arrangement.id}); hub {arrangement.hub}")
    for channel in arrangement.channels:
        out.print(f"  channel {channel.label}: ceiling {channel.ceiling.label} — {channel.basis}")
    out.print("  scope: " + ", ".join(sorted(arrangement.scope)))
    for code, party in arrangement.parties.items():
        pin = "pinned" if party.pinned else "not pinned"
        out.print(f"  {code} {party.name}: {pin}")
    out.print(f"digest {arrangement.digest}", highlight=False, soft_wrap=True)
    out.print(_which_digest(arrangement, path), highlight=False, markup=False)


def _which_digest(arrangement: Arrangement, path: Path | None) -> str:
    """Why this digest is the one it is: it covers the whole file, pinned keys included."""
    what = "the shipped arrangement" if path is None else str(path)
    said = (
        f"This is the SHA-256 of {what}'s whole content (as canonical JSON), pinned keys and "
        "certificates included; nodes send it with every message and refuse a peer whose "
        "digest differs. "
    )
    if arrangement.pinned:
        return said + (
            "Every party is pinned: every node of this network must show this same digest "
            "(`tisa arrangement show --dir NODE`); pinning again (after a certificate is "
            "rotated) changes it."
        )
    return said + (
        "Not every party is pinned, so no network runs under this digest: `tisa arrangement "
        "pin` (and `tisa demo`) add each party's signing key and TLS certificate, which gives "
        "the pinned file another digest. A node's own: `tisa arrangement show --dir NODE`."
    )


@peer_app.command("add")
def peer_add(
    root: NodeDir,
    party: Annotated[str, typer.Argument(help="The peer's party code.")],
    url: Annotated[str, typer.Argument(help="The peer's federation URL, https://…")],
) -> None:
    """Record a peer's federation address."""
    set_peer(root, party.upper(), url)
    out.print(f"{party.upper()} at {url}")


@peer_app.command("list")
def peer_list(root: NodeDir) -> None:
    """List the peers' federation addresses this node records, and any peer the arrangement
    gives it that has none yet."""
    settings = Settings.load(root)
    try:
        expected = load_arrangement(settings.paths.arrangement).peers_of(settings.party)
    except ArrangementInvalid:  # none copied in yet: only what node.toml records
        expected = None
    if not settings.peers and not expected:
        out.print(f"{settings.party} records no peer yet: tisa peer add --dir {root} PARTY URL")
    for party in sorted(set(settings.peers) | set(expected or ())):
        url = settings.peers.get(party)
        if url is None:
            out.print(f"{party}: no address yet (tisa peer add --dir {root} {party} https://…)")
        elif expected is not None and party not in expected:
            out.print(f"{party} at {url} (not a channel of {settings.party}: nothing moves there)")
        else:
            out.print(f"{party} at {url}")


@peer_app.command("remove")
def peer_remove(
    root: NodeDir,
    party: Annotated[str, typer.Argument(help="The peer's party code.")],
) -> None:
    """Forget a peer's federation address (the node reads its peers when it starts)."""
    url = remove_peer(root, party.upper())
    out.print(f"{party.upper()} at {url} removed; restart the node for it to take effect")

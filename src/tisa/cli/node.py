"""`tisa init`, `serve`, `status` and `check`: a node's life on its own machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.table import Table

from tisa.node.settings import (
    Settings,
    init_node,
    rotate_tls,
)

if TYPE_CHECKING:
    pass

from tisa.cli.app import NodeDir, app, now, out


@app.command()
def init(
    root: NodeDir,
    party: Annotated[
        str | None, typer.Option(help="This node's party code, e.g. KOR (a new node).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    federation_port: Annotated[int, typer.Option(help="Port for peers (mutual TLS).")] = 8443,
    api_port: Annotated[int, typer.Option(help="Port for users' API.")] = 8444,
    database: Annotated[str | None, typer.Option(help="Database URL (default SQLite).")] = None,
    rotate_tls: Annotated[
        bool,
        typer.Option(
            "--rotate-tls",
            help="Give the existing node in --dir a new TLS key and certificate (its "
            "signing key, config and data stay) and rewrite its card.",
        ),
    ] = False,
) -> None:
    """Create a node: its own signing key, TLS key and certificate, config, and public card."""
    if rotate_tls:
        if party is not None:
            raise typer.BadParameter("--rotate-tls keeps the node's party; give only --dir")
        _rotate_tls(root)
        return
    if party is None:
        raise typer.BadParameter("--party is required to create a node")
    card = init_node(
        root,
        party.upper(),
        host=host,
        federation_port=federation_port,
        api_port=api_port,
        now=now(),
        database=database,
    )
    out.print(f"node {card['party']} created in {root}")
    out.print(f"its public card (for `tisa arrangement pin`): {root / 'card.json'}")


def _rotate_tls(root: Path) -> None:
    from tisa.crypto.certs import fingerprint

    card = rotate_tls(root, now=now())
    cert = str(card["tls_certificate"]).encode("ascii")
    lines = [
        f"node {card['party']}: a new TLS key and certificate in {root / 'keys'}",
        f"  fingerprint {fingerprint(cert)}",
        "  the old pair is kept beside it as *.replaced-<time>",
        f"  its public card, rewritten: {root / 'card.json'}",
        # The arrangement's digest covers every pinned certificate, and nodes refuse messages
        # made under another digest: so the queues are emptied and every node switches at once.
        "Next:",
        "  1. once every node's queues are empty (`tisa status`), stop every node",
        "  2. tisa arrangement pin <every party's card.json> -o arrangement.toml"
        " (with the same --base, if any)",
        "  3. copy arrangement.toml into every node's directory",
        "  4. start every node (`tisa serve`)",
    ]
    for line in lines:
        out.print(line, soft_wrap=True, markup=False, highlight=False)


@app.command()
def serve(
    root: NodeDir,
    database: Annotated[str | None, typer.Option(help="Database URL (overrides config).")] = None,
) -> None:
    """Run one node: federation (mutual TLS), analyst API, and the outbox sender."""
    from tisa.node.runtime import Runtime
    from tisa.server.serve import serve

    # tisa's warnings (a refused TLS handshake, a certificate to rotate) go to stderr, the
    # node's log, each on one line with its time and logger.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.load(root, database=database)
    with Runtime(settings) as runtime:

        async def main() -> None:
            task = asyncio.create_task(
                serve(
                    runtime,
                    ready=lambda: print(
                        f"tisa {settings.party} ready: federation {settings.federation_url}, "
                        f"api {settings.api_url}",
                        flush=True,
                    ),
                )
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        asyncio.run(main())


@app.command()
def status(root: NodeDir) -> None:
    """Show a node's channels, peers, last contact, queues and dead letters, what each peer
    holds of the audit log, and a warning when its tail has gone unwitnessed too long."""
    from tisa.node.runtime import Runtime
    from tisa.services.status import node_status

    settings = Settings.load(root)
    with Runtime(settings) as rt:
        shown = node_status(rt.ctx)  # what the API's /api/v1/status and the UI show
    table = Table(title=f"tisa {shown['party']} — {rt.ctx.arrangement.id}")
    for column in ("channel", "state", "last contact", "last error", "FLASH", "IMM", "PRI", "ROU"):
        table.add_column(column)
    for channel in shown["channels"]:
        table.add_row(
            rt.ctx.arrangement.channel(channel["channel"]).label,
            channel["state"],
            channel["last_contact"] or "never",
            (channel["last_error"] or "")[:60],
            *(str(n) for n in channel["queue"].values()),
        )
    out.print(table)
    for channel in shown["channels"]:
        held = channel["holds_our_checkpoint"]
        out.print(
            f"{channel['peer']} holds no checkpoint of this node's audit log yet"
            if held is None
            else f"{channel['peer']} holds our checkpoint of {held['size']} entries "
            f"(at {held['reported_at']})"
        )
    witness = shown["audit_witness"]
    if witness["warning"] is not None:
        out.print(f"[red]audit log not witnessed:[/red] {witness['warning']}")
    elif witness["unwitnessed"]:
        out.print(
            f"[dim]{witness['unwitnessed']} newest audit entries not yet in a checkpoint a peer "
            "holds (normal for a few seconds)[/dim]"
        )
    for alarm in shown["audit_alarms"]:
        out.print(f"[red]audit alarm[/red] {alarm['at']} {alarm['peer']}: {alarm['problem']}")
    for entry in shown["dead_letters"]:
        out.print(
            f"dead letter #{entry['id']} to {entry['peer']} ({entry['kind']}): "
            f"{entry['last_error']}"
        )
    _print_readiness(settings)


def _print_readiness(settings: Settings) -> None:
    """What the running node says of itself (`/healthz/ready` on its own API port, its own
    certificate pinned): every check, and every background task that is not running."""
    from tisa.api.client import ApiClient

    try:
        with ApiClient(settings.api_url, settings.paths.tls_cert.read_bytes(), timeout=5) as client:
            answer = client._http.get("/healthz/ready")
        report = answer.json()
        checks = report["checks"]
    except (OSError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        out.print(f"[yellow]the node does not answer at {settings.api_url}[/yellow] ({exc})")
        return
    verdict = "[green]ready[/green]" if report.get("status") == "ok" else "[red]not ready[/red]"
    out.print(f"node {verdict}")
    for name, check in checks.items():
        mark = "[green]✓[/green]" if check.get("ok") else "[red]✗[/red]"
        out.print(f"  {mark} {name}: {check.get('detail')}")


@app.command()
def check(root: NodeDir) -> None:
    """Check the node's store: damaged database pages (SQLite quick_check; PostgreSQL
    amcheck, where it can be created), every product version read and verified as on every
    opening, every attachment present and authentic. Exits 1 if anything is damaged. (The
    audit log: `tisa audit verify`.)"""
    from rich.markup import escape

    from tisa.node.integrity import full_check
    from tisa.node.runtime import Runtime

    with Runtime(Settings.load(root)) as rt:
        report = full_check(rt.ctx.db, rt.reading, rt.blobs)
    for line in report.checked:
        out.print(f"[green]✓[/green] {escape(line)}", highlight=False, soft_wrap=True)
    for line in report.notes:
        out.print(f"[yellow]![/yellow] {escape(line)}", highlight=False, soft_wrap=True)
    for line in report.problems:
        out.print(f"[red]✗[/red] {escape(line)}", highlight=False, soft_wrap=True)
    if not report.ok:
        out.print(f"{len(report.problems)} damaged; the node refuses to serve what is named")
        raise typer.Exit(1)
    out.print("nothing damaged")

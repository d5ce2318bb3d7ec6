"""The `tisa` command: create and run nodes, run the three-node demo, inspect a node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from tisa.errors import TisaError
from tisa.node.settings import (
    Settings,
    default_arrangement_text,
    init_node,
    load_arrangement,
    pin_arrangement,
    rotate_tls,
    set_peer,
)
from tisa.services.accounts import Accounts, Role

if TYPE_CHECKING:
    from tisa.api.client import ApiClient

app = typer.Typer(
    help="tisa: scoped, classified intelligence sharing through a relay hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
arrangement_app = typer.Typer(help="Show, check and pin the arrangement.", no_args_is_help=True)
peer_app = typer.Typer(help="Tell a node where its peers listen.", no_args_is_help=True)
user_app = typer.Typer(help="Manage a node's users.", no_args_is_help=True)
channel_app = typer.Typer(help="Suspend or resume a channel at a node.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Verify, show, export and prove from the audit log.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")
app.add_typer(arrangement_app, name="arrangement")
app.add_typer(peer_app, name="peer")
app.add_typer(user_app, name="user")
app.add_typer(channel_app, name="channel")

out = Console()
err = Console(stderr=True)

NodeDir = Annotated[Path, typer.Option("--dir", "-d", help="The node's data directory.")]


def _now() -> datetime:
    return datetime.now(UTC)


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
        now=_now(),
        database=database,
    )
    out.print(f"node {card['party']} created in {root}")
    out.print(f"its public card (for `tisa arrangement pin`): {root / 'card.json'}")


def _rotate_tls(root: Path) -> None:
    from tisa.crypto.certs import fingerprint

    card = rotate_tls(root, now=_now())
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


@user_app.command("add")
def user_add(
    root: NodeDir,
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Option(help="analyst, release-officer, admin or auditor.")],
    clearance: Annotated[str, typer.Option(help="National term or common level.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="TISA_NEW_PASSWORD")
    ],
    need_to_know: Annotated[
        list[str] | None, typer.Option(help="Topic patterns, e.g. dprk.missile.*")
    ] = None,
    language: Annotated[str, typer.Option(help="en, ko or ja.")] = "en",
) -> None:
    """Create a user of this node."""
    from tisa.store.database import Database

    settings = Settings.load(root)
    arrangement = load_arrangement(settings.paths.arrangement)
    with Database(settings.database_url) as db:
        user = Accounts(db, arrangement, settings.party, _now).add(
            username, password, role, clearance, need_to_know, language
        )
    out.print(f"user {user.username}: {user.role.value}, cleared {user.clearance.label}")


@app.command()
def serve(
    root: NodeDir,
    database: Annotated[str | None, typer.Option(help="Database URL (overrides config).")] = None,
) -> None:
    """Run one node: federation (mutual TLS), analyst API, and the outbox sender."""
    from tisa.node.runtime import Runtime

    # tisa's warnings (a refused TLS handshake, a certificate to rotate) go to stderr, the
    # node's log, each on one line with its time and logger.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.load(root, database=database)
    with Runtime(settings) as runtime:

        async def main() -> None:
            task = asyncio.create_task(
                runtime.serve(
                    ready=lambda: print(
                        f"tisa {settings.party} ready: federation {settings.federation_url}, "
                        f"api {settings.api_url}",
                        flush=True,
                    )
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
    from tisa.audit.log import coverage
    from tisa.store import audit, network, outbox
    from tisa.store.database import Database

    settings = Settings.load(root)
    arrangement = load_arrangement(settings.paths.arrangement)
    with Database(settings.database_url) as db, db.read() as conn:
        suspended = network.suspended(conn)
        peers = network.peer_states(conn)
        depth = outbox.depth(conn)
        dead = outbox.dead_letters(conn, limit=10)
        alarms = audit.entries(conn, action=audit.Action.INCONSISTENT.value, limit=10)
        witnessed = coverage(conn, settings.party, _now())
    table = Table(title=f"tisa {settings.party} — {arrangement.id}")
    for column in ("channel", "state", "last contact", "last error", "FLASH", "IMM", "PRI", "ROU"):
        table.add_column(column)
    for channel in arrangement.channels:
        if settings.party not in channel.parties:
            continue
        peer = channel.other(settings.party)
        state = peers.get(peer, {})
        contact = state.get("last_contact")
        table.add_row(
            channel.label,
            "suspended" if channel.id in suspended else "up",
            contact.isoformat(timespec="seconds") if contact else "never",
            (state.get("last_error") or "")[:60],
            *(str(depth.get((peer, lane), 0)) for lane in range(4)),
        )
    out.print(table)
    for peer in arrangement.peers_of(settings.party):
        held = witnessed.holdings.get(peer)
        out.print(
            f"{peer} holds no checkpoint of this node's audit log yet"
            if held is None
            else f"{peer} holds our checkpoint of {held.size} entries "
            f"(at {held.reported_at.isoformat(timespec='seconds')})"
        )
    warning = witnessed.warning()
    if warning is not None:
        out.print(f"[red]audit log not witnessed:[/red] {warning}")
    elif witnessed.unwitnessed:
        out.print(
            f"[dim]{witnessed.unwitnessed} newest audit entries not yet in a checkpoint a peer "
            "holds (normal for a few seconds)[/dim]"
        )
    for alarm in alarms:
        out.print(
            f"[red]audit alarm[/red] {alarm.at.isoformat(timespec='seconds')} {alarm.party}: "
            f"{alarm.detail.get('problem')}"
        )
    for entry in dead:
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
        report = full_check(rt.ctx.db, rt.node, rt.blobs)
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


@channel_app.command("suspend")
def channel_suspend(root: NodeDir, channel: Annotated[str, typer.Argument()]) -> None:
    """Suspend a channel at this node: nothing moves over it; queues hold."""
    _set_channel(root, channel, True)


@channel_app.command("resume")
def channel_resume(root: NodeDir, channel: Annotated[str, typer.Argument()]) -> None:
    """Resume a suspended channel; held queues drain."""
    _set_channel(root, channel, False)


def _set_channel(root: Path, channel_id: str, suspended: bool) -> None:
    from tisa.node.runtime import Runtime
    from tisa.services.accounts import operator

    settings = Settings.load(root)
    with Runtime(settings) as rt:
        channel = rt.ctx.arrangement.channel(channel_id)
        # The same service the API and the UI call, as the node's operator at its console.
        rt.node.set_channel(operator(settings.party), channel.id, suspended=suspended)
    out.print(
        f"channel {channel.label} {'suspended' if suspended else 'resumed'} at {settings.party}"
    )


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the steps as JSON.")] = False,
    keep: Annotated[bool, typer.Option(help="Leave the nodes running; print addresses.")] = False,
    workdir: Annotated[Path | None, typer.Option(help="Where to put the nodes.")] = None,
) -> None:
    """Start USA, KOR and JPN as separate processes and run the arrangement end to end."""
    from tisa.demo.scenario import run_demo

    report = run_demo(workdir=workdir, keep=keep, echo=None if as_json else out.print)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["ok"]:
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(
    root: NodeDir,
    peers: Annotated[bool, typer.Option(help="Also ask peers what they hold.")] = False,
) -> None:
    """Check the hash chain, the Merkle roots, and every checkpoint this node signed."""
    from tisa.audit.log import verify_log
    from tisa.node.runtime import Runtime, witnessed_checkpoints

    with Runtime(Settings.load(root)) as rt:
        witnessed: dict[str, list[str]] = {}
        if peers:
            witnessed, errors = witnessed_checkpoints(rt)
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
    from tisa.audit.log import prove
    from tisa.node.runtime import Runtime, witnessed_checkpoints

    with Runtime(Settings.load(root)) as rt:
        witnessed = witnessed_checkpoints(rt)[0] if peers else {}
        report = prove(rt.ctx.db, rt.ctx.trust, product, witnessed, blobs=rt.blobs)
    for item in report["links"]:
        mark = "[green]✓[/green]" if item["verified"] else "[red]✗[/red]"
        out.print(
            f"{mark} {item['claim']}  [dim](signed by {item['signed_by']}: {item['detail']})[/dim]"
        )
    if not report["ok"]:
        raise typer.Exit(1)


def _signed_in(root: Path, user: str, password: str) -> ApiClient:
    from tisa.api.client import ApiClient

    settings = Settings.load(root)
    client = ApiClient(settings.api_url, settings.paths.tls_cert.read_bytes(), timeout=600)
    return client.sign_in(user, password)


User = Annotated[str, typer.Option("--user", "-u", help="Your user name at the node.")]
Password = Annotated[
    str,
    typer.Option(prompt=True, hide_input=True, envvar="TISA_PASSWORD", help="Or TISA_PASSWORD."),
]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=out,
    )


@app.command()
def attach(
    root: NodeDir,
    files: Annotated[list[Path], typer.Argument(help="Files to upload.", exists=True)],
    user: User,
    password: Password,
) -> None:
    """Upload files for a product: typed by content, scrubbed, stored encrypted. Prints each
    upload's digest (name it in a draft's attachments) and what scrubbing removed."""
    client = _signed_in(root, user, password)
    with client, _progress() as progress:
        for path in files:
            size = path.stat().st_size
            task = progress.add_task(path.name, total=size)

            def chunks(path: Path = path, task: TaskID = task) -> Iterator[bytes]:
                with path.open("rb") as handle:
                    while block := handle.read(1024 * 1024):
                        progress.advance(task, len(block))
                        yield block

            answer = client.call(
                "POST",
                "/api/v1/uploads",
                params={"name": path.name},
                content=chunks(),
                headers={"Content-Length": str(size)},
            )
            progress.stop_task(task)
            removed = "; ".join(answer["removed"]) or "nothing to remove"
            out.print(
                f"{path.name}: {answer['digest']} ({answer['media_type']}); removed: {removed}"
            )


@app.command()
def download(
    root: NodeDir,
    product: Annotated[str, typer.Argument(help="Product id.")],
    digest: Annotated[str, typer.Argument(help="The attachment's sha256:… digest.")],
    user: User,
    password: Password,
    version: Annotated[int, typer.Option(help="Product version.")] = 1,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Download an attachment (checked against the signed digest as it arrives)."""
    import hashlib

    client = _signed_in(root, user, password)
    with client:
        view = client.get(f"/api/v1/products/{product}/versions/{version}")
        named = next((a for a in view["attachments"] if a["digest"] == digest), None)
        if named is None:
            raise TisaError(f"{product} v{version} names no attachment {digest}")
        target = output or Path(named["name"])
        hasher = hashlib.sha256()
        path = f"/api/v1/products/{product}/versions/{version}/attachments/{digest}"
        with _progress() as progress, target.open("wb") as handle:
            task = progress.add_task(target.name, total=named["size"])
            for block in client.stream(path):
                hasher.update(block)
                handle.write(block)
                progress.advance(task, len(block))
    if "sha256:" + hasher.hexdigest() != digest:
        target.unlink()
        raise TisaError(f"downloaded bytes do not match {digest}; nothing kept")
    out.print(f"{target}: {named['size']:,} bytes, {digest} verified")


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
    with _signed_in(root, user, password) as client:
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
    with _signed_in(root, user, password) as client:
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


def main() -> None:
    """Entry point: run the CLI; tisa errors print their reason, not a traceback."""
    try:
        app()
    except TisaError as exc:
        err.print(f"[red]error:[/red] {exc.diagnostics()}")
        sys.exit(2)

"""`tisa tracks`: the live missile tracks a user may see, through a node's API, and
`tisa tracks publish FILE`: a node's own tracker output (`tisa simulate --out`) streamed to
its partners."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tisa.cli.app import NodeDir, app, out
from tisa.cli.files import Password, User, signed_in

tracks_app = typer.Typer(help="Live missile tracks: watch them, or publish this node's own.")
app.add_typer(tracks_app, name="tracks")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


@tracks_app.command("list")
def tracks_list(
    root: NodeDir,
    user: User,
    password: Password,
    max_age_ms: Annotated[
        int, typer.Option(help="Shown as live while no older than this (ms).")
    ] = 1000,
) -> None:
    """The newest update of each track you may see, newest first; LIVE while fresh."""
    with signed_in(root, user, password) as client:
        shown = client.get("/api/v1/tracks", params={"max_age_ms": max_age_ms})["tracks"]
    table = Table(title=f"{len(shown)} track" + ("" if len(shown) == 1 else "s"))
    for column in (
        "",
        "track",
        "time (UTC)",
        "phase",
        "status",
        "q",
        "lat, lon, alt",
        "IIP",
        "via",
    ):
        table.add_column(column)
    for t in shown:
        p, iip = t["position"], t["impact"]
        table.add_row(
            ("[green]LIVE[/green]" if t["live"] else "[dim]history[/dim]")
            + (" [yellow]EXERCISE[/yellow]" if t["exercise"] else ""),
            f"{t['originator']}:{t['track_id']}",
            _when(t["time_ms"]),
            t["phase"],
            t["status"],
            str(t["quality"]),
            f"{p['lat']:.2f}, {p['lon']:.2f}, {p['alt_m'] / 1000:.0f} km",
            "—"
            if iip is None
            else f"{iip['lat']:.2f}, {iip['lon']:.2f} ±{iip['semi_major_m'] / 1000:.0f} km",
            t["via"] or "",
        )
    out.print(table)


@tracks_app.command("publish")
def tracks_publish(
    root: NodeDir,
    user: User,
    password: Password,
    source: Annotated[Path, typer.Argument(help="JSON lines from `tisa simulate --out`.")],
    nation: Annotated[str | None, typer.Option(help="Only this nation's tracks.")] = None,
) -> None:
    """Publish this node's own track updates (a file of `tisa simulate` output, its own
    nation's lines) to its partners through the hub."""
    streams: dict[str, dict[str, Any]] = {}
    updates: dict[str, list[dict[str, Any]]] = {}
    for raw in source.read_text(encoding="utf-8").splitlines():
        record = json.loads(raw)
        if record.get("kind") != "track":
            continue
        stream = record["stream"]
        if nation is not None and stream["nation"] != nation:
            continue
        streams[stream["nation"]] = stream
        body = {
            k: record[k] for k in ("track_id", "time_ms", "state", "phase", "quality", "status")
        }
        for optional in ("launch_point", "impact"):
            if record.get(optional) is not None:
                body[optional] = record[optional]
        updates.setdefault(stream["nation"], []).append(body)
    if len(streams) != 1:
        raise typer.BadParameter(
            f"{source} holds tracks of {sorted(streams) or 'no nation'}; pick one with --nation"
        )
    (code, stream), batch = next(iter(streams.items())), next(iter(updates.values()))
    published = 0
    with signed_in(root, user, password) as client:
        for start in range(0, len(batch), 1000):
            answer = client.post(
                "/api/v1/tracks", {"stream": stream, "updates": batch[start : start + 1000]}
            )
            published += int(answer["published"])
    out.print(f"{published} of {len(batch)} {code} track updates published")

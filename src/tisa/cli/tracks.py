"""`tisa tracks`: the live missile tracks a user may see, through a node's API;
`tisa tracks publish FILE`: a node's own tracker output (`tisa simulate --out`) streamed to
its partners; and `tisa tracks replay EVENT`: a past launch's fused track, frame by frame."""

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


def _since(ms: int) -> str:
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    seconds = round(ms / 1000)
    return f"T{sign or '+'}{seconds // 60}:{seconds % 60:02d}"


def replay_table(body: dict[str, Any]) -> Table:
    """A replay (GET /api/v1/tracks/replay) as one table: a row per fused track per frame,
    timed from the launch (the event's time) or from the window's start."""
    origin = body["launch_ms"] if body.get("launch_ms") is not None else body["from_ms"]
    frames = body["frames"]
    table = Table(
        title=f"Replay of {body['event'] or 'a window'}: {len(frames)} frames, "
        f"every {body['step_ms'] / 1000:g} s"
    )
    for column in (
        "",
        "since launch" if body.get("launch_ms") is not None else "since start",
        "time (UTC)",
        "fused",
        "nations",
        "phase",
        "lat, lon, alt",
        "IIP ± 1σ ellipse",
        "impact",
    ):
        table.add_column(column)
    for frame in frames:
        for f in frame["fused"]:
            p, iip = f["position"], f["impact"]
            table.add_row(
                "[yellow]EXERCISE[/yellow]" if f["exercise"] else "",
                _since(frame["time_ms"] - origin),
                _when(frame["time_ms"]),
                f["id"],
                ", ".join(f["nations"]),
                f["phase"],
                f"{p['lat']:.2f}, {p['lon']:.2f}, {p['alt_m'] / 1000:.0f} km",
                "—"
                if iip is None
                else f"{iip['lat']:.2f}, {iip['lon']:.2f} ± {iip['semi_major_m'] / 1000:.1f}"
                f" × {iip['semi_minor_m'] / 1000:.1f} km at {iip['orientation_deg']:.0f}°",
                "—"
                if iip is None
                else f"{_since(iip['time_ms'] - origin)} ({_when(iip['time_ms'])})",
            )
    return table


@tracks_app.command("replay")
def tracks_replay(
    root: NodeDir,
    user: User,
    password: Password,
    event: Annotated[str, typer.Argument(help="The launch event's id (`tisa events`).")],
    step: Annotated[
        int | None,
        typer.Option(
            min=1, max=3600, help="Seconds between frames (default: 10, or coarser if long)."
        ),
    ] = None,
) -> None:
    """Replay a past launch event: its fused track(s) frame by frame, recomputed from the
    nation updates you may see (time since launch, nations, phase, position, IIP with its
    1-sigma ellipse, predicted impact time)."""
    params: dict[str, Any] = {"event": event}
    if step is not None:
        params["step_s"] = step
    with signed_in(root, user, password) as client:
        body = client.get("/api/v1/tracks/replay", params=params)
    if not body["updates"]:
        out.print(f"No track you may see belongs to event {event} yet.")
        return
    out.print(replay_table(body))

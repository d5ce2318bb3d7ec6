"""`tisa simulate`: fly a launch or a salvo, let each nation track it, fuse, and score.

An exercise: every stream it writes is marked EXERCISE. Output is the same for the same seed.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tisa.cli.app import app, out
from tisa.tracks import earth
from tisa.tracks.areas import BOUNDARIES_FILE, TERRITORY_IDS, areas_for
from tisa.tracks.ballistics import MissileType
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.scenario import Scenario, ScenarioResult, run
from tisa.tracks.scoring import score
from tisa.tracks.sites import LAUNCH_SITES
from tisa.tracks.warning import WarningAction, WarningBoard

# The vendored Natural Earth extract the warning areas are cut from (docs/tracks.md).


def records(result: ScenarioResult) -> list[dict[str, Any]]:
    """The run as JSON-ready records: the scenario, truth on the report grid, each nation's
    track updates (with their stream), the fused tracks."""
    s = result.scenario
    lines: list[dict[str, Any]] = [
        {
            "kind": "scenario",
            "seed": s.seed,
            "exercise": s.exercise,
            "marking": s.marking,
            "start_ms": s.start_ms,
            "report_period_ms": s.report_period_ms,
            "launches": [dataclasses.asdict(launch) for launch in s.launches],
        }
    ]
    for name, truth in sorted(result.truths.items()):
        for t in result.report_times:
            state = truth.state_at(t)
            if state is not None:
                lines.append(
                    {
                        "kind": "truth",
                        "missile": name,
                        "time_ms": t,
                        "position": [float(v) for v in state[:3]],
                        "velocity": [float(v) for v in state[3:]],
                    }
                )
        lines.append(
            {
                "kind": "truth-impact",
                "missile": name,
                "time_ms": truth.impact_ms,
                "position": [float(v) for v in truth.impact_ecef],
            }
        )
    for nation, updates in result.updates.items():
        stream = dataclasses.asdict(result.streams[nation])
        for u in updates:
            lines.append({"kind": "track", "stream": stream, **dataclasses.asdict(u)})
    for f in result.fused:
        lines.append(
            {
                "kind": "fused",
                "nations": list(f.nations),
                "single_nation": f.single_nation,
                **dataclasses.asdict(f),
            }
        )
    return lines


def _print_warnings(result: ScenarioResult, nations: list[str]) -> None:
    """For each nation, per missile: where the truth came down against its areas, and when
    it would have been warned, and the warning withdrawn or ended."""
    collection = json.loads((resources.files("tisa") / BOUNDARIES_FILE).read_text(encoding="utf-8"))
    by_time: dict[int, list[FusedTrack]] = {}
    for f in result.fused:
        by_time.setdefault(f.time_ms, []).append(f)
    for nation in nations:
        areas = areas_for(nation, collection)
        board = WarningBoard(nation, areas)
        changes = [
            change
            for t in result.report_times
            for change in board.observe(by_time.get(t, []), t, exercise=result.scenario.exercise)
        ]
        for name, truth in sorted(result.truths.items()):
            lat, lon, _ = earth.to_geodetic(truth.impact_ecef)
            inside = [a.name for a in areas if a.contains(lat, lon)]
            where = ", ".join(inside) if inside else f"outside {nation}'s areas"
            out.print(f"{nation} warning, {name}: truth lands {where}")
            mine = [c for c in changes if result.truth_of.get(c.warning.sources[0]) == name]
            for c in mine:
                after = (c.time_ms - truth.launch_ms) / 1000
                line = c.warning.label() if c.action is WarningAction.RAISED else c.warning.track_id
                out.print(f"  +{after:.0f} s {c.action}: {line}", markup=False)
            if not mine:
                out.print("  no warning")


def _fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "—" if value is None else f"{value / scale:,.{digits}f}"


@app.command("simulate")
def simulate(
    missile: Annotated[
        MissileType, typer.Option("--missile", "-m", help="Missile class to fly.")
    ] = MissileType.ICBM_LOFTED,
    site: Annotated[
        str, typer.Option("--site", "-s", help=f"Launch site: {', '.join(LAUNCH_SITES)}.")
    ] = "sunan",
    salvo: Annotated[int, typer.Option("--salvo", "-n", help="Missiles, 30 s apart.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed for every random draw.")] = 0,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Seconds to run (default: until the last impact)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write JSON lines of the run here.")
    ] = None,
    warn_for: Annotated[
        list[str] | None,
        typer.Option(
            "--warn-for",
            help="Show when this nation (KOR, JPN, USA) would have been warned; repeatable.",
        ),
    ] = None,
) -> None:
    """Simulate a launch or salvo (EXERCISE): each nation's tracks, the fused track, scores."""
    if site not in LAUNCH_SITES:
        raise typer.BadParameter(f"unknown site {site!r}; known: {', '.join(LAUNCH_SITES)}")
    if salvo < 1:
        raise typer.BadParameter("--salvo is at least 1")
    nations = [n.upper() for n in warn_for or []]
    unknown = sorted(set(nations) - set(TERRITORY_IDS))
    if unknown:
        raise typer.BadParameter(
            f"--warn-for {', '.join(unknown)}: areas known for {', '.join(TERRITORY_IDS)}"
        )
    scenario = Scenario.salvo(
        missile,
        site,
        salvo,
        seed=seed,
        duration_ms=None if duration is None else round(duration * 1000),
    )
    result = run(scenario)
    if output is not None:
        with output.open("w", encoding="utf-8") as f:
            for line in records(result):
                f.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
    table = Table(title=f"EXERCISE — {salvo} × {missile} from {site}, seed {seed}")
    for column in (
        "missile",
        "source",
        "reports",
        "detect (s)",
        "first (s)",
        "pos RMS (m)",
        "IIP err 60 s (km)",
        "IIP err apogee (km)",
        "ANEES",
    ):
        table.add_column(column, justify="left" if column in ("missile", "source") else "right")
    for sc in score(result):
        table.add_row(
            sc.missile,
            sc.source,
            str(sc.reports),
            _fmt(sc.first_detection_s, digits=1),
            _fmt(sc.first_report_s, digits=0),
            _fmt(sc.position_rms_m, digits=0),
            _fmt(sc.iip_error_60s_m, 1000.0),
            _fmt(sc.iip_error_apogee_m, 1000.0, 2),
            _fmt(sc.anees, digits=1),
        )
    out.print(table)
    out.print(
        "detect: first radar plot after launch; first: first track report (10 s grid);"
        " pos RMS: position error against truth while measuring;"
        " IIP err: predicted against true impact point, at 60 s and at apogee;"
        " ANEES: mean normalised state error squared while measured (6 if consistent)."
    )
    for name, truth in sorted(result.truths.items()):
        out.print(
            f"{name}: apogee {truth.apogee_m / 1000:,.0f} km, range {truth.range_m / 1000:,.0f} km,"
            f" burnout {(truth.burnout_ms - truth.launch_ms) / 1000:.0f} s,"
            f" flight {(truth.impact_ms - truth.launch_ms) / 60000:.1f} min"
        )
    _print_warnings(result, nations)
    if output is not None:
        out.print(f"wrote {output}")

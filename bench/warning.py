"""Benchmark missile warning against truth: seeded launches, tracked, fused, warned for.

Each launch is its own seeded scenario (`tisa.tracks.scenario.run`: truth, every nation's
radars and tracker, the hub's fused picture on the 10 s grid). Every node holds that same
fused picture (each stream is REL TO USA, JPN, KOR), so a node's view is the fused picture
and its own warning areas; the script runs a `WarningBoard` per node over the picture and
scores it against where the missile truly came down:

* **warned in time**: truth inside the node's areas and a warning raised before impact;
  with the time from launch to the first warning, and the lead (impact − first warning);
* **missed**: truth inside, no warning raised before impact;
* **false**: truth outside, a warning raised all the same (and whether it was withdrawn
  before impact);
* **withdrawals** of warnings whose truth was inside (flapping), and re-raises.

Launches (seeded): SRBM, MRBM, IRBM and lofted ICBM from the DPRK sites in `sites.py`, each
with a random heading over the sea and land around the peninsula.

    python bench/warning.py                 # 100 launches, ~8 min on one core
    python bench/warning.py --json          # also write bench/results/warning.json
    python bench/warning.py --workers 2     # launches spread over two processes
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import random
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from _common import finish, log, machine

from tisa.tracks import earth
from tisa.tracks.areas import WarningArea, areas_for
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Launch, Scenario, ScenarioResult, run
from tisa.tracks.sites import LAUNCH_SITES
from tisa.tracks.warning import WarningAction, WarningBoard, WarningPolicy

GEOJSON = (
    Path(__file__).resolve().parent.parent
    / "src/tisa/web/static/vendor/naturalearth/korea-japan.geojson"
)
NODES = ("JPN", "KOR")
DEFAULT = "default"
# Share of each class, and the headings (degrees from north) each is flown on.
MIX: dict[MissileType, tuple[float, tuple[float, float]]] = {
    MissileType.SRBM: (0.4, (60.0, 200.0)),
    MissileType.MRBM: (0.3, (60.0, 200.0)),
    MissileType.IRBM: (0.2, (50.0, 130.0)),
    MissileType.ICBM_LOFTED: (0.1, (60.0, 130.0)),
}


def plan(count: int, seed: int) -> list[dict[str, Any]]:
    """The launches: class by `MIX`, site and heading drawn from a seeded generator."""
    rng = random.Random(seed)
    launches = []
    for missile, (share, _) in MIX.items():
        launches.extend([missile] * round(share * count))
    launches = launches[:count] + [MissileType.SRBM] * (count - len(launches))
    rng.shuffle(launches)
    sites = sorted(LAUNCH_SITES)
    return [
        {
            "index": i,
            "missile": str(m),
            "site": rng.choice(sites),
            "azimuth_deg": round(rng.uniform(*MIX[m][1]), 1),
        }
        for i, m in enumerate(launches)
    ]


@functools.cache
def node_areas() -> dict[str, tuple[WarningArea, ...]]:
    """Each node's warning areas, built once per process."""
    collection = json.loads(GEOJSON.read_text(encoding="utf-8"))
    return {n: areas_for(n, collection) for n in NODES}


def scenario_of(item: dict[str, Any]) -> Scenario:
    """The seeded scenario of one planned launch (its index is its seed)."""
    launch = Launch(
        "M1", MissileType(item["missile"]), item["site"], azimuth_deg=item["azimuth_deg"]
    )
    return Scenario(launches=(launch,), seed=item["index"])


def warn_on(
    item: dict[str, Any], result: ScenarioResult, policies: dict[str, WarningPolicy]
) -> dict[str, Any]:
    """Warn for each node over one flown launch's fused picture, scored against the true
    impact (what `fly_and_warn` records; `track_accuracy.py` calls it on its own runs)."""
    areas = node_areas()
    truth = result.truths["M1"]
    lat, lon, _ = earth.to_geodetic(truth.impact_ecef)
    by_time: dict[int, list[Any]] = {}
    for f in result.fused:
        by_time.setdefault(f.time_ms, []).append(f)
    out: dict[str, Any] = {
        **item,
        "impact": [round(lat, 3), round(lon, 3)],
        "flight_s": (truth.impact_ms - truth.launch_ms) / 1000,
        "policies": {},
    }
    for (label, policy), node in itertools.product(policies.items(), NODES):
        inside = [a.name for a in areas[node] if a.contains(lat, lon)]
        board = WarningBoard(node, areas[node], policy)
        events = []
        for t in result.report_times:
            for change in board.observe(by_time.get(t, []), t, exercise=True):
                events.append((str(change.action), (change.time_ms - truth.launch_ms) / 1000))
        raised = [at for action, at in events if action == WarningAction.RAISED]
        first = min(raised, default=None)
        withdrawn = [at for action, at in events if action == WarningAction.WITHDRAWN]
        out["policies"].setdefault(label, {})[node] = {
            "truth_in": inside,
            "first_warning_s": first,
            "warned_before_impact": first is not None and first < out["flight_s"],
            "raised": len(raised),
            "withdrawn_before_impact": len([s for s in withdrawn if s < out["flight_s"]]),
            "events": [f"{action} {at:g} s" for action, at in events],
        }
    return out


def fly_and_warn(item: dict[str, Any], policies: dict[str, WarningPolicy]) -> dict[str, Any]:
    """One launch: run it, warn for each node, score against the true impact."""
    started = time.perf_counter()
    out = warn_on(item, run(scenario_of(item)), policies)
    out["seconds"] = round(time.perf_counter() - started, 2)
    lat, lon = out["impact"]
    log(
        f"{item['index']:3d} {item['missile']:<11} {item['site']:<9} az {item['azimuth_deg']:5.1f}"
        f" impact {lat:6.2f} {lon:7.2f}  "
        + "  ".join(
            f"{n}: in={bool(v['truth_in'])!s:<5} first={v['first_warning_s']}"
            for n, v in out["policies"][DEFAULT].items()
        )
        + f"  ({out['seconds']} s)"
    )
    return out


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "min": ordered[0],
        "p50": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
    }


def summarise(launches: list[dict[str, Any]], label: str, node: str) -> dict[str, Any]:
    """One node's record under one policy over every launch, and per missile class."""

    def record(subset: list[dict[str, Any]]) -> dict[str, Any]:
        mine = [(launch, launch["policies"][label][node]) for launch in subset]
        inside = [(launch, v) for launch, v in mine if v["truth_in"]]
        outside = [(launch, v) for launch, v in mine if not v["truth_in"]]
        hits = [(launch, v) for launch, v in inside if v["warned_before_impact"]]
        false = [(launch, v) for launch, v in outside if v["raised"]]
        return {
            "launches": len(mine),
            "truth_inside": len(inside),
            "warned_in_time": len(hits),
            "missed": len(inside) - len(hits),
            "truth_outside": len(outside),
            "false_warnings": len(false),
            "false_withdrawn_before_impact": len(
                [v for _, v in false if v["withdrawn_before_impact"]]
            ),
            "time_to_first_warning_s": _stats([v["first_warning_s"] for _, v in hits]),
            "lead_s": _stats([launch["flight_s"] - v["first_warning_s"] for launch, v in hits]),
            "withdrawn_though_inside": len([v for _, v in inside if v["withdrawn_before_impact"]]),
            "raised_more_than_once": len([v for _, v in mine if v["raised"] > 1]),
        }

    by_class = {
        m: record([launch for launch in launches if launch["missile"] == m])
        for m in sorted({launch["missile"] for launch in launches})
    }
    return {"all": record(launches), "by_class": by_class}


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    base = WarningPolicy(confidence=args.confidence, hold_confidence=args.hold_confidence)
    policies = {
        DEFAULT: base,
        "during-boost": dataclasses.replace(base, during_boost=True),
        "no-hysteresis": dataclasses.replace(base, hold_confidence=base.confidence),
    }
    items = plan(args.launches, args.seed)
    started = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            launches = list(pool.map(fly_and_warn, items, [policies] * len(items)))
    else:
        launches = [fly_and_warn(item, policies) for item in items]
    elapsed = time.perf_counter() - started
    return {
        "benchmark": "warning",
        "command": args.command,
        "machine": machine(),
        "policies": {k: dataclasses.asdict(p) for k, p in policies.items()},
        "launches_planned": Counter(item["missile"] for item in items),
        "seconds": round(elapsed, 1),
        "workers": args.workers,
        "results": {
            label: {node: summarise(launches, label, node) for node in NODES} for label in policies
        },
        "launches": launches,
    }


def _fmt(s: dict[str, float] | None) -> str:
    if s is None:
        return "—"
    return f"p50 {s['p50']:.0f} s, p90 {s['p90']:.0f}, min {s['min']:.0f}, max {s['max']:.0f}"


def report(r: dict[str, Any]) -> None:
    print(f"warning benchmark ({r['command']}), {len(r['launches'])} launches, {r['seconds']} s")
    print(f"  planned {dict(r['launches_planned'])}")
    for label, nodes in r["results"].items():
        p = r["policies"][label]
        print(
            f"policy {label}: raise at {p['confidence']:.0%}, hold at {p['hold_confidence']:.0%},"
            f" during boost {p['during_boost']}"
        )
        for node, s in nodes.items():
            a = s["all"]
            print(
                f"  {node}: truth inside {a['truth_inside']}/{a['launches']}: warned in time "
                f"{a['warned_in_time']}, missed {a['missed']}; truth outside {a['truth_outside']}:"
                f" false warnings {a['false_warnings']} ({a['false_withdrawn_before_impact']}"
                f" withdrawn before impact)"
            )
            print(f"       launch → first warning: {_fmt(a['time_to_first_warning_s'])}")
            print(f"       lead (impact − first warning): {_fmt(a['lead_s'])}")
            print(
                f"       withdrawn though truth inside: {a['withdrawn_though_inside']};"
                f" raised more than once: {a['raised_more_than_once']}"
            )
            for m, c in s["by_class"].items():
                print(
                    f"       {m:<11} in {c['truth_inside']:2d}: hit {c['warned_in_time']:2d}"
                    f" miss {c['missed']:2d} | out {c['truth_outside']:2d}: false"
                    f" {c['false_warnings']:2d} | first warning"
                    f" {_fmt(c['time_to_first_warning_s'])}"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1, help="seed of the launch plan")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--hold-confidence", type=float, default=0.99)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--name", default="warning")
    return finish(parser.parse_args(), "warning.py", run_bench, report)


if __name__ == "__main__":
    sys.exit(main())

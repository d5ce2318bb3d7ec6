"""Benchmark track accuracy against simulator truth: seeded launches, tracked, fused, scored.

No nodes: the pure `tisa.tracks` (truth, every nation's radars and EKF tracker, the hub's
association and covariance-intersection fusion on the 10 s report grid). The launches are
bench/warning.py's plan (same seed, same classes, sites and headings, each launch seeded with
its index), so the warning figures here are that script's default policy on the same runs.

Per missile class and overall:

* **fused vs the best single nation**, wherever the fused report rests on two or more nations:
  each fused report of a missile in flight (ACTIVE, between launch and impact) against the
  nation estimates it was fused from, aligned to its time as the fusion aligned them
  (`scoring.fused_samples`). The share of (launch, time) samples where the fused position
  error is at most the best nation's, and the distribution of the ratio fused / best; split by
  where the truth is in its flight (boost; the first 60 s after burnout; later).
* **ANEES** of the fused track over every such report (one or more nations), on the scale where
  1 is consistent (NEES / 6), against the target [0.5, 2] and the 95 % chi-square band for the
  sample count (`scoring.anees_interval`; successive reports of a track are correlated, so the
  band is a yardstick, not a test); the nations' trackers on the same reports for comparison.
* **IIP error** of the fused track as reported 60 s after launch and at apogee
  (`scoring.score`: the report nearest each moment within a report period).
* **warning**: time from launch to the first warning, missed and false warnings, for JPN and
  KOR under the default policy (bench/warning.py's `warn_on` and `summarise`).

    python bench/track_accuracy.py --workers 2 --json    # 100 launches, ~5 min on 2 cores
    python bench/track_accuracy.py --launches 8          # a short look
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from _common import finish, log, machine
from warning import DEFAULT, NODES, plan, scenario_of, summarise, warn_on

from tisa.tracks.scenario import run
from tisa.tracks.scoring import FUSED, anees_interval, fused_samples, score
from tisa.tracks.warning import WarningPolicy

DIMENSION = 6
#: The issue's band for the fused track's ANEES (1 = consistent).
ANEES_TARGET = (0.5, 2.0)
#: Where the truth is in its flight: boost, the first minute after burnout, after that.
STAGES = ("boost", "burnout+60s", "ballistic")
POST_BURNOUT_S = 60.0
#: NEES of a consistent 6-state estimate exceeds this one time in 20.
NEES_95 = 12.592
#: Errors this close (relative) are equal: covariance intersection at an end of its weight
#: returns one input unchanged, up to rounding in the matrix inverses.
SAME = 1e-6


def _stage(since_launch_s: float, burnout_s: float) -> str:
    if since_launch_s <= burnout_s:
        return STAGES[0]
    return STAGES[1] if since_launch_s <= burnout_s + POST_BURNOUT_S else STAGES[2]


def fly_and_score(item: dict[str, Any], policy: WarningPolicy) -> dict[str, Any]:
    """One launch: fly it, score every report against truth, warn for each node."""
    started = time.perf_counter()
    result = run(scenario_of(item))
    truth = result.truths["M1"]
    burnout_s = (truth.burnout_ms - truth.launch_ms) / 1000
    samples = [
        {
            "t_s": s.since_launch_s,
            "stage": _stage(s.since_launch_s, burnout_s),
            "nations": list(s.nations),
            "error_m": s.error_m,
            "best_m": s.best_single_m,
            "best": min(s.source_error_m, key=s.source_error_m.__getitem__),
            "source_errors": sorted(s.source_error_m.values()),
            "confident_m": s.source_error_m[s.most_confident],
            "nees": s.nees,
            "source_nees": s.source_nees,
        }
        for s in fused_samples(result)
    ]
    scores = {
        sc.source: {
            "first_report_s": sc.first_report_s,
            "position_rms_m": sc.position_rms_m,
            "iip_error_60s_m": sc.iip_error_60s_m,
            "iip_error_apogee_m": sc.iip_error_apogee_m,
            "anees": sc.anees,
        }
        for sc in score(result)
    }
    warned = warn_on(item, result, {DEFAULT: policy})
    out = {
        **warned,
        "burnout_s": burnout_s,
        "apogee_s": (truth.apogee_ms - truth.launch_ms) / 1000,
        "scores": scores,
        "samples": samples,
        "seconds": round(time.perf_counter() - started, 2),
    }
    multi = [s for s in samples if len(s["nations"]) > 1]
    better = sum(s["error_m"] <= s["best_m"] * (1 + SAME) for s in multi)
    fused = scores[FUSED]
    log(
        f"{item['index']:3d} {item['missile']:<11} {item['site']:<9} az {item['azimuth_deg']:5.1f}"
        f"  fused ≤ best {better}/{len(multi)}"
        f"  ANEES/6 {_fmt((fused['anees'] or math.nan) / DIMENSION, 2)}"
        f"  IIP 60 s {_km(fused['iip_error_60s_m'])} apogee {_km(fused['iip_error_apogee_m'])}"
        f"  ({out['seconds']} s)"
    )
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _km(metres: float | None) -> str:
    return "—" if metres is None else f"{metres / 1000:.1f} km"


def quantiles(values: Sequence[float], digits: int = 3) -> dict[str, float] | None:
    """n, min, p10, p50, p90, p99, max and mean (nearest rank), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]

    return {
        "n": len(ordered),
        "min": round(ordered[0], digits),
        "p10": round(rank(10), digits),
        "p50": round(rank(50), digits),
        "p90": round(rank(90), digits),
        "p99": round(rank(99), digits),
        "max": round(ordered[-1], digits),
        "mean": round(statistics.fmean(ordered), digits),
    }


def versus_best(samples: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Fused error against the best single nation's over samples with two or more nations."""
    multi = [s for s in samples if len(s["nations"]) > 1]
    if not multi:
        return None
    ratios = [s["error_m"] / s["best_m"] if s["best_m"] > 0 else math.inf for s in multi]
    le = sum(r <= 1 + SAME for r in ratios)
    # Where the fused estimate is one nation's unchanged (CI's weight at 0 or 1): that of the
    # best-placed nation, or another's (CI weighs covariances, not the unknown errors).
    whole = [s for s in multi if any(abs(s["error_m"] - e) <= SAME * e for e in s["source_errors"])]
    whole_best = sum(abs(s["error_m"] - s["best_m"]) <= SAME * s["best_m"] for s in whole)
    return {
        "samples": len(multi),
        "fused_le_best": le,
        "fraction_fused_le_best": round(le / len(ratios), 4),
        "strictly_better_than_best": sum(r < 1 - SAME for r in ratios),
        # Against what a hub could do without the truth: pick the nation claiming the
        # smallest position sigma.
        "fraction_fused_le_most_confident": round(
            sum(s["error_m"] <= s["confident_m"] * (1 + SAME) for s in multi) / len(multi), 4
        ),
        "rms_m": {
            "fused": _rms([s["error_m"] for s in multi]),
            "best_single": _rms([s["best_m"] for s in multi]),
            "most_confident_single": _rms([s["confident_m"] for s in multi]),
        },
        "fused_is_one_input": {"best": whole_best, "another": len(whole) - whole_best},
        "fraction_within_10pct": round(sum(r <= 1.1 for r in ratios) / len(ratios), 4),
        "fraction_within_2x": round(sum(r <= 2 for r in ratios) / len(ratios), 4),
        "ratio_fused_over_best": quantiles(ratios),
        "fused_error_m": quantiles([s["error_m"] for s in multi], 1),
        "best_single_error_m": quantiles([s["best_m"] for s in multi], 1),
        "best_nation": dict(Counter(s["best"] for s in multi).most_common()),
    }


def _rms(values: Sequence[float]) -> float:
    return round(math.sqrt(statistics.fmean(v * v for v in values)), 1)


def consistency(nees: Sequence[float]) -> dict[str, Any] | None:
    """ANEES (per degree of freedom) of NEES values, with the 95 % chi-square band."""
    if not nees:
        return None
    low, high = anees_interval(len(nees), DIMENSION)
    anees = statistics.fmean(nees) / DIMENSION
    return {
        "samples": len(nees),
        "anees": round(anees, 3),
        "band_95": [round(low / DIMENSION, 3), round(high / DIMENSION, 3)],
        "in_target": ANEES_TARGET[0] <= anees <= ANEES_TARGET[1],
        "median_nees_per_dof": round(statistics.median(nees) / DIMENSION, 3),
        "fraction_nees_over_chi2_95": round(sum(v > NEES_95 for v in nees) / len(nees), 4),
    }


def accuracy(launches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The accuracy figures over `launches` (one class, or all)."""
    samples = [s for launch in launches for s in launch["samples"]]
    fused = [launch["scores"][FUSED] for launch in launches]

    def iip(key: str) -> dict[str, Any]:
        values = [f[key] / 1000 for f in fused if f[key] is not None]
        best_nation = []
        for launch in launches:
            nation_values = [
                v[key] for src, v in launch["scores"].items() if src != FUSED and v[key] is not None
            ]
            if nation_values:
                best_nation.append(min(nation_values) / 1000)
        return {
            "fused_km": quantiles(values, 2),
            "launches_without": len(fused) - len(values),
            "best_nation_km": quantiles(best_nation, 2),
        }

    nations = sorted({n for s in samples for n in s["source_nees"]})
    return {
        "launches": len(launches),
        "fused_vs_best_single": versus_best(samples),
        "fused_vs_best_single_by_stage": {st: versus_best(_of(samples, st)) for st in STAGES},
        "anees_fused": consistency([s["nees"] for s in samples]),
        "anees_fused_by_stage": {
            st: consistency([s["nees"] for s in _of(samples, st)]) for st in STAGES
        },
        "anees_fused_two_or_more_nations": consistency(
            [s["nees"] for s in samples if len(s["nations"]) > 1]
        ),
        "anees_nation_inputs": {
            n: consistency([s["source_nees"][n] for s in samples if n in s["source_nees"]])
            for n in nations
        },
        "iip_error_60s": iip("iip_error_60s_m"),
        "iip_error_apogee": iip("iip_error_apogee_m"),
        "fused_position_rms_m": quantiles(
            [f["position_rms_m"] for f in fused if f["position_rms_m"] is not None], 1
        ),
    }


def _of(samples: Iterable[dict[str, Any]], stage: str) -> list[dict[str, Any]]:
    return [s for s in samples if s["stage"] == stage]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    policy = WarningPolicy()
    items = plan(args.launches, args.seed)
    before = machine()
    started = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            launches = list(pool.map(fly_and_score, items, [policy] * len(items)))
    else:
        launches = [fly_and_score(item, policy) for item in items]
    elapsed = time.perf_counter() - started
    classes = sorted({launch["missile"] for launch in launches})
    by_class = {m: [launch for launch in launches if launch["missile"] == m] for m in classes}
    warnings = {node: summarise(launches, DEFAULT, node) for node in NODES}
    return {
        "benchmark": "track_accuracy",
        "command": args.command,
        "machine_before": before,
        "machine_after": machine(),
        "seconds": round(elapsed, 1),
        "workers": args.workers,
        "params": {"launches": args.launches, "seed": args.seed},
        "targets": {
            "fused_error_le_best_single": "wherever two or more nations track",
            "anees_fused_per_dof": list(ANEES_TARGET),
        },
        "launches_planned": Counter(item["missile"] for item in items),
        "accuracy": {"all": accuracy(launches), **{m: accuracy(v) for m, v in by_class.items()}},
        "warning_policy": {
            "confidence": policy.confidence,
            "hold_confidence": policy.hold_confidence,
            "during_boost": policy.during_boost,
        },
        "warning": warnings,
        # Per launch, without the samples (they are summarised above; ~10 k of them).
        "launches": [
            {k: v for k, v in launch.items() if k not in ("samples", "policies")}
            | {"warning": launch["policies"][DEFAULT]}
            for launch in launches
        ],
    }


def report(r: dict[str, Any]) -> None:
    m = r["machine_before"]
    print(
        f"track accuracy ({r['command']}): {len(r['launches'])} launches in {r['seconds']} s,"
        f" {r['workers']} workers, {m['cpus']} cpus, load {m['loadavg_1_5_15']} at start"
    )
    print(f"  planned {dict(r['launches_planned'])}")
    for label, a in r["accuracy"].items():
        v, c = a["fused_vs_best_single"], a["anees_fused"]
        print(f"{label} ({a['launches']} launches)")
        if v is not None:
            q = v["ratio_fused_over_best"]
            print(
                f"  fused ≤ best single nation: {v['fused_le_best']}/{v['samples']}"
                f" ({v['fraction_fused_le_best']:.1%}); within 10 %"
                f" {v['fraction_within_10pct']:.1%}; ratio fused/best p10 {q['p10']:.2f}"
                f" p50 {q['p50']:.2f} p90 {q['p90']:.2f} p99 {q['p99']:.2f} max {q['max']:.1f}"
            )
            rms = v["rms_m"]
            print(
                "    fused ≤ the most confident nation's:"
                f" {v['fraction_fused_le_most_confident']:.1%};"
                f" RMS fused {rms['fused']:.0f} m, best single {rms['best_single']:.0f} m,"
                f" most confident single {rms['most_confident_single']:.0f} m"
            )
            one = v["fused_is_one_input"]
            print(
                f"    strictly better than the best: {v['strictly_better_than_best']}; fused is"
                f" one nation's estimate unchanged: the best's {one['best']}, another's"
                f" {one['another']}"
            )
            for st, sv in a["fused_vs_best_single_by_stage"].items():
                if sv is not None:
                    print(
                        f"    {st:<12} {sv['fused_le_best']:5d}/{sv['samples']:<5d}"
                        f" ({sv['fraction_fused_le_best']:.1%}), ratio p50"
                        f" {sv['ratio_fused_over_best']['p50']:.2f}"
                        f" p90 {sv['ratio_fused_over_best']['p90']:.2f}"
                    )
        if c is not None:
            print(
                f"  ANEES/6 fused {c['anees']:.2f} over {c['samples']} reports (target"
                f" {ANEES_TARGET[0]}–{ANEES_TARGET[1]}: {'in' if c['in_target'] else 'OUT'};"
                f" 95 % band {c['band_95'][0]:.2f}–{c['band_95'][1]:.2f}); median"
                f" {c['median_nees_per_dof']:.2f}; NEES > χ²₆(95 %) in"
                f" {c['fraction_nees_over_chi2_95']:.1%}"
            )
            for st, sc in a["anees_fused_by_stage"].items():
                if sc is not None:
                    print(
                        f"    {st:<12} ANEES/6 {sc['anees']:8.2f} median"
                        f" {sc['median_nees_per_dof']:.2f} (n={sc['samples']})"
                    )
            print(
                "    nations' inputs: "
                + ", ".join(
                    f"{n} {x['anees']:.2f} (median {x['median_nees_per_dof']:.2f})"
                    for n, x in a["anees_nation_inputs"].items()
                    if x is not None
                )
            )
        for key, name in (("iip_error_60s", "60 s"), ("iip_error_apogee", "apogee")):
            f, b = a[key]["fused_km"], a[key]["best_nation_km"]
            if f is not None:
                print(
                    f"  IIP error at {name:<6}: fused p50 {f['p50']:.1f} p90 {f['p90']:.1f}"
                    f" max {f['max']:.1f} km (n={f['n']}, none in {a[key]['launches_without']});"
                    + (
                        ""
                        if b is None
                        else f" best nation p50 {b['p50']:.1f} p90 {b['p90']:.1f} km"
                    )
                )
    for node, s in r["warning"].items():
        w = s["all"]
        t = w["time_to_first_warning_s"]
        print(
            f"warning {node}: truth inside {w['truth_inside']}: warned {w['warned_in_time']},"
            f" missed {w['missed']}; false {w['false_warnings']} of {w['truth_outside']};"
            " launch → first warning "
            + ("—" if t is None else f"p50 {t['p50']:.0f} p90 {t['p90']:.0f} max {t['max']:.0f} s")
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--launches", type=int, default=100, help="launches to fly (100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the launch plan (1)")
    parser.add_argument("--workers", type=int, default=1, help="processes to fly them in (1)")
    parser.add_argument("--json", action="store_true", help="write bench/results/<name>.json")
    parser.add_argument("--name", default="track_accuracy", help="results file (track_accuracy)")
    args = parser.parse_args()
    if args.launches < 1:
        parser.error("--launches must be at least 1")
    return finish(args, "track_accuracy.py", run_bench, report)


if __name__ == "__main__":
    sys.exit(main())

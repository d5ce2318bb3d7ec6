"""Benchmark fusion on generated scenarios with known ground truth (no nodes, no network).

1. Correlation quality: pairwise precision and recall of the events against the truth, and
   the share of true events recovered exactly, over several seeds.
2. Fused error: per quantity, the root mean square of (fused − truth) / bound, with the
   bound sqrt(1 / Σ 1/σᵢ²) of the reports fused (1.0 = at the bound), on unbiased sensors
   (the target) and on biased ones (what bias costs; no fusion can remove it).
3. Stress families (issue 16, `tisa.fusion.scenario.FAMILIES`): per family, pairwise
   precision and recall, the share of salvos counted exactly, and phantom events (pieces
   split off a true event, such as a report whose zone mistake stood alone).
4. Speed: time to correlate 100,000 observations (best of `--repeat`), and to build the
   whole picture (correlate + fuse + disagreements) from them.

    python bench/fusion.py                 # 3 seeds × 3,000 events; 100,000 observations
    python bench/fusion.py --json          # also write bench/results/fusion.json
    python bench/fusion.py --seeds 2 --events 300 --family-events 200 --observations 20000 \
        --repeat 1 --json --name fusion-stress          # the short run (~1 min)

Targets (issue 5): precision and recall ≥ 0.99; fused error within 10 % of the bound
(normalised RMS ≤ 1.10); 100 k observations correlated in ≤ 5 s. Issue 16: precision and
recall ≥ 0.99 on every stress family; no phantom event from a zone error; salvo count exact
≥ 0.99.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from _common import finish, log, machine

from tisa.domain.arrangement import FusionWindows
from tisa.fusion import build_events, correlate, current_reports
from tisa.fusion.offsets import Offset, nation_offsets
from tisa.fusion.scenario import FAMILIES, SENSORS, generate
from tisa.fusion.scoring import score

WINDOWS = FusionWindows()


def quality(seeds: list[int], events: int) -> dict[str, Any]:
    """Precision, recall and fused error per seed, unbiased and biased."""
    out: dict[str, Any] = {}
    offsets: list[Offset] = []
    for bias in (False, True):
        runs = []
        for seed in seeds:
            scenario = generate(seed, events=events, bias=bias)
            built = build_events(scenario.holdings, WINDOWS)
            result = score(scenario, built)
            if bias:
                offsets.extend(nation_offsets(built))
            runs.append(
                {
                    "seed": seed,
                    "observations": scenario.observations,
                    "true_events": len(scenario.truth),
                    "precision": round(result.precision, 5),
                    "recall": round(result.recall, 5),
                    "exact_events": round(result.exact_events, 5),
                    "normalised_error": {
                        k: round(v, 3) for k, v in result.normalised_error.items()
                    },
                    "samples": dict(result.samples),
                }
            )
            log(f"seed {seed} bias={bias}: P {result.precision:.4f} R {result.recall:.4f}")
        quantities = sorted({q for r in runs for q in r["normalised_error"]})
        out["biased" if bias else "unbiased"] = {
            "runs": runs,
            "precision_min": min(r["precision"] for r in runs),
            "recall_min": min(r["recall"] for r in runs),
            "normalised_error_mean": {
                q: round(statistics.fmean(r["normalised_error"][q] for r in runs), 3)
                for q in quantities
            },
        }
    out["offsets_biased"] = offsets_found(offsets)
    return out


def offsets_found(offsets: list[Offset]) -> dict[str, Any]:
    """The nations' estimated offsets (time, magnitude) beside the sensors' true biases: an
    offset is relative to the other nations, so it is about a nation's bias less theirs."""
    biases = {s.originator: {"time": s.time_bias_s, "magnitude": s.magnitude_bias} for s in SENSORS}
    out: dict[str, Any] = {}
    for o in offsets:
        if o.quantity.value not in ("time", "magnitude"):
            continue
        key = f"{o.originator} {o.quantity.value}"
        out.setdefault(key, {"true_bias": biases[o.originator][o.quantity.value], "runs": []})
        out[key]["runs"].append(
            {"offset": round(o.offset, 3), "sigma": round(o.sigma, 3), "events": o.events}
        )
    return out


def families(seeds: list[int], events: int) -> dict[str, Any]:
    """Per stress family: the worst precision, recall and salvo count over seeds, phantoms."""
    out: dict[str, Any] = {}
    for family in FAMILIES:
        runs = []
        for seed in seeds:
            scenario = generate(seed, events=events, bias=False, family=family)
            result = score(scenario, build_events(scenario.holdings, WINDOWS))
            runs.append(
                {
                    "seed": seed,
                    "observations": scenario.observations,
                    "true_events": len(scenario.truth),
                    "precision": round(result.precision, 5),
                    "recall": round(result.recall, 5),
                    "exact_events": round(result.exact_events, 5),
                    "salvos": result.salvos,
                    "salvo_count_exact": round(result.salvo_count_exact, 5),
                    "phantoms": result.phantoms,
                }
            )
        out[family] = {
            "runs": runs,
            "precision_min": min(r["precision"] for r in runs),
            "recall_min": min(r["recall"] for r in runs),
            "salvo_count_exact_min": min(r["salvo_count_exact"] for r in runs),
            "phantoms": sum(r["phantoms"] for r in runs),
            "true_events": sum(r["true_events"] for r in runs),
        }
        q = out[family]
        log(f"{family}: P {q['precision_min']:.4f} R {q['recall_min']:.4f}")
    return out


def speed(observations: int, repeat: int) -> dict[str, Any]:
    """Seconds to correlate `observations` observations, and to build the whole picture."""
    events = int(observations / 3.0) + 100
    t0 = time.perf_counter()
    scenario = generate(99, events=events, bias=True)
    while scenario.observations < observations:
        events = int(events * 1.1)
        scenario = generate(99, events=events, bias=True)
    generated = time.perf_counter() - t0
    reports = current_reports(scenario.holdings)[:observations]
    log(f"{len(reports):,} observations generated in {generated:.1f}s")
    timings = []
    groups = ()
    for _ in range(repeat):
        started = time.perf_counter()
        groups = correlate(reversed(reports), WINDOWS)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    picture = build_events(scenario.holdings, WINDOWS)
    whole = time.perf_counter() - started
    return {
        "observations": len(reports),
        "events": len(groups),
        "correlate_s_best": round(min(timings), 3),
        "correlate_s_all": [round(t, 3) for t in timings],
        "holdings": len(scenario.holdings),
        "build_events_s": round(whole, 3),
        "built_events": len(picture),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    seeds = list(range(1, args.seeds + 1))
    return {
        "benchmark": "fusion",
        "command": args.command,
        "machine": machine(),
        "windows": vars(WINDOWS),
        "events_per_seed": args.events,
        "quality": quality(seeds, args.events),
        "family_events_per_seed": args.family_events,
        "families": families(seeds, args.family_events),
        "speed": speed(args.observations, args.repeat),
    }


def report(r: dict[str, Any]) -> None:
    print(f"fusion benchmark ({r['command']})")
    for name in ("unbiased", "biased"):
        q = r["quality"][name]
        print(
            f"  {name:<9} precision ≥ {q['precision_min']:.4f}  recall ≥ {q['recall_min']:.4f}  "
            f"(over {len(q['runs'])} seeds × {r['events_per_seed']:,} events)"
        )
        errors = "  ".join(f"{k} {v:.3f}" for k, v in q["normalised_error_mean"].items())
        print(f"            fused error / bound (RMS): {errors}")
    print("  biased sensors, each nation's offset against the others (true bias of its sensor):")
    for key, o in r["quality"]["offsets_biased"].items():
        found = ", ".join(f"{x['offset']:+.2f} ± {x['sigma']:.2f}" for x in o["runs"])
        print(f"    {key:<14} {found}   (true {o['true_bias']:+g})")
    seeds = len(r["quality"]["unbiased"]["runs"])
    print(f"  stress families ({r['family_events_per_seed']:,} episodes × {seeds} seeds):")
    for name, f in r["families"].items():
        print(
            f"    {name:<7} precision ≥ {f['precision_min']:.4f}  recall ≥ {f['recall_min']:.4f}"
            f"  salvo count exact ≥ {f['salvo_count_exact_min']:.3f}  phantoms {f['phantoms']}"
            f" of {f['true_events']:,} true events"
        )
    s = r["speed"]
    print(
        f"  correlate {s['observations']:,} observations: {s['correlate_s_best']:.2f} s best of "
        f"{len(s['correlate_s_all'])} ({s['events']:,} events); whole picture from "
        f"{s['holdings']:,} product versions: {s['build_events_s']:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--events", type=int, default=3000, help="primary events per seed")
    parser.add_argument("--family-events", type=int, default=500, help="episodes per family")
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--name", default="fusion")
    return finish(parser.parse_args(), "fusion.py", run, report)


if __name__ == "__main__":
    sys.exit(main())

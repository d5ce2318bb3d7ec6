"""Which nations' tracks are the same missile: statistical gating, then assignment.

Tracks are compared on their states time-aligned to one moment: the squared Mahalanobis
distance of the difference, with the sum of both covariances, is chi-square with six degrees
of freedom when both tracks follow one missile. A pair beyond the gate cannot be one missile.
Nation by nation (in a fixed order), each nation's tracks are assigned to the clusters built so
far by least total distance (the Hungarian method), one track to one cluster, so two tracks
of one nation (two missiles of a salvo) never merge and a near neighbour in time does not win
over the statistically consistent one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

from tisa.tracks.track import StateEstimate, TrackUpdate

GATE_PROBABILITY: Final = 0.99999
GATE: Final = float(chi2.ppf(GATE_PROBABILITY, 6))
_FAR: Final = 1e12


def distance(a: StateEstimate, b: StateEstimate) -> float:
    """Squared Mahalanobis distance between two estimates of one moment (covariances added,
    their errors taken as independent)."""
    d = a.vector() - b.vector()
    return float(d @ np.linalg.solve(a.matrix() + b.matrix(), d))


def associate(
    updates: Sequence[TrackUpdate], aligned: Mapping[str, StateEstimate]
) -> list[tuple[str, ...]]:
    """Group track keys by missile; `aligned` gives each key's state at the common time.

    Each group holds at most one track per nation; nations are taken in alphabetical order,
    a group as near to a track as its nearest member.
    """
    nations = sorted({u.nation for u in updates})
    clusters: list[list[str]] = []
    for nation in nations:
        keys = sorted(u.key for u in updates if u.nation == nation)
        if not clusters:
            clusters = [[k] for k in keys]
            continue
        cost = np.full((len(clusters), len(keys)), _FAR)
        for i, cluster in enumerate(clusters):
            for j, key in enumerate(keys):
                d = min(distance(aligned[m], aligned[key]) for m in cluster)
                if d <= GATE:
                    cost[i, j] = d
        rows, cols = linear_sum_assignment(cost)
        taken: set[int] = set()
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] < _FAR:
                clusters[i].append(keys[j])
                taken.add(int(j))
        clusters.extend([keys[j]] for j in range(len(keys)) if j not in taken)
    return [tuple(c) for c in clusters]

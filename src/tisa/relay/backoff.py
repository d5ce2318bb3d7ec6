"""How long to wait before trying a peer again: exponential, capped, with full jitter, so
nodes that failed together do not come back together."""

from __future__ import annotations

import random

BACKOFF_BASE = 0.25
BACKOFF_CAP = 30.0


def backoff(attempts: int, rng: random.Random) -> float:
    """Seconds to wait after `attempts` failures: exponential, capped, full jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(attempts, 16)))
    return rng.uniform(ceiling / 2, ceiling)

"""Retry timing: exponential, capped, jittered."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tisa.relay.backoff import BACKOFF_BASE, BACKOFF_CAP, backoff


@given(st.integers(min_value=0, max_value=10_000), st.integers())
def test_backoff_stays_between_half_and_the_whole_ceiling(attempts: int, seed: int) -> None:
    wait = backoff(attempts, random.Random(seed))
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempts, 16))
    assert ceiling / 2 <= wait <= ceiling


def test_backoff_grows_then_stops_growing() -> None:
    rng = random.Random(1)
    first = [backoff(0, rng) for _ in range(50)]
    later = [backoff(5, rng) for _ in range(50)]
    capped = [backoff(100, rng) for _ in range(50)]
    assert max(first) < min(later)
    assert max(capped) <= BACKOFF_CAP
    assert len(set(capped)) > 1  # jitter spreads retries of many senders apart

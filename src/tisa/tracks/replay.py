"""A past missile flight played again: the fused picture recomputed from the kept history at
a fixed step, as the hub would have drawn it at each moment.

At each frame time the fusion centre takes every update made by then (oldest first) and fuses
the tracks fresh at that moment (`FusionCenter`, the live picture's rule), so a frame shows
what was known then, never an update from later. Fused ids are numbered afresh within one
replay (F0001 onward): a node's live ids depend on when it started, a replay's only on the
history it is given. Pure: updates in, frames out; the caller bounds the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tisa.errors import TrackInvalid, WindowTooLarge
from tisa.tracks.fusion import FusedTrack, FusionCenter
from tisa.tracks.track import TrackUpdate, check_time

#: At most this many frames in one replay (~35 ms of fusion each).
MAX_FRAMES = 360
#: The default step: the nations report on a 10 s grid, so a finer one shows nothing new.
STEP_MS = 10_000
#: A default step aims at about this many frames, coarser than STEP_MS for long flights.
AIM_FRAMES = 120
#: An update older than this at a frame takes no part in it (as in the live picture).
FRESH_MS = 30_000


@dataclass(frozen=True)
class Frame:
    """The fused picture at one moment of a replay."""

    time_ms: int
    fused: tuple[FusedTrack, ...]


def frame_times(start_ms: int, end_ms: int, step_ms: int) -> range:
    """The frame times from `start_ms` to `end_ms` (the last frame at or after the end).

    Raises:
        TrackInvalid: a negative time, an end before the start, or a step under 1 s.
        WindowTooLarge: more than MAX_FRAMES frames.
    """
    check_time(start_ms)
    check_time(end_ms)
    if end_ms < start_ms:
        raise TrackInvalid(f"a replay ends after it starts, not at {end_ms} before {start_ms}")
    if isinstance(step_ms, bool) or not isinstance(step_ms, int) or step_ms < 1000:
        raise TrackInvalid(f"a replay's step is at least 1000 ms, not {step_ms!r}")
    count = math.ceil((end_ms - start_ms) / step_ms) + 1
    if count > MAX_FRAMES:
        raise WindowTooLarge(
            f"{count} frames of {step_ms / 1000:g} s asked; a replay holds at most "
            f"{MAX_FRAMES}: choose a larger step or a shorter window"
        )
    return range(start_ms, start_ms + count * step_ms, step_ms)


def default_step(start_ms: int, end_ms: int) -> int:
    """The step of a replay asked without one: STEP_MS, or coarser (whole seconds) so a long
    flight takes about AIM_FRAMES frames."""
    span = max(0, end_ms - start_ms)
    return max(STEP_MS, math.ceil(span / AIM_FRAMES / 1000) * 1000)


def replay(
    updates: Iterable[TrackUpdate],
    start_ms: int,
    end_ms: int,
    step_ms: int = STEP_MS,
    *,
    fresh_ms: int = FRESH_MS,
) -> list[Frame]:
    """The fused picture at each frame time (see `frame_times`) from `updates`, each taken
    at the first frame at or after its time. Give updates of one kind (real or exercise):
    an exercise track never fuses with a real one.

    Raises:
        TrackInvalid: as `frame_times`.
        WindowTooLarge: as `frame_times`.
    """
    times = frame_times(start_ms, end_ms, step_ms)
    pending = sorted(updates, key=lambda u: (u.time_ms, u.key))
    center = FusionCenter(max_age_ms=fresh_ms)
    frames = []
    taken = 0
    for t in times:
        upto = taken
        while upto < len(pending) and pending[upto].time_ms <= t:
            upto += 1
        center.take(pending[taken:upto])
        taken = upto
        frames.append(Frame(t, tuple(center.fuse(t))))
    return frames


def last_seen(frames: Iterable[Frame]) -> list[FusedTrack]:
    """Each fused track as the replay last showed it, by id."""
    final: dict[str, FusedTrack] = {}
    for frame in frames:
        for track in frame.fused:
            final[track.fused_id] = track
    return [final[k] for k in sorted(final)]

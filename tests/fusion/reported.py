"""Builders for fusion tests: reports as the parties write them.

pytest puts each test file's folder (no __init__.py) on sys.path, so the tests here import
this with `from reported import ...`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.factories import product

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import (
    Estimate,
    Instant,
    MissileClass,
    MissileLaunch,
    NuclearTest,
    Observation,
    Position,
    Qualifier,
)
from tisa.fusion import Event, Holding, build_events

WINDOWS = FusionWindows()
ABOUT, EXACT = Qualifier.ABOUT, Qualifier.EXACT
MORE_THAN, AT_LEAST, UP_TO = Qualifier.MORE_THAN, Qualifier.AT_LEAST, Qualifier.UP_TO
TOPICS = {"launch": "dprk.missile.launch", "test": "dprk.nuclear.test"}


def at(original: str, qualifier: Qualifier = ABOUT, sigma_s: float | None = None) -> Instant:
    """An instant as the wire makes it from its original wording."""
    return Instant(datetime.fromisoformat(original).astimezone(UTC), original, qualifier, sigma_s)


def est(value: float, qualifier: Qualifier = ABOUT, sigma: float | None = None) -> Estimate:
    """A reported figure."""
    return Estimate(value, qualifier, sigma)


def launch(time: str, **fields: Any) -> MissileLaunch:
    """A launch observation at `time` (ISO with zone), other fields as given."""
    qualifier = fields.pop("time_qualifier", ABOUT)
    return MissileLaunch(time=at(time, qualifier), **fields)


def seismic(time: str, **fields: Any) -> NuclearTest:
    """A nuclear test / seismic observation at `time`."""
    qualifier = fields.pop("time_qualifier", ABOUT)
    return NuclearTest(time=at(time, qualifier), **fields)


def held(
    originator: str,
    *observations: Observation,
    pid: str | None = None,
    version: int = 1,
    created: datetime | None = None,
    recalled: bool = False,
    **overrides: Any,
) -> Holding:
    """A product version of `originator` carrying `observations`, as a node holds it."""
    first = observations[0]
    topic = TOPICS["launch" if isinstance(first, MissileLaunch) else "test"]
    made = product(
        id=pid or str(uuid.uuid5(uuid.NAMESPACE_OID, f"{originator}{first}")),
        version=version,
        originator=originator,
        topics={topic},
        observations=observations,
        created_at=created or first.time.utc + timedelta(minutes=20 + version),
        **overrides,
    )
    return Holding(made, received_at=made.created_at + timedelta(seconds=2), recalled=recalled)


def events(*holdings: Holding, windows: FusionWindows = WINDOWS) -> tuple[Event, ...]:
    """The fused events of these holdings."""
    return build_events(holdings, windows)


SUNAN = Position(39.2, 125.67, 10.0, "Sunan, Pyongyang")
PYONGYANG = Position(39.02, 125.75, 15.0, "Pyongyang area")
KILJU = Position(41.3, 129.08, 5.0, "Punggye-ri, Kilju")
WONSAN = Position(39.15, 127.45, 10.0, "Wonsan area")
ICBM, SRBM, IRBM = MissileClass.ICBM, MissileClass.SRBM, MissileClass.IRBM

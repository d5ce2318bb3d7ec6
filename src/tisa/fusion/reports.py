"""What fusion reads: the observations of the latest version of each product held.

A product may be amended many times; only its latest version held counts, and the versions
before it are kept (`Report.history`) so the UI can show how the figures changed. A product
whose latest version was recalled drops out altogether: the originator withdrew what it last
said, and an older version it had already replaced does not speak for it either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tisa.domain.model import MissileLaunch, Observation, ObservationKind, Position, Product


@dataclass(frozen=True, order=True)
class Source:
    """Where a figure comes from: one version of one product, and who wrote it."""

    product_id: str
    version: int
    originator: str


@dataclass(frozen=True)
class Holding:
    """One product version as the node holds it (the edge builds these from store rows)."""

    product: Product
    received_at: datetime | None = None
    recalled: bool = False


@dataclass(frozen=True)
class Report:
    """One observation of the latest version of one product."""

    source: Source
    index: int
    observation: Observation
    title: str
    created_at: datetime
    received_at: datetime | None
    first_created_at: datetime
    history: tuple[Product, ...] = field(default=(), compare=False)

    @property
    def kind(self) -> ObservationKind:
        """Missile launch or nuclear test."""
        return self.observation.kind

    @property
    def seconds(self) -> float:
        """The observation's time as seconds since the epoch (UTC)."""
        return self.observation.time.utc.timestamp()

    @property
    def position(self) -> Position | None:
        """Where it happened: the launch position, or the test site."""
        o = self.observation
        return o.launch_position if isinstance(o, MissileLaunch) else o.position

    @property
    def key(self) -> tuple[float, str, int]:
        """The order every fusion step sorts by: time, product id, observation index."""
        return (self.seconds, self.source.product_id, self.index)


def current_reports(holdings: Iterable[Holding]) -> tuple[Report, ...]:
    """Every observation of each product's latest version held, in `Report.key` order.

    Products whose latest version is recalled are left out; older versions become history.
    The result does not depend on the order of `holdings`.
    """
    by_product: dict[str, list[Holding]] = {}
    for holding in holdings:
        by_product.setdefault(holding.product.id, []).append(holding)
    out: list[Report] = []
    for versions in by_product.values():
        versions.sort(key=lambda h: h.product.version)
        latest = versions[-1]
        if latest.recalled:
            continue
        product = latest.product
        source = Source(product.id, product.version, product.originator)
        first = min(h.product.created_at for h in versions)
        history = tuple(h.product for h in versions[:-1])
        for index, observation in enumerate(product.observations):
            out.append(
                Report(
                    source=source,
                    index=index,
                    observation=observation,
                    title=product.title,
                    created_at=product.created_at,
                    received_at=latest.received_at,
                    first_created_at=first,
                    history=history,
                )
            )
    out.sort(key=lambda r: r.key)
    return tuple(out)

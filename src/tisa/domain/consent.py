"""The originator's consent for the hub to pass its products, or its live tracks, to a third
party."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tisa.domain.markings import (
    Classification,
    Precedence,
)
from tisa.domain.model import Product, is_topic_pattern, require_aware, topic_matches
from tisa.errors import InputInvalid


class ConsentKind(StrEnum):
    """What a consent lets the hub pass on: products, or the live missile tracks the
    originator streams (a kind of its own: tracks never ride on a product consent)."""

    PRODUCTS = "products"
    LIVE_TRACKS = "live-tracks"


class StreamMode(StrEnum):
    """Whether a track stream is of a real event or of an exercise."""

    LIVE = "live"
    EXERCISE = "exercise"


@dataclass(frozen=True)
class Consent:
    """The originator's permission for the hub to release to a third party.

    Of products: either for one product (`product_id`, all its versions), or a standing rule:
    topics × classification ceiling × precedences. A standing rule never covers an ORCON
    product: ORCON asks the originator each time.

    Of live tracks (`kind` LIVE_TRACKS): the originator's track streams up to a ceiling
    (`max_classification`), of real events, exercises or both (`modes`); never a product.

    Raises (constructor):
        InputInvalid: neither or both of product and rule, an empty rule, expiry before issue;
            a live-track consent without a ceiling or modes, or with product terms.
    """

    id: str
    originator: str
    hub: str
    recipient: str
    issued_at: datetime
    product_id: str | None = None
    topics: frozenset[str] = frozenset()
    max_classification: Classification | None = None
    precedences: frozenset[Precedence] = frozenset()
    expires_at: datetime | None = None
    kind: ConsentKind = ConsentKind.PRODUCTS
    modes: frozenset[StreamMode] = frozenset()

    def __post_init__(self) -> None:
        require_aware(self.issued_at, "issued_at")
        if self.expires_at is not None:
            require_aware(self.expires_at, "expires_at")
        if self.recipient in (self.originator, self.hub):
            raise InputInvalid("a consent is for a third party, not the originator or hub")
        if self.expires_at is not None and self.expires_at <= self.issued_at:
            raise InputInvalid("a consent cannot expire before it is issued")
        if self.kind is ConsentKind.LIVE_TRACKS:
            if self.product_id is not None or self.topics or self.precedences:
                raise InputInvalid(
                    "a live-track consent names a ceiling and modes, not products, topics "
                    "or precedences"
                )
            if self.max_classification is None or not self.modes:
                raise InputInvalid(
                    "a live-track consent needs a maximum classification and at least one "
                    "mode (live, exercise)"
                )
            return
        if self.modes:
            raise InputInvalid("modes (live, exercise) belong to a live-track consent")
        for pattern in self.topics:
            if not is_topic_pattern(pattern):
                raise InputInvalid(
                    f"topic pattern {pattern!r}: use a topic, 'dprk.missile.*', or '*'"
                )
        if self.product_id is not None and self.precedences:
            raise InputInvalid("precedences belong to a standing rule, not a per-product consent")
        is_rule = bool(self.topics) or self.max_classification is not None
        if self.product_id is None and not is_rule:
            raise InputInvalid("a consent names a product or a standing rule (topics, ceiling)")
        if self.product_id is not None and is_rule:
            raise InputInvalid("a consent names either a product or a standing rule, not both")
        if self.product_id is None and (not self.topics or self.max_classification is None):
            raise InputInvalid("a standing rule needs topics and a maximum classification")

    @property
    def standing(self) -> bool:
        """True for a standing rule, False for a per-product consent."""
        return self.product_id is None

    def covers(self, product: Product) -> bool:
        """True if this consent's terms include `product` (validity in time is separate)."""
        if self.kind is not ConsentKind.PRODUCTS or product.originator != self.originator:
            return False
        if self.product_id is not None:
            return product.id == self.product_id
        if product.markings.orcon:
            return False
        if self.max_classification is None or product.classification > self.max_classification:
            return False
        if self.precedences and product.precedence not in self.precedences:
            return False
        return all(any(topic_matches(p, t) for p in self.topics) for t in product.topics)

    def covers_stream(
        self, originator: str, classification: Classification, mode: StreamMode
    ) -> bool:
        """True if this consent's terms include a track stream of `originator` at
        `classification` in `mode` (validity in time is separate)."""
        return (
            self.kind is ConsentKind.LIVE_TRACKS
            and originator == self.originator
            and self.max_classification is not None
            and classification <= self.max_classification
            and mode in self.modes
        )

    def in_force(self, now: datetime, revoked_at: datetime | None) -> bool:
        """True if issued, not expired and not revoked at `now`."""
        if now < self.issued_at:
            return False
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return revoked_at is None or now < revoked_at


@dataclass(frozen=True)
class HeldConsent:
    """A consent as a node holds it: the terms, and when (if ever) it was revoked."""

    consent: Consent
    revoked_at: datetime | None = None

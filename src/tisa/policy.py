"""The rules of release, as pure decisions with reasons.

Each rule is a small object with one method and lives here once; every path that moves or
shows a product (API, relay, receive, CLI) asks `decide_movement` or `decide_access`. Rules are
combined with `AllOf`; an empty combination denies, so a misconfigured policy fails closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tisa.arrangement import Arrangement, Channel
from tisa.errors import PolicyDenied
from tisa.markings import Classification
from tisa.model import HeldConsent, Product, topic_matches


class RuleName(StrEnum):
    """Which rule spoke; counted in metrics and written to the audit log."""

    CHANNEL = "channel"
    SUSPENDED = "suspended"
    SCOPE = "scope"
    RELEASABILITY = "releasability"
    CEILING = "ceiling"
    SIZE = "size"
    NO_ECHO = "no-echo"
    CONSENT = "consent"
    CLEARANCE = "clearance"
    NEED_TO_KNOW = "need-to-know"
    EMPTY = "empty-policy"


@dataclass(frozen=True)
class Reason:
    """One rule's objection. `hold` means it may pass later (consent granted, channel resumed)."""

    rule: RuleName
    text: str
    hold: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome: allowed when no rule objected."""

    reasons: tuple[Reason, ...]

    @property
    def allowed(self) -> bool:
        """True when no rule objected."""
        return not self.reasons

    @property
    def held(self) -> bool:
        """True when denied only for reasons that may clear later."""
        return bool(self.reasons) and all(r.hold for r in self.reasons)

    @property
    def texts(self) -> tuple[str, ...]:
        """The reasons, as people read them."""
        return tuple(r.text for r in self.reasons)

    def raise_if_denied(self) -> None:
        """Raises:
        PolicyDenied: with every reason, if any rule objected.
        """
        if self.reasons:
            raise PolicyDenied(self.texts, tuple(r.rule.value for r in self.reasons))


@dataclass(frozen=True)
class Movement:
    """One hop of one product: `sender` hands it to `recipient` now."""

    product: Product
    sender: str
    recipient: str


@dataclass(frozen=True)
class Situation:
    """What the rules consult besides the movement: the arrangement, consents, channel state."""

    arrangement: Arrangement
    consents: Sequence[HeldConsent]
    suspended: frozenset[str]
    now: datetime


class MovementRule(Protocol):
    """A rule of release for one hop."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        """The rule's objections; empty when it has none."""
        ...


class ChannelRule:
    """Rule 1: a node sends only along a channel, and not while it is suspended."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        channel = where.arrangement.channel_between(move.sender, move.recipient)
        if channel is None:
            hub = where.arrangement.hub
            return (
                Reason(
                    RuleName.CHANNEL,
                    f"no channel {move.sender}–{move.recipient}: "
                    f"{move.sender} and {move.recipient} exchange only via {hub}",
                ),
            )
        # Either spelling of the channel ("USA-KOR" or "KOR-USA") suspends it.
        if channel.id in where.suspended or "-".join(reversed(channel.parties)) in where.suspended:
            return (Reason(RuleName.SUSPENDED, f"channel {channel.label} is suspended", hold=True),)
        return ()


class ScopeRule:
    """Rule 2: at least one topic, and every topic inside the arrangement's scope."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        topics = move.product.topics
        if not topics:
            return (Reason(RuleName.SCOPE, "the product has no topic"),)
        outside = sorted(t for t in topics if t not in where.arrangement.scope)
        return tuple(
            Reason(RuleName.SCOPE, f"topic {t!r} is outside the arrangement's scope")
            for t in outside
        )


class ReleasabilityRule:
    """Rule 3: the recipient is in REL TO."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        if move.recipient in move.product.markings.rel_to:
            return ()
        return (Reason(RuleName.RELEASABILITY, f"REL TO lacks {move.recipient}"),)


class CeilingRule:
    """Rule 4: the classification is at or below the channel's ceiling."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        channel = where.arrangement.channel_between(move.sender, move.recipient)
        level = move.product.classification
        if channel is None or level <= channel.ceiling:
            return ()
        return (
            Reason(
                RuleName.CEILING,
                f"{level.label} is above the {channel.label} channel's ceiling "
                f"{channel.ceiling.label}",
            ),
        )


def oversize(what: str, size: int, channel: Channel) -> str | None:
    """Why `size` bytes may not cross `channel`, or None if they fit. The size rule and the
    blob receiver (which refuses before storing a byte) both ask this."""
    limit = channel.max_attachment_bytes
    if size <= limit:
        return None
    return f"{what} ({size:,} bytes) is over the {channel.label} channel's limit of {limit:,} bytes"


class AttachmentSizeRule:
    """Rule 4b: every attachment fits the channel's size limit."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        channel = where.arrangement.channel_between(move.sender, move.recipient)
        if channel is None:
            return ()
        found = (
            oversize(f"attachment {a.name}", a.size, channel) for a in move.product.attachments
        )
        return tuple(Reason(RuleName.SIZE, text) for text in found if text is not None)


class NoEchoRule:
    """Rule 6: never back to the originator; only the hub relays, and only once."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        originator = move.product.originator
        if move.recipient == originator:
            return (Reason(RuleName.NO_ECHO, f"{originator} is the originator; no echo"),)
        if move.sender == originator:
            return ()
        hub = where.arrangement.hub
        if move.sender != hub:
            return (
                Reason(
                    RuleName.NO_ECHO,
                    f"{move.sender} is not the originator and only the hub {hub} relays; "
                    "a relayed product is not relayed again",
                ),
            )
        if where.arrangement.channel_between(originator, hub) is None:
            return (Reason(RuleName.NO_ECHO, f"{hub} cannot have received it from {originator}"),)
        return ()


def find_consent(move: Movement, where: Situation) -> HeldConsent | None:
    """The consent in force that lets the hub make this relay, or None."""
    originator = move.product.originator
    for held in where.consents:
        consent = held.consent
        if (
            consent.originator == originator
            and consent.hub == move.sender
            and consent.recipient == move.recipient
            and consent.covers(move.product)
            and consent.in_force(where.now, held.revoked_at)
        ):
            return held
    return None


class ConsentRule:
    """Rule 5: a relay needs the originator's consent, in force, covering product and recipient."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        originator = move.product.originator
        if move.sender == originator or find_consent(move, where) is not None:
            return ()
        if move.recipient == originator or move.sender != where.arrangement.hub:
            return ()  # no consent could make this hop lawful; the no-echo rule says why
        return (
            Reason(
                RuleName.CONSENT,
                f"no consent from {originator} for {move.recipient}",
                hold=True,
            ),
        )


class AllOf:
    """Every rule must pass. With no rules it denies: a policy that checks nothing fails closed."""

    def __init__(self, *rules: MovementRule) -> None:
        self._rules = rules

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        if not self._rules:
            return (Reason(RuleName.EMPTY, "no rules of release are configured"),)
        return tuple(reason for rule in self._rules for reason in rule.check(move, where))


RELEASE_RULES = AllOf(
    ChannelRule(),
    ScopeRule(),
    ReleasabilityRule(),
    CeilingRule(),
    AttachmentSizeRule(),
    NoEchoRule(),
    ConsentRule(),
)


def decide_movement(move: Movement, where: Situation) -> Decision:
    """May `move.sender` hand `move.product` to `move.recipient` now? Rules 1–6."""
    return Decision(RELEASE_RULES.check(move, where))


@dataclass(frozen=True)
class Reader:
    """A user at a node: clearance in common levels, need-to-know as topic patterns."""

    username: str
    party: str
    clearance: Classification
    need_to_know: frozenset[str]


def decide_access(reader: Reader, product: Product) -> Decision:
    """Rule 7: may `reader` see `product`? Clearance and need-to-know for every topic."""
    reasons: list[Reason] = []
    if product.classification > reader.clearance:
        reasons.append(
            Reason(
                RuleName.CLEARANCE,
                f"{reader.username}'s clearance {reader.clearance.label} is below "
                f"{product.classification.label}",
            )
        )
    lacking = sorted(
        t for t in product.topics if not any(topic_matches(p, t) for p in reader.need_to_know)
    )
    if lacking:
        reasons.append(
            Reason(
                RuleName.NEED_TO_KNOW,
                f"{reader.username} has no need-to-know for {', '.join(lacking)}",
            )
        )
    return Decision(tuple(reasons))

"""The rules of release and of access, as pure decisions with reasons.

Each rule is a small object with one method and lives here once. Rules are combined into
policies with `AllOf`; an empty combination denies, so a misconfigured policy fails closed.
`decide(policy, question, where)` is the one call that answers: the policy is a required
argument, so no path can ask without naming which rules apply. The gate (`tisa.relay.gate`)
builds `where` from the state of the moment and is the only caller outside tests.

Policies:
    COMPOSE  what an analyst hears while writing (scope, parties in REL TO)
    STREAM   one live track update crossing one hop: rules 1–6, the consent a live-track one
    QUEUE    putting a hop in the outbox (a release, a relay): rules 1–6, but a suspended
             channel does not stop the queueing, only the moving
    MOVE     one hop of one product as it moves: a sender leasing it, a recipient storing it
    READ     opening a product: clearance and need-to-know (rule 7)
    WATCH    watching a live track stream: rule 7
    FETCH    opening an attachment or preview: rule 7, and not withdrawn by a recall
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from tisa.domain.arrangement import Arrangement, Channel
from tisa.domain.consent import Consent, HeldConsent
from tisa.domain.model import topic_matches
from tisa.domain.questions import (
    Hop,
    Look,
    Movement,
    Opening,
    StreamHop,
    Watching,
)
from tisa.errors import PolicyDenied


class RuleName(StrEnum):
    """Which rule spoke; counted in metrics and written to the audit log."""

    CHANNEL = "channel"
    SUSPENDED = "suspended"
    SCOPE = "scope"
    PARTIES = "parties"
    RELEASABILITY = "releasability"
    CEILING = "ceiling"
    SIZE = "size"
    NO_ECHO = "no-echo"
    CONSENT = "consent"
    RECALLED = "recalled"
    CLEARANCE = "clearance"
    NEED_TO_KNOW = "need-to-know"
    WITHDRAWN = "withdrawn"
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

    @property
    def rules(self) -> tuple[str, ...]:
        """The names of the rules that objected."""
        return tuple(r.rule.value for r in self.reasons)

    def raise_if_denied(self) -> None:
        """Raises:
        PolicyDenied: with every reason, if any rule objected.
        """
        if self.reasons:
            raise PolicyDenied(self.texts, self.rules)


@dataclass(frozen=True)
class Situation:
    """What the rules consult besides the question, as the deciding node holds it now:
    the arrangement, the consents (with revocations), the channels suspended at this node,
    and which of the versions in question are recalled. Every field is required, so a
    caller cannot leave a part of the state out by accident."""

    arrangement: Arrangement
    consents: Sequence[HeldConsent]
    suspended: frozenset[str]
    recalled: frozenset[tuple[str, int]]
    now: datetime


Q = TypeVar("Q", Movement, Opening, StreamHop, Watching)
Q_contra = TypeVar("Q_contra", Movement, Opening, StreamHop, Watching, contravariant=True)


class Rule(Protocol[Q_contra]):
    """One rule: its objections to a question, given the situation."""

    def check(self, question: Q_contra, where: Situation) -> tuple[Reason, ...]:
        """The rule's objections; empty when it has none."""
        ...


class ChannelRule:
    """Rule 1: a node sends only along a channel."""

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        if where.arrangement.channel_between(move.sender, move.recipient) is not None:
            return ()
        hub = where.arrangement.hub
        return (
            Reason(
                RuleName.CHANNEL,
                f"no channel {move.sender}–{move.recipient}: "
                f"{move.sender} and {move.recipient} exchange only via {hub}",
            ),
        )


class SuspensionRule:
    """Rule 1b: nothing moves over a channel while it is suspended (a hold: queues wait)."""

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        channel = where.arrangement.channel_between(move.sender, move.recipient)
        if channel is None:
            return ()
        # Either spelling of the channel ("USA-KOR" or "KOR-USA") suspends it.
        if channel.id in where.suspended or "-".join(reversed(channel.parties)) in where.suspended:
            return (Reason(RuleName.SUSPENDED, f"channel {channel.label} is suspended", hold=True),)
        return ()


class ScopeRule:
    """Rule 2: at least one topic, and every topic inside the arrangement's scope."""

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        topics = move.subject.topics
        if not topics:
            return (Reason(RuleName.SCOPE, "the product has no topic"),)
        outside = sorted(t for t in topics if t not in where.arrangement.scope)
        return tuple(
            Reason(RuleName.SCOPE, f"topic {t!r} is outside the arrangement's scope")
            for t in outside
        )


class PartiesRule:
    """REL TO names only parties of the arrangement: a product marked for a nation outside it
    can be released to no one, since no one could honour the marking."""

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        outside = sorted(move.subject.markings.rel_to - set(where.arrangement.parties))
        return tuple(
            Reason(
                RuleName.PARTIES,
                f"REL TO names {code}, which is not a party to {where.arrangement.id}",
            )
            for code in outside
        )


class ReleasabilityRule:
    """Rule 3: the recipient is in REL TO."""

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        if move.recipient in move.subject.markings.rel_to:
            return ()
        return (Reason(RuleName.RELEASABILITY, f"REL TO lacks {move.recipient}"),)


class CeilingRule:
    """Rule 4: the classification is at or below the channel's ceiling."""

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        channel = where.arrangement.channel_between(move.sender, move.recipient)
        level = move.subject.classification
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

    def check(self, move: Hop, where: Situation) -> tuple[Reason, ...]:
        originator = move.subject.originator
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


def _consent_in_force(
    sender: str,
    recipient: str,
    cited: str | None,
    covers: Callable[[Consent], bool],
    where: Situation,
) -> HeldConsent | None:
    """The consent in force that lets `sender` (the hub) pass something on to `recipient`:
    its terms `covers` it, and a relay that cites a consent rests on that one only. The one
    lookup behind products' and live tracks' consent rules."""
    for held in where.consents:
        consent = held.consent
        if cited is not None and consent.id != cited:
            continue
        if (
            consent.hub == sender
            and consent.recipient == recipient
            and covers(consent)
            and consent.in_force(where.now, held.revoked_at)
        ):
            return held
    return None


def find_consent(move: Movement, where: Situation) -> HeldConsent | None:
    """The consent in force that lets the hub make this relay, or None."""
    product = move.product
    return _consent_in_force(
        move.sender,
        move.recipient,
        move.consent_id,
        lambda c: c.originator == product.originator and c.covers(product),
        where,
    )


class ConsentRule:
    """Rule 5: a relay needs the originator's consent, in force, covering product and recipient.

    Without one the hub holds the product and asks (a hold). A relay already made under a
    consent that is no longer in force (revoked, expired) is refused outright: its signed
    attestation names that consent, so it cannot go on under another.
    """

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        originator = move.product.originator
        if move.sender == originator or find_consent(move, where) is not None:
            return ()
        if move.recipient == originator or move.sender != where.arrangement.hub:
            return ()  # no consent could make this hop lawful; the no-echo rule says why
        if move.consent_id is None:
            return (
                Reason(
                    RuleName.CONSENT,
                    f"no consent from {originator} for {move.recipient}",
                    hold=True,
                ),
            )
        cited = next((h for h in where.consents if h.consent.id == move.consent_id), None)
        if cited is None:
            text = f"consent {move.consent_id} from {originator} is not held here"
        elif cited.revoked_at is not None and where.now >= cited.revoked_at:
            text = f"consent {move.consent_id} from {originator} was revoked"
        elif not cited.consent.in_force(where.now, None):
            text = f"consent {move.consent_id} from {originator} is not in force"
        else:
            text = (
                f"consent {move.consent_id} from {originator} does not cover this product "
                f"for {move.recipient}"
            )
        return (Reason(RuleName.CONSENT, text),)


def find_live_consent(hop: StreamHop, where: Situation) -> HeldConsent | None:
    """The live-track consent in force that lets the hub pass this update on, or None."""
    stream = hop.stream
    return _consent_in_force(
        hop.sender,
        hop.recipient,
        hop.consent_id,
        lambda c: c.covers_stream(stream.originator, stream.classification, stream.mode),
        where,
    )


class LiveConsentRule:
    """Rule 5 for live tracks: the hub passes a nation's track on only under that nation's
    live-track consent, in force, covering the recipient, the level and the mode. A stream
    does not wait for consent: without one, the update is not passed on."""

    def check(self, hop: StreamHop, where: Situation) -> tuple[Reason, ...]:
        originator = hop.stream.originator
        if hop.sender == originator or find_live_consent(hop, where) is not None:
            return ()
        if hop.recipient == originator or hop.sender != where.arrangement.hub:
            return ()  # no consent could make this hop lawful; the no-echo rule says why
        cited = "" if hop.consent_id is None else f" (consent {hop.consent_id} cited)"
        return (
            Reason(
                RuleName.CONSENT,
                f"no live-track consent in force from {originator} for {hop.recipient} "
                f"covering {hop.stream.mode} tracks at {hop.stream.classification.label}{cited}",
            ),
        )


class RecallRule:
    """A recalled version moves no further, wherever it is: its originator withdrew it."""

    def check(self, move: Movement, where: Situation) -> tuple[Reason, ...]:
        product = move.product
        if (product.id, product.version) not in where.recalled:
            return ()
        return (
            Reason(
                RuleName.RECALLED,
                f"{product.originator} recalled {product.id} v{product.version}",
            ),
        )


class ClearanceRule:
    """Rule 7a: the reader's clearance is at or above the product's classification."""

    def check(self, opening: Look, where: Situation) -> tuple[Reason, ...]:
        reader, level = opening.reader, opening.subject.classification
        if level <= reader.clearance:
            return ()
        return (
            Reason(
                RuleName.CLEARANCE,
                f"{reader.username}'s clearance {reader.clearance.label} is below {level.label}",
            ),
        )


class NeedToKnowRule:
    """Rule 7b: the reader has need-to-know for every topic of the product."""

    def check(self, opening: Look, where: Situation) -> tuple[Reason, ...]:
        reader = opening.reader
        lacking = sorted(
            t
            for t in opening.subject.topics
            if not any(topic_matches(p, t) for p in reader.need_to_know)
        )
        if not lacking:
            return ()
        return (
            Reason(
                RuleName.NEED_TO_KNOW,
                f"{reader.username} has no need-to-know for {', '.join(lacking)}",
            ),
        )


class WithdrawnRule:
    """A recalled version's attachments are withdrawn everywhere but at its originator."""

    def check(self, opening: Opening, where: Situation) -> tuple[Reason, ...]:
        product = opening.product
        if not opening.recalled or opening.here == product.originator:
            return ()
        return (
            Reason(
                RuleName.WITHDRAWN,
                f"{product.id} v{product.version} was recalled; its attachments are withdrawn",
            ),
        )


class AllOf(Generic[Q]):
    """Every rule must pass. With no rules it denies: a policy that checks nothing fails closed."""

    def __init__(self, *rules: Rule[Q]) -> None:
        self._rules: tuple[Rule[Q], ...] = rules

    def check(self, question: Q, where: Situation) -> tuple[Reason, ...]:
        """Every rule's objections, in the order the rules were given."""
        if not self._rules:
            return (Reason(RuleName.EMPTY, "no rules of release are configured"),)
        return tuple(reason for rule in self._rules for reason in rule.check(question, where))


COMPOSE: AllOf[Movement] = AllOf(ScopeRule(), PartiesRule())
# Queueing (a release, a relay) may wait out a suspension: the queue holds, the sender waits.
QUEUE: AllOf[Movement] = AllOf(
    ChannelRule(),
    ScopeRule(),
    PartiesRule(),
    ReleasabilityRule(),
    CeilingRule(),
    AttachmentSizeRule(),
    NoEchoRule(),
    ConsentRule(),
    RecallRule(),
)
MOVE: AllOf[Movement] = AllOf(
    ChannelRule(),
    SuspensionRule(),
    ScopeRule(),
    PartiesRule(),
    ReleasabilityRule(),
    CeilingRule(),
    AttachmentSizeRule(),
    NoEchoRule(),
    ConsentRule(),
    RecallRule(),
)
# A live track moves only over a channel that is up: nothing waits (the latest update wins).
STREAM: AllOf[StreamHop] = AllOf(
    ChannelRule(),
    SuspensionRule(),
    ScopeRule(),
    PartiesRule(),
    ReleasabilityRule(),
    CeilingRule(),
    NoEchoRule(),
    LiveConsentRule(),
)
READ: AllOf[Opening] = AllOf(ClearanceRule(), NeedToKnowRule())
WATCH: AllOf[Watching] = AllOf(ClearanceRule(), NeedToKnowRule())
FETCH: AllOf[Opening] = AllOf(ClearanceRule(), NeedToKnowRule(), WithdrawnRule())


def decide(policy: AllOf[Q], question: Q, where: Situation) -> Decision:
    """The one decision: does `policy` let `question` pass in situation `where`?"""
    return Decision(policy.check(question, where))

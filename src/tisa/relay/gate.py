"""The gate: every movement and every opening of a product, and every hop of a live track
update, is decided here, with the state of the moment it happens.

A movement (an originator queueing a release, a sender leasing a batch, the hub relaying, a
recipient storing) asks `Gate.moves` / `Gate.move`; a live track update crossing a hop asks
`Gate.streams`; an opening (a read, a listing, a download, a preview, the events picture, the
live stream) asks `Gate.opens`. The gate reads what the rules consult from the store now
(channels suspended here, consents and their revocations, recalls) and hands it, with the
question, to `tisa.domain.policy.decide`. The policy is a required argument of every call:
there is no default and no way to skip it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from tisa.domain.arrangement import Arrangement
from tisa.domain.consent import Consent, HeldConsent
from tisa.domain.model import Product
from tisa.domain.policy import AllOf, Decision, Situation, decide, find_consent, find_live_consent
from tisa.domain.questions import Movement, Opening, Reader, Stream, StreamHop, Watching
from tisa.domain.wire import ConsentToken, parse
from tisa.store import consents, network, recalls


class Gate:
    """Asks the rules, with this node's state of the moment. Constructing it does no I/O."""

    def __init__(self, party: str, arrangement: Arrangement, clock: Callable[[], datetime]) -> None:
        self.party = party
        self.arrangement = arrangement
        self._clock = clock

    def _consents(self, conn: Connection, presented: Sequence[Consent]) -> list[HeldConsent]:
        """Every consent this node holds, and those a message presents, each with the
        revocation this node knows of (a revocation of a consent it never held counts too)."""
        terms = [parse(ConsentToken, row.terms).consent() for row in consents.for_originator(conn)]
        known = {c.id for c in terms}
        terms += [c for c in presented if c.id not in known]
        revoked = consents.revoked(conn, [c.id for c in terms])
        return [HeldConsent(c, revoked.get(c.id)) for c in terms]

    def situation(
        self,
        conn: Connection,
        moves: Sequence[Movement],
        *,
        presented: Sequence[Consent] = (),
    ) -> Situation:
        """What the rules consult for `moves`, read now."""
        keys = [(m.product.id, m.product.version) for m in moves]
        return Situation(
            arrangement=self.arrangement,
            consents=self._consents(conn, presented),
            suspended=network.suspended(conn),
            recalled=recalls.recalled_among(conn, keys),
            now=self._clock(),
        )

    def moves(
        self,
        conn: Connection,
        policy: AllOf[Movement],
        moves: Sequence[Movement],
        *,
        presented: Sequence[Consent] = (),
    ) -> list[Decision]:
        """Decide each movement under `policy`, with the state read once for all of them
        (a sender's batch). `presented`: consents a received message carries."""
        if not moves:
            return []
        where = self.situation(conn, moves, presented=presented)
        return [decide(policy, m, where) for m in moves]

    def move(
        self,
        conn: Connection,
        policy: AllOf[Movement],
        move: Movement,
        *,
        presented: Sequence[Consent] = (),
    ) -> Decision:
        """Decide one movement under `policy`, with the state of this moment."""
        (decision,) = self.moves(conn, policy, [move], presented=presented)
        return decision

    def consent_for(self, conn: Connection, move: Movement) -> HeldConsent | None:
        """The consent in force a relay the gate allowed rests on (for its attestation)."""
        return find_consent(move, self.situation(conn, [move]))

    def stream_situation(self, conn: Connection, presented: Sequence[Consent] = ()) -> Situation:
        """The state live-track hops are decided in, read now: channels suspended, consents
        and revocations held (with `presented`). A caller deciding a batch inside one write
        transaction reads it once: nothing else can change it before the batch commits."""
        return Situation(
            arrangement=self.arrangement,
            consents=self._consents(conn, presented),
            suspended=network.suspended(conn),
            recalled=frozenset(),
            now=self._clock(),
        )

    def streams(
        self,
        conn: Connection,
        policy: AllOf[StreamHop],
        hops: Sequence[StreamHop],
        *,
        presented: Sequence[Consent] = (),
        where: Situation | None = None,
    ) -> list[Decision]:
        """Decide each live track update's hop under `policy`, with the state read once for
        all of them (channels suspended now, consents and revocations held now), or in
        `where` if the caller read it for its batch. `presented`: the consent a relayed update
        carries."""
        if not hops:
            return []
        where = self.stream_situation(conn, presented) if where is None else where
        return [decide(policy, hop, where) for hop in hops]

    def stream_relay(
        self,
        conn: Connection,
        policy: AllOf[StreamHop],
        hop: StreamHop,
        where: Situation | None = None,
    ) -> tuple[Decision, HeldConsent | None]:
        """At the hub: whether `hop` may go under `policy`, and if so the live-track consent it
        rests on (for the attestation), both from one reading of the state (`where`, if the
        caller read it for its batch)."""
        where = self.stream_situation(conn) if where is None else where
        decision = decide(policy, hop, where)
        return decision, find_live_consent(hop, where) if decision.allowed else None

    def watches(self, policy: AllOf[Watching], reader: Reader, stream: Stream) -> Decision:
        """Decide whether `reader` may watch `stream` here under `policy`."""
        where = Situation(
            arrangement=self.arrangement,
            consents=(),
            suspended=frozenset(),
            recalled=frozenset(),
            now=self._clock(),
        )
        return decide(policy, Watching(reader, stream), where)

    def opens(
        self,
        policy: AllOf[Opening],
        reader: Reader,
        product: Product,
        *,
        recalled: bool,
    ) -> Decision:
        """Decide whether `reader` may open `product` here under `policy`. What an opening
        consults is on the product and its row (recall), so nothing more is read."""
        where = Situation(
            arrangement=self.arrangement,
            consents=(),
            suspended=frozenset(),
            recalled=frozenset(),
            now=self._clock(),
        )
        return decide(policy, Opening(reader, product, self.party, recalled), where)

"""Live track updates between nodes: kept as history everywhere, passed on latest-first.

Each update is signed by its originator (`tisa.tracks.wire`). On every link the newest update
of each track waits in a `LiveQueue`; a newer one replaces it (the older is dropped and
counted as superseded), so a slow or reconnecting link never queues stale positions. Every
node keeps every update it made or received (`store.tracks`), which is what a reconnecting
node backfills and what an event is replayed from.

At each hop the one gate decides (policy STREAM): when the sender takes an update for the
link (`admit`), and when the recipient stores it (`receive`). The hub passes a spoke's track on
only under that spoke's live-track consent: it signs an attestation naming the update, the
recipient and the consent, and sends the consent along so the recipient can check it too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field
from sqlalchemy import Connection

from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.domain.consent import Consent, StreamMode
from tisa.domain.policy import STREAM, Decision, Situation
from tisa.domain.questions import Stream, StreamHop
from tisa.domain.wire import ConsentToken, Strict, parse
from tisa.errors import ChannelSuspended, InputInvalid, SignatureInvalid, TisaError
from tisa.relay.context import NodeContext
from tisa.relay.live_links import Line
from tisa.relay.messages import payload
from tisa.store import consents, tracks
from tisa.store.database import after_commit
from tisa.tracks.track import TrackStream, TrackUpdate
from tisa.tracks.wire import read_update, update_to_wire

Received = Literal["stored", "duplicate"]

_log = logging.getLogger("tisa.live")


class LineIn(Strict):
    """One update on the wire: the originator's token and, for a relay, the hub's attestation
    and the originator's consent it rests on."""

    token: str = Field(min_length=10, max_length=100_000)
    attestation: str | None = Field(default=None, max_length=10_000)
    consent: str | None = Field(default=None, max_length=10_000)


class TrackRelay(Strict):
    """The hub's signed word that it passes one update on to `recipient` under `consent_id`."""

    type: Literal["track-relay"]
    hub: str = Field(min_length=3, max_length=3)
    originator: str = Field(min_length=3, max_length=3)
    recipient: str = Field(min_length=3, max_length=3)
    track_id: str = Field(min_length=1, max_length=100)
    time_ms: int = Field(ge=0)
    digest: str
    consent_id: str = Field(min_length=36, max_length=36)
    at: datetime


def stream_of(stream: TrackStream) -> Stream:
    """A track stream as the rules see it."""
    mode = StreamMode.EXERCISE if stream.exercise else StreamMode.LIVE
    return Stream(stream.markings(), mode)


def admit(ctx: NodeContext, peer: str, lines: Sequence[Line]) -> list[Line]:
    """The lines the gate lets cross to `peer` now (policy STREAM, with the state of this
    moment); the others are dropped: a live update does not wait."""
    hops = [StreamHop(line.stream, ctx.party, peer, line.consent_id) for line in lines]
    with ctx.db.read() as conn:
        decisions = ctx.gate.streams(conn, STREAM, hops)
    allowed = []
    for line, decision in zip(lines, decisions, strict=True):
        if decision.allowed:
            allowed.append(line)
        else:
            for rule in decision.rules:
                ctx.count_denial(rule)
    return allowed


def _row(
    stream: TrackStream,
    update: TrackUpdate,
    token: str,
    line: LineIn | None,
    now: datetime,
    sender: str | None = None,
) -> tracks.TrackRow:
    """The row an update is kept as: this node's own (`line` None) or one received."""
    return tracks.TrackRow(
        originator=stream.nation,
        track_id=update.track_id,
        time_ms=update.time_ms,
        classification=int(stream.markings().classification),
        exercise=stream.exercise,
        token=token,
        attestation=None if line is None else line.attestation,
        consent=None if line is None else line.consent,
        received_from=sender,
        stored_at=now,
    )


def publish(ctx: NodeContext, stream: TrackStream, updates: Sequence[TrackUpdate]) -> int:
    """Sign this node's own `updates` of `stream`, keep them, and queue each once kept: at a
    spoke for the hub, at the hub for each spoke; how many were new.

    Raises:
        InputInvalid: the stream is not this node's, or an update is not of the stream.
    """
    if stream.nation != ctx.party:
        raise InputInvalid(f"{ctx.party} publishes its own tracks, not {stream.nation}'s")
    gated = stream_of(stream)
    now = ctx.clock()
    signed = []
    for update in updates:
        token = ctx.trust.sign(Signed.TRACK, update_to_wire(stream, update))
        signed.append((Line(update.key, update.time_ms, gated, token), update, token))
    with ctx.db.begin() as conn:
        new = tracks.add_many(conn, [_row(stream, u, token, None, now) for _, u, token in signed])
        kept = []
        for line, update, _ in signed:
            key = (stream.nation, update.track_id, update.time_ms)
            if key in new:
                new.discard(key)
                kept.append(line)
        # A spoke streams to the hub; the hub, an originator too, to each spoke directly.
        hub = ctx.arrangement.hub
        peers = ctx.arrangement.peers_of(ctx.party) if ctx.party == hub else [hub]

        def queue() -> None:
            ctx.live.arrivals.note([(ctx.party, line.time_ms) for line in kept])
            for peer in peers:
                for line in kept:
                    ctx.live.offer(peer, line)

        after_commit(conn, queue)
    return len(kept)


def receive_many(
    ctx: NodeContext, sender: str, lines: Sequence[LineIn]
) -> list[Received | TisaError]:
    """Verify, ask the gate and keep each update from `sender`; at the hub, pass each new one
    on where the rules allow. A line refused is refused alone: every check comes before
    anything is written, and the batch's updates are then kept in one statement.

    Raises:
        SQLAlchemyError: the store failed; nothing of the batch was kept.
    """
    results: list[Received | TisaError] = []
    onward: list[tuple[str, Line]] = []
    stored: list[tuple[str, int]] = []
    with ctx.db.begin() as conn:
        states = _States(ctx, conn)
        admitted: list[tuple[int, _Admitted]] = []
        for line in lines:
            try:
                admitted.append((len(results), _admit(ctx, conn, states, sender, line)))
                results.append("duplicate")  # until the insert says it is new
            except TisaError as exc:
                results.append(exc)
        kept = tracks.add_many(conn, [a.row for _, a in admitted])
        for at, a in admitted:
            key = (a.row.originator, a.row.track_id, a.row.time_ms)
            if key not in kept:
                continue
            kept.discard(key)  # the same update twice in one batch: the first is the new one
            results[at] = "stored"
            stored.append((a.update.nation, a.update.time_ms))
            if ctx.is_hub:
                try:
                    onward.extend(_onward(ctx, conn, states, sender, a))
                except TisaError as exc:
                    # Kept, not passed on live: the spokes' catch-up asks the gate again.
                    _log.error("update %s not passed on live: %s", a.update.key, exc.reason)

        def queue() -> None:
            ctx.live.arrivals.note(stored)
            for peer, out in onward:
                ctx.live.offer(peer, out)

        after_commit(conn, queue)
    return results


class _States:
    """The gate's state for one batch, read once per set of consents presented: the batch
    is decided inside one write transaction, so nothing can change the state before it
    commits, and reading consents and channels again for every update cost the hub most of
    its time under load. The consents cited by relays are read once per batch too."""

    def __init__(self, ctx: NodeContext, conn: Connection) -> None:
        self._ctx, self._conn = ctx, conn
        self._read: dict[tuple[str, ...], Situation] = {}
        self._grants: dict[str, consents.ConsentRow | None] = {}

    def __call__(self, presented: Sequence[Consent] = ()) -> Situation:
        key = tuple(sorted(c.id for c in presented))
        where = self._read.get(key)
        if where is None:
            where = self._read[key] = self._ctx.gate.stream_situation(self._conn, presented)
        return where

    def grant(self, consent_id: str) -> consents.ConsentRow | None:
        """The stored consent `consent_id`, as this batch's transaction reads it."""
        if consent_id not in self._grants:
            self._grants[consent_id] = consents.get(self._conn, consent_id)
        return self._grants[consent_id]


@dataclass(frozen=True)
class _Admitted:
    """A line that verified and that the gate let in: the row to keep and what it carries."""

    row: tracks.TrackRow
    gated: Stream
    update: TrackUpdate


def _admit(
    ctx: NodeContext, conn: Connection, states: _States, sender: str, line: LineIn
) -> _Admitted:
    originator = ctx.trust.claimed(line.token, "originator")
    stream, update = read_update(ctx.trust.verify(Signed.TRACK, line.token, signer=originator))
    gated = stream_of(stream)
    consent_id = None
    presented = []
    if sender != originator:
        relay = _relay_of(ctx, sender, line, update)
        grant = parse(
            ConsentToken, ctx.trust.verify(Signed.CONSENT, line.consent or "", signer=originator)
        ).consent()
        if grant.id != relay.consent_id:
            raise InputInvalid(f"the relay cites consent {relay.consent_id}, not {grant.id}")
        consent_id, presented = grant.id, [grant]
    elif line.attestation is not None or line.consent is not None:
        raise InputInvalid("an originator's own update carries no attestation or consent")
    (decision,) = ctx.gate.streams(
        conn, STREAM, [StreamHop(gated, sender, ctx.party, consent_id)], where=states(presented)
    )
    if decision.held:
        raise ChannelSuspended("; ".join(decision.texts))
    decision.raise_if_denied()
    row = _row(stream, update, line.token, line, ctx.clock(), sender)
    return _Admitted(row, gated, update)


def _onward(
    ctx: NodeContext, conn: Connection, states: _States, sender: str, a: _Admitted
) -> list[tuple[str, Line]]:
    """At the hub: the lines passing a newly kept update on to the other spokes."""
    relays = []
    for peer in ctx.arrangement.peers_of(ctx.party):
        if peer in (a.update.nation, sender):
            continue
        relayed = _relay(ctx, conn, peer, a.gated, a.update, a.row.token, states)
        # Held for now, the live line waits for nothing: the peer's catch-up brings it later.
        if isinstance(relayed, Line):
            relays.append((peer, relayed))
    return relays


@dataclass(frozen=True)
class Kept:
    """A stored update that still holds together: its row, stream and update as signed."""

    row: tracks.TrackRow
    stream: TrackStream
    update: TrackUpdate


#: What `kept` checks of a row: the columns against the token, and the token itself.
Checked = tuple[str, str, int, int, bool, str]


def checked(row: tracks.TrackRow) -> Checked:
    return (row.originator, row.track_id, row.time_ms, row.classification, row.exercise, row.token)


def kept(
    ctx: NodeContext, rows: Sequence[tracks.TrackRow], memo: dict[Checked, Kept] | None = None
) -> list[Kept]:
    """`rows` verified again, as every opening of a stored update is: the originator's
    signature over the token, and the row's columns equal to what was signed. One that no
    longer holds together (altered at rest) is left out and logged, never served, and never
    the end of the listing, the history or the warnings that read it.

    `memo` (a reader that reads the same rows many times a second: the fused picture) holds
    what was verified, keyed by every byte that was checked, so a row read again unchanged
    is not verified again and a row altered since misses it and is verified (and refused)."""
    good = []
    for row in rows:
        if memo is not None and (seen := memo.get(checked(row))) is not None:
            good.append(Kept(row, seen.stream, seen.update))
            continue
        try:
            payload = ctx.trust.verify(Signed.TRACK, row.token, signer=row.originator)
            stream, update = read_update(payload)
            signed = (
                stream.nation,
                update.track_id,
                update.time_ms,
                int(stream.markings().classification),
                stream.exercise,
            )
            held = (row.originator, row.track_id, row.time_ms, row.classification, row.exercise)
            if signed != held:
                raise SignatureInvalid("the row's columns are not what its token signs")
        except TisaError as exc:
            _log.error(
                "track update %s:%s at %d is damaged, left out: %s",
                row.originator,
                row.track_id,
                row.time_ms,
                exc.reason,
            )
            continue
        good.append(Kept(row, stream, update))
        if memo is not None:
            memo[checked(row)] = good[-1]
    return good


@dataclass(frozen=True)
class HistoryPage:
    """One page of a node's history for a peer: the lines it may have, the store position
    the page reached (rows it may not have count too), and the store's end."""

    lines: list[Line]
    reached: int
    end: int


def history_for(
    ctx: NodeContext, peer: str, after: int | None, since_ms: int, limit: int
) -> HistoryPage:
    """What this node may give `peer` now from its history, in the order it kept it: after
    store position `after`, or (a first catch-up, `after` None) from the first update with
    a time at or after `since_ms`. Its own updates, and at the hub the other spokes' under
    their live-track consent (each relay attested anew); nothing back to its originator. The
    gate decides each as for the live stream; a spoke passes on nothing but its own.

    By position, not by time: an update kept late (a burst of a tracker's past, a hub's own
    catch-up) still comes, however old its time.
    """
    with ctx.db.read() as conn:
        start = tracks.position_at(conn, since_ms) if after is None else after
        end = tracks.end(conn)
        page = tracks.kept_after(conn, start, limit)
        reached = page[-1][0] if page else max(start, 0)
        at = {id(row): position for position, row in page}
        offered: list[tuple[int, Line]] = []
        states = _States(ctx, conn)
        for held in kept(ctx, [row for _, row in page if row.originator != peer]):
            row, update = held.row, held.update
            gated = stream_of(held.stream)
            if row.originator == ctx.party:
                offered.append((at[id(row)], Line(update.key, update.time_ms, gated, row.token)))
            elif ctx.is_hub:
                relayed = _relay(ctx, conn, peer, gated, update, row.token, states)
                if isinstance(relayed, Decision):
                    # Held (a suspension), not refused: the page ends before it, so the
                    # peer asks from here again once the channel is back.
                    reached = at[id(row)] - 1
                    break
                if relayed is not None:
                    offered.append((at[id(row)], relayed))
        hops = [StreamHop(line.stream, ctx.party, peer, line.consent_id) for _, line in offered]
        decisions = ctx.gate.streams(conn, STREAM, hops, where=states()) if hops else []
    lines = []
    for (position, line), decision in zip(offered, decisions, strict=True):
        if decision.held:
            reached = position - 1  # as above: asked again from here, nothing lost
            break
        if decision.allowed:
            lines.append(line)
        else:
            for rule in decision.rules:
                ctx.count_denial(rule)
    return HistoryPage(lines, reached, end)


def newest_from(ctx: NodeContext, peer: str) -> int | None:
    """The time of the newest update `peer` gave this node, or None."""
    with ctx.db.read() as conn:
        return tracks.newest_from(conn, peer)


def _relay_of(ctx: NodeContext, sender: str, line: LineIn, update: TrackUpdate) -> TrackRelay:
    """The hub's attestation for this update to us, checked against the update it names."""
    if sender != ctx.arrangement.hub or line.attestation is None or line.consent is None:
        raise SignatureInvalid(
            f"{sender} passed on {update.nation}'s track without the hub's attestation and "
            "the originator's consent"
        )
    relay = parse(TrackRelay, ctx.trust.verify(Signed.ATTESTATION, line.attestation, signer=sender))
    if (
        relay.hub != sender
        or relay.recipient != ctx.party
        or relay.originator != update.nation
        or (relay.track_id, relay.time_ms) != (update.track_id, update.time_ms)
        or relay.digest != payload_digest(line.token)
    ):
        raise SignatureInvalid("the hub's attestation names another update or recipient")
    return relay


def _relay(
    ctx: NodeContext,
    conn: Connection,
    peer: str,
    gated: Stream,
    update: TrackUpdate,
    token: str,
    states: _States,
) -> Line | Decision | None:
    """At the hub: the line passing `update` on to `peer`, if a live-track consent allows;
    the gate's decision if it holds the hop (a suspension: later, not never); else None."""
    decision, held = ctx.gate.stream_relay(
        conn, STREAM, StreamHop(gated, ctx.party, peer), states()
    )
    if decision.held:
        return decision
    if held is None:
        return None
    grant = states.grant(held.consent.id)
    if grant is None:
        return None
    relay = TrackRelay(
        type="track-relay",
        hub=ctx.party,
        originator=update.nation,
        recipient=peer,
        track_id=update.track_id,
        time_ms=update.time_ms,
        digest=payload_digest(token),
        consent_id=held.consent.id,
        at=ctx.clock(),
    )
    return Line(
        update.key,
        update.time_ms,
        gated,
        token,
        attestation=ctx.trust.sign(Signed.ATTESTATION, payload(relay)),
        consent=grant.token,
        consent_id=held.consent.id,
    )

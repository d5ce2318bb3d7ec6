"""The gate under interleavings.

Three nodes (USA hub, KOR, JPN), each a real runtime on its own SQLite store and blob folder,
talk through their real federation apps (in process, over httpx's ASGI transport, with the
signed transmission headers the apps check). A state machine interleaves releases (with and
without attachments, ORCON or not), amendments, recalls, standing rules and their
revocations, answers to consent requests, channel suspensions and resumptions, sender turns,
and crashes between a lease and its send (a restart gives the leases back).

Whatever the order, every request that crosses a channel is checked as it crosses, against
the sender's and the recipient's stores read directly (not through the gate): no envelope,
and no byte of an attachment, moves where the rules refuse it at that moment, and nothing
recalled or relayed under a revoked consent is stored by a recipient that knew of it.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.factories import draft
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from tisa.api.federation import federation_app
from tisa.attachments import uploads
from tisa.crypto import jws
from tisa.demo.network import Cluster
from tisa.domain.markings import Classification, Precedence
from tisa.domain.wire import ConsentIn, DraftIn, parse
from tisa.errors import TisaError
from tisa.node.runtime import Runtime
from tisa.relay.sender import Sender
from tisa.services.accounts import Role, User
from tisa.store import outbox, tables
from tisa.store.tables import (
    channel_states,
    consents,
    product_attachments,
    products,
    recalls,
    revocations,
)

PARTIES = ("USA", "KOR", "JPN")
SPOKES = ("KOR", "JPN")
CHANNELS = ("USA-KOR", "USA-JPN")
MESSAGES = "/federation/v1/messages"
BLOBS = "/federation/v1/blobs/"


class World:
    """Three open runtimes and their users; what crossed each channel."""

    def __init__(self, root: Path) -> None:
        cluster = Cluster(root)
        cluster.create()
        self.rt = {p: Runtime(cluster.nodes[p].settings).open() for p in PARTIES}
        self.apps = {p: federation_app(rt) for p, rt in self.rt.items()}
        self.users: dict[tuple[str, str], User] = {}
        for party, rt in self.rt.items():
            for role in (Role.ANALYST, Role.RELEASE_OFFICER, Role.ADMIN):
                name = f"{party.lower()}-gate-{role.value}"
                self.users[(party, role.value)] = rt.accounts.add(
                    name, uuid.uuid4().hex, role, "TOP SECRET", ["*"]
                )
        self.crossed: list[tuple[str, str, str, int]] = []  # (sender, recipient, id, version)
        # What crossed a channel against the rules. Recorded, not raised: the sender under
        # test survives what its transport raises, on purpose, and must not hide this.
        self.violations: list[str] = []
        self.scratch = root / "scratch"
        self.scratch.mkdir()

    def user(self, party: str, role: Role) -> User:
        return self.users[(party, role.value)]

    def close(self) -> None:
        for rt in self.rt.values():
            rt.close()

    def rows(self, party: str, table: Any, *where: Any) -> list[Any]:
        with self.rt[party].ctx.db.read() as conn:
            return list(conn.execute(select(table).where(*where)))


class Watch(httpx.AsyncBaseTransport):
    """The channel `sender` → `recipient`: every request is checked against both stores as
    it crosses, then handed to the recipient's federation app."""

    def __init__(self, world: World, sender: str, recipient: str) -> None:
        self.world = world
        self.sender = sender
        self.recipient = recipient
        self.inner = httpx.ASGITransport(app=world.apps[recipient])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        if request.method == "PUT" and request.url.path.startswith(BLOBS):
            self._check_blob(request.url.path.removeprefix(BLOBS))
        envelopes: list[tuple[dict[str, Any], str | None]] = []
        if request.url.path == MESSAGES:
            for msg in json.loads(body)["messages"]:
                if msg["kind"] == "envelope":
                    product = jws.peek(msg["token"]).payload
                    cited = None
                    if msg.get("attestation"):
                        cited = jws.peek(msg["attestation"]).payload["consent_id"]
                    self._check_move(product, cited)
                    envelopes.append((product, cited))
        # What the recipient knew before this request, to hold its answers against.
        known = self._known_at_recipient()
        response = await self.inner.handle_async_request(
            httpx.Request(request.method, request.url, headers=request.headers, content=body)
        )
        raw = await response.aread()
        if request.url.path == MESSAGES and response.status_code == 200:
            results = [
                r
                for r, m in zip(
                    json.loads(raw)["results"], json.loads(body)["messages"], strict=True
                )
                if m["kind"] == "envelope"
            ]
            for (product, cited), result in zip(envelopes, results, strict=True):
                if result.get("status") != "stored":
                    continue
                key = (product["id"], product["version"])
                self._expect(
                    key not in known["recalled"], f"{self.recipient} stored recalled {key}"
                )
                self._expect(
                    cited not in known["revoked"],
                    f"{self.recipient} stored {key} under consent {cited}, revoked",
                )
                self.world.crossed.append((self.sender, self.recipient, *key))
        return httpx.Response(response.status_code, headers=response.headers, content=raw)

    def _expect(self, held: bool, violation: str) -> None:
        if not held:
            self.world.violations.append(violation)

    def _suspended_here(self) -> bool:
        rows = self.world.rows(self.sender, channel_states, channel_states.c.suspended.is_(True))
        pair = {self.sender, self.recipient}
        return any(set(r.channel_id.split("-")) == pair for r in rows)

    def _check_move(self, product: dict[str, Any], cited: str | None) -> None:
        """The rules, written plainly, against the sender's store as it stands now."""
        sender, recipient = self.sender, self.recipient
        key = (product["id"], product["version"])
        where = f"{sender} → {recipient} {key}"
        self._expect(not self._suspended_here(), f"{where}: the channel is suspended at {sender}")
        recalled = self.world.rows(
            sender, recalls, recalls.c.product_id == key[0], recalls.c.version == key[1]
        )
        self._expect(not recalled, f"{where}: recalled")
        self._expect(recipient in product["rel_to"], f"{where}: REL TO lacks {recipient}")
        self._expect(recipient != product["originator"], f"{where}: an echo")
        self._expect(
            Classification.parse(product["classification"]) <= Classification.SECRET,
            f"{where}: above the channel's ceiling",
        )
        if sender == product["originator"]:
            self._expect(cited is None, f"{where}: an originator cites no consent")
            return
        self._expect(sender == "USA", f"{where}: only the hub relays")
        self._expect(cited is not None, f"{where}: a relay cites the consent it rests on")
        held = self.world.rows(sender, consents, consents.c.consent_id == cited)
        self._expect(held, f"{where}: the hub does not hold consent {cited}")
        self._expect(held[0].revoked_at is None, f"{where}: consent {cited} is revoked")
        self._expect(
            held[0].recipient == recipient, f"{where}: consent {cited} is for another party"
        )
        self._expect(
            not self.world.rows(sender, revocations, revocations.c.consent_id == cited),
            f"{where}: consent {cited} is revoked",
        )

    def _check_blob(self, digest: str) -> None:
        """A blob goes only for a version that may itself go now."""
        where = f"{self.sender} → {self.recipient} blob {digest[:19]}"
        self._expect(not self._suspended_here(), f"{where}: the channel is suspended")
        naming = self.world.rows(
            self.sender, product_attachments, product_attachments.c.digest == digest
        )
        live = [
            r
            for r in naming
            if not self.world.rows(
                self.sender,
                recalls,
                recalls.c.product_id == r.product_id,
                recalls.c.version == r.version,
            )
        ]
        self._expect(live, f"{where}: every version naming it is recalled")

    def _known_at_recipient(self) -> dict[str, set[Any]]:
        return {
            "recalled": {
                (r.product_id, r.version) for r in self.world.rows(self.recipient, recalls)
            },
            "revoked": {r.consent_id for r in self.world.rows(self.recipient, revocations)},
        }


class Interleavings(RuleBasedStateMachine):
    """Random interleavings of what users, operators and senders do."""

    world: World

    @initialize()
    def fresh(self) -> None:
        # Channels start up; what earlier examples left in the stores stays (it is real state).
        for party in PARTIES:
            admin = self.world.user(party, Role.ADMIN)
            for channel in CHANNELS:
                if party in channel:
                    self.world.rt[party].channels.set_channel(admin, channel, suspended=False)
        self.released: list[tuple[str, str, int]] = []
        self.rng = random.Random(0)

    # -- what users do --------------------------------------------------------------------

    @rule(
        party=st.sampled_from(PARTIES),
        precedence=st.sampled_from(list(Precedence)),
        orcon=st.booleans(),
        attached=st.booleans(),
        to_both=st.booleans(),
    )
    def release(
        self, party: str, precedence: Precedence, orcon: bool, attached: bool, to_both: bool
    ) -> None:
        rt = self.world.rt[party]
        digests = []
        if attached:
            raw = self.world.scratch / f"{uuid.uuid4().hex}.csv"
            raw.write_bytes(f"t,lat,lon\n{uuid.uuid4().hex},39.0,125.7\n".encode())
            upload = uploads.accept(
                rt.ctx.db,
                rt.blobs,
                raw,
                by=self.world.user(party, Role.ANALYST).username,
                clock=rt.clock,
                name="track.csv",
                declared_type="text/csv",
                max_size=2**20,
            )
            digests.append(upload.digest)
        # To both others, or to the hub alone (the hub: to KOR alone).
        alone = ["USA", "KOR"] if party == "USA" else ["USA", party]
        rel_to = ["USA", "KOR", "JPN"] if to_both else alone
        body = draft(
            party,
            precedence=precedence.value,
            orcon=orcon,
            rel_to=rel_to,
            attachments=digests,
            observations=[],
        )
        product = rt.drafts.create(self.world.user(party, Role.ANALYST), parse(DraftIn, body))
        rt.releases.release(self.world.user(party, Role.RELEASE_OFFICER), product.id, 1)
        self.released.append((party, product.id, 1))

    @rule(pick=st.integers(0, 10_000))
    def amend(self, pick: int) -> None:
        if not self.released:
            return
        party, product_id, _ = self.released[pick % len(self.released)]
        rt = self.world.rt[party]
        body = draft(party, observations=[], precedence="IMMEDIATE")
        try:
            product = rt.drafts.amend(
                self.world.user(party, Role.ANALYST), product_id, parse(DraftIn, body)
            )
            rt.releases.release(
                self.world.user(party, Role.RELEASE_OFFICER), product_id, product.version
            )
        except TisaError:
            return  # an older version, or a draft in the way: nothing amended
        self.released.append((party, product_id, product.version))

    @rule(pick=st.integers(0, 10_000))
    def recall(self, pick: int) -> None:
        if not self.released:
            return
        party, product_id, version = self.released[pick % len(self.released)]
        try:
            self.world.rt[party].releases.recall(
                self.world.user(party, Role.RELEASE_OFFICER), product_id, version, "withdrawn"
            )
        except TisaError:
            return  # already recalled

    @rule(originator=st.sampled_from(SPOKES), orcon_product=st.booleans())
    def consent(self, originator: str, orcon_product: bool) -> None:
        recipient = "JPN" if originator == "KOR" else "KOR"
        officer = self.world.user(originator, Role.RELEASE_OFFICER)
        terms = ConsentIn(
            recipient=recipient, topics=["dprk.missile.*"], max_classification="SECRET"
        )
        mine = [p for p in self.released if p[0] == originator]
        if orcon_product and mine:
            terms = ConsentIn(recipient=recipient, product_id=mine[-1][1])
        self.world.rt[originator].consents.grant_consent(officer, terms)

    @rule(originator=st.sampled_from(SPOKES), pick=st.integers(0, 10_000))
    def revoke(self, originator: str, pick: int) -> None:
        held = self.world.rows(
            originator,
            consents,
            consents.c.originator == originator,
            consents.c.revoked_at.is_(None),
        )
        if not held:
            return
        chosen = held[pick % len(held)]
        self.world.rt[originator].consents.revoke_consent(
            self.world.user(originator, Role.RELEASE_OFFICER), chosen.consent_id
        )

    @rule(originator=st.sampled_from(SPOKES), grant=st.booleans())
    def answer(self, originator: str, grant: bool) -> None:
        desk = self.world.rt[originator].consents
        officer = self.world.user(originator, Role.RELEASE_OFFICER)
        for request in desk.consent_requests(officer, "open")[:1]:
            try:
                desk.answer_request(officer, request.request_id, grant=grant, reason="no")
            except TisaError:
                return

    # -- what operators do ----------------------------------------------------------------

    @rule(party=st.sampled_from(PARTIES), channel=st.sampled_from(CHANNELS), on=st.booleans())
    def suspend(self, party: str, channel: str, on: bool) -> None:
        if party not in channel:
            return
        self.world.rt[party].channels.set_channel(
            self.world.user(party, Role.ADMIN), channel, suspended=on
        )

    # -- what senders do -------------------------------------------------------------------

    def _sender(self, party: str) -> Sender:
        rt = self.world.rt[party]
        clients = {
            peer: httpx.AsyncClient(
                transport=Watch(self.world, party, peer), base_url=f"http://{peer.lower()}"
            )
            for peer in rt.ctx.arrangement.peers_of(party)
        }
        return Sender(rt.ctx, clients, blobs=rt.blobs, rng=self.rng)

    def _turn(self, party: str, peer: str, lane: int, *, crash: bool) -> None:
        async def go() -> None:
            sender = self._sender(party)
            batch, _ = await asyncio.to_thread(sender._turn, peer, lane)
            if batch and not crash:
                await sender._deliver(peer, batch)

        asyncio.run(go())

    @rule(party=st.sampled_from(PARTIES), pick=st.integers(0, 1), lane=st.integers(0, 3))
    def send(self, party: str, pick: int, lane: int) -> None:
        peers = self.world.rt[party].ctx.arrangement.peers_of(party)
        peer = peers[pick % len(peers)]
        self._turn(party, peer, lane, crash=False)

    @rule(party=st.sampled_from(PARTIES), pick=st.integers(0, 1))
    def crash_between_lease_and_send(self, party: str, pick: int) -> None:
        """The sender leased a batch in every lane and died before sending them. The leases
        stand (a recall or revocation now cannot cancel them: they are in flight, as far as
        anyone knows) until the node restarts."""
        peers = self.world.rt[party].ctx.arrangement.peers_of(party)
        for lane in range(4):
            self._turn(party, peers[pick % len(peers)], lane, crash=True)

    @rule(party=st.sampled_from(PARTIES))
    def restart(self, party: str) -> None:
        """The node starts again and takes its leases back (as `Sender.prepare` does); the
        gate is asked again about each message when it is next leased."""
        with self.world.rt[party].ctx.db.begin() as conn:
            for peer in self.world.rt[party].ctx.arrangement.peers_of(party):
                outbox.release_leases(conn, peer)

    @rule()
    def drain(self) -> None:
        """Every sender turns until nothing more moves (bounded)."""
        for _ in range(3):
            for party in PARTIES:
                for peer in self.world.rt[party].ctx.arrangement.peers_of(party):
                    for lane in range(4):
                        self._turn(party, peer, lane, crash=False)

    @invariant()
    def nothing_crossed_against_the_rules(self) -> None:
        assert not self.world.violations, self.world.violations

    @invariant()
    def received_products_are_for_their_holder(self) -> None:
        for party in PARTIES:
            for row in self.world.rows(party, products, products.c.state == "received"):
                assert party in row.body["rel_to"], f"{party} holds {row.product_id} not for it"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("gate-world"))
    try:
        yield made
    finally:
        made.close()


@pytest.mark.slow
def test_no_interleaving_moves_anything_the_rules_refuse_at_that_moment(world: World) -> None:
    Interleavings.world = world
    run_state_machine_as_test(
        Interleavings,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The machine did move things (a world where nothing crossed proves nothing).
    assert len({(s, r) for s, r, _, _ in world.crossed}) >= 3
    assert any(s == "USA" and r in SPOKES for s, r, _, _ in world.crossed)


def test_a_recall_while_a_batch_is_in_flight_stops_it_at_the_next_lease(world: World) -> None:
    """The interleaving the gate at the lease exists for: a batch leased, the sender dead
    before it sent it, the version recalled (the lease keeps it from being cancelled), the
    node restarted. Leased again, the gate refuses it and it is cancelled, not sent."""
    Interleavings.world = world
    machine = Interleavings()
    machine.fresh()
    machine.release("KOR", Precedence.FLASH, orcon=False, attached=True, to_both=True)
    _, product_id, _ = machine.released[-1]
    machine.crash_between_lease_and_send("KOR", 0)
    machine.recall(len(machine.released) - 1)
    machine.restart("KOR")
    machine.drain()
    assert not world.violations, world.violations
    assert ("KOR", "USA", product_id, 1) not in world.crossed
    cancelled = world.rows("KOR", tables.outbox, tables.outbox.c.product_id == product_id)
    assert {r.state for r in cancelled if r.kind == "envelope"} == {"cancelled"}

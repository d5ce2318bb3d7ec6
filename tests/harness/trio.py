"""Three open runtimes (USA hub, KOR, JPN) on fresh stores, for the unit tests of relay/ and
services/ (fixture `trio`).

The keys, certificates, pinned arrangement and users are made once per session (about a
second) and copied for each test, so every test starts from empty stores and outboxes of its own.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from harness.factories import draft
from tisa.api.federation import federation_app
from tisa.demo.network import Cluster
from tisa.domain.consent import ConsentKind, StreamMode
from tisa.domain.markings import Precedence
from tisa.domain.wire import ConsentIn, DraftIn, parse
from tisa.node.runtime import Runtime
from tisa.node.settings import Settings
from tisa.relay.messages import Message
from tisa.relay.sender import Sender
from tisa.services.accounts import Role, User
from tisa.store import tables
from tisa.store.outbox import OutboxEntry, lease

PARTIES = ("USA", "KOR", "JPN")


class Trio:
    """Open runtimes of the three parties, a user of each role at each, their federation apps."""

    def __init__(self, root: Path, users: dict[tuple[str, Role], User]) -> None:
        self.rt = {p: Runtime(Settings.load(root / p.lower(), env={})).open() for p in PARTIES}
        self.users = users

    def close(self) -> None:
        for rt in self.rt.values():
            rt.close()

    def user(self, party: str, role: Role) -> User:
        return self.users[(party, role)]

    def release(self, party: str = "KOR", **fields: object) -> str:
        """A product drafted and released at `party`; its id."""
        body = draft(party, observations=[], **fields)
        rt = self.rt[party]
        product = rt.drafts.create(self.user(party, Role.ANALYST), parse(DraftIn, body))
        rt.releases.release(self.user(party, Role.RELEASE_OFFICER), product.id, 1)
        return product.id

    def peer_app(self, party: str) -> httpx.AsyncClient:
        """A client whose peer is `party`'s real federation app, in process."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=federation_app(self.rt[party])),
            base_url=f"http://{party.lower()}",
        )

    def outbox(self, party: str, **where: object) -> list[Any]:
        with self.rt[party].ctx.db.read() as conn:
            query = select(tables.outbox)
            for column, value in where.items():
                query = query.where(tables.outbox.c[column] == value)
            return list(conn.execute(query.order_by(tables.outbox.c.id)))

    def pending(self, party: str, peer: str) -> list[OutboxEntry]:
        """Every message `party` has due for `peer`, leased (as a sender would take them)."""
        rt = self.rt[party]
        with rt.ctx.db.begin() as conn:
            return lease(conn, peer=peer, lanes=(0, 1, 2, 3), now=rt.clock(), limit=256)

    def carry(self, party: str, peer: str) -> int:
        """Everything `party` has due for `peer`, sent by a real sender to `peer`'s real
        federation app, lane by lane, most urgent first; how many messages went."""
        sender = Sender(self.rt[party].ctx, {peer: self.peer_app(peer)})

        async def go() -> int:
            await sender.prepare()
            sent = 0
            for precedence in Precedence:
                while True:
                    batch, _ = await asyncio.to_thread(sender._turn, peer, precedence.lane)
                    if not batch:
                        break
                    await sender._deliver(peer, batch)
                    sent += len(batch)
            return sent

        return asyncio.run(go())

    def grant_live(
        self, originator: str = "KOR", modes: tuple[StreamMode, ...] = (StreamMode.LIVE,)
    ) -> str:
        """`originator`'s live-track consent for the other spoke, up to SECRET, carried to the
        hub; its id."""
        given = self.rt[originator].consents.grant_consent(
            self.user(originator, Role.RELEASE_OFFICER),
            ConsentIn(
                recipient="JPN" if originator == "KOR" else "KOR",
                kind=ConsentKind.LIVE_TRACKS,
                max_classification="SECRET",
                modes=list(modes),
            ),
        )
        self.carry(originator, "USA")
        return str(given["id"])

    def messages(self, party: str, peer: str, kind: str) -> list[Message]:
        """What `party` has queued for `peer` of one kind, as the sender would post it."""
        return [parse(Message, row.message) for row in self.outbox(party, peer=peer, kind=kind)]


@pytest.fixture(scope="session")
def trio_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[tuple[str, Role], User]]:
    """A created network (keys, certificates, pinned arrangement, empty stores) with an
    analyst, a release officer and an admin at each node (passwords are hashed once, here)."""
    root = tmp_path_factory.mktemp("trio")
    Cluster(root).create()
    users: dict[tuple[str, Role], User] = {}
    for party in PARTIES:
        with Runtime(Settings.load(root / party.lower(), env={})) as rt:
            for role in (Role.ANALYST, Role.RELEASE_OFFICER, Role.ADMIN):
                users[(party, role)] = rt.accounts.add(
                    f"{party.lower()}-relay-{role.value}",
                    uuid.uuid4().hex,
                    role,
                    "TOP SECRET",
                    ["*"],
                )
    return root, users


@pytest.fixture
def trio(
    trio_template: tuple[Path, dict[tuple[str, Role], User]], tmp_path: Path
) -> Iterator[Trio]:
    """A copy of the created network, its three runtimes open."""
    template, users = trio_template
    root = tmp_path / "trio"
    shutil.copytree(template, root)
    world = Trio(root, users)
    try:
        yield world
    finally:
        world.close()

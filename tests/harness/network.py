"""Real node processes on 127.0.0.1, talking HTTPS with pinned mutual TLS.

A `Net` is a started cluster plus signed-in API clients and the few steps every scenario
repeats (compose, release, wait, verify a receipt, craft a federation request). Every wait is a
bounded poll; every node process is stopped when `running` ends, whatever happened.
`Networks` builds private networks for one test and stops them all when it closes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from harness.clusters import runtime
from harness.factories import draft
from harness.users import add_user
from harness.waiting import WAIT, wait_for
from tisa.api.client import ApiClient
from tisa.crypto import jws
from tisa.crypto.keys import VerifyKey
from tisa.crypto.trust import Signed
from tisa.demo.network import Cluster
from tisa.domain.arrangement import Arrangement
from tisa.domain.wire import iso
from tisa.errors import NotFound
from tisa.node.runtime import Runtime
from tisa.node.settings import load_arrangement
from tisa.relay.messages import MessageKind, message
from tisa.relay.transmission import HEADER, sign_transmission
from tisa.services.accounts import Role
from tisa.store import products
from tisa.store.database import Database
from tisa.store.products import ProductRow

T = TypeVar("T")
MESSAGES = "/federation/v1/messages"
#: The topics of the standing rules KOR and JPN give the hub for each other.
RULE_TOPICS = ["dprk.missile.*"]


class Net:
    """A started cluster, its signed-in clients, and the steps the scenarios repeat."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rules: dict[tuple[str, str], str] = {}
        self._clients: dict[tuple[str, str], ApiClient] = {}
        self.arrangement: Arrangement = load_arrangement(
            cluster.nodes["USA"].settings.paths.arrangement
        )

    # -- clients -----------------------------------------------------------------------------

    def __call__(self, party: str, role: str = "analyst") -> ApiClient:
        """`party`'s client signed in as its user of `role` (kept open, reused)."""
        key = (party, role)
        if key not in self._clients:
            self._clients[key] = self.cluster.client(party, role)
        return self._clients[key]

    def forget_clients(self, party: str) -> None:
        """Close `party`'s clients (their node restarted: sign in again)."""
        for key in [k for k in self._clients if k[0] == party]:
            self._clients.pop(key).close()

    def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # -- waiting -----------------------------------------------------------------------------

    @staticmethod
    def wait_for(
        check: Callable[[], T | Literal[False] | None], what: str, timeout: float = WAIT
    ) -> T:
        """Poll `check` until it returns something other than None (or False); fail after
        `timeout` seconds, naming `what` (see `harness.waiting.wait_for`)."""
        return wait_for(check, what, timeout)

    # -- products ----------------------------------------------------------------------------

    def held(self, party: str, product_id: str, version: int = 1) -> dict[str, Any] | None:
        """The product version as `party`'s node holds it (read by its analyst), or None."""
        try:
            return self(party).get(f"/api/v1/products/{product_id}/versions/{version}")  # type: ignore[no-any-return]
        except NotFound:
            return None

    def wait_held(
        self, party: str, product_id: str, version: int = 1, timeout: float = WAIT
    ) -> dict[str, Any]:
        """Wait until `party` holds the product version; its view."""
        return self.wait_for(
            lambda: self.held(party, product_id, version),
            f"{party} holding {product_id} v{version}",
            timeout,
        )

    def flush(self, originator: str = "KOR", precedence: str = "FLASH", to: str = "JPN") -> str:
        """Send a barrier product that `to` receives, and wait for it there.

        Lanes are first in, first out at every hop, so once the barrier is held at `to`,
        anything released earlier by `originator` in the same lane that was ever going to
        reach `to` has reached it: "never arrived" is then a fact, not a timeout.
        """
        product_id = self.publish(
            originator, precedence=precedence, title=f"barrier {uuid.uuid4().hex[:8]}"
        )
        self.wait_held(to, product_id)
        return product_id

    def create(self, party: str, role: str = "analyst", **fields: Any) -> dict[str, Any]:
        """Compose a draft at `party`; the node's view of it."""
        return self(party, role).post("/api/v1/products", draft(party, **fields))  # type: ignore[no-any-return]

    def release(self, party: str, product_id: str, version: int = 1) -> dict[str, Any]:
        """Release a draft as `party`'s release officer; the outcome per recipient."""
        return self(party, "officer").post(  # type: ignore[no-any-return]
            f"/api/v1/products/{product_id}/versions/{version}/release"
        )

    def publish(self, party: str, **fields: Any) -> str:
        """Compose and release; the product id."""
        product_id: str = self.create(party, **fields)["id"]
        self.release(party, product_id)
        return product_id

    def deliveries(
        self, party: str, product_id: str, role: str = "officer"
    ) -> list[dict[str, Any]]:
        """Where `party`'s node says each version of the product stands, per party."""
        return self(party, role).get(f"/api/v1/products/{product_id}/deliveries")["deliveries"]  # type: ignore[no-any-return]

    def delivery(
        self, party: str, product_id: str, recipient: str, version: int = 1
    ) -> dict[str, Any] | None:
        """`party`'s delivery record of the version for `recipient`, or None."""
        return next(
            (
                d
                for d in self.deliveries(party, product_id)
                if d["party"] == recipient and d["version"] == version
            ),
            None,
        )

    def wait_delivered(
        self, party: str, product_id: str, recipients: tuple[str, ...], version: int = 1
    ) -> dict[str, dict[str, Any]]:
        """Wait until `party` records every recipient as delivered (with a receipt)."""

        def done() -> dict[str, dict[str, Any]] | None:
            got = {
                d["party"]: d
                for d in self.deliveries(party, product_id)
                if d["version"] == version and d["state"] == "delivered" and d["receipt"]
            }
            return got if set(recipients) <= got.keys() else None

        return self.wait_for(done, f"{party} recording {recipients} delivered for {product_id}")

    def kid(self, party: str) -> str:
        """`party`'s key id as the arrangement pins it: `<party>:<RFC 7638 thumbprint>`."""
        pinned = self.arrangement.party(party).signing_key
        assert pinned is not None
        return f"{party}:{VerifyKey.from_jwk(pinned).thumbprint()}"

    def verify_receipt(
        self, delivery: dict[str, Any], product_id: str, version: int = 1
    ) -> dict[str, Any]:
        """The receipt's payload, verified against the signer's pinned key (not the node's word)."""
        signer = delivery["party"]
        pinned = self.arrangement.party(signer).signing_key
        assert pinned is not None
        body: dict[str, Any] = jws.verify(
            delivery["receipt"],
            VerifyKey.from_jwk(pinned),
            typ=Signed.RECEIPT.value,
            kid=self.kid(signer),
        )
        assert body["product_id"] == product_id
        assert body["version"] == version
        assert body["recipient"] == signer
        return body

    def stored(self, party: str, product_id: str, version: int = 1) -> ProductRow | None:
        """The product's row straight from `party`'s store (to check signatures ourselves)."""
        with Database(self.cluster.nodes[party].settings.database_url) as db, db.read() as conn:
            return products.get(conn, product_id, version)

    def verify(self, token: str, signer: str, kind: Signed) -> dict[str, Any]:
        """A token's payload, verified against `signer`'s key as the arrangement pins it."""
        pinned = self.arrangement.party(signer).signing_key
        assert pinned is not None
        return jws.verify(token, VerifyKey.from_jwk(pinned), typ=kind.value, kid=self.kid(signer))

    def audit(self, party: str, **params: str) -> list[dict[str, Any]]:
        """`party`'s audit entries, as its auditor reads them."""
        return self(party, "auditor").get("/api/v1/audit", params=params)["entries"]  # type: ignore[no-any-return]

    # -- consent -----------------------------------------------------------------------------

    def standing_rule(
        self, originator: str, recipient: str, topics: list[str], **terms: Any
    ) -> str:
        """A standing rule granted by `originator`'s release officer; waits until the hub
        holds it; its id."""
        rule = self(originator, "officer").post(
            "/api/v1/consents",
            {
                "recipient": recipient,
                "topics": topics,
                "max_classification": terms.pop("max_classification", "SECRET"),
                **terms,
            },
        )
        rule_id: str = rule["id"]
        self.wait_for(
            lambda: self.hub_consent(rule_id), f"{self.arrangement.hub} holding rule {rule_id}"
        )
        return rule_id

    def hub_consent(self, consent_id: str) -> dict[str, Any] | None:
        """The consent as the hub holds it, or None."""
        listed = self(self.arrangement.hub, "admin").get("/api/v1/consents")["consents"]
        return next((c for c in listed if c["id"] == consent_id), None)

    def requests(
        self, party: str, product_id: str, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Consent requests about the product at `party` (filed at the hub, received at a spoke)."""
        params = {"state": state} if state else {}
        listed = self(party, "officer").get("/api/v1/consent-requests", params=params)["requests"]
        return [r for r in listed if r["product_id"] == product_id]

    def wait_request(self, originator: str, product_id: str) -> dict[str, Any]:
        """Wait until the originator holds an open consent request from the hub for the product."""
        return self.wait_for(
            lambda: next(iter(self.requests(originator, product_id, "open")), None),
            f"{originator} receiving the hub's consent request for {product_id}",
        )

    def add_user(self, party: str, role_name: str, role: Role, clearance: str) -> None:
        """Another user at `party`, signing in as `net(party, role_name)`."""
        add_user(self.cluster, party, role_name, role, clearance)

    # -- federation, by hand ----------------------------------------------------------------

    def runtime(self, party: str) -> AbstractContextManager[Runtime]:
        """`party`'s keys, trust and TLS identity, opened beside its running node."""
        return runtime(self.cluster, party)

    def manifest(self, originator: str = "KOR", **fields: Any) -> dict[str, Any]:
        """An unsigned product manifest under this network's arrangement (a new product id)."""
        body = draft(originator, observations=[])
        body.update(
            type="product",
            arrangement=self.arrangement.digest,
            id=str(uuid.uuid4()),
            version=1,
            originator=originator,
            author=f"{originator.lower()}-analyst",
            created_at=iso(datetime.now(UTC)),
        )
        body.update(fields)
        return body

    @staticmethod
    def batch(*tokens: str) -> bytes:
        """The body of a POST to /federation/v1/messages carrying envelopes."""
        return json.dumps({"messages": [message(MessageKind.ENVELOPE, t) for t in tokens]}).encode()

    def federation_post(
        self, rt: Runtime, peer: str, body: bytes, header: str | None = "sign"
    ) -> httpx.Response:
        """POST `body` from `rt`'s party to `peer`'s federation port over pinned mutual TLS,
        with a transmission header signed by `rt` (the default) or the one given."""
        if header == "sign":
            header = sign_transmission(rt.ctx.trust, peer, body, datetime.now(UTC))
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers[HEADER] = header
        url = self.cluster.nodes[peer].settings.federation_url
        with httpx.Client(base_url=url, verify=rt.client_context_for(peer), timeout=10) as http:
            return http.post(MESSAGES, content=body, headers=headers)


@contextmanager
def running(base: Path, databases: dict[str, str] | None = None) -> Iterator[Net]:
    """Create and start a three-node network in `base`; always stop it afterwards."""
    cluster = Cluster(base, databases=databases)
    net: Net | None = None
    try:
        cluster.create()
        add_user(cluster, "KOR", "ts-analyst", Role.ANALYST, "TOP_SECRET")
        cluster.start()
        net = Net(cluster)
        yield net
    finally:
        if net is not None:
            net.close()
        # Ask every node to stop at once, then wait for each (Cluster.stop goes one by one).
        for handle in cluster.nodes.values():
            if handle.process is not None and handle.process.poll() is None:
                handle.process.terminate()
        cluster.stop()


def give_standing_rules(net: Net) -> None:
    """KOR and JPN give the hub standing rules for dprk.missile.* up to SECRET to each other
    (`net.rules[("KOR", "JPN")]`, `net.rules[("JPN", "KOR")]`)."""
    for originator, recipient in (("KOR", "JPN"), ("JPN", "KOR")):
        net.rules[(originator, recipient)] = net.standing_rule(originator, recipient, RULE_TOPICS)


class Networks:
    """Private networks for one test, built on demand and all stopped by `close`."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._stack = ExitStack()
        self._made = 0

    def __call__(self, databases: dict[str, str] | None = None, rules: bool = True) -> Net:
        """A started network (PostgreSQL stores where `databases` names them); with `rules`,
        KOR's and JPN's standing rules for each other (see `give_standing_rules`)."""
        net = self._stack.enter_context(running(self._base / f"net{self._made}", databases))
        self._made += 1
        if rules:
            give_standing_rules(net)
        return net

    def close(self) -> None:
        """Stop every network built, the last first."""
        self._stack.close()

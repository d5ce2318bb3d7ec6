"""The in-process harness of the analyst and federation APIs.

Three open runtimes (USA hub, KOR, JPN) over a created cluster, no servers and no sender; each
node is driven through `analyst_app(rt)` and `federation_app(rt)` with Starlette's `TestClient`.
Federation requests carry a `Tisa-Transmission` header signed by the sending party's own runtime.

    h.api("USA").post(..., headers=h.auth("usa-analyst"))
    token, body = h.envelope("KOR")                         # a fresh manifest signed by KOR
    h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))  # with KOR's transmission
    with h.unchanged("USA"): ...                            # every table but the audit log

Tests that mutate state create their own products and consents, so tests may run in any order.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Table, select

from harness.clusters import PARTIES, open_runtimes
from harness.factories import product
from harness.users import bearer, sign_in_all
from tisa.api.analyst import analyst_app
from tisa.api.federation import federation_app
from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.demo.network import Cluster
from tisa.domain.consent import Consent
from tisa.domain.wire import consent_to_wire, manifest_to_wire
from tisa.relay.messages import Attestation, MessageKind, message, payload
from tisa.relay.transmission import HEADER, sign_transmission
from tisa.store import tables

with warnings.catch_warnings():
    # starlette >= 1.x warns once, at import, that it prefers httpx2; httpx works the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: Tables a refused request may write: the audit log (refusals, failed sign-ins and views are
#: audited on purpose), its checkpoints (exchanged with peers on every contact) and peers
#: (last contact).
UNWATCHED_PREFIXES = ("audit", "checkpoints", "peers", "alembic")


def watched() -> list[Table]:
    """The tables whose rows a refused request must leave alone."""
    return [t for t in tables.metadata.sorted_tables if not t.name.startswith(UNWATCHED_PREFIXES)]


def now() -> datetime:
    """The wall clock (the runtimes use it too)."""
    return datetime.now(UTC)


class Harness:
    """Three open runtimes and their API and federation test clients."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rt = open_runtimes(cluster)
        self._api = {p: self.client(analyst_app(rt)) for p, rt in self.rt.items()}
        self._federation = {p: self.client(federation_app(rt)) for p, rt in self.rt.items()}
        # Sign every cluster user in up front, so no test adds a token row while it checks
        # that a refusal changed nothing.
        self._tokens = sign_in_all(self.rt, cluster.passwords)
        for client in (*self._api.values(), *self._federation.values()):
            client.__enter__()  # one event-loop thread per client, not one per request

    def close(self) -> None:
        for client in (*self._api.values(), *self._federation.values()):
            client.__exit__(None, None, None)
        for rt in self.rt.values():
            rt.close()

    # -- clients -------------------------------------------------------------------------------

    @staticmethod
    def client(app: FastAPI) -> TestClient:
        """A test client that hands back 500s as responses instead of raising."""
        return TestClient(app, raise_server_exceptions=False)

    def api(self, party: str) -> TestClient:
        """The analyst API of `party`'s node."""
        return self._api[party]

    def federation(self, party: str) -> TestClient:
        """The federation API of `party`'s node."""
        return self._federation[party]

    def password(self, username: str) -> str:
        """A cluster user's password."""
        return self.cluster.passwords[username]

    def token(self, username: str) -> str:
        """The session token of a cluster user (`usa-analyst`, `kor-officer`, ...)."""
        return self._tokens[username]

    def auth(self, username: str) -> dict[str, str]:
        """The Authorization header of a signed-in cluster user."""
        return bearer(self.token(username))

    # -- state ---------------------------------------------------------------------------------

    def snapshot(self, party: str) -> dict[str, list[str]]:
        """Every row of every watched table of `party`'s store, as sorted text."""
        with self.rt[party].ctx.db.read() as conn:
            return {
                t.name: sorted(repr(tuple(r)) for r in conn.execute(select(t))) for t in watched()
            }

    def counts(self, party: str) -> dict[str, int]:
        """Rows per watched table of `party`'s store."""
        return {name: len(rows) for name, rows in self.snapshot(party).items()}

    @contextmanager
    def unchanged(self, *parties: str) -> Iterator[None]:
        """Assert that the block changes no watched row at any of `parties` (all by default)."""
        chosen = parties or PARTIES
        before = {p: self.snapshot(p) for p in chosen}
        yield
        for p in chosen:
            after = self.snapshot(p)
            changed = {t for t in after if after[t] != before[p][t]}
            assert not changed, f"{p}: a refused request changed {sorted(changed)}"

    # -- federation ----------------------------------------------------------------------------

    def transmission(
        self, sender: str, recipient: str, body: bytes, at: datetime | None = None
    ) -> str:
        """The Tisa-Transmission header `sender` signs for `body` to `recipient`."""
        return sign_transmission(self.rt[sender].ctx.trust, recipient, body, at or now())

    def deliver(
        self,
        sender: str,
        recipient: str,
        body: bytes | Mapping[str, Any],
        *,
        header: str | None = None,
        path: str = "/federation/v1/messages",
    ) -> httpx.Response:
        """POST `body` to `recipient`'s federation API with `sender`'s transmission over it."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if header is None:
            header = self.transmission(sender, recipient, raw)
        answer: httpx.Response = self.federation(recipient).post(
            path, content=raw, headers={HEADER: header}
        )
        return answer

    def sign(self, party: str, kind: Signed, body: Mapping[str, Any]) -> str:
        """A JWS by `party`'s pinned key."""
        return self.rt[party].ctx.trust.sign(kind, body)

    @property
    def digest(self) -> str:
        """The arrangement digest every node runs."""
        return self.rt["USA"].ctx.arrangement.digest

    # -- builders --------------------------------------------------------------------------------

    def manifest_body(self, originator: str = "KOR", **fields: Any) -> dict[str, Any]:
        """A fresh, valid product manifest of `originator` (new id), before signing.

        Keyword arguments override `harness.factories.product` fields (rel_to, topics, ...);
        `arrangement=` overrides the digest the manifest names.
        """
        digest = fields.pop("arrangement", self.digest)
        made = product(
            id=str(uuid.uuid4()),
            originator=originator,
            rel_to=fields.pop("rel_to", {"USA", originator}),
            author=f"{originator.lower()}.analyst",
            created_at=now().replace(microsecond=0),
            **fields,
        )
        return manifest_to_wire(made, digest)

    def envelope(self, originator: str = "KOR", **fields: Any) -> tuple[str, dict[str, Any]]:
        """A fresh manifest signed by `originator`: (token, body)."""
        body = self.manifest_body(originator, **fields)
        return self.sign(originator, Signed.PRODUCT, body), body

    @staticmethod
    def batch(*messages: dict[str, Any]) -> dict[str, Any]:
        """A federation batch of messages."""
        return {"messages": list(messages)}

    @staticmethod
    def message(kind: str, token: str, **extra: str | None) -> dict[str, Any]:
        """One federation message as the outbox sends it."""
        return message(MessageKind(kind), token, **extra)

    def consent_token(
        self,
        product_id: str,
        *,
        issued_at: datetime,
        expires_at: datetime | None = None,
        originator: str = "KOR",
        recipient: str = "JPN",
    ) -> tuple[str, str]:
        """A per-product consent for the hub signed by `originator`: (token, consent id)."""
        grant = Consent(
            id=str(uuid.uuid4()),
            originator=originator,
            hub="USA",
            recipient=recipient,
            issued_at=issued_at,
            product_id=product_id,
            expires_at=expires_at,
        )
        return self.sign(originator, Signed.CONSENT, consent_to_wire(grant)), grant.id

    def attestation(
        self, body: Mapping[str, Any], token: str, consent_id: str, recipient: str = "JPN"
    ) -> str:
        """The hub's relay attestation for the signed manifest `token` of `body`."""
        return self.sign(
            "USA",
            Signed.ATTESTATION,
            payload(
                Attestation(
                    type="relay-attestation",
                    product_id=body["id"],
                    version=body["version"],
                    digest=payload_digest(token),
                    originator=body["originator"],
                    hub="USA",
                    recipient=recipient,
                    consent_id=consent_id,
                    relayed_at=now(),
                )
            ),
        )


@contextmanager
def opened_harness(cluster: Cluster) -> Iterator[Harness]:
    """A harness over the created `cluster`, closed afterwards."""
    h = Harness(cluster)
    try:
        yield h
    finally:
        h.close()

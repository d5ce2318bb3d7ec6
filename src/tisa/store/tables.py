"""The node's tables. The schema is owned by Alembic migrations; this is its mirror for queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData()

_ID = 36  # UUID text
_PARTY = 3


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; tisa keeps UTC only")
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(name: str, *, nullable: bool = True) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable)


products = Table(
    "products",
    metadata,
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("originator", String(_PARTY), nullable=False),
    Column("classification", Integer, nullable=False),
    Column("precedence", String(10), nullable=False),
    Column("title", String(300), nullable=False),
    Column("topics", JSON, nullable=False),
    # draft: editable at its originator; released: signed and queued; received: from a peer
    Column("state", String(10), nullable=False),
    Column("body", JSON, nullable=False),
    Column("manifest", Text),
    Column("digest", String(71)),
    Column("attestation", Text),
    Column("consent", Text),
    Column("author", String(100), nullable=False),
    _when("created_at", nullable=False),
    _when("released_at"),
    Column("released_by", String(100)),
    Column("received_from", String(_PARTY)),
    _when("received_at"),
    _when("recalled_at"),
    Column("recall", Text),
    Column("recall_reason", Text),
    # The version's place in the inbox: µs when this node stored it, strictly rising, so it
    # is also the order of arrival (`tisa.store.products.insert_product`).
    Column("listed_us", BigInteger, nullable=False),
    # When a later version was stored (None: this is the newest): the newest of each product
    # is read from an index, and as it stood at any earlier moment (a walk's horizon).
    Column("superseded_us", BigInteger),
    Index("ix_products_state", "state"),
    Index("ux_products_listed", "listed_us", unique=True),
    Index("ix_products_originator_listed", "originator", "listed_us"),
    Index("ix_products_classification_listed", "classification", "listed_us"),
    Index("ix_products_precedence_listed", "precedence", "listed_us"),
    Index("ix_products_state_listed", "state", "listed_us"),
)

# Each version's topics and every prefix of them ('dprk', 'dprk.missile', 'dprk.missile.launch'):
# a topic filter names a family and finds it by equality, in inbox order.
product_topics = Table(
    "product_topics",
    metadata,
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("family", String(100), primary_key=True),
    Column("listed_us", BigInteger, nullable=False),
    Index("ix_product_topics_family", "family", "listed_us"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("party", String(_PARTY), primary_key=True),
    # queued, sent, delivered, held, denied
    Column("state", String(10), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("via", String(_PARTY)),
    Column("receipt", Text),
    _when("queued_at", nullable=False),
    _when("updated_at", nullable=False),
    _when("delivered_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer", String(_PARTY), nullable=False),
    Column("lane", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("message", JSON, nullable=False),
    Column("product_id", String(_ID)),
    Column("version", Integer),
    # pending, sent, dead, cancelled
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _when("created_at", nullable=False),
    _when("next_attempt_at", nullable=False),
    _when("lease_until"),
    _when("sent_at"),
    Column("last_error", Text),
    # The consent a queued relay cites, so its revocation finds what to cancel.
    Column("consent_id", String(_ID)),
    Index("ix_outbox_due", "peer", "state", "lane", "next_attempt_at"),
    Index("ix_outbox_product", "product_id", "version"),
    Index("ix_outbox_consent", "consent_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", String(_ID), primary_key=True),
    Column("originator", String(_PARTY), nullable=False),
    Column("recipient", String(_PARTY), nullable=False),
    Column("product_id", String(_ID)),
    Column("token", Text, nullable=False),
    Column("terms", JSON, nullable=False),
    _when("issued_at", nullable=False),
    _when("expires_at"),
    _when("revoked_at"),
    Column("revocation", Text),
    Column("created_by", String(100)),
)

consent_requests = Table(
    "consent_requests",
    metadata,
    Column("request_id", String(_ID), primary_key=True),
    Column("product_id", String(_ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("originator", String(_PARTY), nullable=False),
    Column("recipient", String(_PARTY), nullable=False),
    # open, granted, denied
    Column("state", String(8), nullable=False),
    Column("token", Text, nullable=False),
    _when("requested_at", nullable=False),
    _when("decided_at"),
    Column("decided_by", String(100)),
    Column("reason", Text),
    UniqueConstraint("product_id", "version", "recipient", name="uq_consent_request_target"),
)

# Every revocation this node made or heard of, even of a consent it never held: a recipient
# refuses a relay that cites a revoked consent.
revocations = Table(
    "revocations",
    metadata,
    Column("consent_id", String(_ID), primary_key=True),
    Column("originator", String(_PARTY), nullable=False),
    Column("recipient", String(_PARTY)),
    _when("revoked_at", nullable=False),
    Column("token", Text, nullable=False),
    _when("stored_at", nullable=False),
)

# Every recall this node made or heard of, even of a version it does not (yet) hold: an
# envelope that arrives after its recall is refused.
recalls = Table(
    "recalls",
    metadata,
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("originator", String(_PARTY), nullable=False),
    _when("recalled_at", nullable=False),
    Column("reason", Text, nullable=False),
    Column("token", Text, nullable=False),
    _when("stored_at", nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("clearance", Integer, nullable=False),
    Column("need_to_know", JSON, nullable=False),
    Column("language", String(5), nullable=False, default="en"),
    Column("failed_logins", Integer, nullable=False, default=0),
    _when("locked_until"),
    _when("created_at", nullable=False),
    # Set by the node's administrator: no sign-in, no token, until enabled again.
    _when("disabled_at"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(100), nullable=False),
    _when("created_at", nullable=False),
    _when("expires_at", nullable=False),
)

channel_states = Table(
    "channel_states",
    metadata,
    Column("channel_id", String(7), primary_key=True),
    Column("suspended", Boolean, nullable=False),
    _when("changed_at", nullable=False),
    Column("changed_by", String(100), nullable=False),
)

peers = Table(
    "peers",
    metadata,
    Column("party", String(_PARTY), primary_key=True),
    _when("last_contact"),
    _when("last_error_at"),
    Column("last_error", Text),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    # Sequence numbers are assigned by the chain (1, 2, …), never by the database.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    _when("at", nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("party", String(_PARTY)),
    Column("product_id", String(_ID)),
    Column("version", Integer),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Index("ix_audit_entries_product", "product_id"),
    Index("ix_audit_entries_action", "action"),
)

# One row: the size and head hash of the chain, locked by every append so appends serialise.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", Integer, nullable=False),
    Column("head", String(64), nullable=False),
)

# Signed (size, root) statements: this node's own, and those its peers gave it.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("issuer", String(_PARTY), primary_key=True),
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("token", Text, nullable=False),
    _when("at", nullable=False),
    _when("stored_at", nullable=False),
)

# What each peer last said it holds of this node's checkpoints (the largest size), and when:
# the part of the log a peer could hold against a truncation.
peer_holdings = Table(
    "peer_holdings",
    metadata,
    Column("peer", String(_PARTY), primary_key=True),
    Column("size", Integer, nullable=False),
    _when("reported_at", nullable=False),
)


# Files uploaded at this node: the scrubbed blob a manifest may name, and the original,
# which never leaves the node.
uploads = Table(
    "uploads",
    metadata,
    Column("digest", String(71), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("removed", JSON, nullable=False),
    Column("original_digest", String(71), nullable=False),
    Column("preview_digest", String(71)),
    Column("uploaded_by", String(100), nullable=False),
    _when("uploaded_at", nullable=False),
)

# Which product versions name which blobs (for downloads, previews and recall).
product_attachments = Table(
    "product_attachments",
    metadata,
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(71), primary_key=True),
    Column("preview_digest", String(71)),
    Index("ix_product_attachments_digest", "digest"),
)

# Which product versions each user has opened (the inbox's "unread").
reads = Table(
    "reads",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    _when("read_at", nullable=False),
)

# Drafts a release officer sent back to their author, with the reason; cleared on revision.
sent_back = Table(
    "sent_back",
    metadata,
    Column("product_id", String(_ID), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("sent_by", String(100), nullable=False),
    _when("sent_at", nullable=False),
)


# One row, rewritten by every readiness check: proof that the store takes writes.
health_probe = Table(
    "health_probe",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    _when("at", nullable=False),
)

# The first answer to each request a user sent with an Idempotency-Key, so a retry (after a
# lost answer) gets that answer instead of doing the work twice. `request` is a digest of the
# method, path and body: the same key with another request is refused.
idempotency = Table(
    "idempotency",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("request", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    _when("created_at", nullable=False),
    Index("ix_idempotency_created_at", "created_at"),
)

# Every live track update this node made or received, kept as signed: the history a
# reconnecting node backfills and an event is replayed from. One row per (originator, track,
# time); `received_from` is None for this node's own tracks, `attestation` and `consent` are
# what a relayed update came with.
track_updates = Table(
    "track_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("originator", String(_PARTY), nullable=False),
    Column("track_id", String(100), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("classification", Integer, nullable=False),
    Column("exercise", Boolean, nullable=False),
    Column("token", Text, nullable=False),
    Column("attestation", Text),
    Column("consent", Text),
    Column("received_from", String(_PARTY)),
    _when("stored_at", nullable=False),
    UniqueConstraint("originator", "track_id", "time_ms", name="uq_track_updates_time"),
    Index("ix_track_updates_time", "time_ms"),
)

# The node's STIX feed: one row per STIX object version each stored product version (or its
# recall) shows as, in the order this node added them; the objects themselves are drawn from
# the product at reading, after the gate has let the reader see it.
stix_objects = Table(
    "stix_objects",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("added_us", BigInteger, nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("version", String(40), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("product_id", String(_ID)),
    Column("product_version", Integer),
    Column("revoked", Boolean, nullable=False),
    Column("reissued", Boolean, nullable=False),
    Column("flash", Boolean, nullable=False),
    Column("families", String(200), nullable=False),
    Index("ix_stix_objects_added", "added_us"),
    Index("ix_stix_objects_type", "object_type", "added_us"),
    Index("ix_stix_objects_id", "object_id", "version_us"),
    Index("ix_stix_objects_product", "product_id", "product_version"),
)

# What became of each bundle posted to the TAXII inbox (the TAXII status resource).
taxii_statuses = Table(
    "taxii_statuses",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("body", JSON, nullable=False),
    _when("created_at", nullable=False),
)

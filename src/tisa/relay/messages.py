"""The messages nodes exchange, and the signed payloads inside them.

Every message is `{"kind": ..., "token": <JWS>}`; an envelope adds the hub's relay attestation
and the originator's consent when relayed. A message means nothing until its token verifies.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from tisa.crypto.trust import Signed
from tisa.domain.wire import Strict, iso
from tisa.errors import InputInvalid

#: What a receiver answers for a message it took: kept now, or already held.
Outcome = Literal["stored", "duplicate"]


class MessageKind(StrEnum):
    """What a federation message carries."""

    ENVELOPE = "envelope"
    RECEIPT = "receipt"
    CONSENT = "consent"
    REVOCATION = "revocation"
    CONSENT_REQUEST = "consent-request"
    CONSENT_DENIAL = "consent-denial"
    RECALL = "recall"

    @property
    def signed(self) -> Signed:
        """The JWS typ of this message's token."""
        return _SIGNED[self]


_SIGNED = {
    MessageKind.ENVELOPE: Signed.PRODUCT,
    MessageKind.RECEIPT: Signed.RECEIPT,
    MessageKind.CONSENT: Signed.CONSENT,
    MessageKind.REVOCATION: Signed.REVOCATION,
    MessageKind.CONSENT_REQUEST: Signed.CONSENT_REQUEST,
    MessageKind.CONSENT_DENIAL: Signed.CONSENT_DENIAL,
    MessageKind.RECALL: Signed.RECALL,
}

TOKEN_MAX = 1_000_000


class Message(Strict):
    """One message in a batch."""

    kind: MessageKind
    token: str = Field(min_length=10, max_length=TOKEN_MAX)
    attestation: str | None = Field(default=None, max_length=10_000)
    consent: str | None = Field(default=None, max_length=10_000)


class CheckpointBody(Strict):
    """A signed checkpoint: the issuer's log had `size` entries whose Merkle root is `root`."""

    type: str = Field(pattern="^checkpoint$")
    issuer: str = Field(min_length=3, max_length=3)
    size: int = Field(ge=0, le=2**31 - 1)
    root: str = Field(pattern="^[0-9a-f]{64}$")
    at: AwareDatetime


class AuditExchange(Strict):
    """What two nodes tell each other on every contact.

    `checkpoint` is the speaker's latest; `proof` proves it consistent with the speaker's
    checkpoint of size `proof_from` (the one the listener said it holds); `holding` is the size
    of the listener's checkpoint the speaker holds, so the listener can prove from there.
    """

    checkpoint: str | None = Field(default=None, max_length=10_000)
    proof_from: int = Field(default=0, ge=0, le=2**31 - 1)
    proof: list[str] = Field(default_factory=list, max_length=64)
    holding: int = Field(default=0, ge=0, le=2**31 - 1)


class Batch(Strict):
    """What one POST to /federation/v1/messages carries."""

    messages: list[Message] = Field(min_length=1, max_length=256)
    audit: AuditExchange | None = None


def message(kind: MessageKind, token: str, **extra: str | None) -> dict[str, Any]:
    """A message as queued in the outbox and sent."""
    return {"kind": kind.value, "token": token, **{k: v for k, v in extra.items() if v}}


_ID = Field(min_length=36, max_length=36)
_PARTY = Field(min_length=3, max_length=3)


class Attestation(Strict):
    """The hub's statement: it relays this exact manifest to this recipient under this consent."""

    type: Literal["relay-attestation"]
    product_id: str = _ID
    version: int = Field(ge=1, le=1_000_000)
    digest: str
    originator: str = _PARTY
    hub: str = _PARTY
    recipient: str = _PARTY
    consent_id: str = _ID
    relayed_at: AwareDatetime


class Receipt(Strict):
    """A recipient's acknowledgement of one manifest."""

    type: Literal["receipt"]
    product_id: str = _ID
    version: int = Field(ge=1, le=1_000_000)
    digest: str
    originator: str = _PARTY
    recipient: str = _PARTY
    via: str | None = None
    consent: str | None = None  # the consent the hub attested, for a relayed product
    received_at: AwareDatetime


class Revocation(Strict):
    """The originator withdraws a consent from a moment on."""

    type: Literal["consent-revocation"]
    consent_id: str = _ID
    originator: str = _PARTY
    revoked_at: AwareDatetime


class ConsentRequest(Strict):
    """The hub asks the originator to let one product version go to one party."""

    type: Literal["consent-request"]
    request_id: str = _ID
    product_id: str = _ID
    version: int = Field(ge=1, le=1_000_000)
    originator: str = _PARTY
    hub: str = _PARTY
    recipient: str = _PARTY
    requested_at: AwareDatetime
    reasons: list[str] = Field(default_factory=list, max_length=20)


class ConsentDenial(Strict):
    """The originator says no to a consent request."""

    type: Literal["consent-denial"]
    request_id: str = _ID
    product_id: str = _ID
    version: int = Field(ge=1, le=1_000_000)
    originator: str = _PARTY
    recipient: str = _PARTY
    reason: str = Field(max_length=2000)
    denied_at: AwareDatetime


class Recall(Strict):
    """The originator withdraws one product version everywhere."""

    type: Literal["recall"]
    product_id: str = _ID
    version: int = Field(ge=1, le=1_000_000)
    originator: str = _PARTY
    reason: str = Field(max_length=2000)
    recalled_at: AwareDatetime


def payload(model: Strict) -> dict[str, Any]:
    """The JSON form of a signed payload, times as UTC ISO with Z."""
    data = model.model_dump(mode="json", exclude_none=True)
    for key, value in model:
        if isinstance(value, datetime):
            data[key] = iso(value)
    return data


def require(condition: bool, reason: str) -> None:
    """Raises: InputInvalid with `reason` unless `condition`."""
    if not condition:
        raise InputInvalid(reason)

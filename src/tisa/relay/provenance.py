"""The one verifier of an envelope: the originator's manifest, and when relayed the hub's
attestation and the originator's consent, the hop it came by, and its attachments.

`verify_envelope` is asked when an envelope arrives (receive), on every opening of a stored
product (`verify_stored`: read, list, download, preview, events, live stream) and by
`audit prove`; it returns the verified product and its provenance, or raises. Signatures
are checked against the arrangement's pins only; the bytes are the ones received or stored,
never re-serialised first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed, Trust
from tisa.domain.consent import Consent
from tisa.domain.model import Product
from tisa.domain.wire import ConsentToken, ManifestIn, parse
from tisa.errors import Damaged, Incomplete, SignatureInvalid, TisaError
from tisa.relay.messages import Attestation
from tisa.store.products import ProductRow


class Holdings(Protocol):
    """Where attachments are held (the node's blob store)."""

    def has(self, digest: str) -> bool:
        """Whether the complete blob is held."""
        ...


class Attachments(Enum):
    """What the verifier asks of the attachments an envelope names."""

    #: every attachment is held whole (an envelope arriving, a product opened)
    HELD = "held"
    #: the version was recalled: its attachments were withdrawn on purpose
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Envelope:
    """What crosses a channel: the signed manifest, and the relay's attestation and consent."""

    manifest: str
    attestation: str | None = None
    consent: str | None = None


@dataclass(frozen=True)
class Provenance:
    """What the signatures in an envelope prove."""

    originator: str
    signed_by: str
    digest: str
    relayed_by: str | None = None
    consent_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """JSON form."""
        return {
            "originator": self.originator,
            "signed_by": self.signed_by,
            "digest": self.digest,
            "relayed_by": self.relayed_by,
            "consent": self.consent_id,
        }


@dataclass(frozen=True)
class Verified:
    """An envelope whose every signature held: the product, its signed body and digest, the
    arrangement it was made under, and the consent a relay rests on."""

    product: Product
    body: dict[str, Any]
    digest: str
    arrangement: str
    provenance: Provenance
    consent: Consent | None


def _mismatch(condition: bool, text: str) -> None:
    if not condition:
        raise SignatureInvalid(text)


def verify_envelope(
    trust: Trust,
    envelope: Envelope,
    *,
    sender: str,
    recipient: str,
    blobs: Holdings,
    attachments: Attachments,
) -> Verified:
    """Verify an envelope that `sender` handed to `recipient`.

    From its originator it carries no relay attestation; from anyone else it must be the
    hub's relay, with the hub's attestation naming this exact version, digest and recipient,
    and the originator's consent the attestation names.

    Raises:
        SignatureInvalid: a signature fails, or the signed parts do not name each other.
        InputInvalid: a signed part is malformed.
        Incomplete: an attachment is not held whole (with `Attachments.HELD`).
    """
    originator = trust.claimed(envelope.manifest, "originator")
    body = trust.verify(Signed.PRODUCT, envelope.manifest, signer=originator)
    manifest = parse(ManifestIn, body)
    _mismatch(manifest.originator == originator, "manifest originator differs from its signer")
    product = manifest.product()
    digest = payload_digest(envelope.manifest)
    kid = trust.kid(originator)
    consent: Consent | None = None
    if sender == originator:
        _mismatch(
            envelope.attestation is None and envelope.consent is None,
            f"{originator}'s own envelope carries a relay attestation",
        )
        provenance = Provenance(originator, kid, digest)
    else:
        hub = trust.arrangement.hub
        if sender != hub or envelope.attestation is None or envelope.consent is None:
            raise SignatureInvalid(
                f"{originator}'s product came from {sender} without {hub}'s relay attestation "
                "and the originator's consent"
            )
        attestation = parse(
            Attestation, trust.verify(Signed.ATTESTATION, envelope.attestation, signer=hub)
        )
        _mismatch(
            (attestation.product_id, attestation.version, attestation.digest)
            == (product.id, product.version, digest),
            "relay attestation names another product version",
        )
        _mismatch(attestation.recipient == recipient, "relay attestation is for another party")
        _mismatch(
            (attestation.hub, attestation.originator) == (hub, originator),
            "relay attestation names another hub or originator",
        )
        consent = parse(
            ConsentToken, trust.verify(Signed.CONSENT, envelope.consent, signer=originator)
        ).consent()
        _mismatch(consent.id == attestation.consent_id, "attached consent is not the one attested")
        _mismatch(consent.originator == originator, "attached consent is another party's")
        provenance = Provenance(originator, kid, digest, hub, consent.id)
    if attachments is Attachments.HELD:
        missing = [a.name for a in product.attachments if not blobs.has(a.digest)]
        if missing:
            raise Incomplete(f"attachments not held whole: {', '.join(missing)}")
    return Verified(product, body, digest, manifest.arrangement, provenance, consent)


def verify_stored(trust: Trust, row: ProductRow, *, here: str, blobs: Holdings) -> Verified:
    """Verify a stored, signed product version as it stands in this node's store: the
    envelope it arrived in (or was released as), its stored body and digest equal to what was
    signed, and its attachments held unless the version was recalled.

    Raises:
        Damaged: a signature fails, a signed part is malformed, the stored content differs
            from what was signed, or an attachment of a version not recalled is missing.
        SignatureInvalid: the row is a draft; nothing is signed.
    """
    if row.manifest is None:
        raise SignatureInvalid(f"{row.product_id} v{row.version} is a draft; nothing is signed")
    try:
        verified = verify_envelope(
            trust,
            Envelope(row.manifest, row.attestation, row.consent),
            sender=row.received_from or row.originator,
            recipient=here,
            blobs=blobs,
            attachments=Attachments.WITHDRAWN if row.recalled_at else Attachments.HELD,
        )
    except TisaError as exc:
        raise Damaged(f"{row.product_id} v{row.version}: {exc.reason}") from exc
    if verified.body != row.body or verified.digest != row.digest:
        raise Damaged(
            f"{row.product_id} v{row.version}: the stored content differs from what "
            f"{row.originator} signed"
        )
    return verified

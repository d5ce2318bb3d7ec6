"""Re-verifying a stored product: the originator's signature, and the hub's attestation and the
originator's consent when it was relayed. Run on every read, so a row altered behind the
application's back is never shown as genuine."""

from __future__ import annotations

from dataclasses import dataclass

from tisa.crypto.jws import payload_digest
from tisa.errors import SignatureInvalid
from tisa.relay.messages import Attestation
from tisa.store.products import ProductRow
from tisa.trust import Signed, Trust
from tisa.wire import ConsentToken, parse


@dataclass(frozen=True)
class Provenance:
    """What the signatures in a stored product prove."""

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


def verify_stored(trust: Trust, row: ProductRow) -> Provenance | None:
    """The provenance of a released or received product; None for a draft (nothing signed).

    Raises:
        SignatureInvalid: a signature fails, or the stored body is not what was signed.
    """
    if row.manifest is None:
        return None
    body = trust.verify(Signed.PRODUCT, row.manifest, signer=row.originator)
    digest = payload_digest(row.manifest)
    if body != row.body or digest != row.digest:
        raise SignatureInvalid(
            f"{row.product_id} v{row.version}: the stored content differs from what "
            f"{row.originator} signed"
        )
    if row.attestation is None:
        return Provenance(row.originator, trust.kid(row.originator), digest)
    hub = trust.arrangement.hub
    attestation = parse(Attestation, trust.verify(Signed.ATTESTATION, row.attestation, signer=hub))
    if attestation.digest != digest or row.consent is None:
        raise SignatureInvalid(f"{row.product_id} v{row.version}: relay attestation does not match")
    consent = parse(ConsentToken, trust.verify(Signed.CONSENT, row.consent, signer=row.originator))
    if consent.id != attestation.consent_id:
        raise SignatureInvalid(f"{row.product_id} v{row.version}: consent is not the one attested")
    return Provenance(row.originator, trust.kid(row.originator), digest, hub, consent.id)

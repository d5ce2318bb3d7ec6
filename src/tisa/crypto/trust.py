"""Who signs what: the node's own key, and every party's key as the arrangement pins it.

Every signed thing tisa sends has its own JWS `typ`, so a signature made for one purpose
(a receipt) can never be replayed as another (a consent).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tisa.crypto import jws
from tisa.crypto.keys import SigningKey, VerifyKey
from tisa.domain.arrangement import Arrangement
from tisa.errors import ConfigInvalid, SignatureInvalid

# Tokens remembered as verified (a few hundred KB of digests).
_REMEMBERED = 8192


class Signed(StrEnum):
    """The kinds of signed object, each its own JWS typ."""

    PRODUCT = "tisa-product+jws"
    ATTESTATION = "tisa-attestation+jws"
    CONSENT = "tisa-consent+jws"
    REVOCATION = "tisa-revocation+jws"
    CONSENT_REQUEST = "tisa-consent-request+jws"
    CONSENT_DENIAL = "tisa-consent-denial+jws"
    RECEIPT = "tisa-receipt+jws"
    RECALL = "tisa-recall+jws"
    TRACK = "tisa-track+jws"
    TRANSMISSION = "tisa-transmission+jws"
    HELLO = "tisa-hello+jws"
    CHECKPOINT = "tisa-checkpoint+jws"


class Trust:
    """Sign as this node; verify as any party, against the arrangement's pins only.

    Raises (constructor):
        ConfigInvalid: a party is not pinned, or this node's key is not the one pinned for it.
    """

    def __init__(self, arrangement: Arrangement, party: str, key: SigningKey) -> None:
        self.arrangement = arrangement
        self.party = party
        self._key = key
        self._verified: OrderedDict[tuple[Signed, str, bytes], None] = OrderedDict()
        self._lock = threading.Lock()
        self._pins: dict[str, VerifyKey] = {}
        for code, entry in arrangement.parties.items():
            if entry.signing_key is None:
                raise ConfigInvalid(
                    f"{arrangement.source}: party {code} has no pinned signing key; "
                    "run `tisa arrangement pin`"
                )
            self._pins[code] = VerifyKey.from_jwk(entry.signing_key)
        if party not in self._pins:
            raise ConfigInvalid(f"{party} is not a party to {arrangement.id}")
        if self._pins[party].thumbprint() != key.public().thumbprint():
            raise ConfigInvalid(
                f"this node's signing key is not the one {arrangement.source} pins for {party}"
            )

    @property
    def pins(self) -> Mapping[str, VerifyKey]:
        """Each party's pinned verification key."""
        return self._pins

    def kid(self, party: str) -> str:
        """Key id: party and RFC 7638 thumbprint."""
        return f"{party}:{self._pins[party].thumbprint()}"

    def sign(self, kind: Signed, payload: Mapping[str, Any]) -> str:
        """Sign `payload` as this node.

        Raises:
            InputInvalid: the payload is not canonical-JSON serialisable.
        """
        return jws.sign(payload, self._key, kid=self.kid(self.party), typ=kind.value)

    def verify(self, kind: Signed, token: str, *, signer: str) -> dict[str, Any]:
        """The payload of `token` if `signer`'s pinned key signed it as `kind` (its kid
        naming that key).

        Stored tokens are verified again on every read; a token that verified before is
        remembered by its SHA-256 (with kind and signer), so a re-read costs one hash and one
        parse. Any changed byte is a different token and is verified in full.

        Raises:
            SignatureInvalid: malformed, another kind, another key, or `signer` is no party.
        """
        pin = self._pins.get(signer)
        if pin is None:
            raise SignatureInvalid(f"{signer!r} is not a party; nothing of it can verify")
        seen = (kind, signer, hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest())
        with self._lock:
            known = seen in self._verified
            if known:
                self._verified.move_to_end(seen)
        if known:
            return jws.peek(token).payload
        try:
            payload = jws.verify(token, pin, typ=kind.value, kid=self.kid(signer))
        except SignatureInvalid as exc:
            raise SignatureInvalid(f"{kind.name.lower()} from {signer}: {exc.reason}") from exc
        with self._lock:
            self._verified[seen] = None
            while len(self._verified) > _REMEMBERED:
                self._verified.popitem(last=False)
        return payload

    def claimed(self, token: str, field: str) -> str:
        """The party a token claims in `field`, unverified, to choose the key to verify with.

        Raises:
            SignatureInvalid: malformed, or the field is not a party code.
        """
        value = jws.peek(token).payload.get(field)
        if not isinstance(value, str) or value not in self._pins:
            raise SignatureInvalid(f"signed object names no known party in {field!r}")
        return value

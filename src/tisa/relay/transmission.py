"""Signing and checking one HTTP exchange between nodes.

Each POST carries a `Tisa-Transmission` header: a JWS by the sending node over who sends, to
whom, under which arrangement, when, and the SHA-256 of the exact body. The receiver checks it
before reading the body, so a peer with another arrangement, a body altered in transit, or a
sender impersonating another party is refused before anything is parsed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, Field

from tisa.crypto.trust import Signed, Trust
from tisa.domain.canonical import sha256_digest
from tisa.domain.wire import Strict, parse
from tisa.errors import InputInvalid, PeerRefused, SignatureInvalid
from tisa.relay.messages import payload

HEADER = "Tisa-Transmission"
#: Statuses of a whole exchange refused for good: the body (or the blob) is malformed, too
#: large, or refused by a rule; the same request would meet the same answer. Anything else
#: (unreachable, suspended, busy, a store that failed) is worth trying again later.
REFUSED_FOR_GOOD = frozenset({400, 413, 422})
SKEW = timedelta(minutes=5)


class Transmission(Strict):
    """What the header says."""

    type: str = Field(pattern="^transmission$")
    sender: str = Field(min_length=3, max_length=3)
    recipient: str = Field(min_length=3, max_length=3)
    arrangement: str
    body: str
    sent_at: AwareDatetime


def blob_subject(digest: str, offset: int, size: int) -> str:
    """What a blob transfer's header signs in place of a body hash: the body is checked
    against `digest` itself once it is whole."""
    return f"blob {digest} {offset} {size}"


def sign_transmission(trust: Trust, recipient: str, body: bytes | str, now: datetime) -> str:
    """The header value for sending `body` (bytes, or a blob subject) to `recipient`."""
    return trust.sign(
        Signed.TRANSMISSION,
        payload(
            Transmission(
                type="transmission",
                sender=trust.party,
                recipient=recipient,
                arrangement=trust.arrangement.digest,
                body=sha256_digest(body) if isinstance(body, bytes) else body,
                sent_at=now,
            )
        ),
    )


def check_transmission(trust: Trust, header: str | None, body: bytes | str, now: datetime) -> str:
    """The verified sending party.

    Raises:
        SignatureInvalid: no header, or it does not verify against the claimed sender's pin.
        PeerRefused: another arrangement digest, not addressed to us, or no channel between us.
        InputInvalid: the body is not the one signed, or the time is far off.
    """
    if not header:
        raise SignatureInvalid(f"no {HEADER} header")
    sender = trust.claimed(header, "sender")
    claim = parse(Transmission, trust.verify(Signed.TRANSMISSION, header, signer=sender))
    if claim.arrangement != trust.arrangement.digest:
        raise PeerRefused(
            f"{sender} runs arrangement {claim.arrangement}; this node runs "
            f"{trust.arrangement.digest}"
        )
    if claim.recipient != trust.party:
        raise PeerRefused(f"transmission is addressed to {claim.recipient}, not {trust.party}")
    if trust.arrangement.channel_between(sender, trust.party) is None:
        raise PeerRefused(f"no channel {sender}–{trust.party}")
    if claim.body != (sha256_digest(body) if isinstance(body, bytes) else body):
        raise InputInvalid("the body is not the one the transmission header signs")
    if abs(claim.sent_at - now) > SKEW:
        # Not the message's fault: a clock to fix. Refused, but worth retrying (409).
        raise PeerRefused(f"{sender}'s clock is more than {SKEW} from ours ({claim.sent_at})")
    return sender

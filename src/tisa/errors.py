"""Every failure tisa reports, as one tree.

    TisaError
    ├── ArrangementInvalid      the arrangement file is malformed or inconsistent
    ├── ConfigInvalid           a node's settings or data directory are unusable
    ├── InputInvalid            a product, consent or request that does not parse
    │   ├── MarkingInvalid      classification, REL TO or caveats that break the rules
    │   ├── TooLarge            a body or file over its limit (refused before it is stored)
    │   ├── WindowTooLarge      a replay asked over more time or frames than is served at once
    │   ├── CursorInvalid       a page's cursor this node did not give for this query and user
    │   └── TrackInvalid        a missile track that does not hold (a covariance, a time)
    ├── PolicyDenied            a rule of release refused a movement (carries the reasons)
    ├── AccessDenied            a user may not see or do this
    │   └── AuthenticationFailed  unknown user, wrong password, missing or stale token
    ├── NotFound                no such product, consent, request or user
    ├── Conflict                the request contradicts what is already stored
    ├── SignatureInvalid        a JWS that does not verify against the pinned key
    ├── PeerRefused             a peer presented another arrangement or is not a peer
    ├── ChannelSuspended        the channel is suspended; nothing moves, queues hold
    ├── AuditTampered           the audit log or a checkpoint does not hold together
    ├── Damaged                 a stored row or file is not whole (altered, corrupt, missing)
    ├── StoreUnavailable        the store cannot be reached or is locked now; try again
    ├── DiskFull                the disk is full, or an attachment would take the reserve
    ├── Incomplete              not yet: something a message names (a blob) has not arrived
    └── DeliveryFailed          a peer could not be reached or answered badly
        └── DeliveryRejected    the peer refused for good (policy, signature): do not retry

Domain errors carry a human reason and no HTTP status; the API maps them in one place. Each
kind says whether trying again could help (`permanent`): a refusal for good is sent back as
such, and its sender files the message as a dead letter instead of retrying it.
"""

from __future__ import annotations

from typing import ClassVar


class TisaError(Exception):
    """Base of every tisa error; `reason` is what a person reads, `permanent` whether the
    same request would only meet the same refusal."""

    permanent: ClassVar[bool] = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def diagnostics(self) -> str:
        """A longer explanation for the CLI; the reason by default."""
        return self.reason


class ArrangementInvalid(TisaError):
    """The arrangement file is malformed or inconsistent."""


class ConfigInvalid(TisaError):
    """A node's settings or data directory are unusable."""


class InputInvalid(TisaError):
    """Input that does not parse into a valid domain object."""

    permanent = True


class MarkingInvalid(InputInvalid):
    """Markings (classification, REL TO, caveats) that break the marking rules."""


class TooLarge(InputInvalid):
    """A body or file over its limit; refused before it is stored."""


class WindowTooLarge(InputInvalid):
    """A replay asked over a longer window, or more frames, than one answer carries: a
    request to narrow, not a body to refuse (a 400, unlike `TooLarge`)."""


class CursorInvalid(InputInvalid):
    """A cursor to a next page that this node did not give this user for this query (altered,
    another's, or for other filters): start again from the first page (a 400)."""


class TrackInvalid(InputInvalid):
    """A missile track that does not hold together: a covariance that is not symmetric
    positive semi-definite, a number that is not finite, a time before 1970."""


class PolicyDenied(TisaError):
    """A rule of release refused a movement; `reasons` lists each rule's words."""

    permanent = True

    def __init__(self, reasons: tuple[str, ...], rules: tuple[str, ...] = ()) -> None:
        super().__init__("; ".join(reasons) if reasons else "denied")
        self.reasons = reasons
        self.rules = rules


class AccessDenied(TisaError):
    """The user may not see or do this."""


class AuthenticationFailed(AccessDenied):
    """Unknown user, wrong password, or a missing or stale token."""


class NotFound(TisaError):
    """No such product, consent, request or user."""

    permanent = True


class Conflict(TisaError):
    """The request contradicts what is already stored."""

    permanent = True


class SignatureInvalid(TisaError):
    """A JWS that is malformed or does not verify against the pinned key."""

    permanent = True


class PeerRefused(TisaError):
    """A peer presented another arrangement digest, or is not a peer over any channel."""


class ChannelSuspended(TisaError):
    """The channel is suspended: nothing moves over it and queues hold."""


class AuditTampered(TisaError):
    """The audit log was changed behind the application's back; `seq` names the first bad entry."""

    def __init__(self, reason: str, *, seq: int | None = None) -> None:
        super().__init__(reason)
        self.seq = seq


class Damaged(TisaError):
    """Something stored is not whole: a row whose signatures no longer hold, a corrupt page,
    a missing or altered attachment. It is never served as if it were whole."""


class DiskFull(TisaError):
    """Nothing was written for want of disk: the disk (or the database) is full, or an
    attachment would take the free space kept in reserve for products. `what` says which kind
    of write was refused ("upload", "blob", "preview", "database"), for counting."""

    def __init__(self, reason: str, *, what: str) -> None:
        super().__init__(reason)
        self.what = what


class StoreUnavailable(TisaError):
    """The node's store cannot be reached (or is locked) right now; nothing was changed, and
    the same request may be tried again shortly."""


class Incomplete(TisaError):
    """Not yet: a blob the manifest names has not arrived; the sender tries again later."""


class DeliveryFailed(TisaError):
    """A peer could not be reached or answered badly; worth retrying later."""


class DeliveryRejected(DeliveryFailed):
    """The peer refused the message for good (policy, signature); never retried."""

    permanent = True

"""The error tree: each kind says whether trying again could help."""

from __future__ import annotations

from tisa.errors import (
    ChannelSuspended,
    Conflict,
    DeliveryFailed,
    DeliveryRejected,
    DiskFull,
    Incomplete,
    MarkingInvalid,
    NotFound,
    PolicyDenied,
    SignatureInvalid,
    StoreUnavailable,
)


def test_whether_a_refusal_is_for_good_is_the_errors_own_word() -> None:
    for_good = (PolicyDenied, SignatureInvalid, MarkingInvalid, Conflict, NotFound)
    again = (ChannelSuspended, Incomplete, StoreUnavailable, DiskFull, DeliveryFailed)
    assert all(kind.permanent for kind in (*for_good, DeliveryRejected))
    assert not any(kind.permanent for kind in again)

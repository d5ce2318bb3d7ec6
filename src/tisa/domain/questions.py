"""What the rules of release are asked: a product's hop (`Movement`), a live track update's
hop (`StreamHop`), a reader opening a product (`Opening`) or watching a track stream
(`Watching`); and what each rule may read of them (`Releasable`, `Hop`, `Look`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tisa.domain.consent import StreamMode
from tisa.domain.markings import Classification, Markings
from tisa.domain.model import Product


class Releasable(Protocol):
    """What the rules of release read of what moves: a product, or a live track stream."""

    @property
    def originator(self) -> str: ...

    @property
    def markings(self) -> Markings: ...

    @property
    def topics(self) -> frozenset[str]: ...

    @property
    def classification(self) -> Classification: ...


class Hop(Protocol):
    """Something crossing from `sender` to `recipient` now."""

    @property
    def sender(self) -> str: ...

    @property
    def recipient(self) -> str: ...

    @property
    def subject(self) -> Releasable: ...


@dataclass(frozen=True)
class Movement:
    """One hop of one product: `sender` hands it to `recipient` now. `consent_id` is the
    consent a relay cites (its attestation names it); None when nothing is cited yet."""

    product: Product
    sender: str
    recipient: str
    consent_id: str | None = None

    @property
    def subject(self) -> Product:
        """What moves."""
        return self.product


#: A live track is a report of a launch as it flies: it is held to that topic's scope.
TRACK_TOPIC = "dprk.missile.launch"


@dataclass(frozen=True)
class Stream:
    """One nation's live track stream as the rules see it: its originator and marking, and
    whether it is of a real event or an exercise."""

    markings: Markings
    mode: StreamMode

    @property
    def originator(self) -> str:
        """The nation whose tracks these are."""
        return self.markings.originator

    @property
    def classification(self) -> Classification:
        """The stream's level."""
        return self.markings.classification

    @property
    def topics(self) -> frozenset[str]:
        """The one topic a track stream carries."""
        return frozenset({TRACK_TOPIC})


@dataclass(frozen=True)
class StreamHop:
    """One update of `stream` crossing from `sender` to `recipient` now; `consent_id` is the
    live-track consent a relay cites."""

    stream: Stream
    sender: str
    recipient: str
    consent_id: str | None = None

    @property
    def subject(self) -> Stream:
        """What moves."""
        return self.stream


@dataclass(frozen=True)
class Watching:
    """`reader` watches a nation's live track stream here."""

    reader: Reader
    stream: Stream

    @property
    def subject(self) -> Stream:
        """What is watched."""
        return self.stream


@dataclass(frozen=True)
class Reader:
    """A user at a node: clearance in common levels, need-to-know as topic patterns."""

    username: str
    party: str
    clearance: Classification
    need_to_know: frozenset[str]


@dataclass(frozen=True)
class Opening:
    """`reader` opens one stored version of a product at node `here`."""

    reader: Reader
    product: Product
    here: str
    recalled: bool

    @property
    def subject(self) -> Product:
        """What is opened."""
        return self.product


class Look(Protocol):
    """A reader looking at something here."""

    @property
    def reader(self) -> Reader: ...

    @property
    def subject(self) -> Releasable: ...

"""Classification levels, precedence, source grading, and banner lines.

Pure: no I/O. National terms come from the arrangement; this module holds the vocabulary and
the US-style marking syntax (`CLASSIFICATION//FGI//DISSEM`) that tisa uses for banners.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from tisa.errors import MarkingInvalid

_TRIGRAPH = re.compile(r"[A-Z]{3}")
# US marking syntax lists USA first in REL TO, then the rest alphabetically.
_REL_TO_LEAD = "USA"


class Classification(IntEnum):
    """Common classification levels, ordered; each party has its own term for each."""

    CONFIDENTIAL = 1
    SECRET = 2
    TOP_SECRET = 3

    @property
    def label(self) -> str:
        """The common name as written in markings: 'TOP SECRET', not 'TOP_SECRET'."""
        return self.name.replace("_", " ")

    @classmethod
    def parse(cls, text: str) -> Classification:
        """Read 'SECRET', 'TOP SECRET' or 'TOP_SECRET', spelled exactly so: a marking is
        never guessed from a near miss ('secret', ' SECRET').

        Raises:
            MarkingInvalid: not a common level, as written.
        """
        for level in cls:
            if text in (level.name, level.label):
                return level
        names = ", ".join(level.label for level in cls)
        raise MarkingInvalid(f"unknown classification {text!r}; expected one of {names}")


_PORTION = {
    Classification.CONFIDENTIAL: "C",
    Classification.SECRET: "S",
    Classification.TOP_SECRET: "TS",
}


class Precedence(StrEnum):
    """Message precedence; FLASH goes first."""

    FLASH = "FLASH"
    IMMEDIATE = "IMMEDIATE"
    PRIORITY = "PRIORITY"
    ROUTINE = "ROUTINE"

    @property
    def lane(self) -> int:
        """Outbox lane: 0 is served first."""
        return _LANES[self]

    @property
    def prosign(self) -> str:
        """The one-letter prosign (Z, O, P, R)."""
        return _PROSIGNS[self]


_LANES = {
    Precedence.FLASH: 0,
    Precedence.IMMEDIATE: 1,
    Precedence.PRIORITY: 2,
    Precedence.ROUTINE: 3,
}
_PROSIGNS = {
    Precedence.FLASH: "Z",
    Precedence.IMMEDIATE: "O",
    Precedence.PRIORITY: "P",
    Precedence.ROUTINE: "R",
}


class SourceReliability(StrEnum):
    """Admiralty grading of the source."""

    A = "A"  # completely reliable
    B = "B"  # usually reliable
    C = "C"  # fairly reliable
    D = "D"  # not usually reliable
    E = "E"  # unreliable
    F = "F"  # cannot be judged


class InformationCredibility(StrEnum):
    """Admiralty grading of the information, independent of the source."""

    CONFIRMED = "1"
    PROBABLY_TRUE = "2"
    POSSIBLY_TRUE = "3"
    DOUBTFUL = "4"
    IMPROBABLE = "5"
    CANNOT_BE_JUDGED = "6"


def check_trigraph(code: str) -> str:
    """Return `code` if it is an ISO 3166-1 alpha-3 shape.

    Raises:
        MarkingInvalid: not three capital letters.
    """
    if not _TRIGRAPH.fullmatch(code):
        raise MarkingInvalid(f"{code!r} is not a country trigraph (three capital letters)")
    return code


def rel_to_order(parties: frozenset[str]) -> tuple[str, ...]:
    """REL TO order: USA first, then the others alphabetically."""
    return tuple(sorted(parties, key=lambda p: (p != _REL_TO_LEAD, p)))


@dataclass(frozen=True)
class Markings:
    """What a product is marked with; invalid combinations never construct.

    Raises (constructor):
        MarkingInvalid: empty REL TO, a bad trigraph, or REL TO without the originator.
    """

    originator: str
    classification: Classification
    rel_to: frozenset[str]
    precedence: Precedence
    orcon: bool = False

    def __post_init__(self) -> None:
        check_trigraph(self.originator)
        if not self.rel_to:
            raise MarkingInvalid("REL TO is empty; name at least the originator")
        for code in self.rel_to:
            check_trigraph(code)
        if self.originator not in self.rel_to:
            raise MarkingInvalid(f"REL TO must name the originator {self.originator}")

    @property
    def rel_to_line(self) -> str:
        """'REL TO USA, JPN, KOR'."""
        return "REL TO " + ", ".join(rel_to_order(self.rel_to))

    def dissemination(self) -> str:
        """The dissemination-control block: 'ORCON/REL TO USA, KOR'."""
        controls = ["ORCON"] if self.orcon else []
        controls.append(self.rel_to_line)
        return "/".join(controls)

    def banner(self, term: str, reader: str) -> str:
        """The banner line in the reader's scheme, given the reader's national `term`.

        A product held by a party other than its originator names the originator as
        foreign-government information (FGI).
        """
        parts = [term]
        if reader != self.originator:
            parts.append(f"FGI {self.originator}")
        parts.append(self.dissemination())
        return "//".join(parts)

    def portion(self) -> str:
        """US portion marking, '(S//REL TO USA, JPN, KOR)'."""
        return f"({_PORTION[self.classification]}//{self.dissemination()})"


# What a page listing nothing classified says, in each party's scheme. The arrangement's
# equivalence table holds only the shared levels (CONFIDENTIAL and up), so the word for "not
# classified" is kept here. [unverified] ROK has no grade below 대외비 and JPN none below 秘;
# these are plain statements that the material is not classified, not national markings.
_UNCLASSIFIED = {"USA": "UNCLASSIFIED", "KOR": "비밀 아님", "JPN": "非秘"}
UNCLASSIFIED = "UNCLASSIFIED"


def unclassified_term(party: str) -> str:
    """`party`'s words for 'not classified'; the US term for a party without one."""
    return _UNCLASSIFIED.get(party, UNCLASSIFIED)


@dataclass(frozen=True)
class PageMarking:
    """The marking a whole page carries: the highest level of what it shows, every foreign
    originator among it (FGI), ORCON if any item is, and the REL TO every item allows (the
    intersection: a page may go only where each of its parts may). `level` None: nothing
    classified is on the page."""

    level: Classification | None
    fgi: tuple[str, ...] = ()
    orcon: bool = False
    rel_to: frozenset[str] = frozenset()

    def banner(self, term: str) -> str:
        """The banner line, given the reader's national `term` for `level` (or for
        'not classified'): 'SECRET//FGI JPN KOR//ORCON/REL TO USA, KOR'."""
        if self.level is None:
            return term
        parts = [term]
        if self.fgi:
            parts.append("FGI " + " ".join(self.fgi))
        controls = ["ORCON"] if self.orcon else []
        if self.rel_to:
            controls.append("REL TO " + ", ".join(rel_to_order(self.rel_to)))
        if controls:
            parts.append("/".join(controls))
        return "//".join(parts)


def page_marking(items: Iterable[Markings], reader: str) -> PageMarking:
    """The marking of a page showing `items` to a reader at `reader`'s node (see
    `PageMarking`). No items: the page is not classified."""
    shown = list(items)
    if not shown:
        return PageMarking(None)
    rel_to = frozenset.intersection(*(m.rel_to for m in shown))
    return PageMarking(
        level=max(m.classification for m in shown),
        fgi=tuple(sorted({m.originator for m in shown} - {reader})),
        orcon=any(m.orcon for m in shown),
        # Every item held here is releasable to the reader's party, so the intersection
        # holds at least that party; were it ever empty, the page stays with the reader.
        rel_to=rel_to or frozenset({reader}),
    )

"""Cursor-on-Target (CoT) events for fused missile tracks and their predicted impact points.

Pure: a fused track, the marking that covers it and `now` in; CoT event objects and their XML
out. The edge that sends them is `tisa.services.tak`; docs/tracks.md ("TAK") says why each
choice below was made.

**Types** (MIL-STD-2525 via CoTtypes.xml, and the CoT Event schema's own type tree):
- the missile is ``a-h-A-W-M-S-S``: atom, hostile, Air, Weapon, Missile in flight, Surface
  launched, Surface-to-surface (SSM). 2525B's atom tree has no ballistic-missile function
  (nor, in CoTtypes.xml, any space track); a DPRK ballistic missile is a surface-to-surface
  missile in flight, which every 2525 renderer draws as a hostile missile;
- the predicted impact point is ``r-u``: Reservation/Restriction, Unsafe (hostile
  capability), the schema's type for a notice about an area, whose point encloses the area
  (`ce` is the radius of a circle around the whole ellipse) and whose detail bounds it (the
  ``shape/ellipse``). CoTtypes.xml's "PREDICTED IMPACT POINT" sits in the tactical-graphics
  branch the file marks DEPRECATED, and ``b-d-i`` (Detection/Impact) is an impact a sensor
  observed, not one predicted.

**Marking.** One event carries the combined marking of every stream its fused track rests on
(`combined_marking`): the highest classification, REL TO the nations every stream is
releasable to, ORCON if any stream is. It travels three ways, because not every TAK server
keeps every part of an event: the Event's `access` attribute (the schema's "who has access to
this event"), a ``<tisa marking=...>`` detail element, and the portion marking that begins
the remarks. An exercise says so in `opex` ("e"; "o" for operations, as the schema has it),
in the detail element, and with EXERCISE in its callsign and around its remarks.

**Identity.** A fused track keeps its id while nations join or drop, so its uid is built from
it (with the node and whether it is an exercise): a TAK map moves the icon instead of adding
one. Positions are WGS-84 (CoT's `hae` is height above the ellipsoid); times are ms UTC.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET  # building only; nothing here parses XML
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np

from tisa.domain.markings import Classification, Markings, rel_to_order
from tisa.errors import MarkingInvalid
from tisa.tracks.earth import enu_rotation, to_geodetic
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.impact import ellipse
from tisa.tracks.track import check_time
from tisa.tracks.warning import DEFAULT_CONFIDENCE, ellipse_scale

#: How long after the picture's time an event stays valid: a few of the node's 1 s updates,
#: so an icon goes stale soon after the node stops speaking of the track.
STALE_MS = 5_000
#: The confidence of the impact ellipse drawn (the one a warning is raised on).
ELLIPSE_CONFIDENCE = DEFAULT_CONFIDENCE
#: Priority 9 (the highest: missile warning goes FLASH), a newer event replaces an older one,
#: and an event may be dropped once stale (the next second brings another).
QOS = "9-r-d"
#: CoT's "unknown" for an error it cannot state.
UNKNOWN_ERROR = 9_999_999.0
_VERSION = "2.0"


class CotType(StrEnum):
    """The CoT types tisa sends."""

    MISSILE = "a-h-A-W-M-S-S"
    IMPACT = "r-u"
    PING = "t-x-c-t"


class How(StrEnum):
    """How a position was made (the Event's `how`)."""

    FUSED = "m-f"  # machine, fused: corroborated from several nations' tracks
    PREDICTED = "m-p"  # machine, predicted: a tracker's estimate carried forward
    KEEPALIVE = "h-g-i-g-o"  # what TAK clients put on their pings, which have no position


@dataclass(frozen=True)
class CombinedMarking:
    """The marking that covers something resting on several streams: `classification` the
    highest of theirs, `rel_to` the nations all of them are releasable to, `orcon` if any
    is, and the `originators` it rests on (in order, once each)."""

    classification: Classification
    rel_to: frozenset[str]
    orcon: bool
    originators: tuple[str, ...]

    def banner(self) -> str:
        """'SECRET//REL TO USA, JPN, KOR' (or with 'ORCON/' before REL TO)."""
        controls = ["ORCON"] if self.orcon else []
        controls.append("REL TO " + ", ".join(rel_to_order(self.rel_to)))
        return f"{self.classification.label}//{'/'.join(controls)}"

    def portion(self) -> str:
        """The banner in brackets, to begin a line of text: '(SECRET//REL TO USA, JPN)'."""
        return f"({self.banner()})"


def combined_marking(markings: Iterable[Markings]) -> CombinedMarking:
    """The marking covering a fusion of everything `markings` mark: the highest
    classification, the intersection of REL TO, ORCON if any is.

    Raises:
        MarkingInvalid: no markings, or REL TO lists with no nation in common (nothing
            could be released to anyone).
    """
    given = list(markings)
    if not given:
        raise MarkingInvalid("a combined marking needs at least one marking")
    rel_to = frozenset.intersection(*(m.rel_to for m in given))
    if not rel_to:
        raise MarkingInvalid("the markings' REL TO lists have no nation in common")
    return CombinedMarking(
        classification=max(m.classification for m in given),
        rel_to=rel_to,
        orcon=any(m.orcon for m in given),
        originators=tuple(dict.fromkeys(m.originator for m in given)),
    )


@dataclass(frozen=True)
class Point:
    """A CoT point: WGS-84 degrees, height above the ellipsoid (m), and 1-sigma errors (m):
    `ce` circular (horizontal), `le` linear (vertical)."""

    lat: float
    lon: float
    hae: float
    ce: float
    le: float


@dataclass(frozen=True)
class Motion:
    """CoT's track detail: course (degrees clockwise from true north, [0, 360)), speed (m/s,
    the whole velocity) and slope (degrees above the local horizontal; negative descends)."""

    course: float
    speed: float
    slope: float


@dataclass(frozen=True)
class Ellipse:
    """CoT's shape/ellipse: semi-axes (m) and the major axis' angle clockwise from true north."""

    major: float
    minor: float
    angle: float


@dataclass(frozen=True)
class CotEvent:
    """One CoT event, ready to serialise. `tisa` holds the attributes of tisa's own detail
    element (marking, exercise, the fused track and what it rests on)."""

    uid: str
    type: CotType
    how: How
    time_ms: int
    start_ms: int
    stale_ms: int
    point: Point
    access: str
    opex: str
    callsign: str
    remarks: str
    tisa: tuple[tuple[str, str], ...]
    motion: Motion | None = None
    shape: Ellipse | None = None
    link: tuple[str, CotType] | None = None

    def element(self) -> ET.Element:
        """The event as an XML element."""
        event = ET.Element(
            "event",
            {
                "version": _VERSION,
                "uid": self.uid,
                "type": self.type.value,
                "how": self.how.value,
                "time": cot_time(self.time_ms),
                "start": cot_time(self.start_ms),
                "stale": cot_time(self.stale_ms),
                "access": self.access,
                "opex": self.opex,
                "qos": QOS,
            },
        )
        p = self.point
        ET.SubElement(
            event,
            "point",
            {
                "lat": _num(p.lat, 7),
                "lon": _num(p.lon, 7),
                "hae": _num(p.hae, 1),
                "ce": _num(p.ce, 1),
                "le": _num(p.le, 1),
            },
        )
        detail = ET.SubElement(event, "detail")
        ET.SubElement(detail, "contact", {"callsign": self.callsign})
        if self.motion is not None:
            m = self.motion
            ET.SubElement(
                detail,
                "track",
                {"course": _num(m.course, 2), "speed": _num(m.speed, 1), "slope": _num(m.slope, 2)},
            )
        if self.shape is not None:
            s = self.shape
            shape = ET.SubElement(detail, "shape")
            ET.SubElement(
                shape,
                "ellipse",
                {"major": _num(s.major, 1), "minor": _num(s.minor, 1), "angle": _num(s.angle, 2)},
            )
        if self.link is not None:
            uid, kind = self.link
            ET.SubElement(detail, "link", {"uid": uid, "type": kind.value, "relation": "p-p"})
        ET.SubElement(detail, "tisa", dict(self.tisa))
        ET.SubElement(detail, "remarks").text = self.remarks
        return event

    def to_xml(self) -> bytes:
        """The event as CoT XML (UTF-8, no declaration: one of a stream of events)."""
        text: bytes = ET.tostring(self.element(), encoding="utf-8", xml_declaration=False)
        return text


def _num(value: float, digits: int) -> str:
    """`value` to `digits` places, never '-0.0' (a point on the ellipsoid is at 0 m)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def cot_time(time_ms: int) -> str:
    """A CoT time: ISO 8601 UTC with milliseconds, '2023-12-18T08:24:00.000Z'.

    Raises:
        TrackInvalid: not whole ms since 1970.
    """
    check_time(time_ms)
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"


def uid_of(origin: str, fused_id: str, *, exercise: bool) -> str:
    """The missile event's uid: the node that fused it, live or exercise, the fused id."""
    return f"tisa.{origin}.{'exercise' if exercise else 'live'}.{fused_id}"


def _motion(track: FusedTrack, lat: float, lon: float) -> Motion:
    east, north, up = enu_rotation(lat, lon) @ np.array(track.state.velocity)
    horizontal = math.hypot(east, north)
    course = math.degrees(math.atan2(east, north)) % 360.0
    return Motion(
        # A hair west of north is 359.99..., which is written 360.00: north is 0.
        course=0.0 if round(course, 2) >= 360.0 else course,
        speed=math.sqrt(horizontal**2 + up**2),
        slope=math.degrees(math.atan2(up, horizontal)),
    )


def _errors(track: FusedTrack, lat: float, lon: float) -> tuple[float, float]:
    """(ce, le): the 1-sigma horizontal ellipse's semi-major axis (so the circle covers the
    1-sigma ellipse) and the vertical 1-sigma, from the position covariance in east-north-up."""
    rot = enu_rotation(lat, lon)
    local = rot @ track.state.matrix()[:3, :3] @ rot.T
    major, _, _ = ellipse(local[:2, :2])
    return major, math.sqrt(max(float(local[2, 2]), 0.0))


def _words(track: FusedTrack, exercise: bool, marking: CombinedMarking, what: str) -> str:
    text = (
        f"{marking.portion()} {'EXERCISE ' if exercise else ''}{what}; fused track "
        f"{track.fused_id}, {track.phase}, {track.status}, from {', '.join(track.sources)}"
    )
    return f"{text} EXERCISE" if exercise else text


def events_for(
    track: FusedTrack,
    *,
    marking: CombinedMarking,
    exercise: bool,
    origin: str,
    now_ms: int,
) -> tuple[CotEvent, ...]:
    """The CoT events of one fused track: the missile, and its predicted impact point if it
    has one. `origin` is the node that fused it; `now_ms` when the events are made.

    Raises:
        TrackInvalid: a bad `now_ms`.
    """
    check_time(now_ms)
    lat, lon, hae = to_geodetic(np.array(track.state.position))
    ce, le = _errors(track, lat, lon)
    uid = uid_of(origin, track.fused_id, exercise=exercise)
    start, stale = track.time_ms, track.time_ms + STALE_MS
    ours = (
        ("marking", marking.banner()),
        ("classification", marking.classification.label),
        ("relTo", " ".join(rel_to_order(marking.rel_to))),
        ("orcon", "true" if marking.orcon else "false"),
        ("exercise", "true" if exercise else "false"),
        ("originators", " ".join(marking.originators)),
        ("node", origin),
        ("track", track.fused_id),
        ("sources", " ".join(track.sources)),
        ("phase", track.phase.value),
        ("status", track.status.value),
    )
    prefix = "EXERCISE " if exercise else ""
    opex = "e" if exercise else "o"
    missile = CotEvent(
        uid=uid,
        type=CotType.MISSILE,
        how=How.PREDICTED if track.single_nation else How.FUSED,
        time_ms=now_ms,
        start_ms=start,
        stale_ms=stale,
        access=marking.banner(),
        opex=opex,
        point=Point(lat, lon, hae, ce, le),
        callsign=f"{prefix}MSL {track.fused_id}",
        remarks=_words(track, exercise, marking, "hostile ballistic missile"),
        tisa=ours,
        motion=_motion(track, lat, lon),
    )
    impact = track.impact
    if impact is None:
        return (missile,)
    k = ellipse_scale(ELLIPSE_CONFIDENCE)
    when = cot_time(impact.time_ms)
    area = Ellipse(k * impact.semi_major_m, k * impact.semi_minor_m, impact.orientation_deg)
    iip = CotEvent(
        uid=f"{uid}.iip",
        type=CotType.IMPACT,
        how=How.PREDICTED,
        time_ms=now_ms,
        start_ms=start,
        stale_ms=stale,
        access=marking.banner(),
        opex=opex,
        point=Point(
            impact.point.lat_deg,
            impact.point.lon_deg,
            impact.point.alt_m,
            area.major,  # an area notice's point encloses the whole area
            UNKNOWN_ERROR,
        ),
        callsign=f"{prefix}IIP {track.fused_id}",
        remarks=_words(
            track,
            exercise,
            marking,
            f"predicted impact at {when}, {ELLIPSE_CONFIDENCE:.0%} ellipse "
            f"{area.major / 1000:.1f} x {area.minor / 1000:.1f} km at {area.angle:.0f} deg",
        ),
        tisa=(
            *ours,
            ("impactTime", when),
            ("confidence", f"{ELLIPSE_CONFIDENCE:g}"),
            ("semiMajor1Sigma", f"{impact.semi_major_m:.1f}"),
            ("semiMinor1Sigma", f"{impact.semi_minor_m:.1f}"),
        ),
        shape=area,
        link=(uid, CotType.MISSILE),
    )
    return (missile, iip)


def ping(origin: str, now_ms: int) -> CotEvent:
    """A keep-alive (CoT's ``t-x-c-t``) from node `origin`, for a connection with nothing
    else to say: a TAK server answers it, and a dead connection shows itself on writing.

    Raises:
        TrackInvalid: a bad `now_ms`.
    """
    check_time(now_ms)
    return CotEvent(
        uid=f"tisa.{origin}-ping",
        type=CotType.PING,
        how=How.KEEPALIVE,
        time_ms=now_ms,
        start_ms=now_ms,
        stale_ms=now_ms + STALE_MS,
        point=Point(0.0, 0.0, 0.0, UNKNOWN_ERROR, UNKNOWN_ERROR),
        access="UNCLASSIFIED",
        opex="o",
        callsign=f"tisa {origin}",
        remarks="keep-alive",
        tisa=(("node", origin),),
    )

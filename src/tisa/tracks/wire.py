"""The signed form of a track update: what an originator signs and every hop verifies.

One update is one JWS (typ `tisa-track+jws`) over this JSON, so the hub can drop a superseded
update without breaking anyone's signature (the latest wins per track). The payload names its
stream (nation, network, marking, exercise), so each update carries its own marking.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tisa.domain.wire import Strict, parse
from tisa.errors import InputInvalid, TisaError
from tisa.tracks.track import (
    FlightPhase,
    GeodeticPoint,
    ImpactPrediction,
    StateEstimate,
    TrackStatus,
    TrackStream,
    TrackUpdate,
)


class PointIn(Strict):
    """A WGS-84 point."""

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0


class ImpactIn(Strict):
    """A predicted impact point with its error ellipse."""

    point: PointIn
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float
    time_ms: int = Field(ge=0)


class StateIn(Strict):
    """Position and velocity in WGS-84 ECEF (m, m/s) and their 6x6 covariance, row-major."""

    position: tuple[float, float, float]
    velocity: tuple[float, float, float]
    covariance: list[float] = Field(min_length=36, max_length=36)


class StreamIn(Strict):
    """The stream an update belongs to."""

    nation: str = Field(min_length=3, max_length=3)
    network: str = Field(min_length=1, max_length=100)
    marking: str = Field(min_length=1, max_length=200)
    exercise: bool


class UpdateBodyIn(Strict):
    """One update as a node's own tracker hands it in (its stream is given once, beside)."""

    track_id: str = Field(min_length=1, max_length=100)
    time_ms: int = Field(ge=0)
    state: StateIn
    phase: FlightPhase
    quality: int = Field(ge=0, le=15)
    status: TrackStatus
    launch_point: PointIn | None = None
    impact: ImpactIn | None = None


class TrackUpdateIn(UpdateBodyIn):
    """A signed track update's payload: an update, its originator and its stream."""

    type: Literal["track-update"]
    originator: str = Field(min_length=3, max_length=3)
    stream: StreamIn

    def update(self) -> tuple[TrackStream, TrackUpdate]:
        """The stream and the update, checked as the domain checks them.

        Raises:
            InputInvalid: the values break a rule of the track model (a covariance that is
                not one, a point that does not exist, a marking that does not parse).
        """
        if self.originator != self.stream.nation:
            raise InputInvalid(
                f"an update signed as {self.originator}'s names {self.stream.nation}'s stream"
            )
        try:
            stream = TrackStream(
                nation=self.stream.nation,
                network=self.stream.network,
                marking=self.stream.marking,
                exercise=self.stream.exercise,
            )
            update = TrackUpdate(
                nation=self.stream.nation,
                track_id=self.track_id,
                network=self.stream.network,
                time_ms=self.time_ms,
                state=StateEstimate(
                    position=self.state.position,
                    velocity=self.state.velocity,
                    covariance=tuple(self.state.covariance),
                ),
                phase=self.phase,
                quality=self.quality,
                status=self.status,
                launch_point=_point(self.launch_point),
                impact=None
                if self.impact is None
                else ImpactPrediction(
                    point=GeodeticPoint(
                        self.impact.point.lat_deg,
                        self.impact.point.lon_deg,
                        self.impact.point.alt_m,
                    ),
                    semi_major_m=self.impact.semi_major_m,
                    semi_minor_m=self.impact.semi_minor_m,
                    orientation_deg=self.impact.orientation_deg,
                    time_ms=self.impact.time_ms,
                ),
            )
        except InputInvalid:
            raise
        except TisaError as exc:
            raise InputInvalid(exc.reason) from exc
        return stream, update


def _point(p: PointIn | None) -> GeodeticPoint | None:
    return None if p is None else GeodeticPoint(p.lat_deg, p.lon_deg, p.alt_m)


def _point_to_wire(p: GeodeticPoint) -> dict[str, float]:
    return {"lat_deg": p.lat_deg, "lon_deg": p.lon_deg, "alt_m": p.alt_m}


def update_to_wire(stream: TrackStream, update: TrackUpdate) -> dict[str, Any]:
    """The payload an originator signs for `update` of `stream` (what `TrackUpdateIn` reads).

    Raises:
        InputInvalid: `update` is not of `stream` (another nation or network).
    """
    if (update.nation, update.network) != (stream.nation, stream.network):
        raise InputInvalid(
            f"update {update.key} from {update.network} is not of {stream.nation}'s "
            f"{stream.network} stream"
        )
    data: dict[str, Any] = {
        "type": "track-update",
        "originator": stream.nation,
        "stream": {
            "nation": stream.nation,
            "network": stream.network,
            "marking": stream.marking,
            "exercise": stream.exercise,
        },
        "track_id": update.track_id,
        "time_ms": update.time_ms,
        "state": {
            "position": list(update.state.position),
            "velocity": list(update.state.velocity),
            "covariance": list(update.state.covariance),
        },
        "phase": update.phase.value,
        "quality": update.quality,
        "status": update.status.value,
    }
    if update.launch_point is not None:
        data["launch_point"] = _point_to_wire(update.launch_point)
    if update.impact is not None:
        data["impact"] = {
            "point": _point_to_wire(update.impact.point),
            "semi_major_m": update.impact.semi_major_m,
            "semi_minor_m": update.impact.semi_minor_m,
            "orientation_deg": update.impact.orientation_deg,
            "time_ms": update.impact.time_ms,
        }
    return data


def read_update(data: Any) -> tuple[TrackStream, TrackUpdate]:
    """Parse a verified payload into its stream and update.

    Raises:
        InputInvalid: not a track update, or values the track model refuses.
    """
    return parse(TrackUpdateIn, data).update()


class PublishIn(Strict):
    """What a node's own tracker hands in: its stream and a batch of updates."""

    stream: StreamIn
    updates: list[UpdateBodyIn] = Field(min_length=1, max_length=1000)

    def parsed(self) -> tuple[TrackStream, list[TrackUpdate]]:
        """The stream and its updates, each checked as the track model checks it.

        Raises:
            InputInvalid: a value the track model refuses (naming the update's index).
        """
        stream: TrackStream | None = None
        updates = []
        for index, body in enumerate(self.updates):
            whole = TrackUpdateIn.model_validate(
                {
                    "type": "track-update",
                    "originator": self.stream.nation,
                    "stream": self.stream.model_dump(),
                    **body.model_dump(exclude_none=True),
                }
            )
            try:
                stream, update = whole.update()
            except InputInvalid as exc:
                raise InputInvalid(f"updates.{index}: {exc.reason}") from exc
            updates.append(update)
        assert stream is not None  # at least one update
        return stream, updates

"""Warning areas: where a node wants to be warned of an impact, as polygons on the Earth.

Each nation's areas are its territory and an approximation of its exclusive economic zone
(EEZ). Both come from already-parsed GeoJSON (the vendored Natural Earth 1:50m extract,
`tisa/web/static/vendor/naturalearth/korea-japan.geojson`); nothing here reads a file.

- **Territory**: the nation's land features (`kind: land`), by ISO 3166-1 numeric id
  (`TERRITORY_IDS`): South Korea 410, Japan 392. The USA has no soil of its own in the
  extract except the Northern Mariana Islands (580, a US commonwealth; Guam lies south of the
  extract's 15°N edge), so its default areas are those islands and their sea. US forces in
  Korea and Japan sit inside those nations' areas; a US node that wants them warns for KOR
  or JPN areas too.
- **EEZ (approximate)**: no EEZ dataset is vendored, so the zone is the sea within 200
  nautical miles (370.4 km) of the territory's coast, cut at the equidistance ("median") line
  with every foreign coast in the collection. Each island or landmass is buffered in its own
  azimuthal equidistant projection (on the sphere of the local Gaussian radius: distances
  from its centre within 0.5 %, about 2 km at 200 nmi), the buffers joined; the median line
  is the edge of the Voronoi cells of points every 5 km along the 1:50m coasts; land (own and
  foreign) is taken out. This is an approximation: agreed boundaries, joint zones, disputed
  islands (Natural Earth draws de facto control), baselines and the islets missing at 1:50m
  are all ignored, and the two neighbours' lines, each drawn in its own projection, differ by
  a few km. Good enough to decide whether to warn; not a legal boundary.

Geometry is kept in longitude/latitude degrees (shapely, x = longitude, y = latitude).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from tisa.domain.markings import check_trigraph
from tisa.errors import InputInvalid
from tisa.tracks.earth import A, F, Vec

#: Where the boundaries areas are drawn from lie in the package (read by the edges, not here).
BOUNDARIES_FILE = "web/static/vendor/naturalearth/korea-japan.geojson"
NAUTICAL_MILE_M = 1852.0
EEZ_NMI = 200.0

# Land features (ISO 3166-1 numeric, as Natural Earth / world-atlas carry them) per nation.
TERRITORY_IDS: dict[str, tuple[str, ...]] = {
    "KOR": ("410",),
    "JPN": ("392",),
    "USA": ("580",),  # Northern Mariana Islands
}

# Buffer arcs: segments per quarter circle (16: the chord is within 0.5 % of the arc).
_QUAD_SEGS = 16
# Coast points for the median lines, at most this far apart (m).
_COAST_SPACING_M = 5000.0


class AreaKind(StrEnum):
    """What a warning area is."""

    TERRITORY = "territory"
    EEZ = "eez"  # approximate: see the module docstring


@dataclass(frozen=True, eq=False)
class WarningArea:
    """One area a nation is warned for: its name for people, its kind, its polygon(s) in
    longitude/latitude degrees.

    Raises (constructor):
        InputInvalid: an empty name or an empty geometry.
        MarkingInvalid: a nation that is not a trigraph.
    """

    nation: str
    name: str
    kind: AreaKind
    geometry: BaseGeometry

    def __post_init__(self) -> None:
        check_trigraph(self.nation)
        if not self.name or self.geometry.is_empty:
            raise InputInvalid("a warning area has a name and a shape")

    def contains(self, lat_deg: float, lon_deg: float) -> bool:
        """Whether the point lies in the area (its edge counts as inside)."""
        return bool(self.geometry.covers(shapely.Point(lon_deg, lat_deg)))


def gaussian_radius(lat_deg: float) -> float:
    """The WGS-84 Gaussian mean radius of curvature (m) at a latitude: the sphere that
    matches the ellipsoid's distances best around that latitude."""
    e2 = F * (2 - F)
    s2 = math.sin(math.radians(lat_deg)) ** 2
    return A * math.sqrt(1 - e2) / (1 - e2 * s2)


@dataclass(frozen=True)
class LocalProjection:
    """Azimuthal equidistant projection about a centre, on the sphere of the centre's
    Gaussian radius: x east, y north, metres; distance and bearing from the centre are true
    to the sphere's approximation of the ellipsoid (within 0.5 %)."""

    lat_deg: float
    lon_deg: float

    def forward(self, lonlat: Vec) -> Vec:
        """(n, 2) longitude/latitude degrees to (n, 2) metres."""
        lat0, lon0 = math.radians(self.lat_deg), math.radians(self.lon_deg)
        lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
        dlon = lon - lon0
        cos_c = np.sin(lat0) * np.sin(lat) + np.cos(lat0) * np.cos(lat) * np.cos(dlon)
        c = np.arccos(np.clip(cos_c, -1.0, 1.0))
        az = np.arctan2(
            np.cos(lat) * np.sin(dlon),
            np.cos(lat0) * np.sin(lat) - np.sin(lat0) * np.cos(lat) * np.cos(dlon),
        )
        rho = gaussian_radius(self.lat_deg) * c
        return np.column_stack([rho * np.sin(az), rho * np.cos(az)])

    def inverse(self, xy: Vec) -> Vec:
        """(n, 2) metres to (n, 2) longitude/latitude degrees (longitude not wrapped)."""
        lat0, lon0 = math.radians(self.lat_deg), math.radians(self.lon_deg)
        c = np.hypot(xy[:, 0], xy[:, 1]) / gaussian_radius(self.lat_deg)
        az = np.arctan2(xy[:, 0], xy[:, 1])
        lat = np.arcsin(
            np.clip(np.sin(lat0) * np.cos(c) + np.cos(lat0) * np.sin(c) * np.cos(az), -1, 1)
        )
        lon = lon0 + np.arctan2(
            np.sin(az) * np.sin(c) * np.cos(lat0), np.cos(c) - np.sin(lat0) * np.sin(lat)
        )
        return np.column_stack([np.degrees(lon), np.degrees(lat)])

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """A lon/lat geometry in this projection's metres."""
        return shapely.transform(geometry, self.forward)

    def unproject(self, geometry: BaseGeometry) -> BaseGeometry:
        """A geometry in this projection's metres back in lon/lat degrees."""
        return shapely.transform(geometry, self.inverse)


def _parts(geometry: BaseGeometry) -> list[BaseGeometry]:
    return list(getattr(geometry, "geoms", [geometry]))


def within_reach(territory: BaseGeometry, distance_m: float) -> BaseGeometry:
    """Everything within `distance_m` of `territory` (lon/lat degrees): each part buffered
    in its own azimuthal equidistant projection, the buffers joined."""
    buffers = []
    for part in _parts(territory):
        centre = part.centroid
        local = LocalProjection(lat_deg=centre.y, lon_deg=centre.x)
        zone = local.project(part).buffer(distance_m, quad_segs=_QUAD_SEGS)
        buffers.append(local.unproject(zone))
    return shapely.unary_union(buffers)


def _coast_points(land: BaseGeometry, local: LocalProjection) -> Vec:
    coast = shapely.segmentize(local.project(land).boundary, _COAST_SPACING_M)
    return np.unique(np.round(shapely.get_coordinates(coast)), axis=0)


def nearer_side(territory: BaseGeometry, foreign: BaseGeometry) -> BaseGeometry:
    """Where the coast of `territory` is nearer than the coast of `foreign` (lon/lat
    degrees): the union of the Voronoi cells of points every few km along the own coasts,
    among those of the foreign coasts, in one azimuthal equidistant projection about the
    territory (its distortion moves the line a few km at 1,000 km out). An equidistance
    ("median") line, as drawn where no boundary is agreed."""
    centre = territory.centroid
    local = LocalProjection(lat_deg=centre.y, lon_deg=centre.x)
    own = _coast_points(territory, local)
    if foreign.is_empty:
        return shapely.box(-180.0, -90.0, 180.0, 90.0)
    other = _coast_points(foreign, local)
    # A shared land border is both nations' coast: its points are ours.
    shared = (other[:, None, :] == own[None, :, :]).all(axis=2).any(axis=1)
    other = other[~shared]
    points = shapely.MultiPoint(np.vstack([own, other]))
    cells = shapely.voronoi_polygons(points, ordered=True)
    mine = shapely.unary_union(list(cells.geoms)[: len(own)])
    return local.unproject(shapely.segmentize(mine, _COAST_SPACING_M))


def _land_features(collection: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    features = collection.get("features")
    if collection.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise InputInvalid("warning areas come from a GeoJSON FeatureCollection")
    return [
        f
        for f in features
        if isinstance(f, Mapping) and (f.get("properties") or {}).get("kind") == "land"
    ]


def areas_for(
    nation: str,
    collection: Mapping[str, Any],
    *,
    territory_ids: Sequence[str] | None = None,
    eez_nmi: float = EEZ_NMI,
) -> tuple[WarningArea, ...]:
    """A nation's warning areas from a parsed GeoJSON collection: its territory (the land
    features of `territory_ids`, by default `TERRITORY_IDS[nation]`) and its approximate EEZ
    (`eez_nmi` of sea around it; see the module docstring).

    Raises:
        InputInvalid: not a FeatureCollection, a feature whose geometry does not parse, a
            nation with no default territory and none given, or no land of those ids.
        MarkingInvalid: a nation that is not a trigraph.
    """
    check_trigraph(nation)
    ids = TERRITORY_IDS.get(nation) if territory_ids is None else tuple(territory_ids)
    if not ids:
        raise InputInvalid(f"no territory known for {nation}; name its land feature ids")
    land = _land_features(collection)
    try:
        shapes = [
            (str(f["properties"].get("id")), shapely.make_valid(shape(f["geometry"]))) for f in land
        ]
    except (KeyError, TypeError, AttributeError, ValueError, shapely.errors.ShapelyError) as exc:
        raise InputInvalid(f"a land feature that is not GeoJSON geometry: {exc}") from exc
    own = [g for fid, g in shapes if fid in ids]
    if not own:
        raise InputInvalid(f"no land feature with id {', '.join(ids)} for {nation}")
    territory = shapely.unary_union(own)
    distance = eez_nmi * NAUTICAL_MILE_M
    reach = within_reach(territory, distance)
    # Foreign coasts that could be nearer than ours to some point within reach.
    neighbours = within_reach(territory, 2 * distance)
    foreign = shapely.unary_union(
        [g for fid, g in shapes if fid not in ids and g.intersects(neighbours)]
    ).intersection(neighbours)
    sea = (
        reach.intersection(nearer_side(territory, foreign))
        .difference(territory)
        .difference(foreign)
    )
    names = sorted(
        {
            str(f["properties"].get("name") or nation)
            for f in land
            if str(f["properties"].get("id")) in ids
        }
    )
    label = " and ".join(names)
    return (
        WarningArea(nation, f"{label} (territory)", AreaKind.TERRITORY, territory),
        WarningArea(nation, f"{label} EEZ (approx. {eez_nmi:g} nmi)", AreaKind.EEZ, sea),
    )

"""Warning areas from the vendored Natural Earth extract: territory, the approximate EEZ."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np
import pymap3d.vincenty
import pytest
import shapely

from tisa.errors import InputInvalid, MarkingInvalid
from tisa.tracks.areas import (
    NAUTICAL_MILE_M,
    AreaKind,
    LocalProjection,
    WarningArea,
    areas_for,
)

NATURAL_EARTH = "web/static/vendor/naturalearth/korea-japan.geojson"
CHOSHI = (35.70, 140.87)  # on Honshu's Pacific coast; open sea to the east


@pytest.fixture(scope="module")
def collection() -> dict[str, Any]:
    text = (resources.files("tisa") / NATURAL_EARTH).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.fixture(scope="module")
def areas(collection: dict[str, Any]) -> dict[str, tuple[WarningArea, ...]]:
    return {nation: areas_for(nation, collection) for nation in ("KOR", "JPN", "USA")}


def off_choshi(nmi: float) -> tuple[float, float]:
    lat, lon = pymap3d.vincenty.vreckon(*CHOSHI, nmi * NAUTICAL_MILE_M, 90.0)
    return float(lat), float(lon)


def test_each_nation_has_its_territory_and_an_approximate_eez(
    areas: dict[str, tuple[WarningArea, ...]],
) -> None:
    kor_land, kor_sea = areas["KOR"]
    jpn_land, jpn_sea = areas["JPN"]
    assert (kor_land.kind, kor_sea.kind) == (AreaKind.TERRITORY, AreaKind.EEZ)
    assert kor_land.name == "South Korea (territory)"
    assert "approx" in jpn_sea.name
    assert kor_land.contains(37.5665, 126.9780)  # Seoul
    assert jpn_land.contains(35.6812, 139.7671)  # Tokyo
    assert not jpn_land.contains(37.5665, 126.9780)
    assert not kor_land.contains(35.6812, 139.7671)
    # The EEZ is sea: the land it surrounds is the territory's, not the zone's.
    assert not jpn_sea.contains(35.6812, 139.7671)
    saipan = areas["USA"][0]
    assert saipan.contains(15.19, 145.75)
    assert not saipan.contains(35.6812, 139.7671)


def test_the_eez_reaches_200_nautical_miles_off_honshu(
    areas: dict[str, tuple[WarningArea, ...]],
) -> None:
    jpn_land, jpn_sea = areas["JPN"]
    assert jpn_sea.contains(*off_choshi(150))
    assert jpn_sea.contains(*off_choshi(195))
    assert not jpn_sea.contains(*off_choshi(205))
    assert not jpn_sea.contains(*off_choshi(250))
    assert not jpn_land.contains(*off_choshi(150))


def test_neighbours_zones_meet_on_a_median_line(
    areas: dict[str, tuple[WarningArea, ...]],
) -> None:
    kor_sea, jpn_sea = areas["KOR"][1], areas["JPN"][1]
    # West of Korea, under 200 nmi from Tsushima but nearer Korea's coast.
    assert kor_sea.contains(35.70, 125.49)
    assert not jpn_sea.contains(35.70, 125.49)
    # Korea Strait: Korean side and Japanese side of the middle.
    assert kor_sea.contains(34.9, 128.9)
    assert not jpn_sea.contains(34.9, 128.9)
    assert jpn_sea.contains(33.9, 129.9)
    assert not kor_sea.contains(33.9, 129.9)
    # Each nation draws its line in its own projection: slivers, no real overlap.
    overlap = kor_sea.geometry.intersection(jpn_sea.geometry).area
    assert overlap < 0.005 * kor_sea.geometry.area


def test_the_local_projection_keeps_distances_from_its_centre() -> None:
    local = LocalProjection(*CHOSHI)
    lat, lon = off_choshi(200)
    xy = local.forward(np.array([[lon, lat]]))
    assert float(np.hypot(*xy[0])) == pytest.approx(200 * NAUTICAL_MILE_M, rel=5e-3)
    back = local.inverse(xy)
    assert back[0] == pytest.approx([lon, lat], abs=1e-9)


def test_areas_refuse_what_is_not_a_collection_or_names_no_land(
    collection: dict[str, Any],
) -> None:
    with pytest.raises(InputInvalid):
        areas_for("JPN", {"type": "Feature"})
    with pytest.raises(InputInvalid, match="no territory known"):
        areas_for("GBR", collection)
    with pytest.raises(InputInvalid, match="no land feature"):
        areas_for("GBR", collection, territory_ids=["826"])
    with pytest.raises(MarkingInvalid):
        areas_for("Japan", collection)
    with pytest.raises(InputInvalid):
        WarningArea("JPN", "nothing", AreaKind.TERRITORY, shapely.Polygon())

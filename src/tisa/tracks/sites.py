"""Where missiles start and where the radars stand: public, approximate coordinates.

Every coordinate here is rounded from open reporting (news, think-tank imagery analyses,
defence white papers) to about a kilometre or worse, and is a default a scenario can replace;
none is authoritative. docs/tracks.md names the kind of source for each.
"""

from __future__ import annotations

from dataclasses import dataclass

from tisa.tracks.track import GeodeticPoint


@dataclass(frozen=True)
class LaunchSite:
    """A DPRK launch area, by a short name and an approximate point."""

    name: str
    point: GeodeticPoint


LAUNCH_SITES: dict[str, LaunchSite] = {
    site.name: site
    for site in (
        LaunchSite("sunan", GeodeticPoint(39.20, 125.67)),  # Pyongyang airport area
        LaunchSite("sohae", GeodeticPoint(39.66, 124.71)),  # Tongchang-ri
        LaunchSite("wonsan", GeodeticPoint(39.17, 127.48)),  # Kalma peninsula
        LaunchSite("sinpo", GeodeticPoint(40.03, 128.18)),  # off the submarine base
        LaunchSite("kusong", GeodeticPoint(39.92, 125.20)),  # Banghyon airfield
        LaunchSite("pyongsong", GeodeticPoint(39.25, 125.87)),
        LaunchSite("jangyon", GeodeticPoint(38.25, 125.11)),  # South Hwanghae
    )
}


@dataclass(frozen=True)
class RadarSite:
    """A radar's kind and approximate position; `kind` picks its performance."""

    name: str
    kind: str
    point: GeodeticPoint


# Each nation's radars. Ships are put at typical stations in the East Sea / Sea of Japan.
RADAR_SITES: dict[str, tuple[RadarSite, ...]] = {
    "KOR": (
        RadarSite("Green Pine (Chungcheong)", "green-pine", GeodeticPoint(36.95, 127.50, 150)),
        RadarSite("Green Pine (Jeolla)", "green-pine", GeodeticPoint(34.90, 127.20, 150)),
        RadarSite("KDX-III Aegis (East Sea)", "aegis", GeodeticPoint(37.60, 129.80, 30)),
    ),
    "JPN": (
        RadarSite("J/FPS-5 (Sado)", "fps-5", GeodeticPoint(38.03, 138.30, 300)),
        RadarSite("J/FPS-5 (Shimo-Koshiki)", "fps-5", GeodeticPoint(31.69, 129.70, 300)),
        RadarSite("J/FPS-5 (Ominato)", "fps-5", GeodeticPoint(41.28, 141.12, 300)),
        RadarSite("Kongo Aegis (Sea of Japan)", "aegis", GeodeticPoint(39.00, 134.00, 30)),
    ),
    "USA": (
        RadarSite("AN/TPY-2 (Shariki)", "tpy-2", GeodeticPoint(40.89, 140.33, 50)),
        RadarSite("AN/TPY-2 (Kyogamisaki)", "tpy-2", GeodeticPoint(35.77, 135.22, 150)),
        RadarSite("SBX-1 (NW Pacific)", "sbx", GeodeticPoint(40.00, 150.00, 30)),
    ),
}

NETWORK_NAMES: dict[str, str] = {
    "KOR": "KAMD early warning",
    "JPN": "JADGE",
    "USA": "C2BMC",
}

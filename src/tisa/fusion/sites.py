"""Named launch and test sites: what a report's place description says, as a place.

Reports name where a launch came from ("Sunan, Pyongyang", "Tongchang-ri", "Sinpo area"). Two
descriptions that name sites further apart than `SITE_REACH_KM` are two places, however wide
the reports' stated uncertainties: the words are evidence correlation uses (Sunan and Sohae
are 98 km apart, Wonsan and Sinpo 116 km; "Pyongyang area" and Sunan 21 km, one place).

Coordinates are public, rounded to 0.01°; the first alias found in a description wins, and
the specific sites come before the areas that contain them (Sunan before Pyongyang).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Named sites closer than this are one place (Sunan is 21 km from central Pyongyang).
SITE_REACH_KM = 40.0


@dataclass(frozen=True)
class Site:
    """A named place: its name, where it is, and the words reports use for it."""

    name: str
    lat: float
    lon: float
    aliases: tuple[str, ...]


SITES = (
    Site("Sunan", 39.20, 125.67, ("sunan",)),
    Site("Sohae (Tongchang-ri)", 39.66, 124.70, ("sohae", "tongchang")),
    Site("Wonsan", 39.15, 127.45, ("wonsan", "kalma")),
    Site("Sinpo", 40.03, 128.18, ("sinpo",)),
    Site("Kaechon", 39.70, 125.90, ("kaechon",)),
    Site("Sariwon", 38.51, 125.76, ("sariwon",)),
    Site("Hamhung", 39.92, 127.54, ("hamhung",)),
    Site("Punggye-ri", 41.28, 129.08, ("punggye", "kilju")),
    Site("Pyongyang", 39.02, 125.75, ("pyongyang",)),
)


def site_named(description: str) -> Site | None:
    """The site a place description names, or None (no known name in it)."""
    words = description.lower()
    for site in SITES:
        if any(alias in words for alias in site.aliases):
            return site
    return None

"""The launch the demo reports: the 18 December 2023 Hwasong-18, as KOR and JPN each reported it
(figures from ../shared/domain-facts.md)."""

from __future__ import annotations

KOR_LAUNCH = {
    "time": {"original": "2023-12-18T08:24+09:00", "qualifier": "about", "sigma_s": 60},
    "missile_class": "ICBM",
    "launch_position": {
        "lat": 39.03,
        "lon": 125.75,
        "sigma_km": 15,
        "description": "Pyongyang area",
    },
    "range_km": {"value": 1000, "qualifier": "about", "sigma": 50},
    "lofted": True,
}
JPN_LAUNCH = {
    "time": {"original": "2023-12-18T08:24+09:00", "qualifier": "about", "sigma_s": 60},
    "missile_class": "ICBM",
    "range_km": {"value": 1000, "qualifier": "about", "sigma": 50},
    "apogee_km": {"value": 6000, "qualifier": "more_than"},
    "flight_time_min": {"value": 73, "qualifier": "about", "sigma": 1},
    "impact_time": {"original": "2023-12-18T09:37+09:00", "qualifier": "about"},
    "impact_position": {
        "lat": 42.15,
        "lon": 136.4,
        "sigma_km": 20,
        "description": "about 250 km west of Okushiri Island",
    },
    "inside_eez": False,
    "lofted": True,
}

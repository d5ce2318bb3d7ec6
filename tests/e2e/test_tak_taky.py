"""A real node process publishes its fused tracks through taky (a TAK server from PyPI, run as
a process with TLS and client certificates) to a TAK client connected to it, all on
127.0.0.1: the client sees a hostile missile and its impact area per fused track, under uids
that stay as the track moves, marked and flagged as exercise where it is one, where the
fused track is."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from harness.tak import Received, TakPki, TakWatcher, taky, wait_until

from tisa.demo.network import Cluster
from tisa.tracks import earth
from tisa.tracks.fusion import align
from tisa.tracks.track import StateEstimate

pytestmark = pytest.mark.e2e

MARKING = "SECRET//REL TO USA, JPN, KOR"


def _stream(exercise: bool) -> dict[str, Any]:
    return {"nation": "KOR", "network": "Green Pine", "marking": MARKING, "exercise": exercise}


def _state(lon: float) -> StateEstimate:
    """Over the East Sea at 300 km, 3 km/s east and 1 km/s up; 100 m and 5 m/s 1-sigma."""
    r = earth.to_ecef(39.5, lon, 300e3)
    east, _, up = earth.enu_rotation(39.5, lon)
    return StateEstimate.of(
        np.concatenate([r, 3000.0 * east + 1000.0 * up]), np.diag([100.0**2] * 3 + [5.0**2] * 3)
    )


def _publish(kor: Any, track_id: str, time_ms: int, state: StateEstimate, exercise: bool) -> None:
    update = {
        "track_id": track_id,
        "time_ms": time_ms,
        "state": {
            "position": list(state.position),
            "velocity": list(state.velocity),
            "covariance": list(state.covariance),
        },
        "phase": "midcourse",
        "quality": 12,
        "status": "active",
    }
    body = {"stream": _stream(exercise), "updates": [update]}
    assert kor.post("/api/v1/tracks", body) == {"published": 1}


def _of(watcher: TakWatcher, uid: str) -> list[Received]:
    return [e for e in watcher.seen() if e.cot.uid == uid]


def _placed_as_fused(event: Received, published_ms: int, state: StateEstimate) -> None:
    """The missile is where the published track, coasted to the picture's time, is."""
    coasted = align(state, (event.cot.startTime - published_ms) / 1000)
    lat, lon, hae = earth.to_geodetic(np.array(coasted.position))
    assert event.cot.lat == pytest.approx(lat, abs=1e-5)  # ~1 m; taky writes 6 decimals
    assert event.cot.lon == pytest.approx(lon, abs=1e-5)
    assert event.cot.hae == pytest.approx(hae, abs=1.0)


def test_fused_tracks_reach_a_tak_client_through_taky(tmp_path: Path) -> None:
    pki = TakPki(tmp_path / "pki")
    cert, key = pki.issue("tisa-kor")
    cluster = Cluster(tmp_path / "net")
    with taky(pki, tmp_path / "taky") as port:
        watcher = TakWatcher(pki, port)
        try:
            cluster.create()
            config = cluster.nodes["KOR"].settings.paths.config
            tak = {
                "url": f"tls://127.0.0.1:{port}",
                "cert": str(cert),
                "key": str(key),
                "ca": str(pki.ca),
                "clearance": "SECRET",
            }
            config.write_text(config.read_text() + "\n" + tomli_w.dumps({"tak": tak}))
            cluster.start("KOR")  # the TAK feed is the node's own; no peer is needed
            with cluster.session("KOR", "officer") as kor:
                t0 = int(time.time() * 1000)
                first = _state(131.0)
                _publish(kor, "K0001", t0, first, exercise=True)
                _publish(kor, "K0009", t0, _state(133.0), exercise=False)
                drill, real = "tisa.KOR.exercise.F0001", "tisa.KOR.live.F0001"
                wait_until(
                    lambda: all(_of(watcher, u) for u in (drill, f"{drill}.iip", real)),
                    "the exercise missile, its impact point and the real missile at the client",
                )

                missile = _of(watcher, drill)[-1]
                assert missile.cot.type == "a-h-A-W-M-S-S"
                assert missile.cot.detail.contact.callsign == "EXERCISE MSL F0001"
                ours = missile.detail("tisa")
                assert ours is not None
                assert ours["marking"] == MARKING
                assert ours["exercise"] == "true"
                assert ours["sources"] == "KOR:K0001"
                assert f"({MARKING}) EXERCISE hostile ballistic missile" in missile.xml.decode()
                _placed_as_fused(missile, t0, first)

                iip = _of(watcher, f"{drill}.iip")[-1]
                assert iip.cot.type == "r-u"
                ellipse = iip.detail("ellipse")
                assert ellipse is not None
                assert float(ellipse["major"]) >= float(ellipse["minor"]) > 0
                assert iip.cot.ce == pytest.approx(float(ellipse["major"]), abs=0.1)
                impact = iip.detail("tisa")
                assert impact is not None
                assert impact["marking"] == MARKING
                assert impact["impactTime"].endswith("Z")
                assert iip.detail("link") == {
                    "uid": drill,
                    "type": "a-h-A-W-M-S-S",
                    "relation": "p-p",
                }

                live = _of(watcher, real)[-1]
                assert live.cot.detail.contact.callsign == "MSL F0001"
                assert (live.detail("tisa") or {})["exercise"] == "false"
                assert "EXERCISE" not in live.xml.decode()

                # The track moves on: the client sees the same uid further east.
                t1 = t0 + 2000
                moved = _state(131.2)
                _publish(kor, "K0001", t1, moved, exercise=True)
                later = wait_until(
                    lambda: [e for e in _of(watcher, drill) if e.cot.startTime >= t1],
                    "the exercise missile's next position",
                )[-1]
                assert later.cot.lon > missile.cot.lon
                _placed_as_fused(later, t1, moved)
                missiles = {e.cot.uid for e in watcher.seen() if e.cot.type == "a-h-A-W-M-S-S"}
                assert missiles == {drill, real}  # moved, not added
        finally:
            watcher.close()
            cluster.stop()
    log = (tmp_path / "taky" / "taky.log").read_text()
    assert "New ssl cot client" in log  # taky took tisa over TLS with its client certificate

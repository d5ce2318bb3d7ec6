"""A missile warning in force is on every page of those who may see it, and the live stream
raises and takes it down on pages already open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.clusters import copy_cluster
from harness.web import Web, opened_web

from tisa.demo.network import Cluster
from tisa.relay import live
from tisa.services.accounts import Role
from tisa.store.audit import Action
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Launch, Scenario, run
from tisa.web.live import Feed, _event

pytestmark = pytest.mark.slow  # flies a ten-minute MRBM past three nations' radars


@pytest.fixture
def web(tmp_path: Path, cluster_template: Cluster) -> Iterator[Web]:
    """A UI of its own: the warning raised here must not show on the shared one's pages."""
    with opened_web(copy_cluster(cluster_template, tmp_path / "net")) as h:
        yield h


def test_a_warning_is_on_every_page_and_in_the_live_stream(web: Web) -> None:
    jpn = web.rt["JPN"]
    feed = Feed(jpn)
    feed._read()
    now_ms = int(jpn.clock().timestamp() * 1000)
    flown = run(
        Scenario(
            launches=(Launch("M1", MissileType.MRBM, "sinpo"),),
            seed=3,
            start_ms=now_ms - 300_000,
        )
    )
    # Only the last seconds of the flight up to now, taken after the flight was computed: what
    # is published is fresh when the picture is drawn, however long a busy machine takes.
    now_ms = int(jpn.clock().timestamp() * 1000)
    recent = [u for u in flown.updates["JPN"] if now_ms - 10_000 <= u.time_ms <= now_ms]
    live.publish(jpn.ctx, flown.streams["JPN"], recent)
    (warning,) = jpn.warnings.step()

    analyst = web.signed_in("jpn-analyst", language="ja")
    for page in ("/ui/inbox", "/ui/events"):
        html = analyst.get(page).text
        assert f'data-track="{warning.track_id}"' in html
        assert "ミサイル警報" in html
        assert f'data-impact-ms="{warning.impact_time_ms}"' in html

    tracks_page = analyst.get("/ui/tracks").text
    assert "JPN:J0001" in tracks_page
    assert f"<td>{warning.track_id}</td>" in tracks_page  # the fused track it rests on

    (raised,) = [n for n in feed._read() if n[0].action == Action.WARNING_RAISED.value]
    reader = jpn.accounts.add("jpn-warned", "a-long-password", Role.ANALYST, "SECRET")
    low = jpn.accounts.add("jpn-not-warned", "a-long-password", Role.ANALYST, "CONFIDENTIAL")
    message = _event(jpn, reader, raised)
    assert message is not None
    assert (message["type"], message["track"], message["exercise"]) == (
        "warning",
        warning.track_id,
        True,
    )
    assert _event(jpn, low, raised) is None
    web.cluster.passwords["jpn-not-warned"] = "a-long-password"
    low_page = web.signed_in("jpn-not-warned")
    assert "data-track=" not in low_page.get("/ui/inbox").text
    assert "JPN:J0001" not in low_page.get("/ui/tracks").text

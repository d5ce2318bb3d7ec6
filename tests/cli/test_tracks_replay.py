"""`tisa tracks replay EVENT`: a past launch's fused track frame by frame, through the node's
API (here the in-process analyst app of a copied cluster), as a user runs it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.clusters import copy_cluster
from harness.factories import draft
from harness.flights import flight, stream
from harness.nodes import Harness, opened_harness
from typer.testing import CliRunner

from tisa.api.client import ApiClient
from tisa.cli import tracks as tracks_cli
from tisa.cli.main import app
from tisa.demo.launches import KOR_LAUNCH
from tisa.demo.network import Cluster
from tisa.relay import live
from tisa.tracks.scenario import DEFAULT_START_MS

runner = CliRunner()


@pytest.fixture(scope="module")
def usa(tmp_path_factory: pytest.TempPathFactory, cluster_template: Cluster) -> Iterator[Harness]:
    cluster = copy_cluster(cluster_template, tmp_path_factory.mktemp("cli-replay") / "net")
    with opened_harness(cluster) as h:
        yield h


@pytest.fixture(scope="module")
def event_id(usa: Harness) -> str:
    """USA's own exercise tracks of a missile from Sunan, and USA's report of the launch."""
    rt = usa.rt["USA"]
    live.publish(rt.ctx, stream("USA"), flight(("USA",), start_ms=DEFAULT_START_MS + 60_000)["USA"])
    api = usa.api("USA")
    body = draft("USA", observations=[{"kind": "missile-launch", **KOR_LAUNCH}])
    pid = api.post("/api/v1/products", json=body, headers=usa.auth("usa-analyst")).json()["id"]
    api.post(f"/api/v1/products/{pid}/versions/1/release", headers=usa.auth("usa-officer"))
    (event,) = api.get("/api/v1/events", headers=usa.auth("usa-analyst")).json()["events"]
    return str(event["id"])


@pytest.fixture
def to_usa(usa: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """`signed_in` answers with a client of USA's in-process API, signed in as its analyst."""

    def signed_in(_root: Path, _user: str, _password: str) -> ApiClient:
        client = ApiClient.__new__(ApiClient)
        client._http = usa.client(usa.api("USA").app)
        client.token, client.user = usa.token("usa-analyst"), None
        return client

    monkeypatch.setattr(tracks_cli, "signed_in", signed_in)
    monkeypatch.setattr(tracks_cli.out, "width", 240)  # one row per fused track per frame


def _replay(*args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["tracks", "replay", "--dir", ".", "-u", "usa-analyst", "--password", "x", *args],
    )
    return result.exit_code, result.output + str(result.exception or "")


@pytest.mark.usefixtures("to_usa")
def test_the_fused_track_is_printed_frame_by_frame(event_id: str) -> None:
    code, output = _replay(event_id, "--step", "20")
    assert code == 0, output
    assert f"Replay of {event_id}: 4 frames, every 20 s" in output
    rows = [line for line in output.splitlines() if "F0001" in line]
    assert len(rows) == 4
    assert all("EXERCISE" in row and "USA" in row and "midcourse" in row for row in rows)
    # First seen a minute after the reported minute began: 30 s after its middle.
    assert "T+0:30" in rows[0]
    assert "T+1:30" in rows[-1]
    # The fused IIP is the node's own prediction from the fused state, with its ellipse and
    # the predicted impact time since launch.
    assert re.search(r"± \d+\.\d × \d+\.\d km at \d+°", rows[0])
    assert re.search(r"T\+\d+:\d\d \(23:\d\d:\d\d\.\d{3}\)", rows[0])


@pytest.mark.usefixtures("to_usa")
def test_an_unknown_event_or_a_bad_step_is_refused_clearly() -> None:
    code, output = _replay("ev-0000000000000000")
    assert code != 0
    assert "no event ev-0000000000000000" in output
    code, output = _replay("ev-0000000000000000", "--step", "0")
    assert code == 2
    assert "--step" in output

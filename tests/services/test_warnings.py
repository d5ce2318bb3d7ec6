"""A node's missile warnings: the fused picture of the tracks it holds against its own areas,
raised and ended on record, shown only to users who may watch what they rest on."""

from __future__ import annotations

import pytest
from harness.trio import Trio

from tisa.relay import live
from tisa.services.accounts import Role
from tisa.store import audit
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Launch, Scenario, run

pytestmark = pytest.mark.slow  # flies a ten-minute MRBM past three nations' radars


def test_an_mrbm_coming_down_in_japan_raises_jpns_warning_on_record(trio: Trio) -> None:
    jpn = trio.rt["JPN"]
    now_ms = int(jpn.clock().timestamp() * 1000)
    # Five minutes into the flight of an MRBM from Sinpo that comes down in Japan.
    flown = run(
        Scenario(
            launches=(Launch("M1", MissileType.MRBM, "sinpo"),),
            seed=3,
            start_ms=now_ms - 300_000,
        )
    )
    so_far = [u for u in flown.updates["JPN"] if u.time_ms <= now_ms]
    live.publish(jpn.ctx, flown.streams["JPN"], so_far)

    (warning,) = jpn.warnings.step()

    assert warning.exercise
    assert any(area.startswith("Japan") for area in warning.areas)
    assert warning.impact_time_ms > now_ms
    with jpn.ctx.db.read() as conn:
        (raised,) = audit.entries(conn, action=audit.Action.WARNING_RAISED)
    assert raised.detail["areas"] == list(warning.areas)
    assert raised.detail["label"].startswith("EXERCISE MISSILE WARNING JPN")
    analyst = trio.user("JPN", Role.ANALYST)
    assert jpn.warnings.active(analyst) == [warning]
    ((fused, exercise),) = jpn.warnings.fused(analyst)
    assert (fused.sources, exercise) == (("JPN:J0001",), True)

    low = jpn.accounts.add("jpn-low", "a-long-password", Role.ANALYST, "CONFIDENTIAL")
    assert jpn.warnings.active(low) == []
    assert jpn.warnings.fused(low) == []

    assert jpn.warnings.step() == [warning]  # held, not raised again
    with jpn.ctx.db.read() as conn:
        assert len(audit.entries(conn, action=audit.Action.WARNING_RAISED)) == 1


def test_a_node_with_no_areas_of_its_own_fuses_and_warns_for_nothing(
    trio: Trio, caplog: pytest.LogCaptureFixture
) -> None:
    from tisa.errors import InputInvalid
    from tisa.services.warnings import Warnings

    def nowhere() -> tuple[()]:
        raise InputInvalid("no territory known for USA")

    board = Warnings(trio.rt["USA"].ctx, nowhere)

    assert board.step() == []
    assert board.step() == []  # still running, not failing each second
    said = [r.getMessage() for r in caplog.records if r.name == "tisa.warnings"]
    assert said == ["no warning areas for USA: no territory known for USA"]

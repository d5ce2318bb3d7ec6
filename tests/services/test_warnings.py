"""A node's missile warnings: the fused picture of the tracks it holds against its own areas,
raised and ended on record, shown only to users who may watch what they rest on."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from harness.trio import Trio

from tisa.errors import InputInvalid
from tisa.relay import live
from tisa.services.accounts import Role
from tisa.store import audit, tables
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Launch, Scenario, run

pytestmark = pytest.mark.slow  # flies a ten-minute MRBM past three nations' radars


def _nowhere() -> tuple[()]:
    raise InputInvalid("no territory known")


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
    # Marked as the stream it rests on, for whatever passes it on (the webhook).
    assert (raised.detail["classification"], raised.detail["rel_to"]) == (
        "SECRET",
        ["USA", "JPN", "KOR"],
    )
    assert raised.detail["streams"] == [
        {"source": "JPN:J0001", "marking": "SECRET//REL TO USA, JPN, KOR", "exercise": True}
    ]
    analyst = trio.user("JPN", Role.ANALYST)
    assert jpn.warnings.active(analyst) == [warning]
    ((fused, exercise),) = jpn.warnings.fused(analyst)
    assert (fused.sources, exercise) == (("JPN:J0001",), True)

    low = jpn.accounts.add("jpn-low", "a-long-password", Role.ANALYST, "CONFIDENTIAL")
    assert jpn.warnings.active(low) == []
    assert jpn.warnings.fused(low) == []

    (held,) = jpn.warnings.step()  # held (as of now), not raised again
    assert (held.track_id, held.sources, held.areas) == (
        warning.track_id,
        warning.sources,
        warning.areas,
    )
    with jpn.ctx.db.read() as conn:
        assert len(audit.entries(conn, action=audit.Action.WARNING_RAISED)) == 1

    # The tracks fall silent (here: gone from the store the picture reads); the warning
    # stands until its impact time, and who may see it is still asked of its streams.
    with jpn.ctx.db.begin() as conn:
        conn.execute(tables.track_updates.delete())
    assert [w.track_id for w in jpn.warnings.step()] == [warning.track_id]
    assert [w.track_id for w in jpn.warnings.active(analyst)] == [warning.track_id]
    assert jpn.warnings.active(low) == []


def test_a_node_with_no_areas_of_its_own_fuses_and_warns_for_nothing(
    trio: Trio, caplog: pytest.LogCaptureFixture
) -> None:
    from tisa.services.warnings import Warnings

    board = Warnings(trio.rt["USA"].ctx, _nowhere)

    assert board.step() == []
    assert board.step() == []  # still running, not failing each second
    said = [r.getMessage() for r in caplog.records if r.name == "tisa.warnings"]
    assert said == ["no warning areas for USA: no territory known"]


def test_the_picture_is_drawn_as_updates_arrive_not_on_the_clock(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the clock's nudge an hour away, an update kept still reaches the fused picture at
    once, and the latency to it is told for its originator."""
    from tisa.services import warnings as module
    from tisa.services.warnings import Warnings

    monkeypatch.setattr(module, "EVERY", 3600.0)
    jpn = trio.rt["JPN"]
    reached: list[tuple[str, float]] = []
    board = Warnings(jpn.ctx, _nowhere, reached=lambda o, s: reached.append((o, s)))
    flown = run(
        Scenario(
            launches=(Launch("M1", MissileType.MRBM, "sinpo"),),
            seed=3,
            start_ms=int(jpn.clock().timestamp() * 1000) - 300_000,
            duration_ms=300_000,
        )
    )
    now_ms = int(jpn.clock().timestamp() * 1000)
    newest = dataclasses.replace(flown.updates["JPN"][-1], time_ms=now_ms)

    async def drawn() -> None:
        task = asyncio.create_task(board.run())
        try:
            await asyncio.sleep(0.05)  # the first step runs on nothing; then it waits an hour
            await asyncio.to_thread(live.publish, jpn.ctx, flown.streams["JPN"], [newest])
            while not reached:  # told after the drawing that took it in
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        finally:
            task.cancel()

    asyncio.run(asyncio.wait_for(drawn(), 60))
    ((fused, exercise),) = board.fused(trio.user("JPN", Role.ANALYST))
    assert fused.sources == ("JPN:J0001",)
    assert exercise
    assert [o for o, _ in reached] == ["JPN"]
    assert reached[0][1] >= 0

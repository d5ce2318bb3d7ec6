"""The audit heartbeat, between real stores and the real federation app (over ASGI, no TLS).

Each beat leaves the peer holding our latest checkpoint and us knowing it does, with no
messages at all; a suspended channel is not contacted; one peer failing never stops the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from harness.clusters import copy_cluster

from tisa.api.federation import federation_app
from tisa.demo.network import Cluster
from tisa.node.runtime import Runtime
from tisa.relay.heartbeat import EXCHANGE_PATH, Heartbeat
from tisa.store import audit, checkpoints, network
from tisa.store.audit import Action


@pytest.fixture
def nodes(tmp_path: Path, cluster_template: Cluster) -> Iterator[dict[str, Runtime]]:
    """USA, KOR and JPN opened (not serving), each log a few entries long."""
    cluster = copy_cluster(cluster_template, tmp_path / "net")
    opened = {p: Runtime(h.settings).open() for p, h in cluster.nodes.items()}
    try:
        for party, rt in opened.items():
            grow(rt, 3, party.lower())
        yield opened
    finally:
        for rt in opened.values():
            rt.close()


def grow(rt: Runtime, count: int, actor: str) -> int:
    """Append `count` entries; the log's size."""
    with rt.ctx.db.begin() as conn:
        for _ in range(count):
            audit.record(conn, Action.SIGN_IN, at=datetime.now(UTC), actor=actor)
        return audit.head(conn)[0]


def to(rt: Runtime) -> httpx.AsyncClient:
    """A client whose requests reach `rt`'s federation app in process."""
    app = federation_app(rt)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://peer")


def held(rt: Runtime, issuer: str) -> int:
    """The size of the largest checkpoint of `issuer`'s that `rt` holds."""
    with rt.ctx.db.read() as conn:
        latest = checkpoints.latest_checkpoint(conn, issuer)
    return 0 if latest is None else latest.size


def test_a_beat_leaves_the_peer_holding_our_latest_checkpoint_without_messages(
    nodes: dict[str, Runtime],
) -> None:
    kor, usa = nodes["KOR"], nodes["USA"]
    usa.audit.checkpoint()

    async def beat() -> None:
        async with to(usa) as client:
            await Heartbeat(kor.ctx, {"USA": client}, kor.audit).beat()

    asyncio.run(beat())
    size = grow(kor, 0, "")
    assert held(usa, "KOR") == size
    assert held(kor, "USA") == usa.audit.checkpoint().size  # type: ignore[union-attr]
    # Each side knows, persistently, how much of its log the other holds.
    assert kor.audit.held_by("USA") == size
    with usa.ctx.db.read() as conn:
        assert "KOR" in checkpoints.holdings(conn)

    # The log grows; the next beat seals and hands over the new checkpoint, with a
    # consistency proof from the one the peer holds.
    size = grow(kor, 4, "kor")
    asyncio.run(beat())
    assert held(usa, "KOR") == size
    assert kor.audit.held_by("USA") == size
    with usa.ctx.db.read() as conn:
        assert not audit.entries(conn, action=Action.INCONSISTENT.value)


def test_a_channel_suspended_here_gets_no_heartbeat(nodes: dict[str, Runtime]) -> None:
    kor, usa = nodes["KOR"], nodes["USA"]
    channel = kor.ctx.arrangement.channel_between("KOR", "USA")
    assert channel is not None
    with kor.ctx.db.begin() as conn:
        network.set_suspended(conn, channel.id, True, datetime.now(UTC), "test")
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    async def beat() -> None:
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(transport=transport, base_url="https://usa") as client:
            await Heartbeat(kor.ctx, {"USA": client}, kor.audit).beat()

    asyncio.run(beat())
    assert calls == []
    assert held(usa, "KOR") == 0
    # The checkpoint is still sealed locally, for when the channel is resumed.
    assert held(kor, "KOR") == grow(kor, 0, "")


def test_a_peer_that_cannot_be_reached_does_not_stop_the_beat(nodes: dict[str, Runtime]) -> None:
    usa, jpn = nodes["USA"], nodes["JPN"]

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def run_for_a_while() -> bool:
        kor_side = httpx.AsyncClient(
            transport=httpx.MockTransport(unreachable), base_url="https://kor"
        )
        async with kor_side, to(jpn) as jpn_side:
            beating = asyncio.create_task(
                Heartbeat(usa.ctx, {"KOR": kor_side, "JPN": jpn_side}, usa.audit, every=0.05).run()
            )
            await asyncio.sleep(0.3)
            grow(usa, 2, "usa")
            await asyncio.sleep(0.5)
            alive = not beating.done()
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            return alive

    assert asyncio.run(run_for_a_while())
    assert held(jpn, "USA") == grow(usa, 0, "")


def test_the_exchange_endpoint_refuses_a_request_without_a_transmission_header(
    nodes: dict[str, Runtime],
) -> None:
    usa = nodes["USA"]

    async def post() -> httpx.Response:
        async with to(usa) as client:
            return await client.post(EXCHANGE_PATH, content=b"{}")

    response = asyncio.run(post())
    assert response.status_code == 422
    assert held(usa, "KOR") == 0

"""A node configured for TAK: its feed is built from [tak], its connection is a /healthz
check (failing once it has been down for TAK_STALE), and its events are a metric."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.tak import TakPki, free_port
from harness.trio import Trio

from tisa.node.health import TAK_STALE
from tisa.node.runtime import Runtime
from tisa.node.settings import Settings


def _checks(rt: Runtime) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.detail) for c in rt.health.ready().checks}


def test_a_node_without_tak_has_no_tak_check(trio: Trio) -> None:
    rt = trio.rt["KOR"]

    assert rt.tak is None
    assert "tak" not in _checks(rt)


def test_a_tak_endpoint_down_for_long_fails_readiness_with_its_reason(
    trio: Trio, tmp_path: Path
) -> None:
    pki = TakPki(tmp_path / "pki")
    cert, key = pki.issue("tisa-kor")
    url = f"tls://127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "TISA_TAK_URL": url,
        "TISA_TAK_CERT": str(cert),
        "TISA_TAK_KEY": str(key),
        "TISA_TAK_CA": str(pki.ca),
        "TISA_TAK_CLEARANCE": "SECRET",
    }
    moment = [datetime.now(UTC)]
    root = trio.rt["KOR"].settings.paths.root

    with Runtime(Settings.load(root, env=env), clock=lambda: moment[0]) as rt:
        assert rt.tak is not None
        assert rt.tak.url == url
        assert rt.tak.reader.username == f"TAK {url}"
        assert _checks(rt)["tak"] == (True, f"connecting to {url}")

        async def try_once() -> None:
            assert rt.tak is not None
            task = asyncio.create_task(rt.tak.run())
            while rt.tak.status().last_error is None:
                await asyncio.sleep(0.02)
            task.cancel()

        asyncio.run(try_once())
        ok, detail = _checks(rt)["tak"]
        assert ok  # a moment ago it was starting: not yet a failure
        assert detail.startswith(f"connecting to {url}: cannot connect to {url}")

        moment[0] += TAK_STALE + timedelta(seconds=1)
        ok, detail = _checks(rt)["tak"]
        assert not ok
        assert detail.startswith(f"not connected to {url} since ")
        assert f"cannot connect to {url}" in detail
        assert not rt.health.ready().ok

        exposed = rt.metrics.render().decode()
        assert 'tisa_tak_events_sent_total{kind="missile"} 0.0' in exposed
        assert 'tisa_tak_events_sent_total{kind="impact"} 0.0' in exposed

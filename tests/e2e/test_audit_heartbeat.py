"""The audit heartbeat on three real nodes: with no product traffic at all, the hub holds each
spoke's latest checkpoint within seconds, so a truncated tail is caught by `tisa audit verify
--peers`; a suspended channel carries no heartbeat."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness.network import Net, Networks
from sqlalchemy import text, update

from tisa.relay.heartbeat import BEAT_EVERY
from tisa.store import audit, checkpoints
from tisa.store.database import Database
from tisa.store.tables import audit_head

pytestmark = pytest.mark.e2e

WITNESSED_WITHIN = 10.0  # seconds; the heartbeat beats every BEAT_EVERY (3)


def size(net: Net, party: str) -> int:
    """The size of `party`'s log, from its store."""
    with Database(net.cluster.nodes[party].settings.database_url) as db, db.read() as conn:
        return audit.head(conn)[0]


def held(net: Net, holder: str, issuer: str) -> int:
    """The size of the largest checkpoint of `issuer`'s held in `holder`'s store."""
    url = net.cluster.nodes[holder].settings.database_url
    with Database(url) as db, db.read() as conn:
        latest = checkpoints.latest_checkpoint(conn, issuer)
    return 0 if latest is None else latest.size


def wait_covered(net: Net, holder: str, issuer: str) -> int:
    """Wait until `holder` holds a checkpoint covering `issuer`'s whole log; its size."""

    def covered() -> int | None:
        now = size(net, issuer)
        return now if held(net, holder, issuer) == now else None

    return net.wait_for(
        covered, f"{holder} holding {issuer}'s checkpoint of its whole log", WITNESSED_WITHIN
    )


def test_a_quiet_hub_holds_each_spokes_latest_checkpoint_within_seconds(
    make_network: Networks,
) -> None:
    net = make_network(rules=False)
    for party in ("USA", "KOR", "JPN"):
        net(party, "admin")  # a sign-in each: every log has an entry, and nothing else moves
    for spoke in ("KOR", "JPN"):
        assert wait_covered(net, "USA", spoke) > 0
        assert wait_covered(net, spoke, "USA") > 0

    before = size(net, "KOR")
    net("KOR")  # another sign-in at KOR: its log grows, the hub's copy follows
    assert size(net, "KOR") > before
    grown = wait_covered(net, "USA", "KOR")
    assert grown > before

    # KOR learns it at the next exchange: its status shows what the hub holds, no warning.
    def shown() -> dict[str, Any] | None:
        status: dict[str, Any] = net("KOR", "admin").get("/api/v1/status")
        hub = next(c for c in status["channels"] if c["peer"] == "USA")
        held = hub["holds_our_checkpoint"]
        return status if held and held["size"] >= size(net, "KOR") else None

    status = net.wait_for(shown, "KOR's status showing the hub's copy", WITNESSED_WITHIN)
    assert status["audit_witness"]["unwitnessed"] == 0
    assert status["audit_witness"]["warning"] is None


def reported(net: Net, holder: str, peer: str) -> datetime:
    """When `holder` last heard from `peer` how much of its log `peer` holds."""
    with Database(net.cluster.nodes[holder].settings.database_url) as db, db.read() as conn:
        return checkpoints.holdings(conn)[peer].reported_at


def test_a_suspended_channel_carries_no_heartbeat(make_network: Networks) -> None:
    net = make_network(rules=False)
    admin = net("USA", "admin")
    net("JPN", "admin")
    wait_covered(net, "JPN", "USA")
    wait_covered(net, "USA", "JPN")
    admin.post("/api/v1/channels/USA-JPN/suspend")  # USA's log grows by the suspension
    # An exchange already on its way when the channel was suspended may still land.
    suspended = datetime.now(UTC) + timedelta(seconds=1)
    jpn_held = held(net, "JPN", "USA")
    net("JPN")  # and JPN's by a sign-in
    jpn_size = size(net, "JPN")

    # USA–KOR beats on: KOR takes USA's checkpoint over the suspension, and two more beats
    # go by...
    assert wait_covered(net, "KOR", "USA") > jpn_held
    net.wait_for(
        lambda: reported(net, "USA", "KOR") > suspended + timedelta(seconds=2 * BEAT_EVERY),
        "two more beats between USA and KOR",
        WITNESSED_WITHIN + 2 * BEAT_EVERY,
    )
    # ... while nothing crossed USA–JPN, in either direction.
    assert held(net, "JPN", "USA") == jpn_held
    assert held(net, "USA", "JPN") < jpn_size
    assert reported(net, "USA", "JPN") < suspended
    assert reported(net, "JPN", "USA") < suspended

    admin.post("/api/v1/channels/USA-JPN/resume")
    wait_covered(net, "JPN", "USA")
    wait_covered(net, "USA", "JPN")


def test_verify_with_peers_catches_a_truncated_tail_after_a_quiet_spell(
    make_network: Networks,
) -> None:
    net = make_network(rules=False)
    for role in ("analyst", "officer", "admin", "auditor"):
        net("KOR", role)  # four sign-ins, then quiet
    total = wait_covered(net, "USA", "KOR")
    net.cluster.stop("KOR")

    # An insider cuts the last three entries, fixes the head row to match, and removes the
    # node's own checkpoints over them: the log is a valid chain, shorter.
    kept = total - 3
    root = net.cluster.nodes["KOR"].root
    with Database(net.cluster.nodes["KOR"].settings.database_url) as db:
        with db.read() as conn:
            last = audit.entries(conn, limit=10_000)[kept - 1]
        with db.engine.begin() as conn:
            for trigger in ("audit_entries_no_delete", "checkpoints_no_delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
            conn.execute(text("DELETE FROM audit_entries WHERE seq > :kept"), {"kept": kept})
            conn.execute(text("DELETE FROM checkpoints WHERE size > :kept"), {"kept": kept})
            conn.execute(update(audit_head).values(size=kept, head=last.entry_hash))

    def verify(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tisa", "audit", "verify", "--dir", str(root), *flags],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    alone = verify()
    assert alone.returncode == 0, alone.stdout + alone.stderr  # only a peer can tell
    caught = verify("--peers")
    assert caught.returncode == 1, caught.stdout + caught.stderr
    said = " ".join(caught.stdout.split())
    assert f"USA holds a checkpoint of size {total}, but the log has only {kept} entries" in said
    assert "Traceback" not in caught.stderr

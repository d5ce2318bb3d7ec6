"""A hub whose disk fills up, end to end: USA's data directory on a small tmpfs.

Below the reserve, attachments are refused with a clear 507 (an upload, and a blob KOR sends),
while a text-only FLASH is still stored and relayed, users still sign in, and readiness names
the disk. With the disk full to the last byte, nothing answers a bare 500. Once space is freed,
everything works again without a restart, and the attachment held back arrives.

Needs root (mount); without it the test skips, except in CI, where that is a failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.network import Net, Networks

pytestmark = pytest.mark.e2e

MIB = 2**20
TMPFS_MB = 48
RESERVE_MB = 12
BELOW_RESERVE_MB = 8  # free space left while the reserve is broken: rows still fit


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 48 MiB tmpfs where `make_network` puts USA's data directory (`net0/usa`); every node
    keeps a 12 MiB reserve. Requested before `make_network`, so it is unmounted after the
    nodes stop."""
    where = tmp_path / "net0" / "usa"
    where.mkdir(parents=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m,mode=0700", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        problem = mounted.stderr.strip() if mounted.returncode else None
    except OSError as exc:
        problem = str(exc)
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs, and CI must run this test: {problem}")
        pytest.skip(f"cannot mount a tmpfs here: {problem}")
    monkeypatch.setenv("TISA_DISK_RESERVE_MB", str(RESERVE_MB))
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(path: Path, leave: int) -> None:
    """Write zeros to `path` until `leave` bytes stay free on its file system (or none)."""
    block = bytes(MIB)
    with path.open("ab") as handle:
        while (free := shutil.disk_usage(path.parent).free) > leave:
            try:
                handle.write(block[: min(MIB, free - leave)])
                handle.flush()
            except OSError:
                return


def _api(net: Net, party: str) -> httpx.Client:
    handle = net.cluster.nodes[party]
    context = ssl.create_default_context(cadata=handle.cert_pem.decode("ascii"))
    return httpx.Client(base_url=handle.settings.api_url, verify=context, timeout=30)


def _upload(net: Net, party: str, name: str, content: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {net(party).token}", "Content-Type": "text/csv"}
    with _api(net, party) as http:
        return http.post("/api/v1/uploads", params={"name": name}, content=content, headers=headers)


def _csv(size: int) -> bytes:
    rows = []
    total = 0
    i = 0
    while total < size:
        row = f"{i},{hashlib.sha256(str(i).encode()).hexdigest()}\n"
        rows.append(row)
        total += len(row)
        i += 1
    return ("n,value\n" + "".join(rows)).encode()


def _sign_in(net: Net, party: str) -> httpx.Response:
    username = f"{party.lower()}-analyst"
    with _api(net, party) as http:
        return http.post(
            "/api/v1/session",
            json={"username": username, "password": net.cluster.passwords[username]},
        )


def _ready(net: Net, party: str) -> dict[str, Any]:
    with _api(net, party) as http:
        return http.get("/healthz/ready").json()  # type: ignore[no-any-return]


def _metric(net: Net, what: str) -> float:
    text = net("USA", "admin").text("/metrics")
    line = f'tisa_disk_full_total{{what="{what}"}} '
    found = [float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line)]
    return found[0] if found else 0.0


def test_a_full_disk_refuses_attachments_keeps_flash_and_recovers_without_restart(
    small_disk: Path, make_network: Networks
) -> None:
    net = make_network()
    usa = net.cluster.nodes["USA"]
    assert shutil.disk_usage(usa.root).total == TMPFS_MB * MIB, "USA is not on the tmpfs"
    filler = usa.root / "filler"
    _fill(filler, BELOW_RESERVE_MB * MIB)

    # Below the reserve: readiness names the disk.
    ready = _ready(net, "USA")
    assert ready["status"] == "failing"
    disk = ready["checks"]["disk"]
    assert not disk["ok"]
    assert (
        f"reserve {RESERVE_MB} MiB; attachments are refused until space is freed"
        in (disk["detail"])
    )
    assert ready["checks"]["database"]["ok"]

    # An upload at USA is refused before it is stored: 507, saying why.
    refused = _upload(net, "USA", "tracks.csv", _csv(MIB))
    assert refused.status_code == 507, refused.text
    body = refused.json()
    assert body["error"] == "DiskFull"
    assert body["detail"].startswith("attachments are refused: ")
    assert f"MiB free, the reserve is {RESERVE_MB} MiB kept for products" in body["detail"]

    # KOR's product with an attachment: USA refuses the blob (nothing partial is kept) ...
    at_kor = _upload(net, "KOR", "launch-data.csv", _csv(2 * MIB))
    assert at_kor.status_code == 201, at_kor.text
    digest = at_kor.json()["digest"]
    bulk = net.publish(
        "KOR", title="bulk data", precedence="ROUTINE", attachments=[digest], observations=[]
    )
    net.wait_for(lambda: _metric(net, "blob") >= 1, "USA refusing KOR's blob")
    assert list((usa.root / "blobs" / "partials").glob("*.part")) == []
    # ... while a text-only FLASH is stored at USA and relayed to JPN.
    flash = net.publish("KOR", title=f"FLASH {uuid.uuid4().hex[:6]}", observations=[])
    net.wait_held("USA", flash)
    net.wait_held("JPN", flash)
    assert net.held("USA", bulk) is None

    # Users still sign in (a token row is not an attachment).
    assert _sign_in(net, "USA").status_code == 200
    assert _metric(net, "upload") >= 1

    # Full to the last byte: never a bare 500; a write that cannot be made says so.
    _fill(usa.root / "filler-2", 0)
    seen = set()
    for _ in range(6):
        answer = _sign_in(net, "USA")
        seen.add(answer.status_code)
        assert answer.status_code in (200, 507), answer.text
        if answer.status_code == 507:
            assert answer.json()["error"] == "DiskFull"
            assert answer.json()["detail"].startswith("the disk is full: the database")
    assert 507 in seen, "no write failed with the disk full to the last byte"
    with _api(net, "USA") as http:
        page = http.post(
            "/ui/sign-in",
            data={"username": "usa-analyst", "password": net.cluster.passwords["usa-analyst"]},
        )
    assert page.status_code in (303, 507), page.text[:300]
    if page.status_code == 507:
        assert "the disk is full" in page.text

    # Space freed: everything works again, no restart.
    (usa.root / "filler-2").unlink()
    filler.unlink()
    assert _sign_in(net, "USA").status_code == 200
    ready = _ready(net, "USA")
    assert ready["checks"]["disk"]["ok"], ready
    assert ready["checks"]["database"]["ok"], ready
    stored = _upload(net, "USA", "tracks.csv", _csv(MIB))
    assert stored.status_code == 201, stored.text
    # A FLASH from KOR gets through, and with it the held-back attachment is tried at once.
    net.wait_held("USA", net.publish("KOR", title="after", observations=[]))
    net.wait_held("JPN", bulk)
    log = usa.log.read_text(errors="replace")
    assert "disk full (upload): POST /api/v1/uploads: attachments are refused" in log
    assert "disk full (blob): PUT /federation/v1/blobs/" in log

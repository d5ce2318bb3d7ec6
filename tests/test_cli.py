"""The `tisa` command, driven as a user would, on real node directories."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tisa.cli import app
from tisa.cluster import Cluster
from tisa.crypto.certs import fingerprint

runner = CliRunner()


def test_init_then_show_the_shipped_arrangement(tmp_path: Path) -> None:
    made = runner.invoke(app, ["init", "--party", "KOR", "--dir", str(tmp_path / "kor")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "kor" / "card.json").exists()
    shown = runner.invoke(app, ["arrangement", "show"])
    assert shown.exit_code == 0, shown.output
    assert "USA–KOR" in shown.output
    assert "not pinned" in shown.output


def test_status_and_audit_on_a_node_that_has_never_run(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "net")
    cluster.create()
    kor = str(cluster.nodes["KOR"].root)
    status = runner.invoke(app, ["status", "--dir", kor])
    assert status.exit_code == 0, status.output
    assert "USA–KOR" in status.output
    assert "never" in status.output
    verified = runner.invoke(app, ["audit", "verify", "--dir", kor])
    assert verified.exit_code == 0, verified.output
    assert "verified" in verified.output
    suspended = runner.invoke(app, ["channel", "suspend", "--dir", kor, "USA-KOR"])
    assert suspended.exit_code == 0, suspended.output
    again = runner.invoke(app, ["status", "--dir", kor])
    assert "suspended" in again.output


def test_a_node_directory_that_is_not_there_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--dir", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "tisa init" in str(result.exception) or "tisa init" in result.output


def test_init_rotate_tls_replaces_the_certificate_and_names_the_next_steps(
    tmp_path: Path,
) -> None:
    kor = tmp_path / "kor"
    assert runner.invoke(app, ["init", "--party", "KOR", "--dir", str(kor)]).exit_code == 0
    before = (kor / "keys" / "tls.crt").read_bytes()
    signing = (kor / "keys" / "signing.pem").read_bytes()
    rotated = runner.invoke(app, ["init", "--rotate-tls", "--dir", str(kor)])
    assert rotated.exit_code == 0, rotated.output
    after = (kor / "keys" / "tls.crt").read_bytes()
    assert after != before
    assert (kor / "keys" / "signing.pem").read_bytes() == signing
    assert fingerprint(after) in rotated.output
    assert "tisa arrangement pin" in rotated.output
    assert "queues are empty" in rotated.output
    assert "copy arrangement.toml into every node" in rotated.output


def test_init_needs_a_party_unless_it_rotates(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["init", "--dir", str(tmp_path / "kor")])
    assert missing.exit_code == 2
    assert "--party" in missing.output
    both = runner.invoke(app, ["init", "--rotate-tls", "--party", "KOR", "--dir", str(tmp_path)])
    assert both.exit_code == 2
    assert not (tmp_path / "kor").exists()

"""The `tisa` command, driven as a user would, on real node directories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.clusters import copy_cluster
from typer.testing import CliRunner

from tisa.cli.main import app
from tisa.crypto.certs import fingerprint
from tisa.demo.network import Cluster
from tisa.store import checkpoints

runner = CliRunner()


def test_init_then_show_the_shipped_arrangement(tmp_path: Path) -> None:
    made = runner.invoke(app, ["init", "--party", "KOR", "--dir", str(tmp_path / "kor")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "kor" / "card.json").exists()
    shown = runner.invoke(app, ["arrangement", "show"])
    assert shown.exit_code == 0, shown.output
    assert "USA–KOR" in shown.output
    assert "not pinned" in shown.output


def test_status_and_audit_on_a_node_that_has_never_run(
    tmp_path: Path, cluster_template: Cluster
) -> None:
    cluster = copy_cluster(cluster_template, tmp_path / "net")
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


def _tamper(root: Path, *statements: str) -> None:
    """Change a node's audit table behind the application's back (its guard dropped)."""
    from sqlalchemy import text

    from tisa.node.settings import Settings
    from tisa.store.database import Database

    with Database(Settings.load(root, env={}).database_url) as db, db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_update"))
        for statement in statements:
            conn.execute(text(statement))


def _grow_log(root: Path, count: int, at: datetime) -> None:
    from tisa.node.settings import Settings
    from tisa.store import audit
    from tisa.store.database import Database

    with Database(Settings.load(root, env={}).database_url) as db, db.begin() as conn:
        for i in range(count):
            audit.record(conn, audit.Action.VIEW, at=at, actor=f"u{i}", detail={"i": i})


def test_audit_verify_names_malformed_rows_instead_of_crashing(
    tmp_path: Path, cluster_template: Cluster
) -> None:
    cluster = copy_cluster(cluster_template, tmp_path / "net")
    root = cluster.nodes["KOR"].root
    _grow_log(root, 6, datetime.now(UTC))
    _tamper(
        root,
        "UPDATE audit_entries SET detail = '{\"i\": ' WHERE seq = 2",
        "UPDATE audit_entries SET detail = '{\"i\": NaN}' WHERE seq = 4",
    )
    result = runner.invoke(app, ["audit", "verify", "--dir", str(root)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "✗ audit entry 2 cannot be read: its detail is malformed" in result.output
    assert "✗ audit entry 4 was altered: its content cannot be hashed" in result.output
    exported = runner.invoke(
        app, ["audit", "export", "--dir", str(root), "-o", str(tmp_path / "log.jsonl")]
    )
    assert exported.exit_code == 1
    assert isinstance(exported.exception, SystemExit), exported.exception


def test_status_shows_what_peers_hold_and_warns_of_an_unwitnessed_tail(
    tmp_path: Path, cluster_template: Cluster
) -> None:
    from tisa.node.settings import Settings
    from tisa.store.database import Database

    cluster = copy_cluster(cluster_template, tmp_path / "net")
    root = cluster.nodes["KOR"].root
    _grow_log(root, 2, datetime.now(UTC) - timedelta(minutes=5))
    sealed = runner.invoke(app, ["audit", "checkpoint", "--dir", str(root)])
    assert "checkpoint: size 2" in sealed.output
    _grow_log(root, 3, datetime.now(UTC) - timedelta(minutes=5))
    with Database(Settings.load(root, env={}).database_url) as db, db.begin() as conn:
        checkpoints.set_holding(conn, "USA", 2, datetime.now(UTC) - timedelta(minutes=4))
    result = runner.invoke(app, ["status", "--dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "USA holds our checkpoint of 2 entries (at " in result.output
    assert "audit log not witnessed: 3 audit entries (from entry 3" in result.output
    assert "for longer than 30 s" in " ".join(result.output.split())


def test_check_passes_a_whole_node_and_names_a_damaged_product(
    tmp_path: Path, cluster_template: Cluster
) -> None:
    from harness.factories import draft
    from sqlalchemy import text

    from tisa.domain.wire import DraftIn, parse
    from tisa.node.runtime import Runtime
    from tisa.node.settings import Settings

    cluster = copy_cluster(cluster_template, tmp_path / "net")
    root = cluster.nodes["KOR"].root
    whole = runner.invoke(app, ["check", "--dir", str(root)])
    assert whole.exit_code == 0, whole.output
    assert "✓ database: PRAGMA quick_check found no damaged page" in whole.output
    assert "nothing damaged" in whole.output
    with Runtime(Settings.load(root, env={})) as rt:
        sign_in = rt.accounts.sign_in
        analyst = rt.accounts.resolve(sign_in("kor-analyst", cluster.passwords["kor-analyst"]))
        officer = rt.accounts.resolve(sign_in("kor-officer", cluster.passwords["kor-officer"]))
        product = rt.drafts.create(analyst, parse(DraftIn, draft("KOR")))
        rt.releases.release(officer, product.id, 1)
        with rt.ctx.db.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE products SET body = json_set(body, '$.title', 'x') "
                    "WHERE product_id = :p"
                ),
                {"p": product.id},
            )
    result = runner.invoke(app, ["check", "--dir", str(root)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"✗ product {product.id} v1: the stored content differs from what KOR signed" in (
        result.output
    )
    assert "1 damaged" in result.output

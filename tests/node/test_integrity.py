"""Is a node's store whole (tisa.node.integrity): the quick check of its database's structure, and
the full check that re-verifies every product and authenticates every attachment.

Real stores: a KOR node made by `Cluster.create` and opened with `Runtime` (no servers), its
SQLite file damaged page by page as a failing disk would; the quick check also on PostgreSQL
with amcheck.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import pages
from harness.clusters import copy_cluster
from harness.factories import draft
from sqlalchemy import text

from tisa.attachments import uploads
from tisa.demo.network import Cluster
from tisa.domain.markings import Classification
from tisa.domain.wire import DraftIn, parse
from tisa.node.integrity import full_check, quick_check
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role, User
from tisa.store.database import Database


def kor(name: str, role: Role) -> User:
    return User(name, "KOR", role, Classification.SECRET, frozenset({"*"}), "en")


ANALYST = kor("kor-analyst", Role.ANALYST)
OFFICER = kor("kor-officer", Role.RELEASE_OFFICER)


@dataclass
class Node:
    rt: Runtime
    released: list[str]
    attached: str  # the product whose attachment is `blob`
    blob: str

    @property
    def path(self) -> Path:
        return Path(self.rt.ctx.db.url.removeprefix("sqlite:///"))

    def damage(self, pages_of: str, first: int, count: int) -> set[str]:
        """Zero `count` leaf pages of a table from its `first`; the released ids lost."""
        self.rt.ctx.db.close()
        victims = pages.leaves(self.path, pages_of)[first : first + count]
        lost = pages.holding(self.path, victims, self.released)
        pages.zero(self.path, victims)
        self.rt.ctx.db.open()
        return lost


@pytest.fixture
def node(tmp_path: Path, cluster_template: Cluster) -> Iterator[Node]:
    """KOR with 60 released products (one with a text attachment) and a few drafts."""
    cluster = copy_cluster(cluster_template, tmp_path / "net")
    rt = Runtime(cluster.nodes["KOR"].settings).open()
    try:
        upload = tmp_path / "notes.txt"
        upload.write_text("launch window notes\n" * 200)
        row = uploads.accept(
            rt.ctx.db,
            rt.blobs,
            upload,
            by=ANALYST.username,
            clock=rt.clock,
            name="notes.txt",
            declared_type="text/plain",
            max_size=10**6,
        )
        released = []
        for i in range(60):
            fields = {"text": f"report {i}: " + "tracked and assessed. " * 40}
            if i == 7:
                fields["attachments"] = [row.digest]
            product = rt.drafts.create(ANALYST, parse(DraftIn, draft("KOR", **fields)))
            rt.releases.release(OFFICER, product.id, 1)
            released.append(product.id)
        for _ in range(3):
            rt.drafts.create(ANALYST, parse(DraftIn, draft("KOR")))
        yield Node(rt, released, released[7], row.digest)
    finally:
        rt.close()


def test_a_whole_store_passes_quick_check(database_url: str) -> None:
    with Database(database_url) as db:
        report = quick_check(db)
    assert report.ok, report.problems
    assert report.notes == []
    if database_url.startswith("sqlite"):
        assert report.checked == ["database: PRAGMA quick_check found no damaged page"]
    else:
        (line,) = report.checked
        assert line.startswith("database: amcheck found ")
        assert line.endswith(" indexes whole")


def test_a_whole_node_passes_the_full_check(node: Node) -> None:
    report = full_check(node.rt.ctx.db, node.rt.reading, node.rt.blobs)
    assert report.ok, report.problems
    assert "63 product versions read and verified" in report.checked
    assert "1 of 1 blobs present and authentic" in report.checked  # text: scrubbed = original


def test_a_whole_node_on_postgresql_passes_the_full_check(
    tmp_path: Path, pg_databases: Any
) -> None:
    cluster = Cluster(tmp_path / "net", databases={"KOR": pg_databases.new()})
    cluster.create()
    with Runtime(cluster.nodes["KOR"].settings) as rt:
        product = rt.drafts.create(ANALYST, parse(DraftIn, draft("KOR")))
        rt.releases.release(OFFICER, product.id, 1)
        report = full_check(rt.ctx.db, rt.reading, rt.blobs)
    assert report.ok, report.problems
    assert report.notes == []
    assert any(c.startswith("database: amcheck found ") for c in report.checked)
    assert any(c.startswith("database: amcheck read ") for c in report.checked)
    assert "1 product versions read and verified" in report.checked


def test_damaged_pages_are_named_by_table_and_each_product_they_held(node: Node) -> None:
    lost = node.damage("products", 2, 3)
    assert lost
    quick = quick_check(node.rt.ctx.db)
    damaged, *orphans = quick.problems
    assert damaged.startswith("table products: pages ")
    assert damaged.endswith(" damaged (btreeInitPage() returns error code 11)")
    # What the lost rows held beyond their page (long texts) now belongs to no table.
    assert [o.split(": ")[-1] for o in orphans] == ["never used"]
    report = full_check(node.rt.ctx.db, node.rt.reading, node.rt.blobs)
    assert not report.ok
    for product_id in lost:
        assert any(
            f"product {product_id} v1 cannot be read (database disk image is malformed)" in p
            for p in report.problems
        ), report.problems
    assert f"{63 - len(lost)} product versions read and verified" in report.checked


def test_an_altered_row_and_an_altered_attachment_are_named(node: Node) -> None:
    victim = node.released[3]
    with node.rt.ctx.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET body = json_set(body, '$.title', 'altered') "
                "WHERE product_id = :p"
            ),
            {"p": victim},
        )
    blob_file = next(p for p in (node.rt.blobs.root / "blobs").rglob("*") if p.is_file())
    data = bytearray(blob_file.read_bytes())
    data[-20] ^= 0x01
    blob_file.write_bytes(bytes(data))
    report = full_check(node.rt.ctx.db, node.rt.reading, node.rt.blobs)
    problems = "\n".join(report.problems)
    assert f"product {victim} v1: the stored content differs from what KOR signed" in problems
    assert f"blob {node.blob} (product {node.attached} v1, upload notes.txt" in problems
    assert "does not verify; the stored file was altered" in problems

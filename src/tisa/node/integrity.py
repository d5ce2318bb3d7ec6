"""Is a node's store whole? A quick check of the database's structure, run at every start, and
the full check of `tisa check`, which also reads every product and every attachment.

* SQLite: ``PRAGMA quick_check`` reads every page of the file; each damaged page is named by
  the table (or index) it belongs to.
* PostgreSQL: amcheck's ``bt_index_check`` on each of the node's B-tree indexes (and, in the
  full check, ``verify_heapam`` on each table), where the extension can be created; where it
  cannot, that is said, and is not counted as damage.
* The full check walks every stored product version, reading each row on its own where a page
  is damaged (`tisa.store.products.walk`), and verifies it as every opening does
  (`Node.check_stored`, which is `tisa.relay.provenance.verify_stored`); then it reads and
  authenticates every blob the store names, chunk by chunk.

Nothing here raises for what it finds: each damaged thing is a problem, named.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from tisa.blobs.store import BlobStore
from tisa.errors import Damaged, TisaError
from tisa.services.node import Node
from tisa.store import attachments, products
from tisa.store.database import Database
from tisa.store.salvage import why

# quick_check's rows are read one query each (see `_quick_check_rows`): enough to name damage.
_MAX_ROWS: Final = 20
_PAGE: Final = re.compile(r"\bpage (\d+)", re.IGNORECASE)
_TREE: Final = re.compile(r"\bTree (\d+)")
_ABOUT_PAGE: Final = re.compile(r"^Page (\d+)(?::| is)?\s*(.*)$")
_SPANS: Final = 12  # page ranges named in one line before the rest is counted


@dataclass(frozen=True)
class Report:
    """What a check found: what held, what is damaged, and what could not be checked."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing damaged was found."""
        return not self.problems

    def extend(self, other: Report) -> None:
        """Add another report's lines to this one."""
        self.checked.extend(other.checked)
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)


def quick_check(db: Database) -> Report:
    """The database's structure: SQLite's quick_check, or amcheck's index check on
    PostgreSQL. Fast enough for every start (it reads no product). Raises nothing."""
    if db.dialect == "sqlite":
        return _sqlite(db)
    return _postgres(db, heap=False)


def full_check(db: Database, node: Node, blobs: BlobStore) -> Report:
    """Everything `tisa check` looks at: the structure (with PostgreSQL's tables too), every
    stored product version verified, every blob present and authentic. Raises nothing."""
    report = _sqlite(db) if db.dialect == "sqlite" else _postgres(db, heap=True)
    report.extend(_products(db, node))
    report.extend(_blobs(db, blobs))
    return report


# -- SQLite ---------------------------------------------------------------------------------


def _sqlite(db: Database) -> Report:
    report = Report()
    try:
        with db.read() as conn:
            found = _quick_check_rows(conn)
            if found == ["ok"]:
                report.checked.append("database: PRAGMA quick_check found no damaged page")
                return report
            report.problems.extend(_name_damage(conn, found))
    except SQLAlchemyError as exc:
        report.problems.append(f"the database cannot be checked: {why(exc)}")
    return report


def _quick_check_rows(conn: Connection) -> list[str]:
    """quick_check's rows. Python's sqlite3 drops the row it holds when the next step fails,
    and quick_check ends in an error on a damaged file: so each row is asked for alone.

    Raises:
        SQLAlchemyError: not even the first row can be read.
    """
    found: list[str] = []
    for offset in range(_MAX_ROWS):
        try:
            row = conn.execute(
                text("SELECT quick_check FROM pragma_quick_check LIMIT 1 OFFSET :n"),
                {"n": offset},
            ).first()
        except SQLAlchemyError:
            if not found:
                raise
            break
        if row is None:
            break
        found.append(str(row[0]))
    return found


def _name_damage(conn: Connection, found: list[str]) -> list[str]:
    """quick_check's findings, each damaged page named by the table (or index) it is in."""
    lines = [
        line.strip()
        for entry in found
        for line in entry.splitlines()
        if line.strip() and not line.startswith("***")
    ]
    roots, tables = _schema(conn)
    owners = _page_owners(conn)
    pages: dict[str, set[int]] = {}
    causes: dict[str, str] = {}
    unplaced: list[str] = []
    for line in lines:
        tree = _TREE.search(line)
        page = _PAGE.search(line)
        owner = roots.get(int(tree.group(1))) if tree else None
        if owner is None and page is not None:
            owner = owners.get(int(page.group(1)))
        if owner is None or page is None:
            unplaced.append(line)
            continue
        pages.setdefault(owner, set()).add(int(page.group(1)))
        causes.setdefault(owner, line.split(":", 1)[-1].strip())
    problems = []
    for owner in sorted(pages):
        table = tables.get(owner, owner)
        where = f"table {table}" if table == owner else f"table {table} (index {owner})"
        problems.append(f"{where}: {_ranges(pages[owner])} damaged ({causes[owner]})")
    for table in _damaged_tables(conn, tables.values()):
        if not any(p.startswith(f"table {table}") for p in problems):
            problems.append(f"table {table}: damaged (its own quick_check fails)")
    problems.extend(_grouped(unplaced))
    return problems or [f"database: {' '.join(lines)}"]


def _grouped(lines: list[str]) -> list[str]:
    """Findings about pages no table owns (e.g. "Page 77 is never used": the overflow of rows
    lost with a damaged page), one line per kind of finding."""
    kinds: dict[str, set[int]] = {}
    others = []
    for line in lines:
        about = _ABOUT_PAGE.match(line)
        if about is None:
            others.append(f"database: {line}")
        else:
            kinds.setdefault(about.group(2), set()).add(int(about.group(1)))
    return [f"database: {_ranges(found)}: {kind}" for kind, found in kinds.items()] + others


def _schema(conn: Connection) -> tuple[dict[int, str], dict[str, str]]:
    """Root page → table or index name, and index → its table."""
    rows = conn.execute(
        text("SELECT name, tbl_name, rootpage FROM sqlite_schema WHERE rootpage > 0")
    ).all()
    roots = {int(r.rootpage): str(r.name) for r in rows}
    return roots, {str(r.name): str(r.tbl_name) for r in rows}


def _page_owners(conn: Connection) -> dict[int, str]:
    """Page → the table or index it belongs to, as far as SQLite's dbstat can walk (it is not
    in every build; without it, damage is named by table only)."""
    owners: dict[int, str] = {}
    try:
        result = conn.execute(text("SELECT name, pageno FROM dbstat"))
        while (row := result.fetchone()) is not None:
            owners[int(row.pageno)] = str(row.name)
    except SQLAlchemyError:
        pass  # what was walked before the failure still names pages
    return owners


def _damaged_tables(conn: Connection, tables: Iterable[str]) -> list[str]:
    """Tables whose own quick_check does not come back clean."""
    damaged = []
    for table in sorted(set(tables)):
        try:
            row = conn.execute(
                text("SELECT quick_check FROM pragma_quick_check(:t) LIMIT 1"), {"t": table}
            ).first()
        except SQLAlchemyError:
            damaged.append(table)
            continue
        if row is not None and row[0] != "ok":
            damaged.append(table)
    return damaged


def _ranges(numbers: set[int]) -> str:
    """'page 7' or 'pages 9–11, 14'."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    words = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans[:_SPANS])
    if len(spans) > _SPANS:
        words += f"… ({len(numbers)} in all)"
    return f"page {words}" if len(numbers) == 1 else f"pages {words}"


# -- PostgreSQL -----------------------------------------------------------------------------

_INDEXES = text(
    """
    SELECT c.relname AS index, t.relname AS "table"
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_am a ON a.oid = c.relam
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.amname = 'btree' AND n.nspname = current_schema()
      AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready
    ORDER BY t.relname, c.relname
    """
)
_TABLES = text(
    """
    SELECT c.relname AS "table" FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relpersistence <> 't'
    ORDER BY c.relname
    """
)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _postgres(db: Database, *, heap: bool) -> Report:
    report = Report()
    try:
        with db.engine.connect() as conn:
            try:
                with conn.begin():
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            except SQLAlchemyError as exc:
                report.notes.append(
                    f"amcheck is not available here ({why(exc)}); PostgreSQL's indexes and "
                    "tables were not checked"
                )
                return report
            with conn.begin():
                indexes = conn.execute(_INDEXES).all()
            for index, table in indexes:
                try:
                    with conn.begin():
                        conn.execute(
                            text("SELECT bt_index_check(CAST(:name AS regclass))"),
                            {"name": _quoted(index)},
                        )
                except SQLAlchemyError as exc:
                    report.problems.append(f"table {table} (index {index}): damaged ({why(exc)})")
            report.checked.append(f"database: amcheck found {len(indexes)} indexes whole")
            if heap:
                _heaps(conn, report)
    except SQLAlchemyError as exc:
        report.problems.append(f"the database cannot be checked: {why(exc)}")
    return report


def _heaps(conn: Connection, report: Report) -> None:
    """verify_heapam on each table (amcheck 1.3, PostgreSQL 14+), naming damaged blocks."""
    with conn.begin():
        tables = [r[0] for r in conn.execute(_TABLES)]
    for table in tables:
        try:
            with conn.begin():
                found = conn.execute(
                    text(
                        "SELECT blkno, offnum, msg FROM verify_heapam(CAST(:name AS regclass)) "
                        "LIMIT 20"
                    ),
                    {"name": _quoted(table)},
                ).all()
        except SQLAlchemyError as exc:
            if "verify_heapam" in str(exc) and "does not exist" in str(exc):
                report.notes.append("amcheck here cannot check tables (verify_heapam is missing)")
                return
            report.problems.append(f"table {table}: damaged ({why(exc)})")
            continue
        if found:
            blocks = {int(r.blkno) for r in found}
            report.problems.append(
                f"table {table}: blocks {', '.join(map(str, sorted(blocks)))} damaged "
                f"({found[0].msg})"
            )
    report.checked.append(f"database: amcheck read {len(tables)} tables")


# -- products and blobs ---------------------------------------------------------------------


def _products(db: Database, node: Node) -> Report:
    report = Report()
    verified = 0
    try:
        with db.read() as conn:
            for found in products.walk(conn):
                if isinstance(found, products.Unreadable):
                    report.problems.append(str(found))
                    continue
                try:
                    node.check_stored(found)
                except Damaged as exc:
                    report.problems.append(f"product {exc.reason}")
                    continue
                verified += 1
    except SQLAlchemyError as exc:
        report.problems.append(f"products cannot be read: {why(exc)}")
    report.checked.append(f"{verified} product versions read and verified")
    return report


def _blobs(db: Database, blobs: BlobStore) -> Report:
    report = Report()
    try:
        with db.read() as conn:
            named = attachments.named_blobs(conn)
    except SQLAlchemyError as exc:
        report.problems.append(f"the attachments the store names cannot be listed: {why(exc)}")
        return report
    whole = 0
    for digest in sorted(named):
        users = ", ".join(dict.fromkeys(named[digest]))
        hasher = hashlib.sha256()
        try:
            for chunk in blobs.open(digest):
                hasher.update(chunk)
        except TisaError as exc:
            report.problems.append(f"blob {digest} ({users}): {exc.reason}")
            continue
        if "sha256:" + hasher.hexdigest() != digest:
            report.problems.append(f"blob {digest} ({users}): its bytes hash to another digest")
            continue
        whole += 1
    report.checked.append(f"{whole} of {len(named)} blobs present and authentic")
    return report

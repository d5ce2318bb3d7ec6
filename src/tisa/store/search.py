"""The terms each product version is found by, keyed by its place in the inbox (`listed_us`).

The terms are made in Python (`tisa.domain.terms`) and stored as given: SQLite keeps them in an
FTS5 table whose 'ascii' tokenizer keeps each term whole, PostgreSQL in a tsvector built from
the array of terms (no parser, no stemming) under a GIN index. A search's terms are matched as
quoted literals on both, so no user input ever reaches MATCH's or tsquery's syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, bindparam, column, text


def put(conn: Connection, listed_us: int, terms: Sequence[str]) -> None:
    """Index a version's terms (replacing any it had: a draft revised in place)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "INSERT INTO product_terms (listed_us, terms) "
                "VALUES (:id, array_to_tsvector(CAST(:terms AS text[]))) "
                "ON CONFLICT (listed_us) DO UPDATE SET terms = EXCLUDED.terms"
            ),
            {"id": listed_us, "terms": list(terms)},
        )
        return
    conn.execute(text("DELETE FROM product_terms WHERE rowid = :id"), {"id": listed_us})
    conn.execute(
        text("INSERT INTO product_terms (rowid, terms) VALUES (:id, :terms)"),
        {"id": listed_us, "terms": " ".join(terms)},
    )


def _literal(term: str, quote: str, *, backslash: bool = False) -> str:
    # Terms hold only letters and digits; escaping keeps even a stray quote a literal.
    if backslash:
        term = term.replace("\\", "\\\\")
    return quote + term.replace(quote, quote * 2) + quote


def matching(conn: Connection, listed: ColumnElement[Any], terms: Sequence[str]) -> Any:
    """A condition: the version listed at `listed` has every one of `terms`."""
    if conn.dialect.name == "postgresql":
        query = " & ".join(_literal(t, "'", backslash=True) for t in terms)
        found = text(
            "SELECT listed_us FROM product_terms WHERE terms @@ CAST(:tsquery AS tsquery)"
        ).bindparams(bindparam("tsquery", query))
    else:
        match = " AND ".join(_literal(t, '"') for t in terms)
        found = text("SELECT rowid FROM product_terms WHERE product_terms MATCH :fts").bindparams(
            bindparam("fts", match)
        )
    return listed.in_(found.columns(column("listed_us", BigInteger)))

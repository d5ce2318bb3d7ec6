"""`tisa stix export PRODUCT`: a product version as a STIX 2.1 bundle on stdout;
`tisa stix import FILE`: the reports of a STIX 2.1 bundle as drafts at the node."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from tisa.cli.app import NodeDir, app, out
from tisa.cli.files import Password, User, signed_in
from tisa.errors import InputInvalid

stix_app = typer.Typer(help="STIX 2.1: export products, import bundles as drafts.")
app.add_typer(stix_app, name="stix")


@stix_app.command("export")
def stix_export(
    root: NodeDir,
    user: User,
    password: Password,
    product: Annotated[str, typer.Argument(help="The product's id.")],
    version: Annotated[int | None, typer.Option(help="A version (default: the latest).")] = None,
) -> None:
    """One signed product version you may read, as a STIX 2.1 bundle (canonical JSON: the
    same version always gives the same bytes)."""
    path = f"/api/v1/products/{quote(product, safe='')}/stix"
    if version is not None:
        path += f"?version={version}"
    with signed_in(root, user, password) as client:
        body = b"".join(client.stream(path))
    sys.stdout.buffer.write(body + b"\n")
    sys.stdout.flush()


@stix_app.command("import")
def stix_import(
    root: NodeDir,
    user: User,
    password: Password,
    source: Annotated[Path, typer.Argument(help="A STIX 2.1 bundle (JSON).", exists=True)],
) -> None:
    """Each report (or grouping) of a STIX 2.1 bundle as a draft at the node, checked as any
    draft is; a release officer releases it. Says what became of each."""
    try:
        bundle = json.loads(source.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputInvalid(f"{source}: not JSON: {exc}") from exc
    with signed_in(root, user, password) as client:
        status = client.post("/api/v1/stix", bundle)["status"]
    for done in status["successes"]:
        out.print(f"[green]drafted[/green] {done['id']}: {done['message']}")
    for refused in status["failures"]:
        out.print(f"[red]refused[/red] {refused['id']}: {refused['message']}")
    if status["failure_count"]:
        raise typer.Exit(1)

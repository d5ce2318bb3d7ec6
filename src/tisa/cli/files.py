"""`tisa attach` and `tisa download`: attachments, through a node's API, with progress."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tisa.errors import TisaError
from tisa.node.settings import (
    Settings,
)

if TYPE_CHECKING:
    from tisa.api.client import ApiClient

from tisa.cli.app import NodeDir, app, out


def signed_in(root: Path, user: str, password: str) -> ApiClient:
    from tisa.api.client import ApiClient

    settings = Settings.load(root)
    client = ApiClient(settings.api_url, settings.paths.tls_cert.read_bytes(), timeout=600)
    return client.sign_in(user, password)


User = Annotated[str, typer.Option("--user", "-u", help="Your user name at the node.")]
Password = Annotated[
    str,
    typer.Option(prompt=True, hide_input=True, envvar="TISA_PASSWORD", help="Or TISA_PASSWORD."),
]


def progress_bars() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=out,
    )


@app.command()
def attach(
    root: NodeDir,
    files: Annotated[list[Path], typer.Argument(help="Files to upload.", exists=True)],
    user: User,
    password: Password,
) -> None:
    """Upload files for a product: typed by content, scrubbed, stored encrypted. Prints each
    upload's digest (name it in a draft's attachments) and what scrubbing removed."""
    client = signed_in(root, user, password)
    with client, progress_bars() as progress:
        for path in files:
            size = path.stat().st_size
            task = progress.add_task(path.name, total=size)

            def chunks(path: Path = path, task: TaskID = task) -> Iterator[bytes]:
                with path.open("rb") as handle:
                    while block := handle.read(1024 * 1024):
                        progress.advance(task, len(block))
                        yield block

            answer = client.call(
                "POST",
                "/api/v1/uploads",
                params={"name": path.name},
                content=chunks(),
                headers={"Content-Length": str(size)},
            )
            progress.stop_task(task)
            removed = "; ".join(answer["removed"]) or "nothing to remove"
            out.print(
                f"{path.name}: {answer['digest']} ({answer['media_type']}); removed: {removed}"
            )


@app.command()
def download(
    root: NodeDir,
    product: Annotated[str, typer.Argument(help="Product id.")],
    digest: Annotated[str, typer.Argument(help="The attachment's sha256:… digest.")],
    user: User,
    password: Password,
    version: Annotated[int, typer.Option(help="Product version.")] = 1,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Download an attachment (checked against the signed digest as it arrives)."""
    import hashlib

    client = signed_in(root, user, password)
    with client:
        view = client.get(f"/api/v1/products/{product}/versions/{version}")
        named = next((a for a in view["attachments"] if a["digest"] == digest), None)
        if named is None:
            raise TisaError(f"{product} v{version} names no attachment {digest}")
        target = output or Path(named["name"])
        hasher = hashlib.sha256()
        path = f"/api/v1/products/{product}/versions/{version}/attachments/{digest}"
        with progress_bars() as progress, target.open("wb") as handle:
            task = progress.add_task(target.name, total=named["size"])
            for block in client.stream(path):
                hasher.update(block)
                handle.write(block)
                progress.advance(task, len(block))
    if "sha256:" + hasher.hexdigest() != digest:
        target.unlink()
        raise TisaError(f"downloaded bytes do not match {digest}; nothing kept")
    out.print(f"{target}: {named['size']:,} bytes, {digest} verified")

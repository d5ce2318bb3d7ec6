"""The `tisa` command, every group registered: `main` is the entry point, `app` the command
(tests invoke it with typer's runner)."""

from __future__ import annotations

import importlib
import sys

from tisa.cli.app import app, err
from tisa.errors import TisaError

# Importing each group registers its commands on `app`, in the order `tisa --help` lists them.
GROUPS = (
    "node",
    "demo",
    "files",
    "events",
    "channels",
    "audit",
    "setup",
    "users",
    "simulate",
    "tracks",
    "stix",
)
for _group in GROUPS:
    importlib.import_module(f"tisa.cli.{_group}")

__all__ = ["app", "main"]


def main() -> None:
    """Run the command; a tisa error prints its reason, not a traceback."""
    try:
        app()
    except TisaError as exc:
        err.print(f"[red]error:[/red] {exc.diagnostics()}")
        sys.exit(2)

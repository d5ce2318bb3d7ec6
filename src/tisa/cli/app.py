"""The `tisa` command: its groups, its console, and what every command shares."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="tisa: scoped, classified intelligence sharing through a relay hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
arrangement_app = typer.Typer(help="Show, check and pin the arrangement.", no_args_is_help=True)
peer_app = typer.Typer(help="Tell a node where its peers listen.", no_args_is_help=True)
user_app = typer.Typer(help="Manage a node's users.", no_args_is_help=True)
channel_app = typer.Typer(help="Suspend or resume a channel at a node.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Verify, show, export and prove from the audit log.", no_args_is_help=True
)
# Its help is its callback's: `tisa demo` runs the demo; `tisa demo stop DIR` is its one command.
demo_app = typer.Typer(invoke_without_command=True)
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")
app.add_typer(arrangement_app, name="arrangement")
app.add_typer(peer_app, name="peer")
app.add_typer(user_app, name="user")
app.add_typer(channel_app, name="channel")

out = Console()
err = Console(stderr=True)

NodeDir = Annotated[Path, typer.Option("--dir", "-d", help="The node's data directory.")]


def now() -> datetime:
    """The wall clock, in UTC (commands read it; nothing below them does)."""
    return datetime.now(UTC)

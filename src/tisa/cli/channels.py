"""`tisa channel suspend|resume`: through the same service as the API and the UI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tisa.node.settings import (
    Settings,
)

if TYPE_CHECKING:
    pass

from tisa.cli.app import NodeDir, channel_app, out


@channel_app.command("suspend")
def channel_suspend(root: NodeDir, channel: Annotated[str, typer.Argument()]) -> None:
    """Suspend a channel at this node: nothing moves over it; queues hold."""
    _set_channel(root, channel, True)


@channel_app.command("resume")
def channel_resume(root: NodeDir, channel: Annotated[str, typer.Argument()]) -> None:
    """Resume a suspended channel; held queues drain."""
    _set_channel(root, channel, False)


def _set_channel(root: Path, channel_id: str, suspended: bool) -> None:
    from tisa.node.runtime import Runtime
    from tisa.services.accounts import operator

    settings = Settings.load(root)
    with Runtime(settings) as rt:
        channel = rt.ctx.arrangement.channel(channel_id)
        # The same service the API and the UI call, as the node's operator at its console.
        rt.channels.set_channel(operator(settings.party), channel.id, suspended=suspended)
    out.print(
        f"channel {channel.label} {'suspended' if suspended else 'resumed'} at {settings.party}"
    )

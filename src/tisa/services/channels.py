"""Channels: an administrator suspends or resumes a channel at this node; nothing moves over
a suspended channel, and its queues hold."""

from __future__ import annotations

from tisa.errors import (
    InputInvalid,
)
from tisa.relay.context import NodeContext
from tisa.services.accounts import Role, User
from tisa.store import audit, network


class Channels:
    """Suspend and resume this node's channels. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    @property
    def party(self) -> str:
        """This node's party code."""
        return self.ctx.party

    def set_channel(self, user: User, channel_id: str, *, suspended: bool) -> None:
        """Suspend or resume a channel at this node: nothing moves over it, queues hold.

        Raises:
            AccessDenied: not an admin.
            InputInvalid: no such channel, or not one of this node's.
        """
        user.require(Role.ADMIN)
        channel = self.ctx.arrangement.channel(channel_id)
        if self.party not in channel.parties:
            raise InputInvalid(f"channel {channel.label} does not join {self.party}")
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            network.set_suspended(conn, channel.id, suspended, now, user.username)
            audit.record(
                conn,
                audit.Action.CHANNEL_SUSPEND if suspended else audit.Action.CHANNEL_RESUME,
                at=now,
                actor=user.username,
                party=channel.other(self.party),
                detail={"channel": channel.id},
            )
        self.ctx.wake()

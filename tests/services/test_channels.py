"""Channels: an admin suspends or resumes a channel at this node, on record."""

from __future__ import annotations

import pytest
from harness.trio import Trio

from tisa.errors import AccessDenied, InputInvalid, NotFound
from tisa.services.accounts import Role
from tisa.store import audit, network


def _suspended(trio: Trio, party: str, channel: str) -> bool:
    rt = trio.rt[party]
    with rt.ctx.db.read() as conn:
        return network.is_suspended(conn, rt.ctx.arrangement.channel(channel))


def test_an_admin_suspends_and_resumes_a_channel_on_record(trio: Trio) -> None:
    kor = trio.rt["KOR"]
    admin = trio.user("KOR", Role.ADMIN)

    kor.channels.set_channel(admin, "USA-KOR", suspended=True)
    assert _suspended(trio, "KOR", "USA-KOR")
    assert not _suspended(trio, "USA", "USA-KOR")  # each node decides for itself

    kor.channels.set_channel(admin, "USA-KOR", suspended=False)
    assert not _suspended(trio, "KOR", "USA-KOR")
    with kor.ctx.db.read() as conn:
        actors = [e.actor for e in audit.entries(conn) if e.action.startswith("channel.")]
    assert actors == [admin.username, admin.username]


def test_only_an_admin_suspends(trio: Trio) -> None:
    with pytest.raises(AccessDenied):
        trio.rt["KOR"].channels.set_channel(
            trio.user("KOR", Role.RELEASE_OFFICER), "USA-KOR", suspended=True
        )
    assert not _suspended(trio, "KOR", "USA-KOR")


def test_a_channel_that_does_not_join_this_node_is_refused(trio: Trio) -> None:
    with pytest.raises(InputInvalid, match="does not join KOR"):
        trio.rt["KOR"].channels.set_channel(trio.user("KOR", Role.ADMIN), "USA-JPN", suspended=True)


def test_an_unknown_channel_is_refused(trio: Trio) -> None:
    with pytest.raises((InputInvalid, NotFound)):
        trio.rt["KOR"].channels.set_channel(trio.user("KOR", Role.ADMIN), "KOR-JPN", suspended=True)

"""Who signs in: the party a user belongs to, bearer headers, signing in, adding users.

A cluster's users are named `<party>-<role>` (`usa-analyst`, `kor-officer`, ...) and their
passwords kept in `Cluster.passwords`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from tisa.demo.network import Cluster
from tisa.node.runtime import Runtime
from tisa.node.settings import load_arrangement
from tisa.services.accounts import Accounts, Role
from tisa.store.database import Database


def party_of(username: str) -> str:
    """The party a cluster user belongs to: `kor-officer` is KOR's."""
    return username.split("-")[0].upper()


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a session token."""
    return {"Authorization": f"Bearer {token}"}


def sign_in_all(runtimes: Mapping[str, Runtime], passwords: Mapping[str, str]) -> dict[str, str]:
    """Each user's session token, signed in at its party's runtime.

    argon2 is slow and releases the GIL, so the users sign in side by side.
    """

    def sign_in(username: str) -> str:
        return runtimes[party_of(username)].accounts.sign_in(username, passwords[username])

    with ThreadPoolExecutor(max_workers=max(1, len(passwords))) as pool:
        tokens = pool.map(sign_in, passwords)
    return dict(zip(passwords, tokens, strict=True))


def add_user(cluster: Cluster, party: str, role_name: str, role: Role, clearance: str) -> str:
    """Another user at `party` (as `tisa user add` would), named `<party>-<role_name>`; its
    password goes into `cluster.passwords`. Returns the username."""
    handle = cluster.nodes[party]
    arrangement = load_arrangement(handle.settings.paths.arrangement)
    username = f"{party.lower()}-{role_name}"
    password = uuid.uuid4().hex
    with Database(handle.settings.database_url) as db:
        Accounts(db, arrangement, party, lambda: datetime.now(UTC)).add(
            username, password, role, clearance
        )
    cluster.passwords[username] = password
    return username

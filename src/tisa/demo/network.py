"""Run a whole network on this machine: one real process per party on 127.0.0.1.

Used by `tisa demo`, the end-to-end tests and the benchmarks. Each node gets its own data
directory, keys and (SQLite or PostgreSQL) database; the arrangement is pinned with every
party's card; nodes talk HTTPS with mutual TLS on ephemeral ports.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tisa.api.client import ApiClient
from tisa.errors import ConfigInvalid
from tisa.node.settings import (
    Settings,
    default_arrangement_text,
    init_node,
    load_arrangement,
    pin_arrangement,
    set_peer,
)
from tisa.services.accounts import Accounts, Role
from tisa.store.database import Database

READY_TIMEOUT = 60.0
ROLES = {
    "analyst": Role.ANALYST,
    "officer": Role.RELEASE_OFFICER,
    "admin": Role.ADMIN,
    "auditor": Role.AUDITOR,
}


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeHandle:
    """One party's node in the cluster."""

    party: str
    root: Path
    settings: Settings
    process: subprocess.Popen[bytes] | None = None

    @property
    def cert_pem(self) -> bytes:
        """The node's own TLS certificate (clients pin it)."""
        return self.settings.paths.tls_cert.read_bytes()

    @property
    def log(self) -> Path:
        """Where the node process writes its output."""
        return self.root / "node.log"


class Cluster:
    """A network of nodes on 127.0.0.1. Constructing it does nothing; `create` and `start` do."""

    def __init__(
        self,
        base: Path,
        *,
        parties: tuple[str, ...] = ("USA", "KOR", "JPN"),
        databases: Mapping[str, str] | None = None,
    ) -> None:
        self.base = base
        self.parties = parties
        self.databases = dict(databases or {})
        self.nodes: dict[str, NodeHandle] = {}
        self.passwords: dict[str, str] = {}

    def create(self) -> None:
        """Initialise every node, pin the arrangement everywhere, introduce the peers, add users.

        Raises:
            ConfigInvalid: a node cannot be created.
        """
        self.base.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        cards = []
        for party in self.parties:
            root = self.base / party.lower()
            cards.append(
                init_node(
                    root,
                    party,
                    host="127.0.0.1",
                    federation_port=free_port(),
                    api_port=free_port(),
                    now=now,
                    database=self.databases.get(party),
                )
            )
        pinned = pin_arrangement(default_arrangement_text(), cards)
        for party in self.parties:
            root = self.base / party.lower()
            (root / "arrangement.toml").write_text(pinned, encoding="utf-8")
        settings = {p: Settings.load(self.base / p.lower(), env={}) for p in self.parties}
        arrangement = load_arrangement(settings[self.parties[0]].paths.arrangement)
        for party in self.parties:
            for peer in arrangement.peers_of(party):
                set_peer(self.base / party.lower(), peer, settings[peer].federation_url)
        for party in self.parties:
            self.nodes[party] = NodeHandle(
                party, self.base / party.lower(), Settings.load(self.base / party.lower(), env={})
            )
            self._add_users(party)
        (self.base / "users.json").write_text(json.dumps(self.passwords, indent=2))

    def _add_users(self, party: str) -> None:
        handle = self.nodes[party]
        arrangement = load_arrangement(handle.settings.paths.arrangement)
        with Database(handle.settings.database_url) as db:
            accounts = Accounts(db, arrangement, party, lambda: datetime.now(UTC))
            for name, role in ROLES.items():
                username = f"{party.lower()}-{name}"
                password = secrets.token_urlsafe(12)
                accounts.add(
                    username, password, role, "SECRET", language=arrangement.party(party).language
                )
                self.passwords[username] = password

    # -- processes ---------------------------------------------------------------------------

    def start(self, *parties: str) -> None:
        """Start node processes (all by default) and wait until each is live (answers
        /healthz/live on its API port; readiness may take a few seconds more).

        Raises:
            ConfigInvalid: a node did not come up in time (its log is named).
        """
        chosen = parties or self.parties
        for party in chosen:
            handle = self.nodes[party]
            log = handle.log.open("ab")
            handle.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "tisa", "serve", "--dir", str(handle.root)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()
        for party in chosen:
            self._wait_ready(self.nodes[party])

    def _wait_ready(self, handle: NodeHandle) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with ApiClient(handle.settings.api_url, handle.cert_pem, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if handle.process is not None and handle.process.poll() is not None:
                    raise ConfigInvalid(
                        f"{handle.party} node exited with {handle.process.returncode}; "
                        f"see {handle.log}"
                    )
                try:
                    client._http.get("/healthz/live").raise_for_status()
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                return
        raise ConfigInvalid(f"{handle.party} node not ready in {READY_TIMEOUT}s; see {handle.log}")

    def stop(self, *parties: str, kill: bool = False) -> None:
        """Stop node processes (all by default); `kill` sends SIGKILL, as a crash would."""
        for party in parties or tuple(self.nodes):  # those created (a failed create made fewer)
            process = self.nodes[party].process
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self.nodes[party].process = None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------

    def client(self, party: str, role: str = "analyst") -> ApiClient:
        """A client signed in to `party`'s node as its user of `role`."""
        handle = self.nodes[party]
        username = f"{party.lower()}-{role}"
        client = ApiClient(handle.settings.api_url, handle.cert_pem)
        return client.sign_in(username, self.passwords[username])

    @contextmanager
    def session(self, party: str, role: str = "analyst") -> Iterator[ApiClient]:
        """`client`, closed afterwards."""
        client = self.client(party, role)
        try:
            yield client
        finally:
            client.close()

    def addresses(self) -> dict[str, dict[str, Any]]:
        """Each node's API and federation addresses and data directory."""
        return {
            p: {
                "api": h.settings.api_url,
                "federation": h.settings.federation_url,
                "dir": str(h.root),
                "pid": None if h.process is None else h.process.pid,
            }
            for p, h in self.nodes.items()
        }

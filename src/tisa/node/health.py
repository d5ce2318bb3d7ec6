"""What `/healthz` says: whether this node can do its job now, and if not, what is wrong.

Liveness (`/healthz/live`) is the process answering at all. Readiness (`/healthz/ready`, and
`/healthz`) asks, each time: is the database reachable and writable, is every background
task running, is the audit log sealed by a fresh checkpoint, is there free disk above the
reserve, has every peer over an open channel been heard from lately, and did the quick
integrity check at start-up find the database whole, and (when the node publishes to TAK) is
its TAK connection up. The answer names each check (and a
damaged table or index by name); nothing in it names a product (it is unauthenticated, for
orchestrators).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from tisa.domain.arrangement import Arrangement
from tisa.errors import ConfigInvalid
from tisa.node.supervisor import Supervisor, TaskState
from tisa.services.tak import TakStatus
from tisa.store import audit, checkpoints, health, network
from tisa.store.database import Database
from tisa.store.disk import MIB, free_bytes, is_disk_full

# An audit entry older than this that no checkpoint of ours covers means checkpoints stopped.
CHECKPOINT_STALE = timedelta(seconds=30)
# A peer over an open channel not heard from for this long is unreachable.
PEER_STALE = timedelta(seconds=120)
# A TAK endpoint not connected for this long fails readiness: its display lacks the missiles.
TAK_STALE = timedelta(seconds=30)


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Report:
    """Every check, and whether all passed."""

    party: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, object]:
        """JSON form: status, party, and each check with what it found."""
        return {
            "status": "ok" if self.ok else "failing",
            "party": self.party,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


class Health:
    """Runs the readiness checks of one node. Constructing it does no I/O."""

    def __init__(
        self,
        *,
        party: str,
        arrangement: Arrangement,
        db: Database,
        data_dir: Path,
        reserve_bytes: int,
        supervisor: Supervisor,
        clock: Callable[[], datetime],
        integrity: Callable[[], Sequence[str] | None],
        tak: Callable[[], TakStatus] | None = None,
    ) -> None:
        """`integrity` gives what the start-up integrity check found damaged (empty: nothing),
        or None before it has run (a node opened without serving); `tak` where the feed to
        the TAK endpoint stands, for a node that publishes to one."""
        self._party = party
        self._arrangement = arrangement
        self._db = db
        self._data_dir = data_dir
        self._reserve = reserve_bytes
        self._supervisor = supervisor
        self._clock = clock
        self._integrity = integrity
        self._tak = tak
        self._started = clock()

    def ready(self) -> Report:
        """Every check, run now."""
        now = self._clock()
        checks = [self._database(now)]
        checks.append(self._tasks())
        checks.append(self._disk())
        checks.append(self._integrity_check())
        if self._tak is not None:
            checks.append(_tak_check(self._tak(), now))
        try:
            checks.append(self._checkpoint(now))
            checks.append(self._peers(now))
        except SQLAlchemyError as exc:
            checks.append(Check("store reads", False, f"cannot read: {type(exc).__name__}"))
        return Report(self._party, tuple(checks))

    def _database(self, now: datetime) -> Check:
        try:
            with self._db.begin() as conn:
                health.probe(conn, now)
        except SQLAlchemyError as exc:
            reason = "disk full" if is_disk_full(exc) else type(exc).__name__
            return Check("database", False, f"not reachable or not writable: {reason}")
        return Check("database", True, f"{self._db.dialect}, writable")

    def _tasks(self) -> Check:
        tasks = self._supervisor.health()
        if not tasks:
            return Check("tasks", True, "no background tasks (not serving)")
        down = [t for t in tasks if t.state is not TaskState.RUNNING]
        if not down:
            return Check("tasks", True, f"{len(tasks)} running")
        words = [
            f"{t.name} {t.state.value} after {(t.last_error or '?').split(':')[0]}" for t in down
        ]
        return Check("tasks", False, "; ".join(words))

    def _disk(self) -> Check:
        try:
            free = free_bytes(self._data_dir)
        except ConfigInvalid as exc:
            return Check("disk", False, exc.reason)
        detail = f"{free // MIB:,} MiB free, reserve {self._reserve // MIB:,} MiB"
        if free < self._reserve:
            detail += "; attachments are refused until space is freed"
        return Check("disk", free >= self._reserve, detail)

    def _integrity_check(self) -> Check:
        found = self._integrity()
        if found is None:
            return Check("integrity", True, "not checked (the node is not serving)")
        if not found:
            return Check("integrity", True, "the quick check at start-up found nothing damaged")
        return Check("integrity", False, "; ".join(found) + "; run `tisa check`")

    def _checkpoint(self, now: datetime) -> Check:
        with self._db.read() as conn:
            size, _ = audit.head(conn)
            latest = checkpoints.latest_checkpoint(conn, self._party)
            sealed = 0 if latest is None else latest.size
            oldest = audit.entry_time(conn, sealed + 1) if size > sealed else None
        if oldest is None or now - oldest < CHECKPOINT_STALE:
            return Check("checkpoint", True, f"log of {size} entries, {sealed} sealed")
        return Check(
            "checkpoint",
            False,
            f"{size - sealed} entries unsealed since {oldest.isoformat(timespec='seconds')}",
        )

    def _peers(self, now: datetime) -> Check:
        with self._db.read() as conn:
            suspended = network.suspended(conn)
            states = network.peer_states(conn)
        silent = []
        for channel in self._arrangement.channels:
            if self._party not in channel.parties or channel.id in suspended:
                continue
            peer = channel.other(self._party)
            last = states.get(peer, {}).get("last_contact")
            heard = max(last, self._started) if last is not None else self._started
            if now - heard > PEER_STALE:
                silent.append(f"{peer} (last heard {_when(last)})")
        if silent:
            return Check("peers", False, "unreachable: " + ", ".join(silent))
        return Check("peers", True, "every open channel heard from")


def _tak_check(status: TakStatus, now: datetime) -> Check:
    """Connected; or not for less than TAK_STALE (starting, reconnecting); or failing."""
    if status.connected:
        return Check(
            "tak",
            True,
            f"connected to {status.url} since {_when(status.since)}; {status.sent} events sent",
        )
    trouble = f": {status.last_error}" if status.last_error else ""
    if now - status.since < TAK_STALE:
        return Check("tak", True, f"connecting to {status.url}{trouble}")
    return Check(
        "tak", False, f"not connected to {status.url} since {_when(status.since)}{trouble}"
    )


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.isoformat(timespec="seconds")

"""The supervisor: every background task of a running node, kept running and accounted for.

A task is a coroutine function that loops until cancelled. One bad item is that item's
failure inside the task (a retry or a dead letter with its reason); if the task itself ends
anyway, the supervisor logs it with its traceback, counts it, keeps what went wrong where
`/healthz` and `tisa status` show it, and starts it again after a backoff that grows while
it keeps failing and resets once it has run for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

_log = logging.getLogger("tisa.node.supervisor")

RESTART_FIRST = 0.5
RESTART_CAP = 30.0
# A task that ran this long before failing starts its backoff afresh.
STEADY = 60.0


class TaskState(StrEnum):
    """Where a supervised task stands."""

    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class TaskHealth:
    """What `/healthz` and `tisa status` say of one task."""

    name: str
    state: TaskState
    started_at: datetime
    restarts: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


Observer = Callable[[TaskHealth], None]


class Supervisor:
    """Starts tasks, restarts those that end, and reports on each. Constructing it starts
    nothing; `start` does (inside a running event loop), `stop` cancels them all."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        on_crash: Callable[[str], None] = lambda _name: None,
        observe: Observer = lambda _health: None,
    ) -> None:
        self._clock = clock
        self._on_crash = on_crash
        self._observe = observe
        self._health: dict[str, TaskHealth] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run `body` as the task `name`, for as long as the supervisor runs.

        Raises:
            ValueError: a task of that name is already supervised.
        """
        if name in self._tasks:
            raise ValueError(f"a task {name!r} is already supervised")
        self._health[name] = TaskHealth(name, TaskState.RUNNING, self._clock())
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._keep(name, body), name=f"tisa:{name}"
        )

    async def _keep(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        wait = RESTART_FIRST
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await body()
                problem = "the task returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
                _log.error(
                    "task %s failed; restarting in %.1f s\n%s",
                    name,
                    wait,
                    "".join(traceback.format_exception(exc)),
                )
            else:
                _log.error("task %s ended; restarting in %.1f s", name, wait)
            if loop.time() - began >= STEADY:
                wait = RESTART_FIRST
            self._set(
                name,
                state=TaskState.RESTARTING,
                restarts=self._health[name].restarts + 1,
                last_error=problem[:500],
                last_error_at=self._clock(),
            )
            self._on_crash(name)
            await asyncio.sleep(wait)
            wait = min(RESTART_CAP, wait * 2)
            self._set(name, state=TaskState.RUNNING, started_at=self._clock())

    def _set(self, name: str, **changes: object) -> None:
        health = replace(self._health[name], **changes)  # type: ignore[arg-type]
        self._health[name] = health
        try:
            self._observe(health)
        except Exception:  # reporting must never stop supervising
            _log.exception("could not record the state of task %s", name)

    def health(self) -> list[TaskHealth]:
        """Every supervised task as it stands now, by name."""
        return [self._health[name] for name in sorted(self._health)]

    async def stop(self) -> None:
        """Cancel every task and wait for them to end."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name in self._tasks:
            self._health[name] = replace(self._health[name], state=TaskState.STOPPED)
        self._tasks.clear()

"""How the demo checks a step: wait for what the node concerned shows, fail with what it did not,
and record each step's outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tisa.api.client import ApiClient
from tisa.errors import NotFound

T = TypeVar("T")
WAIT = 30.0


class StepFailed(Exception):
    """A demo step could not show what it claims."""


def wait_for(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll `check` until it returns a value.

    Raises:
        StepFailed: nothing within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except NotFound as exc:
            value, last = None, exc
        if value is not None:
            return value
        time.sleep(0.01)
    raise StepFailed(f"{what}: not seen within {timeout:.0f}s" + (f" ({last})" if last else ""))


def held(client: ApiClient, product_id: str, version: int = 1) -> dict[str, Any] | None:
    """The product as `client`'s node holds it, or None."""
    try:
        return client.get(f"/api/v1/products/{product_id}/versions/{version}")  # type: ignore[no-any-return]
    except NotFound:
        return None


@dataclass
class Report:
    """Steps, each with its outcome, detail and duration."""

    echo: Callable[[str], None] | None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def step(self, title: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            detail = action()
            ok = True
        except Exception as exc:
            detail, ok = f"FAILED: {type(exc).__name__}: {exc}", False
        ms = (time.perf_counter() - started) * 1000
        self.steps.append({"step": title, "ok": ok, "ms": round(ms, 1), "detail": detail})
        if self.echo:
            mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
            self.echo(f"{mark} {title}  [dim]({ms:.0f} ms)[/dim]")
            for line in detail.splitlines():
                self.echo(f"    {line}")

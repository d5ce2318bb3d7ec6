"""Waiting for something to become true: a bounded poll that names what it waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

import pytest

from tisa.errors import NotFound

T = TypeVar("T")

#: How long a test waits for something another process or thread does.
WAIT = 60.0
#: How often it looks.
POLL = 0.03


def wait_for(
    check: Callable[[], T | Literal[False] | None],
    what: str,
    timeout: float = WAIT,
    *,
    poll: float = POLL,
    missing: tuple[type[Exception], ...] = (NotFound,),
) -> T:
    """Poll `check` until it returns something other than None or False, and return that.

    An exception of a `missing` kind counts as "not yet" (the last one is named in the failure).

    Raises:
        pytest.fail.Exception: nothing came within `timeout` seconds; the message names `what`.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = check()
        except missing as exc:
            value, last = None, exc
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{what}: not seen within {timeout:.0f}s" + (f" (last: {last})" if last else "")
            )
        time.sleep(poll)

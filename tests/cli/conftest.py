"""CLI fixtures."""

from __future__ import annotations

import pytest

from tisa.cli.app import out


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's console 160 columns wide, so a table keeps each cell on one line.

    COLUMNS cannot do it: rich reads it when the console is made (at import), not per print.
    """
    monkeypatch.setattr(out, "_width", 160)

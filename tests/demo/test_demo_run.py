"""`tisa demo` end to end: three real node processes, every step checked against the node
concerned; none may fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tisa.demo.scenario import run_demo

pytestmark = pytest.mark.e2e


def test_every_step_of_the_demo_passes(tmp_path: Path) -> None:
    result = run_demo(workdir=tmp_path / "demo")

    failed = [(s["step"], s["detail"]) for s in result["steps"] if not s["ok"]]
    assert failed == []
    assert result["ok"] is True
    assert len(result["steps"]) == 14
    assert any("JPN warns" in s["step"] for s in result["steps"])

"""`tisa simulate`: the table a person reads and the JSON lines a machine reads, repeatable."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tisa.cli.main import app

runner = CliRunner()
SHORT = ["simulate", "--missile", "srbm", "--site", "wonsan", "--seed", "3", "--duration", "120"]


def test_simulate_prints_scores_and_writes_the_same_lines_for_the_same_seed(
    tmp_path: Path,
) -> None:
    first, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    shown = runner.invoke(app, [*SHORT, "--out", str(first)])
    assert shown.exit_code == 0, shown.output
    assert "EXERCISE" in shown.output
    for source in ("KOR", "JPN", "USA", "fused"):
        assert source in shown.output
    assert "apogee 80 km" in shown.output
    assert runner.invoke(app, [*SHORT, "--out", str(again)]).exit_code == 0
    assert first.read_bytes() == again.read_bytes()
    lines = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    kinds = {line["kind"] for line in lines}
    assert kinds == {"scenario", "truth", "truth-impact", "track", "fused"}
    assert lines[0]["exercise"] is True
    track = next(line for line in lines if line["kind"] == "track")
    assert track["stream"]["marking"] == "SECRET//REL TO USA, JPN, KOR"
    assert track["stream"]["exercise"] is True
    assert len(track["state"]["covariance"]) == 36
    fused = [line for line in lines if line["kind"] == "fused"]
    assert any(not f["single_nation"] and len(f["sources"]) > 1 for f in fused)
    assert all(f["single_nation"] == (len(f["nations"]) == 1) for f in fused)


def test_simulate_refuses_an_unknown_site_and_an_empty_salvo() -> None:
    unknown = runner.invoke(app, ["simulate", "--site", "atlantis"])
    assert unknown.exit_code != 0
    assert "atlantis" in unknown.output
    empty = runner.invoke(app, ["simulate", "--salvo", "0"])
    assert empty.exit_code != 0


def test_simulate_shows_when_each_nation_would_have_been_warned() -> None:
    shown = runner.invoke(app, [*SHORT, "--warn-for", "kor"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "KOR warning, M1:" in text
    # The fused track's IIP touched South Korea's approximate EEZ at 100 s; an exercise.
    assert "+100 s raised: EXERCISE MISSILE WARNING KOR: track F0001" in text
    assert "South Korea EEZ (approx. 200 nmi)" in text
    refused = runner.invoke(app, [*SHORT, "--warn-for", "GBR"])
    assert refused.exit_code != 0
    assert "GBR" in refused.output

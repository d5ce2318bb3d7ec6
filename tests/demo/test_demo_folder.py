"""What a demo leaves behind: its own temporary folder is removed when every step passed, and
kept and named when one failed (its node logs say why) or when the user chose the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tisa.demo import scenario


@pytest.mark.parametrize(
    ("temporary", "ok", "stays", "said"),
    [
        (True, True, False, "is removed"),
        (True, False, True, "kept for its node logs"),
        (False, True, True, "where --workdir put it"),
    ],
)
def test_the_demo_folder_is_removed_or_named(
    tmp_path: Path, temporary: bool, ok: bool, stays: bool, said: str
) -> None:
    base = tmp_path / "tisa-demo-x"
    (base / "kor" / "keys").mkdir(parents=True)
    (base / "users.json").write_text("{}")
    lines: list[str] = []

    kept = scenario._tidy(base, temporary=temporary, ok=ok, echo=lines.append)

    assert kept is stays
    assert base.exists() is stays
    (line,) = lines
    assert str(base) in line
    assert said in line


def test_a_failed_demo_stops_its_nodes_and_names_its_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(_: object) -> None:
        raise OSError("no room")

    monkeypatch.setattr(scenario.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "d"))
    monkeypatch.setattr(scenario.Cluster, "create", refuse)
    lines: list[str] = []

    result = scenario.run_demo(echo=lines.append)

    assert result["ok"] is False
    assert result["workdir"] == str(tmp_path / "d")
    assert any(f"its folder {tmp_path / 'd'}" in line for line in lines)

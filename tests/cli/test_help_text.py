"""`--help` of every command reads cleanly: a flag takes no value, so none shows a type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from tisa.cli.main import app

runner = CliRunner()


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


COMMANDS = list(_commands(typer.main.get_group(app)))


def test_every_command_is_covered() -> None:
    for expected in [("user", "unlock"), ("peer", "remove"), ("demo", "stop"), ("serve",)]:
        assert expected in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_type_beside_a_flag(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output
    assert "<boolean>" not in result.output

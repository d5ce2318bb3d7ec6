"""`tisa user list|passwd|unlock|disable|enable` on a real node directory, as its operator."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.clusters import copy_cluster
from typer.testing import CliRunner

from tisa.cli.main import app
from tisa.demo.network import Cluster
from tisa.errors import AuthenticationFailed, Conflict, InputInvalid, NotFound
from tisa.node.runtime import Runtime
from tisa.node.settings import Settings
from tisa.store import audit

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("wide_console")
USER = "kor-analyst"


@pytest.fixture
def kor(tmp_path: Path, cluster_template: Cluster) -> tuple[Path, str]:
    """KOR's node directory and its analyst's password."""
    cluster = copy_cluster(cluster_template, tmp_path / "net")
    return cluster.nodes["KOR"].root, cluster.passwords[USER]


def _sign_in(root: Path, password: str, username: str = USER) -> str:
    with Runtime(Settings.load(root, env={})) as rt:
        return rt.accounts.sign_in(username, password)


def _resolves(root: Path, token: str) -> bool:
    with Runtime(Settings.load(root, env={})) as rt:
        try:
            rt.accounts.resolve(token)
        except AuthenticationFailed:
            return False
        return True


def _actions(root: Path) -> list[str]:
    with Runtime(Settings.load(root, env={})) as rt, rt.ctx.db.read() as conn:
        return [e.action for e in audit.entries(conn) if e.action.startswith("user.")]


def _user(root: Path, *args: str, **env: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, ["user", *args, "--dir", str(root)], env=env or None)
    return result.exit_code, " ".join(result.output.split()), result.exception


def test_list_shows_each_user_with_their_national_clearance_and_state(
    kor: tuple[Path, str],
) -> None:
    root, _ = kor
    code, output, _ = _user(root, "list")
    assert code == 0, output
    for username in ("kor-admin", "kor-analyst", "kor-auditor", "kor-officer"):
        assert username in output
    assert "release-officer" in output
    assert "군사Ⅱ급비밀" in output  # SECRET, in KOR's own scheme
    assert "active" in output


def test_passwd_from_the_environment_ends_the_users_sessions(kor: tuple[Path, str]) -> None:
    root, password = kor
    token = _sign_in(root, password)
    code, output, _ = _user(root, "passwd", USER, TISA_NEW_PASSWORD="a new long password")
    assert code == 0, output
    assert f"{USER}: password changed; 1 session ended" in output
    assert not _resolves(root, token)
    with pytest.raises(AuthenticationFailed):
        _sign_in(root, password)
    _sign_in(root, "a new long password")
    assert _actions(root) == ["user.password"]


def test_passwd_asks_twice_without_echo(kor: tuple[Path, str]) -> None:
    root, _ = kor
    typed = runner.invoke(
        app, ["user", "passwd", "--dir", str(root), USER], input="typed password\n" * 2
    )
    assert typed.exit_code == 0, typed.output
    assert "typed password" not in typed.output
    _sign_in(root, "typed password")
    mismatched = runner.invoke(
        app,
        ["user", "passwd", "--dir", str(root), USER],
        input="one password\nanother one\none password\none password\n",
    )
    assert mismatched.exit_code == 0, mismatched.output
    assert "do not match" in mismatched.output  # asked again; the second pair agrees
    _sign_in(root, "one password")


@pytest.mark.parametrize(
    ("username", "password", "refused", "said"),
    [
        (USER, "short", InputInvalid, "at least 8 characters"),
        ("kor-nobody", "long enough password", NotFound, "no user 'kor-nobody' at KOR"),
    ],
)
def test_passwd_refuses_a_weak_password_or_unknown_user_and_changes_nothing(
    kor: tuple[Path, str], username: str, password: str, refused: type[Exception], said: str
) -> None:
    root, old = kor
    token = _sign_in(root, old)
    code, _, exception = _user(root, "passwd", username, TISA_NEW_PASSWORD=password)
    assert code != 0
    assert isinstance(exception, refused)
    assert said in str(exception)
    assert _resolves(root, token)
    _sign_in(root, old)
    assert _actions(root) == []


def test_unlock_lets_a_locked_out_user_in_before_the_quarter_hour(kor: tuple[Path, str]) -> None:
    root, password = kor
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            _sign_in(root, "a wrong guess")
    with pytest.raises(AuthenticationFailed, match="locked"):
        _sign_in(root, password)
    assert "locked until" in _user(root, "list")[1]

    code, output, _ = _user(root, "unlock", USER)

    assert code == 0, output
    assert f"{USER}: unlocked (was locked until" in output
    assert "5 failed sign-ins forgotten" in output
    _sign_in(root, password)
    code, _, exception = _user(root, "unlock", USER)
    assert isinstance(exception, Conflict)
    assert "not locked" in str(exception)
    assert _actions(root) == ["user.unlock"]


def test_disable_refuses_sign_in_and_tokens_until_enabled(kor: tuple[Path, str]) -> None:
    root, password = kor
    token = _sign_in(root, password)

    code, output, _ = _user(root, "disable", USER)

    assert code == 0, output
    assert f"{USER}: disabled; 1 session ended" in output
    assert not _resolves(root, token)
    with pytest.raises(AuthenticationFailed, match="disabled"):
        _sign_in(root, password)
    listed = _user(root, "list")[1]
    assert "disabled since" in listed
    code, _, exception = _user(root, "disable", USER)
    assert isinstance(exception, Conflict)

    code, output, _ = _user(root, "enable", USER)
    assert code == 0, output
    assert f"{USER}: enabled" in output
    _sign_in(root, password)
    assert _actions(root) == ["user.disable", "user.enable"]

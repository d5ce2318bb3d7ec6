"""`tisa user add|list|passwd|unlock|disable|enable`: the node's operator manages its users on
the node's own machine, with its data directory, through the accounts service the API uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tisa.cli.app import NodeDir, now, out, user_app
from tisa.node.settings import Settings, load_arrangement
from tisa.services.accounts import Account, Accounts, Role, User, operator

if TYPE_CHECKING:
    from tisa.domain.arrangement import Arrangement

Username = Annotated[str, typer.Argument(help="The user's name at this node.")]


@contextmanager
def _accounts(root: Path) -> Iterator[tuple[Accounts, User, Arrangement]]:
    """The node's accounts, its operator (an administrator at the console) and arrangement."""
    from tisa.store.database import Database

    settings = Settings.load(root)
    arrangement = load_arrangement(settings.paths.arrangement)
    with Database(settings.database_url) as db:
        accounts = Accounts(db, arrangement, settings.party, now)
        yield accounts, operator(settings.party), arrangement


@user_app.command("add")
def user_add(
    root: NodeDir,
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Option(help="analyst, release-officer, admin or auditor.")],
    clearance: Annotated[str, typer.Option(help="National term or common level.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="TISA_NEW_PASSWORD")
    ],
    need_to_know: Annotated[
        list[str] | None, typer.Option(help="Topic patterns, e.g. dprk.missile.*")
    ] = None,
    language: Annotated[str, typer.Option(help="en, ko or ja.")] = "en",
) -> None:
    """Create a user of this node."""
    with _accounts(root) as (accounts, _, _):
        user = accounts.add(username, password, role, clearance, need_to_know, language)
    out.print(f"user {user.username}: {user.role.value}, cleared {user.clearance.label}")


@user_app.command("list")
def user_list(root: NodeDir) -> None:
    """List this node's users: role, clearance, need-to-know, language and whether each may
    sign in (locked after failed sign-ins, or disabled)."""
    with _accounts(root) as (accounts, by, arrangement):
        listed = accounts.every(by)
        party = by.party
    if not listed:
        out.print(f"no users at {party} yet: tisa user add")
        return
    table = Table(title=f"users of {party} (times in UTC)")
    for column in ("user", "role", "clearance"):
        table.add_column(column, no_wrap=True)
    for column in ("need-to-know", "lang", "state", "created"):
        table.add_column(column)
    moment = now()
    for account in listed:
        table.add_row(
            escape(account.username),
            account.role.value,
            arrangement.term(party, account.clearance),
            escape(", ".join(sorted(account.need_to_know))),
            account.language,
            _state(account, moment),
            f"{account.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _state(account: Account, moment: datetime) -> str:
    if account.disabled_at is not None:
        return f"[red]disabled[/red] since {account.disabled_at:%Y-%m-%d %H:%M}"
    if account.locked(moment) and account.locked_until is not None:
        return f"[yellow]locked[/yellow] until {account.locked_until:%H:%M}"
    if account.failed_logins:
        return f"active ({account.failed_logins} failed sign-ins)"
    return "active"


@user_app.command("passwd")
def user_passwd(root: NodeDir, username: Username) -> None:
    """Give a user a new password (asked twice, hidden; or TISA_NEW_PASSWORD) and end every
    session they have."""
    with _accounts(root) as (accounts, by, _):
        # Asked only once the user is known to exist: nobody types a password for nothing.
        accounts.account(by, username)
        password = os.environ.get("TISA_NEW_PASSWORD") or typer.prompt(
            f"New password for {username}", hide_input=True, confirmation_prompt=True
        )
        ended = accounts.change_password(by, username, password)
    out.print(f"{username}: password changed; {_sessions(ended)} ended")


def _sessions(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'}"


@user_app.command("unlock")
def user_unlock(root: NodeDir, username: Username) -> None:
    """Lift a user's lock-out after failed sign-ins (it would end by itself after 15 minutes)
    and forget the failures."""
    with _accounts(root) as (accounts, by, _):
        was = accounts.unlock(by, username)
    if was.locked(now()) and was.locked_until is not None:
        before = f"was locked until {_when(was.locked_until)}"
    else:
        before = "was not locked"
    out.print(f"{username}: unlocked ({before}; {was.failed_logins} failed sign-ins forgotten)")


@user_app.command("disable")
def user_disable(root: NodeDir, username: Username) -> None:
    """Disable a user: no sign-in, and every session they have ends (`tisa user enable` to
    undo)."""
    with _accounts(root) as (accounts, by, _):
        ended = accounts.disable(by, username)
    out.print(f"{username}: disabled; {_sessions(ended)} ended")


@user_app.command("enable")
def user_enable(root: NodeDir, username: Username) -> None:
    """Let a disabled user sign in again, with the password they had."""
    with _accounts(root) as (accounts, by, _):
        accounts.enable(by, username)
    out.print(f"{username}: enabled; they may sign in again")

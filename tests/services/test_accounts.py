"""Accounts: who may sign in, with what clearance, and for how long."""

from __future__ import annotations

import pytest
from harness.trio import Trio

from tisa.domain.markings import Classification
from tisa.errors import AccessDenied, AuthenticationFailed, Conflict, InputInvalid, NotFound
from tisa.services.accounts import Role, operator
from tisa.store import audit


def test_a_user_signs_in_is_resolved_by_token_and_signs_out(trio: Trio) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET", ["dprk.*"])

    token = accounts.sign_in("kor-duty", "correct horse battery")
    user = accounts.resolve(token)
    assert (user.username, user.party, user.role) == ("kor-duty", "KOR", Role.ANALYST)
    assert user.clearance == Classification.SECRET
    assert user.need_to_know == frozenset({"dprk.*"})

    accounts.sign_out(token)
    with pytest.raises(AuthenticationFailed):
        accounts.resolve(token)


@pytest.mark.parametrize(
    ("username", "password"),
    [("kor-duty", "wrong password here"), ("nobody-here", "correct horse battery")],
)
def test_a_wrong_password_or_unknown_user_is_refused_alike(
    trio: Trio, username: str, password: str
) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET")
    with pytest.raises(AuthenticationFailed) as refused:
        accounts.sign_in(username, password)
    assert "correct horse battery" not in str(refused.value)


def test_an_unknown_clearance_term_is_refused(trio: Trio) -> None:
    with pytest.raises(InputInvalid):
        trio.rt["KOR"].accounts.add("kor-new", "correct horse battery", Role.ANALYST, "COSMIC")


def test_a_language_outside_the_ui_is_refused(trio: Trio) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET")
    with pytest.raises(InputInvalid, match="xx"):
        accounts.set_language("kor-duty", "xx")
    accounts.set_language("kor-duty", "ja")
    assert accounts.resolve(accounts.sign_in("kor-duty", "correct horse battery")).language == "ja"


def test_a_password_sent_with_each_request_counts_toward_the_lock_like_a_sign_in(
    trio: Trio,
) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-feed", "correct horse battery", Role.ANALYST, "SECRET", ["dprk.*"])
    user = accounts.authenticate("kor-feed", "correct horse battery")
    assert (user.username, user.role, user.need_to_know) == (
        "kor-feed",
        Role.ANALYST,
        frozenset({"dprk.*"}),
    )
    for _ in range(5):
        with pytest.raises(AuthenticationFailed, match="unknown user or wrong password"):
            accounts.authenticate("kor-feed", "a wrong guess")
    # Locked now, even for the right password, whichever way it is presented.
    with pytest.raises(AuthenticationFailed, match="locked"):
        accounts.authenticate("kor-feed", "correct horse battery")
    with pytest.raises(AuthenticationFailed, match="locked"):
        accounts.sign_in("kor-feed", "correct horse battery")


# -- the node's administrator: list, new password, unlock, disable ------------------------------


def _audited(trio: Trio, action: audit.Action) -> list[tuple[str, dict[str, object]]]:
    with trio.rt["KOR"].ctx.db.read() as conn:
        return [(e.actor, e.detail) for e in audit.entries(conn, action=action)]


def test_an_administrator_lists_users_with_their_state(trio: Trio) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-zed", "correct horse battery", Role.AUDITOR, "SECRET", language="ko")
    listed = {a.username: a for a in accounts.every(operator("KOR"))}
    zed = listed["kor-zed"]
    assert (zed.role, zed.clearance, zed.language) == (Role.AUDITOR, Classification.SECRET, "ko")
    assert (zed.failed_logins, zed.locked_until, zed.disabled_at) == (0, None, None)
    assert list(listed) == sorted(listed)
    with pytest.raises(AccessDenied):
        accounts.every(trio.user("KOR", Role.ANALYST))


def test_a_new_password_replaces_the_old_and_ends_every_session(trio: Trio) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET")
    tokens = [accounts.sign_in("kor-duty", "correct horse battery") for _ in range(2)]

    assert accounts.change_password(operator("KOR"), "kor-duty", "staple battery horse") == 2

    for token in tokens:
        with pytest.raises(AuthenticationFailed):
            accounts.resolve(token)
    with pytest.raises(AuthenticationFailed):
        accounts.sign_in("kor-duty", "correct horse battery")
    accounts.resolve(accounts.sign_in("kor-duty", "staple battery horse"))
    assert _audited(trio, audit.Action.USER_PASSWORD) == [
        ("operator", {"user": "kor-duty", "sessions_ended": 2})
    ]


@pytest.mark.parametrize(
    ("username", "password", "refused"),
    [("kor-duty", "short", InputInvalid), ("nobody-here", "long enough password", NotFound)],
)
def test_a_bad_new_password_or_unknown_user_changes_nothing(
    trio: Trio, username: str, password: str, refused: type[Exception]
) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET")
    token = accounts.sign_in("kor-duty", "correct horse battery")
    with pytest.raises(refused):
        accounts.change_password(operator("KOR"), username, password)
    accounts.resolve(token)
    assert _audited(trio, audit.Action.USER_PASSWORD) == []


def test_unlock_lifts_the_lock_at_once_and_forgets_the_failures(trio: Trio) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET")
    with pytest.raises(Conflict, match="not locked"):
        accounts.unlock(operator("KOR"), "kor-duty")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            accounts.sign_in("kor-duty", "a wrong guess")
    with pytest.raises(AuthenticationFailed, match="locked"):
        accounts.sign_in("kor-duty", "correct horse battery")

    was = accounts.unlock(operator("KOR"), "kor-duty")

    assert was.failed_logins == 5
    assert was.locked_until is not None
    after = {a.username: a for a in accounts.every(operator("KOR"))}["kor-duty"]
    assert (after.failed_logins, after.locked_until) == (0, None)
    accounts.resolve(accounts.sign_in("kor-duty", "correct horse battery"))
    ((actor, detail),) = _audited(trio, audit.Action.USER_UNLOCK)
    assert (actor, detail["user"], detail["failed_logins"]) == ("operator", "kor-duty", 5)
    with pytest.raises(NotFound):
        accounts.unlock(operator("KOR"), "nobody-here")


def test_a_disabled_user_cannot_sign_in_nor_use_a_token_until_enabled(trio: Trio) -> None:
    accounts = trio.rt["KOR"].accounts
    accounts.add("kor-duty", "correct horse battery", Role.ANALYST, "SECRET")
    token = accounts.sign_in("kor-duty", "correct horse battery")

    assert accounts.disable(operator("KOR"), "kor-duty") == 1

    with pytest.raises(AuthenticationFailed):
        accounts.resolve(token)
    for present in (accounts.sign_in, accounts.authenticate):
        with pytest.raises(AuthenticationFailed, match="disabled"):
            present("kor-duty", "correct horse battery")
    listed = {a.username: a for a in accounts.every(operator("KOR"))}
    assert listed["kor-duty"].disabled_at is not None
    with pytest.raises(Conflict, match="disabled already"):
        accounts.disable(operator("KOR"), "kor-duty")
    refusals = _audited(trio, audit.Action.SIGN_IN_FAILED)
    assert refusals[-1] == ("kor-duty", {"reason": "disabled"})  # kept, though refused

    accounts.enable(operator("KOR"), "kor-duty")
    accounts.resolve(accounts.sign_in("kor-duty", "correct horse battery"))
    with pytest.raises(Conflict, match="not disabled"):
        accounts.enable(operator("KOR"), "kor-duty")
    assert [a for a, _ in _audited(trio, audit.Action.USER_DISABLE)] == ["operator"]
    assert [a for a, _ in _audited(trio, audit.Action.USER_ENABLE)] == ["operator"]

"""Accounts: who may sign in, with what clearance, and for how long."""

from __future__ import annotations

import pytest
from harness.trio import Trio

from tisa.domain.markings import Classification
from tisa.errors import AuthenticationFailed, InputInvalid
from tisa.services.accounts import Role


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

"""Sign-in, sessions, CSRF and lock-out, through the UI's own forms."""

from __future__ import annotations

from harness.web import Web

from tisa.services.accounts import Role


def test_unauthenticated_page_sends_to_sign_in_and_back(web: Web) -> None:
    client = web.client("KOR")
    answer = client.get("/ui/releases?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in?next=/ui/releases%3Fx%3D1"
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/ui/releases?x=1"' in page.text


def test_session_cookie_is_secure_httponly_strict(web: Web) -> None:
    client = web.client("KOR")
    answer = client.post(
        "/ui/sign-in",
        data={"username": "kor-analyst", "password": web.password("kor-analyst")},
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "tisa_session=" in cookie
    for flag in ("secure", "httponly", "samesite=strict", "path=/"):
        assert flag in cookie


def test_next_never_leaves_the_ui(web: Web) -> None:
    for target in ("https://example.org/", "//example.org/ui/", "/api/v1/me", "/ui\\..\\x"):
        client = web.client("KOR")
        answer = client.post(
            "/ui/sign-in",
            data={
                "username": "kor-analyst",
                "password": web.password("kor-analyst"),
                "next": target,
            },
        )
        assert answer.headers["location"] == "/ui/inbox", target


def test_wrong_password_is_refused_with_a_page(web: Web) -> None:
    client = web.client("JPN")
    answer = client.post("/ui/sign-in", data={"username": "jpn-analyst", "password": "nope"})
    assert answer.status_code == 401
    assert "unknown user or wrong password" in answer.text
    assert "set-cookie" not in answer.headers


def test_lock_out_after_five_failures(web: Web) -> None:
    accounts = web.rt["USA"].accounts
    accounts.add("usa-locktest", "correct horse battery", Role.ANALYST, "SECRET")
    client = web.client("USA")
    for _ in range(5):
        wrong = client.post("/ui/sign-in", data={"username": "usa-locktest", "password": "x" * 9})
        assert wrong.status_code == 401
    locked = client.post(
        "/ui/sign-in", data={"username": "usa-locktest", "password": "correct horse battery"}
    )
    assert locked.status_code == 401
    assert "locked" in locked.text


def test_form_without_csrf_token_changes_nothing(web: Web) -> None:
    client = web.signed_in("kor-auditor")
    before = web.rt["KOR"].accounts.resolve(client.cookies["tisa_session"]).language
    other = "ja" if before != "ja" else "en"
    refused = client.post("/ui/language", data={"language": other, "back": "/ui/inbox"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    forged = client.post(
        "/ui/language", data={"language": other, "csrf": "0" * 64, "back": "/ui/inbox"}
    )
    assert forged.status_code == 403
    assert web.rt["KOR"].accounts.resolve(client.cookies["tisa_session"]).language == before
    token = web.csrf(client)
    done = client.post("/ui/language", data={"language": other, "csrf": token, "back": "/ui/x"})
    assert done.status_code == 303
    assert web.rt["KOR"].accounts.resolve(client.cookies["tisa_session"]).language == other


def test_cookie_authenticated_api_changes_need_the_csrf_header(web: Web) -> None:
    client = web.signed_in("kor-analyst")
    refused = client.put("/api/v1/me/language", json={"language": "ko"})
    assert refused.status_code == 403
    assert client.get("/api/v1/me").status_code == 200  # reading needs no token
    token = web.csrf(client)
    done = client.put(
        "/api/v1/me/language", json={"language": "ko"}, headers={"X-CSRF-Token": token}
    )
    assert done.status_code == 200


def test_sign_out_ends_the_session(web: Web) -> None:
    client = web.signed_in("jpn-auditor")
    session = client.cookies["tisa_session"]
    token = web.csrf(client)
    answer = client.post("/ui/sign-out", data={"csrf": token})
    assert answer.status_code == 303
    client.cookies.set("tisa_session", session)
    assert client.get("/ui/inbox").status_code == 303  # the old cookie no longer works

"""GET /api/v1/products: pages with a cursor, filters and search; every bad parameter is a
4xx naming it, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from harness.factories import draft
from harness.nodes import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PARAMS = ["q", "topic", "originator", "classification", "precedence", "since", "until"]
PARAMS += ["unread", "cursor", "limit", "state"]


@pytest.fixture(scope="module")
def kor(own_harness: Harness) -> Any:
    client = own_harness.api("KOR")
    auth = own_harness.auth("kor-analyst")
    for i, (title, topic) in enumerate(
        [
            ("북한 탄도미사일 발사", "dprk.missile.launch"),
            ("Punggye-ri tunnel activity", "dprk.nuclear.test"),
            ("弾道ミサイル発射", "dprk.missile.launch"),
        ]
    ):
        made = client.post(
            "/api/v1/products",
            json=draft("KOR", observations=[], title=title, topics=[topic], text=f"report {i}"),
            headers=auth,
        )
        assert made.status_code == 201, made.text
    return client, auth


def test_pages_follow_the_cursor_to_the_end(kor: Any) -> None:
    client, auth = kor
    first = client.get("/api/v1/products", params={"limit": 2}, headers=auth).json()
    assert len(first["products"]) == 2
    assert first["next_cursor"]
    rest = client.get(
        "/api/v1/products", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth
    ).json()
    assert rest["next_cursor"] is None
    titles = [p["title"] for p in first["products"] + rest["products"]]
    assert titles == ["弾道ミサイル発射", "Punggye-ri tunnel activity", "북한 탄도미사일 발사"]


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"q": "미사일"}, ["북한 탄도미사일 발사"]),
        ({"q": "ミサイル"}, ["弾道ミサイル発射"]),
        ({"q": "PUNGGYE"}, ["Punggye-ri tunnel activity"]),
        ({"topic": "dprk.nuclear"}, ["Punggye-ri tunnel activity"]),
        ({"topic": "dprk.missile.*", "q": "발사"}, ["북한 탄도미사일 발사"]),
        ({"originator": "JPN"}, []),
        (
            {"classification": "SECRET", "precedence": "FLASH"},
            ["弾道ミサイル発射", "Punggye-ri tunnel activity", "북한 탄도미사일 발사"],
        ),
        ({"unread": "true"}, []),  # the author opened each as it was made
        ({"since": "2000-01-01", "until": "2000-01-02"}, []),
    ],
)
def test_filters_and_search(kor: Any, params: dict[str, str], titles: list[str]) -> None:
    client, auth = kor
    answer = client.get("/api/v1/products", params=params, headers=auth)
    assert answer.status_code == 200, answer.text
    found = [p["title"] for p in answer.json()["products"]]
    assert found == titles


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"cursor": "garbage"}, 400, "cursor"),
        ({"q": "!!!"}, 422, "q"),
        ({"q": "x" * 201}, 422, "q"),
        ({"topic": "DPRK"}, 422, "topic"),
        ({"originator": "GBR"}, 422, "originator"),
        ({"classification": "secret"}, 422, "classification"),
        ({"precedence": "URGENT"}, 422, "precedence"),
        ({"since": "yesterday"}, 422, "since"),
        ({"until": "9999-12-31"}, 422, "until"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, 422, "since"),
        ({"unread": "maybe"}, 422, "unread"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(
    kor: Any, params: dict[str, str], status: int, word: str
) -> None:
    client, auth = kor
    answer = client.get("/api/v1/products", params=params, headers=auth)
    assert answer.status_code == status, answer.text
    assert word in answer.json()["detail"].lower()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(PARAMS),
        st.text(max_size=40),
        max_size=4,
    )
)
def test_fuzz_no_parameter_answers_5xx(kor: Any, params: dict[str, str]) -> None:
    client, auth = kor
    answer = client.get("/api/v1/products", params=params, headers=auth)
    assert answer.status_code in (200, 400, 422), answer.text

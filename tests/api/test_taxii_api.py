"""The TAXII 2.1 server on the in-process harness: its resources and media type, paging with
`next` and `added_after`, the version filters, the one gate on every object (clearance,
need-to-know, a later version above the reader), 404 for what a reader may not see, 400 for
what does not parse, and bundles posted to the inbox becoming drafts."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from harness.nodes import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from tisa.api.analyst import analyst_app
from tisa.services.accounts import Role
from tisa.services.taxii import PARAMS

TAXII = "application/taxii+json;version=2.1"
ROOT = "/taxii2/tisa"


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": TAXII}


def launch(title: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "text": "Two ballistic missiles from Sunan.",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "topics": ["dprk.missile.launch"],
        "observations": [
            {
                "kind": "missile-launch",
                "time": {"original": "2031-03-01T07:12+09:00", "qualifier": "about"},
                "missile_class": "SRBM",
                "launch_position": {"lat": 39.2, "lon": 125.67, "sigma_km": 5},
                "apogee_km": {"value": 50, "qualifier": "about"},
            }
        ],
    }
    return body | extra


class Node:
    """USA's analyst app with its users: TAXII headers by bearer token or HTTP Basic."""

    def __init__(self, harness: Harness, client: Any) -> None:
        self.harness = harness
        self.client = client
        self.rt = harness.rt["USA"]
        self.passwords: dict[str, str] = {}

    def user(self, role: Role, clearance: str, need_to_know: list[str] | None = None) -> str:
        name = f"usa-{role.value}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        self.rt.accounts.add(name, password, role, clearance, need_to_know or ["dprk.*"])
        self.passwords[name] = password
        return name

    def headers(self, username: str) -> dict[str, str]:
        if username in self.passwords:
            return basic(username, self.passwords[username])
        return {**self.harness.auth(username), "Accept": TAXII}

    def release(
        self, body: dict[str, Any], *, writer: str = "usa-analyst", officer: str = "usa-officer"
    ) -> str:
        made = self.client.post("/api/v1/products", json=body, headers=self.api(writer))
        assert made.status_code == 201, made.text
        pid = str(made.json()["id"])
        self.release_version(pid, 1, officer)
        return pid

    def release_version(self, pid: str, version: int, officer: str = "usa-officer") -> None:
        done = self.client.post(
            f"/api/v1/products/{pid}/versions/{version}/release", headers=self.api(officer)
        )
        assert done.status_code == 200, done.text

    def api(self, username: str) -> dict[str, str]:
        if username in self.passwords:
            token = self.rt.accounts.sign_in(username, self.passwords[username])
            return {"Authorization": f"Bearer {token}"}
        return self.harness.auth(username)

    def get(self, path: str, username: str = "usa-analyst", **params: Any) -> Any:
        return self.client.get(ROOT + path, headers=self.headers(username), params=params)

    def collection(self, key: str) -> str:
        return next(c.id for c in self.rt.taxii.collections if c.key == key)

    def objects(
        self, username: str = "usa-analyst", key: str = "all", **params: Any
    ) -> list[dict[str, Any]]:
        """Every object a user pages through in a collection."""
        out: list[dict[str, Any]] = []
        params = {"limit": 7, **params}
        while True:
            page = self.get(f"/collections/{self.collection(key)}/objects/", username, **params)
            assert page.status_code == 200, page.text
            assert page.headers["content-type"] == TAXII
            body = page.json()
            out.extend(body["objects"])
            if not body["more"]:
                return out
            params = {**params, "next": body["next"]}


@pytest.fixture(scope="module")
def node(own_harness: Harness) -> Iterator[Node]:
    with own_harness.client(analyst_app(own_harness.rt["USA"])) as client:
        yield Node(own_harness, client)


def reports(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in objects if o["type"] == "report"}


def test_discovery_root_and_collections_answer_in_the_taxii_media_type(node: Node) -> None:
    found = node.client.get("/taxii2/", headers=node.headers("usa-analyst"))
    assert found.status_code == 200, found.text
    assert found.headers["content-type"] == TAXII
    assert found.json()["api_roots"] == [found.json()["default"]]
    assert found.json()["default"].endswith("/taxii2/tisa/")
    root = node.get("/")
    assert root.json()["versions"] == [TAXII]
    collections = node.get("/collections/").json()["collections"]
    titles = {c["title"]: c for c in collections}
    assert {"Everything", "FLASH", "dprk.missile.*", "dprk.nuclear.*", "Drafts inbox"} <= set(
        titles
    )
    assert titles["Drafts inbox"]["can_write"]
    assert not titles["Drafts inbox"]["can_read"]
    assert not node.get("/collections/", "usa-auditor").json()["collections"][-1]["can_write"]
    one = node.get(f"/collections/{titles['FLASH']['id']}/")
    assert one.json() == titles["FLASH"]


def test_a_client_without_credentials_or_the_taxii_media_type_is_refused(node: Node) -> None:
    bare = node.client.get(ROOT + "/", headers={"Accept": TAXII})
    assert bare.status_code == 401
    assert bare.json()["http_status"] == "401"
    assert bare.headers["www-authenticate"].startswith("Basic")
    wrong = node.client.get(ROOT + "/", headers=basic("usa-analyst", "not-the-password"))
    assert wrong.status_code == 401
    json_only = node.client.get(
        ROOT + "/", headers={**node.harness.auth("usa-analyst"), "Accept": "application/json"}
    )
    assert json_only.status_code == 406
    assert set(json_only.json()) == {"title", "description", "http_status"}
    missing = node.get("/collections/00000000-0000-4000-8000-000000000000/")
    assert missing.status_code == 404


def test_every_released_product_pages_out_as_valid_stix_once(node: Node) -> None:
    titles = [f"launch {i} {secrets.token_hex(2)}" for i in range(4)]
    for title in titles:
        node.release(launch(title))
    objects = node.objects()
    ids_versions = [(o["id"], o.get("modified") or o["created"]) for o in objects]
    assert len(ids_versions) == len(set(ids_versions)), "an object version was served twice"
    assert set(titles) <= set(reports(objects))
    options = ValidationOptions(strict=True, version="2.1")
    for obj in objects:
        result = validate_instance(obj, options)
        assert result.is_valid, (obj, result.errors)
        assert not result.warnings, (obj, result.warnings)
    referenced = {ref for o in objects for ref in o.get("object_refs", [])}
    referenced |= {ref for o in objects for ref in o.get("object_marking_refs", [])}
    assert referenced <= {o["id"] for o in objects}


def test_added_after_sees_only_what_came_later(node: Node) -> None:
    before = node.get(f"/collections/{node.collection('all')}/objects/", limit=1000)
    last = before.headers["X-TAXII-Date-Added-Last"]
    title = f"later {secrets.token_hex(3)}"
    node.release(launch(title, precedence="FLASH"))
    later = node.objects(added_after=last)
    assert set(reports(later)) == {title}
    assert set(reports(node.objects(key="flash", added_after=last))) == {title}
    assert not reports(node.objects(key="family:dprk.nuclear", added_after=last))


def test_a_next_token_holds_only_for_its_own_query_and_caller(node: Node) -> None:
    node.release(launch(f"paged {secrets.token_hex(2)}"))
    path = f"/collections/{node.collection('all')}/objects/"
    first = node.get(path, limit=1).json()
    assert first["more"]
    token = first["next"]
    assert node.get(path, limit=3, next=token).status_code == 200  # another page size is fine
    other_user = node.get(path, "usa-officer", limit=1, next=token)
    assert other_user.status_code == 400
    other_query = node.get(path, limit=1, next=token, **{"match[type]": "report"})
    assert other_query.status_code == 400
    forged = node.get(path, limit=1, next=token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert forged.status_code == 400
    assert forged.json()["http_status"] == "400"


def test_a_reader_never_sees_what_the_gate_refuses_them(node: Node) -> None:
    low = node.user(Role.ANALYST, "CONFIDENTIAL")
    secret_title = f"secret {secrets.token_hex(3)}"
    node.release(launch(secret_title))
    assert secret_title in reports(node.objects("usa-analyst"))
    seen = node.objects(low)
    assert secret_title not in reports(seen)
    # Not even its markings or locations: nothing of the product reaches the reader.
    hidden_ids = {o["id"] for o in node.objects("usa-analyst")} - {o["id"] for o in seen}
    assert hidden_ids
    collection = node.collection("all")
    for object_id in hidden_ids:
        for path in (
            f"/collections/{collection}/objects/{object_id}/",
            f"/collections/{collection}/objects/{object_id}/versions/",
        ):
            hidden = node.get(path, low)
            assert hidden.status_code == 404, (path, hidden.text)
            assert node.get(path, "usa-analyst").status_code == 200
    by_id = node.get(
        f"/collections/{collection}/objects/", low, **{"match[id]": ",".join(sorted(hidden_ids))}
    )
    assert by_id.json()["objects"] == []
    narrow = node.user(Role.ANALYST, "SECRET", ["dprk.nuclear.*"])
    assert not reports(node.objects(narrow))


def test_versions_first_last_and_all_are_of_what_the_reader_may_see(node: Node) -> None:
    low = node.user(Role.ANALYST, "CONFIDENTIAL")
    title = f"amended {secrets.token_hex(3)}"
    pid = node.release(launch(title, classification="CONFIDENTIAL"))
    amended = node.client.post(
        f"/api/v1/products/{pid}/amend",
        json=launch(title, text="Raised to SECRET."),
        headers=node.api("usa-analyst"),
    )
    assert amended.status_code == 201, amended.text
    node.release_version(pid, 2)
    collection = node.collection("all")

    def report_versions(user: str, match: str) -> list[str]:
        objects = node.objects(user, **{"match[version]": match, "match[type]": "report"})
        return [o["modified"] for o in objects if o["name"] == title]

    assert len(report_versions("usa-analyst", "all")) == 2
    v1, v2 = report_versions("usa-analyst", "all")
    assert report_versions("usa-analyst", "last") == [v2]
    assert report_versions("usa-analyst", "first") == [v1]
    assert report_versions("usa-analyst", "first,last") == [v1, v2]
    assert report_versions("usa-analyst", v1) == [v1]
    # The CONFIDENTIAL reader's last version is the one they may see.
    assert report_versions(low, "last") == [v1]
    assert report_versions(low, "all") == [v1]
    report_id = next(o["id"] for o in node.objects() if o.get("name") == title)
    path = f"/collections/{collection}/objects/{report_id}/versions/"
    assert node.get(path).json()["versions"] == [v1, v2]
    assert node.get(path, low).json()["versions"] == [v1]


def test_a_recall_shows_as_the_revoked_last_version(node: Node) -> None:
    title = f"recalled {secrets.token_hex(3)}"
    pid = node.release(launch(title))
    recalled = node.client.post(
        f"/api/v1/products/{pid}/versions/1/recall",
        json={"reason": "wrong site"},
        headers=node.api("usa-officer"),
    )
    assert recalled.status_code == 200, recalled.text
    (last,) = [o for o in node.objects(**{"match[type]": "report"}) if o["name"] == title]
    assert last["revoked"] is True
    every = [
        o
        for o in node.objects(**{"match[type]": "report", "match[version]": "all"})
        if o["name"] == title
    ]
    assert [o.get("revoked", False) for o in every] == [False, True]


def test_recalling_the_newest_version_puts_the_standing_one_back_and_an_older_leaves_it(
    node: Node,
) -> None:
    def recall(pid: str, version: int) -> None:
        done = node.client.post(
            f"/api/v1/products/{pid}/versions/{version}/recall",
            json={"reason": "superseded"},
            headers=node.api("usa-officer"),
        )
        assert done.status_code == 200, done.text

    def amend(pid: str, title: str, text: str) -> None:
        made = node.client.post(
            f"/api/v1/products/{pid}/amend",
            json=launch(title, text=text),
            headers=node.api("usa-analyst"),
        )
        assert made.status_code == 201, made.text

    def last_report(title: str) -> dict[str, Any]:
        (found,) = [o for o in node.objects(**{"match[type]": "report"}) if o["name"] == title]
        return found

    title = f"three versions {secrets.token_hex(3)}"
    pid = node.release(launch(title, text="first"))
    amend(pid, title, "second")
    node.release_version(pid, 2)
    recall(pid, 1)  # an older version: the newest still stands, untouched
    assert last_report(title)["description"] == "second"
    assert "revoked" not in last_report(title)
    recall(pid, 2)  # the newest, with none standing: revoked for good
    assert last_report(title)["revoked"] is True

    title = f"two versions {secrets.token_hex(3)}"
    pid = node.release(launch(title, text="first"))
    amend(pid, title, "second")
    node.release_version(pid, 2)
    recall(pid, 2)  # the newest, the first standing: the report is the first again
    again = last_report(title)
    assert again["description"] == "first"
    assert "revoked" not in again
    every = [
        o
        for o in node.objects(**{"match[type]": "report", "match[version]": "all"})
        if o["name"] == title
    ]
    assert [o["description"] for o in every] == ["first", "second", "first"]
    assert [o["modified"] for o in every] == sorted(o["modified"] for o in every)
    # Each version's own note: the first's stands (and the report names it), the second's is
    # revoked.
    notes = [o for o in node.objects(**{"match[type]": "note"}) if again["id"] in o["object_refs"]]
    assert sorted(bool(o.get("revoked")) for o in notes) == [False, True]
    assert {n["id"] for n in notes if not n.get("revoked")} <= set(again["object_refs"])


def test_the_manifest_lists_what_the_objects_hold(node: Node) -> None:
    collection = node.collection("all")
    manifest = node.get(f"/collections/{collection}/manifest/", limit=1000).json()
    objects = node.get(f"/collections/{collection}/objects/", limit=1000).json()["objects"]
    assert [m["id"] for m in manifest["objects"]] == [o["id"] for o in objects]
    for record, obj in zip(manifest["objects"], objects, strict=True):
        assert record["version"] == (obj.get("modified") or obj["created"])
        assert record["media_type"] == "application/stix+json;version=2.1"


@pytest.mark.parametrize(
    "params",
    [
        {"added_after": "yesterday"},
        {"added_after": "2026-01-01"},
        {"limit": "0"},
        {"limit": "-3"},
        {"limit": "many"},
        {"match[type]": "Report"},
        {"match[id]": "report--not-a-uuid"},
        {"match[version]": "newest"},
        {"match[spec_version]": "two"},
        {"match[colour]": "red"},
        {"next": "garbage"},
    ],
)
def test_a_malformed_filter_is_400_and_says_what(node: Node, params: dict[str, str]) -> None:
    answer = node.get(f"/collections/{node.collection('all')}/objects/", **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["http_status"] == "400"
    assert answer.json()["description"]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from([*sorted(PARAMS), "x"]),
        st.text(max_size=40),
        max_size=4,
    )
)
def test_fuzz_no_filter_answers_5xx(node: Node, params: dict[str, str]) -> None:
    answer = node.get(f"/collections/{node.collection('all')}/objects/", **params)
    assert answer.status_code in (200, 400), answer.text


def test_spec_version_2_0_matches_nothing(node: Node) -> None:
    body = node.get(
        f"/collections/{node.collection('all')}/objects/", **{"match[spec_version]": "2.0"}
    ).json()
    assert body == {"more": False, "objects": []}


def test_a_posted_bundle_becomes_drafts_and_its_status_is_the_posters(node: Node) -> None:
    pid = node.release(launch(f"export me {secrets.token_hex(2)}"))
    exported = node.get(f"/collections/{node.collection('all')}/objects/", limit=1000).json()[
        "objects"
    ]
    mine = [o for o in exported if pid in str(o)]
    assert mine
    inbox = node.collection("inbox")
    before = {
        p["id"]
        for p in node.client.get("/api/v1/products", headers=node.api("usa-analyst")).json()[
            "products"
        ]
    }
    posted = node.client.post(
        f"{ROOT}/collections/{inbox}/objects/",
        json={"objects": exported},
        headers={**node.headers("usa-analyst"), "Content-Type": TAXII},
    )
    assert posted.status_code == 202, posted.text
    status = posted.json()
    assert status["status"] == "complete"
    assert status["success_count"] >= 1
    again = node.get(f"/status/{status['id']}/")
    assert again.json() == status
    assert node.get(f"/status/{status['id']}/", "usa-officer").status_code == 404
    after = {
        p["id"]
        for p in node.client.get("/api/v1/products", headers=node.api("usa-analyst")).json()[
            "products"
        ]
    }
    assert after - before, "no draft was made"


def test_a_bundle_with_two_versions_of_one_report_drafts_the_latest_once(node: Node) -> None:
    pid = node.release(launch(f"twice {secrets.token_hex(2)}"))
    exported = node.get(f"/collections/{node.collection('all')}/objects/", limit=1000)
    mine = [o for o in exported.json()["objects"] if pid in str(o) or o["type"] != "report"]
    (report,) = [o for o in mine if o["type"] == "report" and o.get("name", "").startswith("twice")]
    later = {**report, "modified": "2099-01-01T00:00:00.000Z", "name": "twice, amended"}
    posted = node.client.post(
        f"{ROOT}/collections/{node.collection('inbox')}/objects/",
        json={"objects": [*mine, later]},
        headers={**node.headers("usa-analyst"), "Content-Type": TAXII},
    )
    assert posted.status_code == 202, posted.text
    status = posted.json()
    drafted = [e for e in status["successes"] + status["failures"] if e["id"] == report["id"]]
    assert len(drafted) == 1
    assert drafted[0]["version"] == "2099-01-01T00:00:00.000Z"
    assert status["total_count"] == status["success_count"] + status["failure_count"]


def test_the_inbox_refuses_other_media_types_readers_and_non_writers(node: Node) -> None:
    inbox = node.collection("inbox")
    path = f"{ROOT}/collections/{inbox}/objects/"
    wrong_type = node.client.post(
        path,
        json={"objects": []},
        headers={**node.headers("usa-analyst"), "Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415
    auditor = node.client.post(
        path, json={"objects": [{}]}, headers={**node.headers("usa-auditor"), "Content-Type": TAXII}
    )
    assert auditor.status_code == 403
    read_only = node.client.post(
        f"{ROOT}/collections/{node.collection('all')}/objects/",
        json={"objects": [{}]},
        headers={**node.headers("usa-analyst"), "Content-Type": TAXII},
    )
    assert read_only.status_code == 403
    assert node.get(f"/collections/{inbox}/objects/").status_code == 403
    for body in ("not json", "[]", '{"objects": 3}', '{"objects": []}'):
        bad = node.client.post(
            path, content=body, headers={**node.headers("usa-analyst"), "Content-Type": TAXII}
        )
        assert bad.status_code == 400, (body, bad.text)

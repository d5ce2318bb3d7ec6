"""A small client for a node's analyst API, used by the CLI, the demo, tests and benchmarks."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from tisa.errors import (
    AccessDenied,
    AuthenticationFailed,
    Conflict,
    Damaged,
    DeliveryFailed,
    DiskFull,
    InputInvalid,
    NotFound,
    PolicyDenied,
    TisaError,
)

_ERRORS: dict[str, type[TisaError]] = {
    "AuthenticationFailed": AuthenticationFailed,
    "AccessDenied": AccessDenied,
    "NotFound": NotFound,
    "Conflict": Conflict,
    "InputInvalid": InputInvalid,
    "BodyTooLarge": InputInvalid,
    "MarkingInvalid": InputInvalid,
    "SignatureInvalid": InputInvalid,
    "Damaged": Damaged,
}


class ApiClient:
    """Talks to one node's analyst API over TLS, pinning the node's certificate."""

    def __init__(self, base_url: str, node_cert_pem: bytes, *, timeout: float = 30.0) -> None:
        context = ssl.create_default_context(cadata=node_cert_pem.decode("ascii"))
        self._http = httpx.Client(base_url=base_url, verify=context, timeout=timeout)
        self.token: str | None = None
        self.user: dict[str, Any] | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sign_in(self, username: str, password: str) -> ApiClient:
        """Sign in; later calls carry the token.

        Raises:
            AuthenticationFailed: wrong credentials.
        """
        data = self.call(
            "POST", "/api/v1/session", json={"username": username, "password": password}
        )
        self.token = data["token"]
        self.user = data["user"]
        return self

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the JSON answer, or the node's error raised as a tisa error.

        Raises:
            TisaError: the node refused (its kind and reason are kept).
            DeliveryFailed: the node could not be reached.
        """
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self._http.base_url}{path}: {exc}") from exc
        if response.status_code < 400:
            return None if response.status_code == 204 else response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:300]}
        kind = body.get("error", "")
        reason = str(body.get("detail", response.reason_phrase))
        if kind == "PolicyDenied":
            raise PolicyDenied(tuple(body.get("reasons", [reason])))
        if kind == "DiskFull":
            raise DiskFull(f"HTTP {response.status_code}: {reason}", what="remote")
        raise _ERRORS.get(kind, TisaError)(f"HTTP {response.status_code}: {reason}")

    def stream(self, path: str) -> Iterator[bytes]:
        """GET `path` and yield its body in blocks, never holding it whole.

        Raises:
            TisaError: the node refused. DeliveryFailed: unreachable.
        """
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with self._http.stream("GET", path, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise TisaError(f"HTTP {response.status_code}: {response.text[:300]}")
                yield from response.iter_bytes(1024 * 1024)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self._http.base_url}{path}: {exc}") from exc

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET `path`."""
        return self.call("GET", path, **kwargs)

    def text(self, path: str) -> str:
        """GET `path` as text (e.g. /metrics), signed in.

        Raises:
            TisaError: the node refused. DeliveryFailed: unreachable.
        """
        return b"".join(self.stream(path)).decode("utf-8")

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST `body` as JSON to `path`."""
        return self.call("POST", path, json=body, **kwargs)

    def events(self) -> list[dict[str, Any]]:
        """The fused events this user may see, newest first (`GET /api/v1/events`).

        Raises:
            TisaError: the node refused. DeliveryFailed: unreachable.
        """
        return list(self.get("/api/v1/events")["events"])

    def event(self, event_id: str) -> dict[str, Any]:
        """One event: every report's figures, fused figures, disagreements and map points.

        Raises:
            NotFound: no such event among what the user may read.
            TisaError: the node refused otherwise. DeliveryFailed: unreachable.
        """
        return dict(self.get(f"/api/v1/events/{quote(event_id, safe='')}"))

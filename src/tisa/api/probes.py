"""What orchestrators and scrapers ask a node: liveness, readiness, and metrics.

`/healthz/live` answers while the process serves at all; `/healthz/ready` (and `/healthz`)
runs every readiness check now and answers 503 naming what is wrong. Both ports serve them.
The localhost-only metrics server serves `/metrics` without sign-in.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tisa.node.health import Health
from tisa.node.runtime import Runtime

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CheckBody(BaseModel):
    """One readiness check: whether it passed and what it found."""

    ok: bool
    detail: str


class Readiness(BaseModel):
    """Every readiness check; `status` is "failing" (and the answer 503) if any failed."""

    status: Literal["ok", "failing"]
    party: str
    checks: dict[str, CheckBody]


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"]
    party: str


def install_probes(app: FastAPI, party: str, health: Health) -> None:
    """Serve /healthz, /healthz/live and /healthz/ready on `app`."""

    async def ready() -> JSONResponse:
        report = await run_in_threadpool(health.ready)
        return JSONResponse(report.as_dict(), status_code=200 if report.ok else 503)

    async def live() -> Liveness:
        return Liveness(status="ok", party=party)

    failing = {503: {"model": Readiness, "description": "A check failed; each says why."}}
    for path in ("/healthz", "/healthz/ready"):
        app.add_api_route(
            path,
            ready,
            methods=["GET"],
            summary="Readiness: the store, the tasks, checkpoints, disk, peers",
            response_model=Readiness,
            responses=failing,  # type: ignore[arg-type]
        )
    app.add_api_route("/healthz/live", live, methods=["GET"], summary="Liveness")


def metrics_app(rt: Runtime) -> FastAPI:
    """The app of the localhost-only metrics server: /metrics and liveness, no sign-in."""
    app = FastAPI(title="tisa metrics", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/metrics")
    async def metrics() -> Response:
        body = await run_in_threadpool(rt.metrics.render)
        return Response(body, media_type=METRICS_TYPE)

    @app.get("/healthz/live")
    async def live() -> dict[str, Any]:
        return {"status": "ok", "party": rt.ctx.party}

    return app

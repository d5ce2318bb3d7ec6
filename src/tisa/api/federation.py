"""The federation API: what peers call, over mutual TLS that admits only channel peers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from tisa import __version__
from tisa.api.errors import PERMANENT, install
from tisa.api.limits import read_body
from tisa.errors import ChannelSuspended, InputInvalid, TisaError
from tisa.relay import inbox
from tisa.relay.messages import AuditExchange, Batch
from tisa.relay.transmission import HEADER, check_transmission
from tisa.store import audit, network
from tisa.trust import Signed
from tisa.wire import iso, parse

if TYPE_CHECKING:
    from tisa.runtime import Runtime

MAX_BODY = 16 * 1024 * 1024


def federation_app(rt: Runtime) -> FastAPI:
    """The app peers talk to."""
    app = FastAPI(title="tisa federation", docs_url=None, redoc_url=None, openapi_url=None)
    install(app)
    ctx = rt.ctx

    def _sender(request: Request, body: bytes) -> str:
        sender = check_transmission(ctx.trust, request.headers.get(HEADER), body, ctx.clock())
        channel = ctx.arrangement.channel_between(sender, ctx.party)
        assert channel is not None  # check_transmission refuses non-peers
        with ctx.db.begin() as conn:
            if channel.id in network.suspended(conn):
                raise ChannelSuspended(f"channel {channel.label} is suspended at {ctx.party}")
            network.touch(conn, sender, ctx.clock())
        return sender

    def _handle(sender: str, batch: Batch) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for msg in batch.messages:
            try:
                outcome = inbox.receive(ctx, sender, msg)
            except TisaError as exc:
                for rule in getattr(exc, "rules", ()):
                    rt.metrics.denials.labels(rule).inc()
                rt.metrics.received.labels(msg.kind.value, "rejected").inc()
                results.append(
                    {
                        "status": "rejected",
                        "error": type(exc).__name__,
                        "reason": exc.reason,
                        "permanent": isinstance(exc, PERMANENT),
                    }
                )
            else:
                rt.metrics.received.labels(msg.kind.value, outcome).inc()
                results.append({"status": outcome})
        return results

    @app.post("/federation/v1/messages")
    async def messages(request: Request) -> JSONResponse:
        body = await read_body(request, MAX_BODY)
        sender = await run_in_threadpool(_sender, request, body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InputInvalid("body is not JSON") from exc
        batch = parse(Batch, data)
        results = await run_in_threadpool(_handle, sender, batch)
        answer = await run_in_threadpool(_exchange, sender, batch.audit)
        return JSONResponse({"results": results, "audit": answer})

    def _exchange(sender: str, said: AuditExchange | None) -> dict[str, Any]:
        if said is not None:
            try:
                rt.audit.hear(sender, said)
            except TisaError as exc:
                # A bad checkpoint never blocks delivery; it is on record for the auditor.
                with ctx.db.begin() as conn:
                    audit.record(
                        conn,
                        audit.Action.INCONSISTENT,
                        at=ctx.clock(),
                        actor=ctx.party,
                        party=sender,
                        detail={"problem": exc.reason},
                    )
        holds = said.holding if said is not None else 0
        return rt.audit.speak(sender, holds).model_dump()

    @app.post("/federation/v1/audit/held")
    async def held_checkpoints(request: Request) -> JSONResponse:
        body = await read_body(request, 64 * 1024)
        sender = await run_in_threadpool(_sender, request, body)

        def tokens() -> list[str]:
            with ctx.db.read() as conn:
                return [cp.token for cp in audit.checkpoints_of(conn, sender)]

        return JSONResponse({"checkpoints": await run_in_threadpool(tokens)})

    @app.post("/federation/v1/hello")
    async def hello(request: Request) -> JSONResponse:
        body = await read_body(request, 64 * 1024)
        sender = await run_in_threadpool(_sender, request, body)
        statement = {
            "type": "hello",
            "party": ctx.party,
            "to": sender,
            "arrangement": ctx.arrangement.digest,
            "software": f"tisa {__version__}",
            "at": iso(ctx.clock()),
        }
        return JSONResponse({"hello": ctx.trust.sign(Signed.HELLO, statement)})

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok", "party": ctx.party})

    return app

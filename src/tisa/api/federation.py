"""The federation API: what peers call, over mutual TLS that admits only channel peers."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from tisa import __version__
from tisa.api.errors import install
from tisa.api.limits import BodyTooLarge, read_body
from tisa.api.params import DIGEST
from tisa.api.probes import install_probes
from tisa.api.track_stream import install_track_stream
from tisa.blobs.partial import Partial
from tisa.crypto.trust import Signed
from tisa.domain.policy import oversize
from tisa.domain.wire import iso, parse
from tisa.errors import ChannelSuspended, Conflict, InputInvalid, TisaError
from tisa.node.runtime import Runtime
from tisa.relay import inbox
from tisa.relay.blob_transfer import status_subject
from tisa.relay.messages import AuditExchange, Batch
from tisa.relay.transmission import HEADER, blob_subject, check_transmission
from tisa.store import audit, checkpoints, network
from tisa.store.disk import is_disk_full

MAX_BODY = 16 * 1024 * 1024
CONTACT_EVERY = timedelta(seconds=1)
MESSAGES_PER_TRANSACTION = 16
APPEND_CHUNK = 1024 * 1024

_log = logging.getLogger("tisa.federation")


async def _receive_into(request: Request, partial: Partial) -> None:
    """Stream a request body into a partial blob. Encrypting and writing one block overlaps
    reading the next from the socket; at most a few blocks are ever in memory."""
    blocks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)

    async def write() -> None:
        while (block := await blocks.get()) is not None:
            await run_in_threadpool(partial.append, block)

    writer = asyncio.create_task(write())

    async def hand_over(block: bytes | None) -> bool:
        # False if the writer has stopped (a failed append): stop reading, keep its error.
        putting = asyncio.ensure_future(blocks.put(block))
        await asyncio.wait({putting, writer}, return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
            return False
        return True

    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= APPEND_CHUNK:
                if not await hand_over(bytes(buffer)):
                    break
                buffer.clear()
        else:
            if buffer:
                await hand_over(bytes(buffer))
    finally:
        if not writer.done():
            await hand_over(None)
        await writer


def federation_app(rt: Runtime) -> FastAPI:
    """The app peers talk to."""
    app = FastAPI(title="tisa federation", docs_url=None, redoc_url=None, openapi_url=None)
    install(app)
    app.state.count_disk_full = rt.count_disk_full
    ctx = rt.ctx

    def _sender(request: Request, body: bytes | str) -> str:
        try:
            sender = check_transmission(ctx.trust, request.headers.get(HEADER), body, ctx.clock())
        except TisaError as exc:
            # Every refusal is on record, even one that never got as far as a message.
            with ctx.db.begin() as conn:
                audit.record(
                    conn,
                    audit.Action.REFUSE,
                    at=ctx.clock(),
                    actor="unknown",
                    detail={
                        "path": request.url.path,
                        "error": type(exc).__name__,
                        "reason": exc.reason,
                    },
                )
            raise
        channel = ctx.arrangement.channel_between(sender, ctx.party)
        assert channel is not None  # check_transmission refuses non-peers
        with ctx.db.read() as conn:
            if network.is_suspended(conn, channel):
                raise ChannelSuspended(f"channel {channel.label} is suspended at {ctx.party}")
        now = ctx.clock()
        # Last contact is for people (status, metrics): written at most once a second per
        # peer, so it never takes the write lock on every request.
        if now - contacts.get(sender, datetime.min.replace(tzinfo=UTC)) >= CONTACT_EVERY:
            contacts[sender] = now
            with ctx.db.begin() as conn:
                network.touch(conn, sender, now)
        return sender

    def _handle(sender: str, batch: Batch) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        messages = batch.messages
        # A few messages per transaction: fewer commits, yet the write lock is never held
        # long enough to keep a FLASH waiting.
        for start in range(0, len(messages), MESSAGES_PER_TRANSACTION):
            chunk = messages[start : start + MESSAGES_PER_TRANSACTION]
            try:
                outcomes = inbox.receive_many(ctx, sender, chunk)
            except SQLAlchemyError as exc:
                # The store failed, not the messages: the sender tries them again later.
                reason = "this node's store failed; try again later"
                if is_disk_full(exc):
                    reason = "this node's disk is full; try again later"
                    _log.error("disk full: %d messages from %s refused for now", len(chunk), sender)
                    rt.count_disk_full("database")
                for msg in chunk:
                    rt.metrics.received.labels(msg.kind.value, "rejected").inc()
                    results.append(
                        {
                            "status": "rejected",
                            "error": type(exc).__name__,
                            "reason": reason,
                            "permanent": False,
                        }
                    )
                continue
            for msg, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, TisaError):
                    for rule in getattr(outcome, "rules", ()):
                        rt.metrics.denials.labels(rule).inc()
                    rt.metrics.received.labels(msg.kind.value, "rejected").inc()
                    results.append(
                        {
                            "status": "rejected",
                            "error": type(outcome).__name__,
                            "reason": outcome.reason,
                            "permanent": outcome.permanent,
                        }
                    )
                else:
                    rt.metrics.received.labels(msg.kind.value, outcome).inc()
                    results.append({"status": outcome})
        return results

    install_track_stream(app, rt, _sender)

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
        answer = None
        if batch.audit is not None:
            answer = await run_in_threadpool(_exchange, sender, batch.audit)
        return JSONResponse({"results": results, "audit": answer})

    contacts: dict[str, datetime] = {}

    def _exchange(sender: str, said: AuditExchange) -> dict[str, Any]:
        try:
            rt.audit.hear(sender, said)
        except TisaError as exc:
            # A bad checkpoint never blocks delivery; it is on record for the auditor (once:
            # heartbeats bring the same one every few seconds).
            rt.audit.alarm(sender, exc.reason)
        except SQLAlchemyError as exc:
            # This node's store failed, not the peer's history: no alarm; the next contact
            # brings the checkpoint again.
            _log.warning("audit exchange with %s: this node's store failed: %s", sender, exc)
        return rt.audit.speak(sender, said.holding).model_dump()

    @app.post("/federation/v1/audit/exchange")
    async def audit_exchange(request: Request) -> JSONResponse:
        """Checkpoints only, with no messages: the heartbeat of a quiet channel."""
        body = await read_body(request, 64 * 1024)
        sender = await run_in_threadpool(_sender, request, body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InputInvalid("body is not JSON") from exc
        said = parse(AuditExchange, data)
        return JSONResponse(await run_in_threadpool(_exchange, sender, said))

    @app.post("/federation/v1/audit/held")
    async def held_checkpoints(request: Request) -> JSONResponse:
        body = await read_body(request, 64 * 1024)
        sender = await run_in_threadpool(_sender, request, body)

        def tokens() -> list[str]:
            with ctx.db.read() as conn:
                return [cp.token for cp in checkpoints.checkpoints_of(conn, sender)]

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

    @app.get("/federation/v1/blobs/{digest}")
    async def blob_status(
        request: Request, digest: Annotated[str, PathParam(pattern=DIGEST)]
    ) -> JSONResponse:
        await run_in_threadpool(_sender, request, status_subject(digest))
        store = rt.blobs
        if await run_in_threadpool(store.has, digest):
            return JSONResponse({"digest": digest, "complete": True, "offset": None})
        offset = await run_in_threadpool(store.partial_offset, digest)
        return JSONResponse({"digest": digest, "complete": False, "offset": offset})

    @app.put("/federation/v1/blobs/{digest}")
    async def blob_put(
        request: Request,
        digest: Annotated[str, PathParam(pattern=DIGEST)],
        offset: Annotated[int, Query(ge=0)],
        size: Annotated[int, Query(ge=0)],
    ) -> JSONResponse:
        sender = await run_in_threadpool(_sender, request, blob_subject(digest, offset, size))
        channel = ctx.arrangement.channel_between(sender, ctx.party)
        assert channel is not None
        over = oversize(f"blob {digest}", size, channel)
        if over is not None:
            raise BodyTooLarge(over)  # before a single byte is stored
        store = rt.blobs
        if await run_in_threadpool(store.has, digest):
            return JSONResponse({"digest": digest, "complete": True})
        held = await run_in_threadpool(store.partial_offset, digest)
        if held != offset:
            raise Conflict(f"resume blob {digest} from offset {held}, not {offset}")
        partial = await run_in_threadpool(store.partial, digest, size)
        try:
            await _receive_into(request, partial)
            if partial.offset < size:
                # Cut short: answer with what is on disk, where the next attempt resumes.
                kept = await run_in_threadpool(partial.sync)
                return JSONResponse({"digest": digest, "complete": False, "offset": kept})
            await run_in_threadpool(partial.complete)
        finally:
            await run_in_threadpool(partial.close)
        return JSONResponse({"digest": digest, "complete": True})

    install_probes(app, ctx.party, rt.health)

    return app

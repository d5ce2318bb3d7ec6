"""`POST /federation/v1/tracks`: a peer's stream of live track updates, one JSON line each,
taken as the lines arrive (the request may stay open for half a minute); and
`GET /federation/v1/tracks/history`: what a peer may have of this node's track history."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from tisa.api.params import UUID
from tisa.crypto.jws import peek
from tisa.domain.wire import parse
from tisa.errors import TisaError, TooLarge
from tisa.node.runtime import Runtime
from tisa.relay import live
from tisa.relay.backfill import HISTORY_PATH, PAGE, history_subject
from tisa.relay.streamer import STREAM_PATH, stream_subject
from tisa.store import audit

#: The longest one line may be: an update with its attestation and consent is a few KB.
MAX_LINE = 256 * 1024
#: Refusals named one by one in the stream's audit entry; the rest are counted.
NAMED = 5

_log = logging.getLogger("tisa.federation.tracks")


def install_track_stream(
    app: FastAPI, rt: Runtime, sender_of: Callable[[Request, str], str]
) -> None:
    """Add the track stream route to the federation app; `sender_of(request, subject)` checks
    the transmission header (and the channel) and names the peer."""
    ctx = rt.ctx

    def take(sender: str, raw: list[bytes]) -> tuple[Counter[str], list[str]]:
        counts: Counter[str] = Counter()
        reasons: list[str] = []
        lines = []
        for data in raw:
            if not data.strip():
                continue
            try:
                lines.append(parse(live.LineIn, json.loads(data)))
            except (ValueError, ValidationError, TisaError) as exc:
                counts["refused"] += 1
                reasons.append(f"not a track update line: {type(exc).__name__}")
        outcomes = live.receive_many(ctx, sender, lines) if lines else []
        now_ms = ctx.clock().timestamp() * 1000
        for line, outcome in zip(lines, outcomes, strict=True):
            if isinstance(outcome, TisaError):
                counts["refused"] += 1
                reasons.append(outcome.reason)
                rt.metrics.live_received.labels(sender, "rejected").inc()
                continue
            counts[outcome] += 1
            rt.metrics.live_received.labels(sender, outcome).inc()
            if outcome == "stored":
                # The update's own time, read from the token it just verified.
                sent_ms = peek(line.token).payload.get("time_ms")
                if isinstance(sent_ms, int):
                    rt.metrics.live_age.labels(sender).observe(max(0.0, now_ms - sent_ms) / 1000)
        return counts, reasons

    def record(sender: str, counts: Counter[str], reasons: list[str]) -> None:
        if not counts["refused"]:
            return
        _log.warning("track stream from %s: %d updates refused", sender, counts["refused"])
        with ctx.db.begin() as conn:
            audit.record(
                conn,
                audit.Action.REFUSE,
                at=ctx.clock(),
                actor=sender,
                party=sender,
                detail={
                    "kind": "track-update",
                    "refused": counts["refused"],
                    "reasons": reasons[:NAMED],
                },
            )

    @app.get(HISTORY_PATH)
    async def history(
        request: Request,
        since_ms: Annotated[int, Query(ge=0)] = 0,
        after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE)] = PAGE,
    ) -> JSONResponse:
        """What the asking peer may have of this node's track history after store position
        `after` (or, on a first catch-up, from `since_ms`), with where the page reached."""
        peer = await run_in_threadpool(sender_of, request, history_subject(after, since_ms))
        page = await run_in_threadpool(live.history_for, ctx, peer, after, since_ms, limit)
        return JSONResponse(
            {
                "lines": [json.loads(line.wire()) for line in page.lines],
                "reached": page.reached,
                "end": page.end,
            }
        )

    @app.post(STREAM_PATH)
    async def tracks(
        request: Request, session: Annotated[str, Query(pattern=UUID)]
    ) -> JSONResponse:
        sender = await run_in_threadpool(sender_of, request, stream_subject(session))
        counts: Counter[str] = Counter()
        reasons: list[str] = []
        pending = b""
        try:
            async for chunk in request.stream():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                if len(pending) > MAX_LINE:
                    raise TooLarge(f"a track update line is longer than {MAX_LINE} bytes")
                if complete:
                    taken, why = await run_in_threadpool(take, sender, complete)
                    counts.update(taken)
                    reasons.extend(why[:NAMED])
            if pending.strip():
                taken, why = await run_in_threadpool(take, sender, [pending])
                counts.update(taken)
                reasons.extend(why[:NAMED])
        finally:
            await run_in_threadpool(record, sender, counts, reasons)
        body: dict[str, Any] = {k: counts[k] for k in ("stored", "duplicate", "refused")}
        return JSONResponse(body)

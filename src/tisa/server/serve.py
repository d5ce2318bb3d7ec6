"""Run an open node: the federation server, the analyst API and UI (and the localhost metrics
server, if configured), the sender's lanes and every other background task, supervised."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tisa.api.federation import federation_app
from tisa.api.probes import metrics_app
from tisa.errors import ConfigInvalid
from tisa.node.runtime import Runtime
from tisa.relay.backfill import Backfill
from tisa.relay.heartbeat import Heartbeat
from tisa.server.uvicorn import Server
from tisa.web.app import analyst_server


async def serve(rt: Runtime, *, ready: Callable[[], None] | None = None) -> None:
    """Serve `rt` until cancelled; `ready` is called once every server listens.

    Raises:
        ConfigInvalid: a server failed (its port taken, its TLS refused), or the TAK
            endpoint's certificate, key or CA cannot be loaded.
    """
    settings = rt.settings
    if rt.tak is not None:
        rt.tak.prepare()  # a TAK certificate that cannot be loaded stops the start, said plainly
    rt.integrity = await asyncio.to_thread(rt.check_store)
    peers = list(rt.ctx.arrangement.peers_of(settings.party))
    clients = {peer: rt.peer_client(peer) for peer in peers}
    sender = rt.start_sender(clients)
    streamer = rt.start_streamer(clients)
    federation = Server(
        federation_app(rt),
        settings.host,
        settings.federation_port,
        rt.federation_server_context(),
    )
    api_app, feed = analyst_server(rt)
    api = Server(api_app, settings.host, settings.api_port, rt.api_server_context())
    listening = [federation, api]
    if settings.metrics_port is not None:
        # Plain HTTP, loopback only: a scraper on this machine, nothing from outside.
        listening.append(Server(metrics_app(rt), "127.0.0.1", settings.metrics_port, None))
    supervisor = rt.supervisor
    servers = [asyncio.create_task(server.serve()) for server in listening]
    try:
        await sender.prepare()
        for name, body in sender.lanes():
            supervisor.start(name, body)
        streamer.prepare()
        for name, body in (
            *streamer.lanes(),
            *Backfill(rt.ctx, clients, settings.paths.work).lanes(),
        ):
            supervisor.start(name, body)
        supervisor.start("checkpoints", rt.checkpoints)
        supervisor.start("partials", rt.sweep_partials)
        supervisor.start("warnings", rt.warnings.run)
        if rt.webhook is not None:
            supervisor.start("warning webhook", rt.webhook.run)
        if rt.tak is not None:
            supervisor.start("tak", rt.tak.run)
        heartbeat = Heartbeat(rt.ctx, clients, rt.audit, on_contact=sender.recovered)
        supervisor.start("heartbeat", heartbeat.run)
        supervisor.start("live feed", feed.run)
        while not all(server.started for server in listening):
            if any(task.done() for task in servers):
                break
            await asyncio.sleep(0.02)
        if ready is not None and all(server.started for server in listening):
            ready()
        await asyncio.wait(servers, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.close()  # open pages' live streams end, so the server can stop
        for server in listening:
            server.should_exit = True
        await supervisor.stop()
        await asyncio.gather(*servers, return_exceptions=True)
        for client in clients.values():
            await client.aclose()
    for task in servers:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise ConfigInvalid(f"a server failed: {task.exception()}")

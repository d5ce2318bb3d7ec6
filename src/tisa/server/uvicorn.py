"""One uvicorn server with tisa's own TLS context, in a loop it shares with others."""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn


class Server(uvicorn.Server):
    """One uvicorn server with our own TLS context (pinned peers, TLS 1.3 for federation)."""

    def __init__(self, app: Any, host: str, port: int, context: ssl.SSLContext | None) -> None:
        tls: dict[str, Any] = (
            {} if context is None else {"ssl_context_factory": lambda _c, _d: context}
        )
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                server_header=False,
                # A connection still open after this (a slow client) does not hold a stop up.
                timeout_graceful_shutdown=5,
                **tls,
            )
        )

    def install_signal_handlers(self) -> None:
        # The CLI owns signals; servers sharing one loop must not fight over them.
        return

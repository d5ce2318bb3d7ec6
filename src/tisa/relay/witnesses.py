"""Which of this node's audit checkpoints its peers hold: asked of each, over mutual TLS, when
the log is verified against them (`tisa audit verify --peers`, `audit prove`, the audit page)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from tisa.crypto.trust import Trust
from tisa.relay.transmission import HEADER, sign_transmission

HELD_PATH = "/federation/v1/audit/held"


def held_by_peers(
    trust: Trust,
    peers: Mapping[str, str | None],
    context_for: Callable[[str], ssl.SSLContext],
    clock: Callable[[], datetime],
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Ask each peer (party -> federation URL, None if none is configured) for the
    checkpoints of ours it holds. Returns (tokens per peer, error per peer not heard).
    """
    held: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for peer, url in peers.items():
        if url is None:
            errors[peer] = "no address configured"
            continue
        body = b"{}"
        header = sign_transmission(trust, peer, body, clock())
        try:
            with httpx.Client(base_url=url, verify=context_for(peer), timeout=10) as http:
                answer = http.post(
                    HELD_PATH,
                    content=body,
                    headers={HEADER: header, "Content-Type": "application/json"},
                )
            answer.raise_for_status()
            said = answer.json()
            tokens = said.get("checkpoints") if isinstance(said, dict) else None
            if not isinstance(tokens, list):
                raise ValueError(f"{peer} answered no list of checkpoints")
            held[peer] = [t for t in tokens if isinstance(t, str)]
        except (httpx.HTTPError, ValueError) as exc:
            errors[peer] = str(exc)
    return held, errors

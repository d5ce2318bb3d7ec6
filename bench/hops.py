"""How much of tisa's own code one relayed product passes through, hop by hop.

Three runtimes in this process (USA hub, KOR, JPN) on fresh SQLite stores; their federation
apps answer over httpx's ASGI transport, so every signature, verification, gate decision and
commit runs as in a node, without the network. One FLASH with KOR's standing consent goes
KOR → USA → JPN, and the receipts come back. A profiler counts the calls into tisa's own
functions (not libraries) in each stage, and how many distinct functions each stage uses.

    python bench/hops.py            # prints the table
    python bench/hops.py --json     # also writes bench/results/hops.json

This is a map of the path's length for the architecture page, not a timing: run-to-run it
gives the same counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from tisa.api.federation import federation_app
from tisa.demo.launches import KOR_LAUNCH
from tisa.demo.network import Cluster
from tisa.domain.markings import Precedence
from tisa.domain.wire import ConsentIn, DraftIn, parse
from tisa.node.runtime import Runtime
from tisa.relay.sender import Sender
from tisa.services.accounts import Role, User

RESULTS = Path(__file__).resolve().parent / "results"
PARTIES = ("USA", "KOR", "JPN")


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count calls into tisa's own functions while the block runs (every thread)."""
    calls: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if module.startswith("tisa."):
                calls[f"{module}:{frame.f_code.co_qualname}"] += 1

    import threading

    threading.setprofile(profile)  # type: ignore[arg-type]
    sys.setprofile(profile)  # type: ignore[arg-type]
    try:
        yield calls
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


_SENDERS: dict[tuple[str, str], Sender] = {}


def carry(rt: dict[str, Runtime], party: str, peer: str) -> None:
    """Send everything `party` has due for `peer` to `peer`'s federation app, most urgent
    lane first, as the node's sender does (the apps and senders are built once, beforehand,
    so only the work of moving the product is counted)."""
    if (party, peer) not in _SENDERS:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=federation_app(rt[peer])), base_url="http://peer"
        )
        _SENDERS[(party, peer)] = Sender(rt[party].ctx, {peer: client})
    sender = _SENDERS[(party, peer)]

    async def go() -> None:
        await sender.prepare()
        for precedence in Precedence:
            while True:
                batch, _ = await asyncio.to_thread(sender._turn, peer, precedence.lane)
                if not batch:
                    break
                await sender._deliver(peer, batch)

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="write bench/results/hops.json")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tisa-hops-"))
    Cluster(root).create()
    rt = {p: Runtime(cluster_settings(root, p)).open() for p in PARTIES}
    users = {
        (p, role): rt[p].accounts.add(
            f"{p.lower()}-hops-{role.value}", uuid.uuid4().hex, role, "TOP SECRET", ["*"]
        )
        for p in PARTIES
        for role in (Role.ANALYST, Role.RELEASE_OFFICER)
    }
    officer: Callable[[str], User] = lambda p: users[(p, Role.RELEASE_OFFICER)]  # noqa: E731
    rt["KOR"].consents.grant_consent(
        officer("KOR"),
        ConsentIn(recipient="JPN", topics=["dprk.missile.*"], max_classification="SECRET"),
    )
    for party, peer in (("KOR", "USA"), ("USA", "JPN"), ("JPN", "USA"), ("USA", "KOR")):
        carry(rt, party, peer)  # builds each sender; KOR's consent reaches the hub
    body = {
        "title": "ICBM launch, lofted",
        "text": "Detected and tracked.",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": "FLASH",
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
        "observations": [{"kind": "missile-launch", **KOR_LAUNCH}],
    }
    stages: list[tuple[str, Callable[[], None]]] = []
    product: dict[str, str] = {}

    def compose() -> None:
        draft = rt["KOR"].drafts.create(users[("KOR", Role.ANALYST)], parse(DraftIn, body))
        product["id"] = draft.id

    stages = [
        ("compose at KOR", compose),
        ("release at KOR", lambda: rt["KOR"].releases.release(officer("KOR"), product["id"], 1)),
        ("KOR → USA: send, verify, store, relay", lambda: carry(rt, "KOR", "USA")),
        ("USA → JPN: send, verify, store", lambda: carry(rt, "USA", "JPN")),
        (
            "read at JPN",
            lambda: rt["JPN"].reading.read(users[("JPN", Role.ANALYST)], product["id"]),
        ),
        ("receipt JPN → USA", lambda: carry(rt, "JPN", "USA")),
        ("receipts USA → KOR", lambda: carry(rt, "USA", "KOR")),
    ]
    rows = []
    for name, stage in stages:
        with counting() as calls:
            stage()
        rows.append({"stage": name, "calls": sum(calls.values()), "functions": len(calls)})
    with rt["KOR"].ctx.db.read() as conn:
        from tisa.store import deliveries

        delivered = {d.party: d.state for d in deliveries.deliveries_of(conn, product["id"], 1)}
    if delivered != {"USA": "delivered", "JPN": "delivered"}:
        raise SystemExit(f"the product did not complete its path: {delivered}")
    for r in rt.values():
        r.close()
    width = max(len(r["stage"]) for r in rows)
    print(f"{'stage':<{width}}  {'calls':>7}  {'functions':>9}")
    for r in rows:
        print(f"{r['stage']:<{width}}  {r['calls']:>7}  {r['functions']:>9}")
    total = {"calls": sum(r["calls"] for r in rows)}
    print(f"{'total':<{width}}  {total['calls']:>7}")
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "hops.json").write_text(
            json.dumps({"stages": rows, "total_calls": total["calls"]}, indent=2) + "\n"
        )


def read(node: Runtime, user: User, product_id: str) -> None:
    node.reading.read(user, product_id)


def cluster_settings(root: Path, party: str) -> Any:
    from tisa.node.settings import Settings

    return Settings.load(root / party.lower(), env={})


if __name__ == "__main__":
    main()

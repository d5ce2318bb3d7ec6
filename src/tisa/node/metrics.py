"""Prometheus metrics for one node, in the node's own registry (no process-wide globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tisa.crypto.tls import Port, Refusal
from tisa.domain.markings import Precedence
from tisa.node.supervisor import TaskHealth, TaskState
from tisa.relay.live_links import LiveLinks
from tisa.store import outbox
from tisa.store.database import Database
from tisa.tracks.cot import CotType

_LANE_NAMES = {p.lane: p.value for p in Precedence}


class _QueueCollector(Collector):
    """Reads queue depth per peer and lane from the store at scrape time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "tisa_outbox_depth", "Messages waiting per peer and lane", labels=["peer", "lane"]
        )
        with self._db.read() as conn:
            for (peer, lane), count in sorted(outbox.depth(conn).items()):
                gauge.add_metric([peer, _LANE_NAMES.get(lane, str(lane))], count)
        yield gauge


class _TaskCollector(Collector):
    """Whether each supervised task is running, read at scrape time."""

    def __init__(self, tasks: Callable[[], list[TaskHealth]]) -> None:
        self._tasks = tasks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "tisa_task_up", "1 while a background task runs, 0 while it restarts", labels=["task"]
        )
        for task in self._tasks():
            gauge.add_metric([task.name], 1.0 if task.state is TaskState.RUNNING else 0.0)
        yield gauge


class _LiveCollector(Collector):
    """Live track updates offered to each link and those a newer one superseded."""

    def __init__(self, live: LiveLinks) -> None:
        self._live = live

    def collect(self) -> Iterator[CounterMetricFamily]:
        offered = CounterMetricFamily(
            "tisa_live_updates_offered", "Live track updates queued for a peer", labels=["peer"]
        )
        superseded = CounterMetricFamily(
            "tisa_live_updates_superseded",
            "Live track updates dropped before sending because a newer one of the track came",
            labels=["peer"],
        )
        sent = CounterMetricFamily(
            "tisa_live_updates_sent",
            "Live track updates written to a peer's stream (after the gate)",
            labels=["peer"],
        )
        for peer, queue in sorted(self._live.queues.items()):
            offered.add_metric([peer], float(queue.offered))
            superseded.add_metric([peer], float(queue.superseded))
            sent.add_metric([peer], float(queue.sent))
        yield offered
        yield superseded
        yield sent


class Metrics:
    """Counters and histograms a node updates as it works."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.sent = Counter(
            "tisa_messages_sent",
            "Outbox messages by peer, kind and outcome (sent, retry, dead)",
            ["peer", "kind", "outcome"],
            registry=self.registry,
        )
        self.received = Counter(
            "tisa_messages_received",
            "Messages received by kind and outcome (stored, duplicate, rejected)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.denials = Counter(
            "tisa_policy_denials",
            "Rule-of-release objections by rule",
            ["rule"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tisa_delivery_latency_seconds",
            "From release (or relay) to the peer's acknowledgement, by peer and lane",
            ["peer", "lane"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.live_received = Counter(
            "tisa_live_updates_received",
            "Live track updates received, by peer and outcome (stored, duplicate, rejected)",
            ["peer", "outcome"],
            registry=self.registry,
        )
        self.live_age = Histogram(
            "tisa_live_update_age_seconds",
            "How old a live track update is when this node keeps it (its time to stored), by peer",
            ["peer"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60),
            registry=self.registry,
        )
        self.fusion_latency = Histogram(
            "tisa_live_fusion_latency_seconds",
            "From a live track update's own time to this node's fused picture holding it, by "
            "originator",
            ["originator"],
            buckets=(
                0.005,
                0.01,
                0.015,
                0.02,
                0.025,
                0.03,
                0.04,
                0.05,
                0.075,
                0.1,
                0.15,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
                30,
            ),
            registry=self.registry,
        )
        self.tls_refused = Counter(
            "tisa_tls_handshakes_refused",
            "TLS handshakes refused, by port (federation, api, or client to a peer) and reason",
            ["port", "reason"],
            registry=self.registry,
        )
        for port in Port:
            for reason in Refusal:
                # Every series from the start: a dashboard sees 0, not "no data".
                self.tls_refused.labels(port.value, reason.value)
        self.task_restarts = Counter(
            "tisa_task_restarts",
            "Background tasks that ended and were started again, by task",
            ["task"],
            registry=self.registry,
        )
        self.sender_faults = Counter(
            "tisa_sender_faults",
            "Failures a sender lane waited out with no message to blame, by peer and error",
            ["peer", "error"],
            registry=self.registry,
        )
        self.disk_full = Counter(
            "tisa_disk_full",
            "Writes refused for want of disk (attachments over the reserve, or a full disk)",
            ["what"],
            registry=self.registry,
        )
        self.tak_events = Counter(
            "tisa_tak_events_sent",
            "Cursor-on-Target events written to the TAK endpoint, by kind (missile, impact)",
            ["kind"],
            registry=self.registry,
        )
        for kind in (CotType.MISSILE, CotType.IMPACT):
            self.tak_events.labels(kind.name.lower())
        self.registry.register(_QueueCollector(db))

    def watch_tasks(self, tasks: Callable[[], list[TaskHealth]]) -> None:
        """Report each supervised task as up (1) or not (0) at scrape time."""
        self.registry.register(_TaskCollector(tasks))

    def watch_live(self, live: LiveLinks) -> None:
        """Report each live link's offered and superseded updates at scrape time."""
        self.registry.register(_LiveCollector(live))

    def count_tls_refusal(self, port: Port, reason: Refusal) -> None:
        """Count one refused TLS handshake (`tisa.crypto.tls.OnRefused`, for a node's contexts)."""
        self.tls_refused.labels(port.value, reason.value).inc()

    def count_tak_event(self, kind: CotType) -> None:
        """Count one CoT event written to the TAK endpoint (`TakFeed`'s `on_sent`)."""
        self.tak_events.labels(kind.name.lower()).inc()

    def lane_name(self, lane: int) -> str:
        """'FLASH' for lane 0, and so on."""
        return _LANE_NAMES.get(lane, str(lane))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)

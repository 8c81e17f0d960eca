"""Prometheus metrics of one server, in a registry the app owns (no module-level registry).

Requests and their latency per operation (REST and WebSocket, labelled by Tradovate's name of the operation; a path
that names none counts as `unknown`, so the label set stays bounded), the store's commits and their latency, the
writer's queue, open sockets, liquidations by initiator (read from the `autoLiqTransaction` changes as they commit)
and auto-liquidation breaches (counted by the risk engine through `Platform.telemetry`).

Several workers (`serve --workers N`): prometheus_client's multiprocess mode. The supervisor gives its workers a
private directory in `PROMETHEUS_MULTIPROC_DIR`; each worker's values live in files there, and `/metrics` answers the
sum over the machine's workers (`MultiProcessCollector`), whichever worker the scrape reaches. The two gauges are
written as their sources change (sockets as they open and close; the writer's queue after each answer and at each
wake of the lag probe), and summed over live workers (`livesum`): the machine's open sockets and the commits it has
sent to the database and not yet had answered — its backlog, which a `max` would understate when several workers
queue at once. Counters of a worker that died stay in the sum (counters never go down).
"""

import asyncio
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tradovate_sim.core.decision import Change
from tradovate_sim.model.entities import AutoLiqTransaction
from tradovate_sim.model.enums import EventType, Initiator
from tradovate_sim.model.kinds import ENTITY_TYPES

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNKNOWN = "unknown"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
HTTP = "http"
LIQUIDATION = ENTITY_TYPES[AutoLiqTransaction]
WS = "ws"


class Operations:
    """Tradovate's name of each operation a path or a WebSocket endpoint may name, by its lower-cased key."""

    def __init__(self, names: Iterable[str]) -> None:
        self.by_key = {name.lower(): name for name in names}

    def name(self, key: str) -> str:
        """The operation's name for a lower-cased key, or `unknown`."""
        return self.by_key.get(key, UNKNOWN)


class Metrics:
    """Every metric of one server. Children of labelled metrics are cached per label set: recording a request is
    two dictionary lookups, a counter increment and a histogram observation."""

    def __init__(self, shared: str | None = None) -> None:
        """`shared`: the directory of prometheus_client's multiprocess mode (`--workers N`), or None (one process)."""
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.shared = shared
        self.scraped = registry
        if shared is not None:  # the machine's workers, summed from their files
            self.scraped = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(self.scraped, path=shared)  # type: ignore[no-untyped-call]
        self.requests = Counter("tradovate_sim_requests", "Requests answered, by transport, operation and status",
                                ["transport", "operation", "status"], registry=registry)
        self.request_seconds = Histogram(
            "tradovate_sim_request_duration_seconds", "Time from a request's arrival to its answer",
            ["transport", "operation"], buckets=LATENCY_BUCKETS, registry=registry)
        self.commits = Counter("tradovate_sim_commits", "Commits answered by the store's writer process, by outcome",
                               ["outcome"], registry=registry)
        self.commit_seconds = Histogram("tradovate_sim_commit_duration_seconds",
                                        "Time from sending a commit to the writer process to its durable answer",
                                        buckets=COMMIT_BUCKETS, registry=registry)
        self.writer_queue = Gauge("tradovate_sim_writer_queue_depth",
                                  "Commits sent to the writer process and not yet answered", registry=registry,
                                  multiprocess_mode="livesum")
        self.sockets = Gauge("tradovate_sim_websocket_sockets", "Open WebSocket sockets", registry=registry,
                             multiprocess_mode="livesum")
        self.liquidations = Counter("tradovate_sim_liquidations",
                                    "Liquidations (autoLiqTransaction records committed), by initiator",
                                    ["initiator"], registry=registry)
        self.auto_liq_breaches = Counter("tradovate_sim_auto_liq_breaches",
                                         "Auto-liquidation thresholds crossed (counted by the risk engine)",
                                         registry=registry)
        self.loop_lag = Histogram("tradovate_sim_event_loop_lag_seconds",
                                  "How late the event loop woke a 10 ms timer: a synchronous step delays every request",
                                  buckets=PAUSE_BUCKETS, registry=registry)
        self.gc_collections = Counter("tradovate_sim_gc_collections", "Garbage collections, by generation",
                                      ["generation"], registry=registry)
        self.gc_seconds = Histogram("tradovate_sim_gc_pause_seconds", "Time each garbage collection stopped the server",
                                    ["generation"], buckets=PAUSE_BUCKETS, registry=registry)
        self._gc = [(self.gc_collections.labels(str(g)).inc, self.gc_seconds.labels(str(g)).observe)
                    for g in range(3)]
        # every series exists from the start, at 0; counted through its child's bound `inc`
        self._liquidated: dict[Initiator, Callable[[], None]] = {
            initiator: self.liquidations.labels(initiator.value).inc for initiator in Initiator}
        self._landed = self.commits.labels("landed")
        self._failed = self.commits.labels("failed")
        self._children: dict[tuple[str, str, int], tuple[Callable[[], None], Callable[[float], None]]] = {}
        self._depth: Callable[[], int] = lambda: 0
        self._count: Callable[[], int] = lambda: 0
        self._writing = False  # a write of the queue depth is scheduled

    def observe_writer(self, depth: Callable[[], int]) -> None:
        """Read the writer's queue depth at each scrape (several workers: as it changes, see `lag`)."""
        self._depth = depth
        if self.shared is None:
            self.writer_queue.set_function(depth)

    def observe_sockets(self, count: Callable[[], int]) -> None:
        """Read the number of open sockets at each scrape (several workers: at `sockets_changed`)."""
        self._count = count
        if self.shared is None:
            self.sockets.set_function(count)

    def sockets_changed(self) -> None:
        """A socket opened or closed: several workers read this worker's count from its file."""
        if self.shared is not None:
            self.sockets.set(self._count())

    def lag(self, seconds: float) -> None:
        """The lag probe woke (every 10 ms): observe its lateness; several workers: write the queue depth (a queue
        that grows is seen within one wake; one that drains is written at each answer, see `commit_answered`)."""
        self.loop_lag.observe(seconds)
        if self.shared is not None:
            self.writer_queue.set(self._depth())

    def _write_depth(self) -> None:
        self._writing = False
        self.writer_queue.set(self._depth())

    def request(self, transport: str, operation: str, status: int, seconds: float) -> None:
        """One answered request."""
        key = (transport, operation, status)
        child = self._children.get(key)
        if child is None:
            counter = self.requests.labels(transport, operation, str(status))
            child = self._children[key] = (counter.inc, self.request_seconds.labels(transport, operation).observe)
        count, observe = child
        count()
        observe(seconds)

    def collected(self, generation: int, seconds: float) -> None:
        """A garbage collection of `generation` took `seconds` (`GcPauses`)."""
        count, observe = self._gc[min(generation, 2)]
        count()
        observe(seconds)

    def commit_answered(self, seconds: float, landed: bool) -> None:
        """The store's writer answered a commit (`SqliteStore.on_answer`)."""
        (self._landed if landed else self._failed).inc()
        self.commit_seconds.observe(seconds)
        if self.shared is not None and not self._writing:  # once the writer has counted the answer off its queue
            self._writing = True
            asyncio.get_running_loop().call_soon(self._write_depth)

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        """A subscriber of this process's own commits (`Fanout.own`): count each liquidation record as it commits —
        once over the machine's workers, which apply each other's commits too."""
        for change in changes:
            if change.entity_type != LIQUIDATION:  # a string comparison: most changes are something else
                continue
            entity = change.entity
            if isinstance(entity, AutoLiqTransaction) and change.event_type is EventType.Created:
                self._liquidated[entity.initiator]()

    def auto_liq_breached(self) -> None:
        """`Telemetry`: an account crossed an auto-liquidation threshold."""
        self.auto_liq_breaches.inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (several workers: the sum over the machine's workers)."""
        return generate_latest(self.scraped)

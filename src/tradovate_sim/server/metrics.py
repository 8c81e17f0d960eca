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
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from functools import partial

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


def counting(child: Counter) -> Callable[[], None]:
    """`child.inc` of a counter child whose labels are given: its value's own `inc(1)`, without the metric's checks
    (labels present, amount not negative) on every call: two Python calls fewer per count. prometheus_client's
    public `inc` when its internals are not what this expects."""
    value = getattr(child, "_value", None)
    add = getattr(value, "inc", None)
    return partial(add, 1) if callable(add) else child.inc


def observing(child: Histogram) -> Callable[[float], None]:
    """`child.observe` of a histogram child whose labels are given: the sum and the first bucket whose bound is at
    or above the amount, found by bisection instead of a Python loop over the bounds (what `observe` does, without
    its label check). prometheus_client's public `observe` when its internals are not what this expects."""
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    add = getattr(getattr(child, "_sum", None), "inc", None)
    if not (isinstance(bounds, list) and isinstance(buckets, list) and len(bounds) == len(buckets) and bounds
            and bounds == sorted(bounds) and callable(add)):
        return child.observe
    incs, last = [bucket.inc for bucket in buckets], bounds[-1]

    def observe(amount: float) -> None:
        add(amount)
        if amount <= last:  # always (the last bound is +Inf), except for NaN, which no bucket counts
            incs[bisect_left(bounds, amount)](1)
    return observe


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
        self.writer_sync_seconds = Histogram(
            "tradovate_sim_writer_sync_duration_seconds", "Time the SQLite writer process's COMMIT of each group of "
            "commits took (its fsync under synchronous=FULL): the disk's share of a commit's duration",
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
        self.leader = Gauge("tradovate_sim_leader", "1 while this process leads: runs the market and the timers (summed"
                            " over the machine's live workers: how many lead, 0 or 1)", registry=registry,
                            multiprocess_mode="livesum")
        self.loop_lag = Histogram("tradovate_sim_event_loop_lag_seconds",
                                  "How late the event loop woke a 10 ms timer: a synchronous step delays every request",
                                  buckets=PAUSE_BUCKETS, registry=registry)
        self.gc_collections = Counter("tradovate_sim_gc_collections", "Garbage collections, by generation",
                                      ["generation"], registry=registry)
        self.gc_seconds = Histogram("tradovate_sim_gc_pause_seconds", "Time each garbage collection stopped the server",
                                    ["generation"], buckets=PAUSE_BUCKETS, registry=registry)
        self._gc = [(counting(self.gc_collections.labels(str(g))), observing(self.gc_seconds.labels(str(g))))
                    for g in range(3)]
        # every series exists from the start, at 0
        self._liquidated: dict[Initiator, Callable[[], None]] = {
            initiator: counting(self.liquidations.labels(initiator.value)) for initiator in Initiator}
        self._landed = counting(self.commits.labels("landed"))
        self._failed = counting(self.commits.labels("failed"))
        self._commit_seconds = observing(self.commit_seconds)
        self.writer_synced: Callable[[float], None] = observing(self.writer_sync_seconds)  # `SqliteStore.on_sync`
        self._lag = observing(self.loop_lag)
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
        self._lag(seconds)
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
            child = self._children[key] = (counting(counter),
                                           observing(self.request_seconds.labels(transport, operation)))
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
        (self._landed if landed else self._failed)()
        self._commit_seconds(seconds)
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

    def leading(self, leads: bool) -> None:
        """This process took the lead or stepped down (server/leader.py)."""
        self.leader.set(1 if leads else 0)

    def auto_liq_breached(self) -> None:
        """`Telemetry`: an account crossed an auto-liquidation threshold."""
        self.auto_liq_breaches.inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (several workers: the sum over the machine's workers)."""
        return generate_latest(self.scraped)

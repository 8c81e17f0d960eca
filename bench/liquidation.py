"""Durable liquidations per second over HTTP, next to a trivial authenticated GET on the same server (issue 3).

Starts `tradovate-sim serve` on loopback (SQLite, synchronous=FULL, manual quotes, clock frozen in an open ES
session) and provisions accounts held by one trader (`user/createevaluationaccounts`, 100 per call), each with a
1-lot ESZ6 position and 3 working orders (buy limit, sell limit, sell stop) against a deep quote. Each of
`--rounds` rounds (default 3) provisions N fresh accounts, then measures from C concurrent keep-alive clients:

1. `GET /v1/auth/me`: requests/s, p50/p99;
2. `POST /v1/order/liquidateposition` of the N accounts: liquidations/s, p50/p99, and the ratio to (1). Every answer
   must carry an `orderId`, and every account must end flat with nothing working.

With py-spy installed (and without `--no-profile`), one more round runs under py-spy (the server and the store's
writer process, side by side) and the functions each spends its time in are printed. Every account is liquidated
exactly once.

`--scaling` instead measures one liquidation as the account's working orders grow (1, 10, 100, 1000) and as the
accounts in the database grow (1k, 10k; 100k with `--big`). The client speaks raw HTTP/1.1 over asyncio streams
(uvloop when present) so that it stays cheap; its CPU use is reported next to the server's.

`--open-loop RATE` instead offers liquidations at a fixed rate for `--duration` seconds (default 10), whatever the
answers (each request waits only for a free connection of `--connections`, default 256): p50/p99/p99.9/max latency
are measured from each request's scheduled send time, so a pause of the server delays every request scheduled
during it. Beside it a probe stream sends `GET auth/me` every 5 ms on a connection of its own, also measured from
its schedule: its worst latency is the longest the server's event loop did not answer (a pause in the loop;
a stall of the writer process alone delays the liquidations but not the probe).

Run: `.venv/bin/python bench/liquidation.py [--accounts 1000] [--clients 32] [--results bench/RESULTS.md]`
     `.venv/bin/python bench/liquidation.py --scaling [--big] [--results bench/RESULTS.md]`
     `.venv/bin/python bench/liquidation.py --open-loop 1000 [--duration 10] [--results bench/RESULTS.md]`
"""

import argparse
import asyncio
import contextlib
import gc
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Connection, Server, child_pids, machine, minor_faults, process_cpu_seconds, replace_block

OPEN_TIME = "2026-11-24T15:00:00Z"  # a Tuesday, 09:00 in Chicago: the ES session is open
SYMBOL = "ESZ6"
ADMIN_PASSWORD = "bench-admin-pw"
TRADER = "bencher"
TRADER_PASSWORD = "bencher-pw"
DEEP_QUOTE = {"symbol": SYMBOL, "bid": 6800.0, "ask": 6800.25, "bidSize": 1_000_000, "askSize": 1_000_000,
              "depthSize": 1_000_000, "depthLevels": 10}
BATCH = 100  # accounts per createEvaluationAccounts call (the endpoint's maximum)
MARK_BEGIN = "<!-- bench/liquidation.py {mode}: begin -->"
MARK_END = "<!-- bench/liquidation.py {mode}: end -->"

JSON = dict[str, Any]


# --- the server ----------------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    body: bytes | None = None


@dataclass
class Outcome:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Phase:
    """What one phase measured: answers, wall time, client and server CPU."""

    name: str
    outcomes: list[Outcome]
    wall: float
    client_cpu: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return len(self.outcomes) / self.wall

    def percentile(self, q: float) -> float:
        ordered = sorted(o.seconds for o in self.outcomes)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0

    def line(self) -> str:
        return (f"{self.name:<22} {len(self.outcomes):>7} req {self.wall:7.2f} s {self.rate:9.0f}/s  "
                f"p50 {self.percentile(0.50):6.2f} ms  p99 {self.percentile(0.99):6.2f} ms  "
                f"server CPU {self.server_cpu / self.wall:4.0%}  client CPU {self.client_cpu / self.wall:4.0%}")


@dataclass
class Bench:
    """The running server, the connections of the C clients, and the tokens."""

    server: Server
    clients: int
    connections: list[Connection] = field(default_factory=list)
    admin: str = ""
    trader: str = ""
    trader_id: int = 0
    template: int = 0
    contract_id: int = 0
    accounts: list[int] = field(default_factory=list)
    database_cpu: Callable[[], float] | None = None  # CPU seconds of the database's processes (PostgreSQL)
    database: str = "SQLite `synchronous=FULL`"

    async def connect(self) -> None:
        self.connections = [await Connection.open("127.0.0.1", self.server.port) for _ in range(self.clients)]

    def close(self) -> None:
        for connection in self.connections:
            connection.close()

    async def call(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        """One request on the first connection; must answer HTTP 200."""
        payload = None if body is None else json.dumps(body).encode()
        status, raw = await self.connections[0].request(method, path, payload, token or self.admin)
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status} {raw[:500]!r}")
        return json.loads(raw) if raw else None

    async def drive(self, requests: Sequence[Request], token: str, clients: int | None = None,
                    name: str = "") -> Phase:
        """Send `requests` from `clients` concurrent connections, each taking the next one as soon as it is free."""
        pool = self.connections[: clients or self.clients]
        outcomes: list[Outcome | None] = [None] * len(requests)
        cursor = iter(range(len(requests)))

        async def worker(connection: Connection) -> None:
            for index in cursor:
                request = requests[index]
                started = time.perf_counter()
                status, body = await connection.request(request.method, request.path, request.body, token)
                outcomes[index] = Outcome(status, body, time.perf_counter() - started)

        server_cpu, client_cpu, started = self.server.cpu_seconds(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(c) for c in pool))
        wall = time.perf_counter() - started
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(requests)
        return Phase(name=name, outcomes=done, wall=wall, client_cpu=time.process_time() - client_cpu,
                     server_cpu=self.server.cpu_seconds() - server_cpu)


def post(path: str, body: object) -> Request:
    return Request("POST", path, json.dumps(body).encode())


def require_success(phase: Phase, what: str) -> None:
    for outcome in phase.outcomes:
        if outcome.status != 200 or b"failureReason" in outcome.body or b'"errorText"' in outcome.body:
            raise RuntimeError(f"{what}: HTTP {outcome.status} {outcome.body[:500]!r}")


# --- provisioning --------------------------------------------------------------------------------------------------


async def set_up(bench: Bench) -> None:
    """Admin and trader tokens, the frozen clock, the deep quote, the trader."""
    login = await bench.call("POST", "/v1/auth/accesstokenrequest", {"name": "admin", "password": ADMIN_PASSWORD})
    bench.admin = login["accessToken"]
    # request limits stay on (their counting is part of what is measured) but never refuse the bench's traffic
    await bench.call("POST", "/sim/limits", {"user": [{"limit": 1 << 40, "seconds": 3600}, {"limit": 1 << 40,
                                             "seconds": 60}, {"limit": 1 << 40, "seconds": 1}]})
    await bench.call("POST", "/sim/clock", {"now": OPEN_TIME})
    await bench.call("POST", "/sim/quote", DEEP_QUOTE)
    bench.contract_id = (await bench.call("GET", f"/v1/contract/find?name={SYMBOL}"))["id"]
    accounts = await bench.call("GET", "/v1/account/list")
    bench.template = next(a["id"] for a in accounts if a["name"] == "TEMPLATE")
    created = await bench.call("POST", "/v1/user/createevaluationusers", {"users": [{
        "name": TRADER, "email": f"{TRADER}@example.com", "password": TRADER_PASSWORD, "firstName": "Bench",
        "lastName": "Marker"}]})
    bench.trader_id = created["results"][0]["userId"]
    login = await bench.call("POST", "/v1/auth/accesstokenrequest", {"name": TRADER, "password": TRADER_PASSWORD})
    bench.trader = login["accessToken"]


async def create_accounts(bench: Bench, count: int) -> list[int]:
    """`count` more funded accounts held by the trader, 100 per request."""
    made: list[int] = []
    first = len(bench.accounts)
    for start in range(first, first + count, BATCH):
        names = [f"B{i:07d}" for i in range(start, min(start + BATCH, first + count))]
        result = await bench.call("POST", "/v1/user/createevaluationaccounts", {"accounts": [
            {"userId": bench.trader_id, "templateAccountId": bench.template, "name": name,
             "initialBalance": 50_000.0} for name in names]})
        ids = [r.get("accountId") for r in result["results"]]
        if not all(ids):
            raise RuntimeError(f"createEvaluationAccounts: {result}")
        made += ids
    bench.accounts += made
    return made


def book_requests(account_id: int, working: int = 3) -> list[Request]:
    """A 1-lot long position and `working` resting orders (buy limits, sell limits and sell stops in turn)."""
    requests = [post("/v1/order/placeorder", {"accountId": account_id, "symbol": SYMBOL, "action": "Buy",
                                              "orderQty": 1, "orderType": "Market"})]
    for k in range(working):
        offset = 2.5 + 0.25 * (k // 3)
        kind = k % 3
        body: JSON = {"accountId": account_id, "symbol": SYMBOL, "orderQty": 1}
        if kind == 0:
            body |= {"action": "Buy", "orderType": "Limit", "price": 6800.0 - offset}
        elif kind == 1:
            body |= {"action": "Sell", "orderType": "Limit", "price": 6800.25 + offset}
        else:
            body |= {"action": "Sell", "orderType": "Stop", "stopPrice": 6800.0 - offset}
        requests.append(post("/v1/order/placeorder", body))
    return requests


async def provision(bench: Bench, count: int, working: int = 3) -> list[int]:
    accounts = await create_accounts(bench, count)
    # fresh connections: all but the first sat idle while the accounts were made, and the server closes a
    # connection idle for 5 s (uvicorn's keep-alive), which a loaded machine reaches when making thousands
    bench.close()
    await bench.connect()
    requests = [r for a in accounts for r in book_requests(a, working)]
    require_success(await bench.drive(requests, bench.trader), "placeorder")
    return accounts


def liquidations(bench: Bench, accounts: Sequence[int]) -> list[Request]:
    return [post("/v1/order/liquidateposition", {"accountId": a, "contractId": bench.contract_id, "admin": False})
            for a in accounts]


async def liquidate(bench: Bench, accounts: Sequence[int], clients: int | None = None,
                    name: str = "liquidateposition") -> Phase:
    phase = await bench.drive(liquidations(bench, accounts), bench.trader, clients, name)
    for outcome in phase.outcomes:
        if outcome.status != 200 or "orderId" not in outcome.json() or b"failureReason" in outcome.body:
            raise RuntimeError(f"liquidation: HTTP {outcome.status} {outcome.body[:500]!r}")
    return phase


async def verify_flat(bench: Bench, accounts: Sequence[int]) -> None:
    wanted = set(accounts)
    positions = await bench.call("GET", "/v1/position/list", token=bench.trader)
    held = [p for p in positions if p["accountId"] in wanted and p["netPos"] != 0]
    orders = await bench.call("GET", "/v1/order/list", token=bench.trader)
    working = [o for o in orders if o["accountId"] in wanted and o["ordStatus"] in ("Working", "Suspended")]
    if held or working:
        raise RuntimeError(f"not flat after liquidation: {len(held)} positions, {len(working)} working orders")


# --- profiling -----------------------------------------------------------------------------------------------------


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampling(pid: int, output: Path, *, rate: int = 500) -> Iterator[None]:
    """py-spy samples a process's busy threads while the block runs, into raw collapsed stacks."""
    tool = py_spy()
    assert tool is not None
    process = subprocess.Popen([tool, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                "--threads", "--output", str(output)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let py-spy attach
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
        if not output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {errors.decode(errors='replace')}")


FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Leaf frames where a thread waits rather than works (py-spy cannot always tell): the executor's idle workers.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py)",)


def frame_name(frame: str, *, line: bool = False) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    where = f"{path}:{match['line']}" if line and match["line"] else path
    return f"{match['function']} ({where})"


@dataclass
class Samples:
    """Collapsed py-spy stacks of one thread."""

    total: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)


def read_stacks(raw: Path) -> tuple[dict[str, Samples], int]:
    """Samples per thread name, idle leaves left out; and how many idle samples were left out."""
    threads: dict[str, Samples] = {}
    idle = 0
    for text in raw.read_text().splitlines():
        stack, _, count_text = text.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or len(frames) < 2:
            continue
        count = int(count_text)
        leaf = frame_name(frames[-1])
        if leaf in IDLE_LEAVES:
            idle += count
            continue
        thread = threads.setdefault(frames[0].split(": ", 1)[-1].strip(), Samples())
        thread.total += count
        thread.own[frame_name(frames[-1], line=True)] += count
        for name in {frame_name(f) for f in frames[1:]}:
            thread.inclusive[name] += count
    return threads, idle


def summarize_profile(raw: Path, top: int = 15) -> list[str]:
    """Busy samples per thread, the top own lines of each busy thread, and the inclusive share of the server's own
    functions on the event loop thread."""
    threads, idle = read_stacks(raw)
    busy = sum(t.total for t in threads.values())
    if not busy:
        return ["(no samples)"]
    lines = [f"{busy} busy samples ({idle} idle samples dropped); busy samples by thread: "
             + ", ".join(f"{name} {t.total / busy:.0%}" for name, t in sorted(threads.items(),
                                                                          key=lambda kv: -kv[1].total)), ""]
    for name, thread in sorted(threads.items(), key=lambda kv: -kv[1].total)[:2]:
        lines += [f"| own % of {name} | line |", "|---:|---|"]
        lines += [f"| {c / thread.total:.1%} | `{frame}` |" for frame, c in thread.own.most_common(top)]
        lines.append("")
    main = threads.get("MainThread")
    if main is not None:
        ours = [(n, c) for n, c in main.inclusive.most_common()
                if "tradovate_sim/" in n and "cli.py" not in n]
        lines += ["| inclusive % of MainThread | function |", "|---:|---|"]
        lines += [f"| {c / main.total:.1%} | `{n}` |" for n, c in ours[:top + 10]]
        loop = sum(c for k, c in main.own.items() if k.startswith("Runner.run ("))
        lines += ["", f"MainThread samples inside uvloop's C loop (socket I/O, callbacks, epoll): "
                  f"{loop / main.total:.1%}"]
    return lines


# --- the runs ------------------------------------------------------------------------------------------------------


async def main_run(bench: Bench, args: argparse.Namespace, report: list[str]) -> None:
    """Rounds of: provision N fresh accounts, measure auth/me, liquidate the N accounts. Each account is liquidated
    once; the rounds show how steady the numbers are on a shared machine."""
    me = [Request("GET", "/v1/auth/me")] * args.me_requests
    require_success(await bench.drive(me[: min(2000, len(me))], bench.trader), "warm-up")
    report += [
        f"- Each round: {args.accounts} fresh accounts, each with a 1-lot ESZ6 position and 3 working orders (buy "
        f"limit, sell limit, sell stop); then {args.me_requests} `GET auth/me` and the {args.accounts} "
        f"liquidations, both from {args.clients} concurrent keep-alive clients. Every liquidation cancels 3 orders "
        f"and fills a 1-lot market order, committed durably ({bench.database}) before the answer; "
        "afterwards every account is checked flat with nothing working.",
        "",
        "| round | phase | requests | wall s | per second | p50 ms | p99 ms | server CPU | client CPU |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: list[tuple[float, Phase, Phase]] = []
    costs: list[tuple[float, float]] = []  # CPU ms per liquidation: server process, database processes
    for round_number in range(1, args.rounds + 1):
        started = time.perf_counter()
        accounts = await provision(bench, args.accounts)
        print(f"round {round_number}: provisioned {len(accounts)} accounts in {time.perf_counter() - started:.1f} s",
              flush=True)
        trivial = await bench.drive(me, bench.trader, name="GET auth/me")
        require_success(trivial, "auth/me")
        database_cpu = bench.database_cpu() if bench.database_cpu else 0.0
        liquidated = await liquidate(bench, accounts, name="POST liquidateposition")
        if bench.database_cpu is not None:
            per = 1000 / len(liquidated.outcomes)
            costs.append((liquidated.server_cpu * per, (bench.database_cpu() - database_cpu) * per))
        await verify_flat(bench, accounts)
        ratio = liquidated.rate / trivial.rate
        ratios.append((ratio, trivial, liquidated))
        print(trivial.line(), liquidated.line(), f"ratio {ratio:.1%}", sep="\n", flush=True)
        for phase in (trivial, liquidated):
            report.append(f"| {round_number} | {phase.name} | {len(phase.outcomes)} | {phase.wall:.2f} | "
                          f"{phase.rate:.0f} | {phase.percentile(0.5):.2f} | {phase.percentile(0.99):.2f} | "
                          f"{phase.server_cpu / phase.wall:.0%} | {phase.client_cpu / phase.wall:.0%} |")
    ratio, trivial, liquidated = sorted(ratios, key=lambda r: r[0])[len(ratios) // 2]
    summary = (f"Median round: {liquidated.rate:.0f} liquidations/s (p50 {liquidated.percentile(0.5):.1f} ms, "
               f"p99 {liquidated.percentile(0.99):.1f} ms) against {trivial.rate:.0f} auth/me/s: ratio "
               f"{ratio:.1%} (issue floor: 1000/s, p99 < 50 ms, 10 %; goal 25 %, p99 < 10 ms)")
    if costs:
        server_ms, database_ms = sorted(costs)[len(costs) // 2]
        summary += (f"; CPU per liquidation (median round): server process {server_ms:.2f} ms, PostgreSQL "
                    f"{database_ms:.2f} ms")
    print(summary, flush=True)
    report += ["", f"**{summary}.**"]
    if not args.no_profile and py_spy() is not None:
        await profile(bench, args, report)


async def profile(bench: Bench, args: argparse.Namespace, report: list[str]) -> None:
    """One more liquidation round on fresh accounts under py-spy, sampling the server (its event loop) and the
    store's writer process side by side."""
    directory = Path(tempfile.mkdtemp(prefix="liquidation-profile-"))
    accounts = await provision(bench, args.profile_accounts)
    raws = {"server": directory / "server.txt"}
    raws |= {f"writer process {pid}": directory / f"writer-{pid}.txt" for pid in bench.server.children()}
    pids = {"server": bench.server.pid} | {name: int(name.rsplit(" ", 1)[1]) for name in raws if name != "server"}
    with contextlib.ExitStack() as stack:
        for name, raw in raws.items():
            stack.enter_context(sampling(pids[name], raw))
        profiled = await liquidate(bench, accounts, name="profiled")
    print(profiled.line(), flush=True)
    await verify_flat(bench, accounts)
    for name, raw in raws.items():
        summary = summarize_profile(raw)
        print(f"--- {name}", "\n".join(summary), sep="\n", flush=True)
        report += ["", f"#### py-spy, {name}: {len(accounts)} more liquidations from {args.clients} clients at "
                   f"{profiled.rate:.0f}/s under the profiler (500 Hz; raw stacks in {raw})", "", *summary]


PROBE_INTERVAL = 0.005  # the probe stream: one `GET auth/me` every 5 ms
PAUSE_SERIES = ("tradovate_sim_event_loop_lag_seconds_", "tradovate_sim_gc_pause_seconds_",
                "tradovate_sim_commit_duration_seconds_", "tradovate_sim_writer_sync_duration_seconds_")


async def pause_counters(bench: Bench) -> dict[str, float]:
    """The server's own pause histograms (`/metrics`): event-loop lag and garbage-collection pauses."""
    status, raw = await bench.connections[0].request("GET", "/metrics")
    found: dict[str, float] = {}
    for line in raw.decode().splitlines() if status == 200 else []:
        if line.startswith(PAUSE_SERIES):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What each series counted between two scrapes."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def waits_between(name: str, what: str, before: dict[str, float], after: dict[str, float]) -> str:
    """What the histogram `name` observed between two scrapes: how many `what`, how many over 10, 25 and 50 ms."""
    delta = between(before, after)
    count = delta.get(f"{name}_count", 0.0)
    over = {le: count - delta.get(f'{name}_bucket{{le="{le}"}}', 0.0) for le in ("0.01", "0.025", "0.05")}
    return (f"{count:.0f} {what}, {over['0.01']:.0f} over 10 ms, {over['0.025']:.0f} over 25 ms, "
            f"{over['0.05']:.0f} over 50 ms")


def pauses_between(before: dict[str, float], after: dict[str, float]) -> str:
    """What the server's histograms saw between two scrapes: loop wakes later than 10 and 50 ms, the bucket of the
    worst one; garbage collections (all generations) and the bucket of the longest."""
    delta = between(before, after)

    def worst(name: str, label: str = "") -> tuple[float, str]:
        """(observations, the bucket of the largest) of a histogram's series carrying `label`."""
        buckets = sorted((float(k.split('le="', 1)[1].split('"', 1)[0]), v) for k, v in delta.items()
                         if k.startswith(name + "_bucket") and label in k and 'le="+Inf"' not in k)
        total = sum(v for k, v in delta.items() if k.startswith(name + "_count") and label in k)
        bound = next((le for le, under in buckets if under >= total), None)
        return total, "none" if not total else f"≤ {bound * 1000:g} ms" if bound is not None else "> 1 s"

    lag = "tradovate_sim_event_loop_lag_seconds"
    wakes = delta.get(f"{lag}_count", 0.0)
    late10 = wakes - delta.get(f'{lag}_bucket{{le="0.01"}}', 0.0)
    late50 = wakes - delta.get(f'{lag}_bucket{{le="0.05"}}', 0.0)
    collections = []
    for generation in range(3):
        count, longest = worst("tradovate_sim_gc_pause_seconds", f'generation="{generation}"')
        if count:
            collections.append(f"gen{generation} {count:.0f} ({longest})")
    return f"{late10:.0f} / {late50:.0f} | {worst(lag)[1]} | {', '.join(collections) or 'none'}"


@dataclass
class OpenLoop:
    """Latencies (s) from each request's scheduled send time, with that time (s into the run); the probe stream's
    likewise."""

    latencies: list[tuple[float, float]]
    probes: list[tuple[float, float]]
    wall: float
    server_cpu: float
    client_cpu: float
    writer_cpu: float = 0.0  # the store's writer process alone (SQLite); also in server_cpu
    loop_faults: int = 0  # minor page faults of the server's event-loop thread
    faults: int = 0  # of the server process, every thread
    writer_faults: int = 0  # of its writer process (SQLite)

    def percentile(self, q: float, probes: bool = False) -> float:
        ordered = sorted(latency for _, latency in (self.probes if probes else self.latencies))
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


class Pipe(asyncio.Protocol):
    """One keep-alive connection of the open loop, as cheap as a client can be: it writes a prebuilt request and
    reads the answer's status and `content-length` only, then calls `done(pipe, status, body)` (no task, no
    future, no stream reader per request)."""

    def __init__(self, done: Callable[["Pipe", int, bytes], None]) -> None:
        self.done = done
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.scheduled = 0.0  # the send time the request in flight was scheduled for

    @classmethod
    async def open(cls, port: int, done: Callable[["Pipe", int, bytes], None]) -> "Pipe":
        _, pipe = await asyncio.get_running_loop().create_connection(lambda: cls(done), "127.0.0.1", port)
        return pipe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass of asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, request: bytes, scheduled: float) -> None:
        assert self.transport is not None
        self.scheduled = scheduled
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17:stop if stop >= 0 else len(head)])
            if len(buffer) < end + 4 + length:
                return
            body = bytes(buffer[end + 4:end + 4 + length])
            del buffer[:end + 4 + length]
            self.done(self, int(head[9:12]), body)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def prebuilt(request: Request, token: str) -> bytes:
    """The whole HTTP/1.1 request, built before the run."""
    head = f"{request.method} {request.path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
    if request.body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(request.body)}\r\n"
    return (head + "\r\n").encode() + (request.body or b"")


async def offer(bench: Bench, rate: float, accounts: Sequence[int], connections: int) -> OpenLoop:
    """Send one liquidation per account at `rate`/s on schedule, each on the next free connection of
    `connections` (or, when none is free, as soon as one is); probe the server with `GET auth/me` every
    PROBE_INTERVAL on a connection of its own meanwhile."""
    requests = [prebuilt(r, bench.trader) for r in liquidations(bench, accounts)]
    latencies: list[tuple[float, float]] = []  # (scheduled, latency)
    probes: list[tuple[float, float]] = []
    failures: list[str] = []
    clock = time.perf_counter  # not the loop's time: uvloop's counts whole milliseconds
    free: deque[Pipe] = deque()  # first in, first out: every connection is used, none idles into the keep-alive
    waiting: deque[tuple[bytes, float]] = deque()  # sent late: no connection was free at their time
    finished = asyncio.get_running_loop().create_future()

    def done(pipe: Pipe, status: int, body: bytes) -> None:
        latencies.append((pipe.scheduled - start, clock() - pipe.scheduled))
        if status != 200 or b'"orderId"' not in body or b"failureReason" in body:
            failures.append(f"HTTP {status} {body[:300]!r}")
        if waiting:
            pipe.send(*waiting.popleft())
        else:
            free.append(pipe)
        if len(latencies) == len(requests) and not finished.done():
            finished.set_result(None)

    pipes = list(await asyncio.gather(*(Pipe.open(bench.server.port, done) for _ in range(connections))))
    free.extend(pipes)
    prober = await Connection.open("127.0.0.1", bench.server.port)
    start = clock() + 0.1
    end = start + len(requests) / rate

    async def probe() -> None:
        scheduled = start
        while scheduled < end:
            await asyncio.sleep(max(0.0, scheduled - clock()))
            status, _ = await prober.request("GET", "/v1/auth/me", None, bench.trader)
            probes.append((scheduled - start, clock() - scheduled))
            if status != 200:
                failures.append(f"probe: HTTP {status}")
            # the next probe is scheduled after the answer: a pause delays one probe, not a queue of them
            scheduled = max(scheduled + PROBE_INTERVAL, clock())

    server_cpu, client_cpu = bench.server.cpu_seconds(), time.process_time()
    writer_cpu = process_cpu_seconds(bench.server.children())
    pid = bench.server.pid
    loop_faults, faults = minor_faults(pid, pid), minor_faults(pid)
    writer_faults = sum(map(minor_faults, bench.server.children()))
    gc.collect()
    gc.disable()  # the client's own collections would show as server pauses (seen: 34-44 ms full collections)
    probing = asyncio.create_task(probe())
    try:
        for index, request in enumerate(requests):
            scheduled = start + index / rate
            delay = scheduled - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if free:
                free.popleft().send(request, scheduled)
            else:
                waiting.append((request, scheduled))
        await finished
        await probing
    finally:
        gc.enable()
        for pipe in pipes:
            pipe.close()
        prober.close()
    wall = clock() - start
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, first: {failures[0]}")
    return OpenLoop(latencies=latencies, probes=probes, wall=wall, server_cpu=bench.server.cpu_seconds() - server_cpu,
                    client_cpu=time.process_time() - client_cpu,
                    writer_cpu=process_cpu_seconds(bench.server.children()) - writer_cpu,
                    loop_faults=minor_faults(pid, pid) - loop_faults, faults=minor_faults(pid) - faults,
                    writer_faults=sum(map(minor_faults, bench.server.children())) - writer_faults)


async def open_loop_run(bench: Bench, args: argparse.Namespace, report: list[str]) -> None:
    """Liquidations offered at a fixed rate (open loop) for a fixed time, after a closed-loop warm-up."""
    rates = args.open_loop
    report += [
        f"- Open loop: liquidations offered at a fixed rate for {args.duration:g} s each, every one of a fresh account "
        "(a 1-lot ESZ6 position and 3 working orders), whatever the answers; each request waits only for a free "
        f"connection of {args.connections}. Latency from each request's scheduled send time. Probe: `GET auth/me` "
        f"every {PROBE_INTERVAL * 1000:g} ms on a connection of its own, also from its schedule; its worst latency "
        "is the longest the event loop did not answer. The client writes prebuilt requests on raw asyncio "
        "protocol connections (no task, future or stream reader per request); its CPU is in the table.",
        "",
        "Server side (its `/metrics`): wakes of the 10-ms event-loop lag probe later than 10 / 50 ms, the worst "
        "one's histogram bucket; garbage collections by generation (the longest one's bucket).",
        "",
        "| offered/s | requests | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms | probe p50 ms | probe max ms | "
        "server CPU | client CPU | loop lag > 10 / 50 ms | worst lag | GC collections (longest) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    warm = await provision(bench, 200)
    await liquidate(bench, warm)
    for rate in rates:
        count = int(rate * args.duration)
        started = time.perf_counter()
        accounts = await provision(bench, count)
        print(f"{rate}/s: provisioned {count} accounts in {time.perf_counter() - started:.0f} s", flush=True)
        # fresh connections on both sides of the run: the server closes those idle for 5 s (uvicorn's keep-alive)
        bench.close()
        await bench.connect()
        before = await pause_counters(bench)
        with writer_syscalls(bench.server.children() if args.writer_syscalls else []) as syscalls:
            result = await offer(bench, rate, accounts, args.connections)
        bench.close()
        await bench.connect()
        after = await pause_counters(bench)
        paused = pauses_between(before, after)
        committed = waits_between("tradovate_sim_commit_duration_seconds", "commits", before, after)
        synced = waits_between("tradovate_sim_writer_sync_duration_seconds", "groups", before, after)
        await verify_flat(bench, accounts)
        line = (f"| {rate:g} | {count} | {count / result.wall:.0f} | {result.percentile(0.5):.2f} | "
                f"{result.percentile(0.99):.2f} | {result.percentile(0.999):.2f} | {result.percentile(1.0):.2f} | "
                f"{result.percentile(0.5, probes=True):.2f} | {result.percentile(1.0, probes=True):.2f} | "
                f"{result.server_cpu / result.wall:.0%} | {result.client_cpu / result.wall:.0%} | {paused} |")
        print(line, flush=True)
        print(f"  writer process: {result.writer_cpu * 1e6 / count:.0f} µs CPU per liquidation ("
              f"{result.writer_cpu / result.wall:.0%})" + "".join(f"; {name} {calls / count:.2f}"
                                                                  for name, calls in syscalls.items()), flush=True)
        print(f"  commits (the server's histogram): {committed}", flush=True)
        print(f"  the writer's COMMITs (fsync; its histogram): {synced}", flush=True)
        print(f"  page faults: server {result.loop_faults} on the event loop's thread, {result.faults} in all; "
              f"writer process {result.writer_faults}", flush=True)
        for name, series in (("liquidations", result.latencies), ("probes", result.probes)):
            worst = sorted(series, key=lambda pair: -pair[1])[:5]
            print(f"  worst {name} (sent at s: ms): "
                  + ", ".join(f"{at:.3f}: {latency * 1000:.0f}" for at, latency in worst), flush=True)
        report.append(line)


WRITER_SYSCALLS = ("pwrite64", "pread64", "fdatasync", "fcntl", "read", "readv", "write", "pselect6", "mmap", "mremap",
                   "munmap", "openat", "unlink", "futex")


@contextlib.contextmanager
def writer_syscalls(pids: list[int]) -> Iterator[dict[str, int]]:
    """Count the system calls of `pids` (the store's writer) meanwhile with `perf stat` (its syscall tracepoints):
    filled in on exit; nothing when `pids` is empty."""
    counts: dict[str, int] = {}
    if not pids:
        yield counts
        return
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        events = ",".join(f"syscalls:sys_enter_{name}" for name in WRITER_SYSCALLS)
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", ",".join(map(str, pids)),
                                 "-o", out.name])
        time.sleep(0.5)  # perf attached
        try:
            yield counts
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait()
            for row in Path(out.name).read_text().splitlines():
                fields = row.split(",")
                if len(fields) > 2 and fields[0].strip().isdigit():
                    counts[fields[2].rsplit("_enter_", 1)[-1]] = int(fields[0])


async def scaling_run(bench: Bench, args: argparse.Namespace, report: list[str]) -> None:
    report += ["- One liquidation as the account's working orders grow: liquidations one at a time (one client) of "
               "fresh accounts holding a 1-lot position and k working orders on ESZ6.", "",
               "| working orders k | accounts | p50 ms | max ms | p50 per cancelled order ms |",
               "|---:|---:|---:|---:|---:|"]
    for working in (1, 10, 100, 1000):
        repeats = 20 if working <= 10 else 10 if working == 100 else 5
        accounts = await provision(bench, repeats, working)
        phase = await liquidate(bench, accounts, clients=1, name=f"k={working}")
        await verify_flat(bench, accounts)
        print(phase.line(), flush=True)
        p50 = phase.percentile(0.5)
        report.append(f"| {working} | {repeats} | {p50:.2f} | {phase.percentile(1.0):.2f} | {p50 / working:.3f} |")
    sizes = [1_000, 10_000] + ([100_000] if args.big else [])
    report += ["", "- One liquidation as the accounts in the database grow: every account holds a 1-lot position "
               "and 3 working orders on the same contract (ESZ6); at each size, 200 liquidations one at a time "
               f"(1 client) and 1000 from {args.clients} clients.", "",
               "| accounts in db | 1 client p50 ms | 1 client p99 ms | "
               f"{args.clients} clients liquidations/s | p50 ms | p99 ms |", "|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        missing = size - len(bench.accounts)
        started = time.perf_counter()
        fresh: list[int] = []
        for chunk in range(0, missing, 5_000):
            fresh += await provision(bench, min(5_000, missing - chunk))
        print(f"database holds {len(bench.accounts)} accounts (+{missing} in {time.perf_counter() - started:.0f} s)",
              flush=True)
        pool = fresh[-1200:]  # never liquidated before: each account is liquidated once
        single = await liquidate(bench, pool[:200], clients=1, name=f"{size} accts, 1 client")
        many = await liquidate(bench, pool[200:], name=f"{size} accts, {args.clients} clients")
        await verify_flat(bench, pool)
        print(single.line(), flush=True)
        print(many.line(), flush=True)
        report.append(f"| {size} | {single.percentile(0.5):.2f} | {single.percentile(0.99):.2f} | "
                      f"{many.rate:.0f} | {many.percentile(0.5):.2f} | {many.percentile(0.99):.2f} |")


def write_results(path: Path, mode: str, section: list[str]) -> None:
    """Replace this mode's generated block in `path` (or append it), leaving everything else alone."""
    begin, end = MARK_BEGIN.format(mode=mode), MARK_END.format(mode=mode)
    replace_block(path, begin, end, "\n".join([begin, *section, end]))


async def run(args: argparse.Namespace) -> list[str]:
    """Every database of `--db` in turn, in this one run (so that their numbers share the machine's state)."""
    report: list[str] = []
    for given in args.db or ["sqlite"]:
        db, _, count = given.partition(":")  # cluster:2: two server processes (`--workers 2`) on it
        workers = int(count) if count.isdigit() else 1
        with database(db if count.isdigit() else given) as (url, label, cpu):
            report += await run_on(args, url, label + (f", {workers} workers" if workers > 1 else ""), cpu,
                                   workers)
            report.append("")
    return report


@contextlib.contextmanager
def database(db: str) -> Iterator[tuple[str | None, str, Callable[[], float] | None]]:
    """(the --db URL, how the report names it, the database's CPU seconds) for `sqlite` (a temporary file),
    `cluster` (the tests' throw-away PostgreSQL cluster, tests/pg/cluster.py) or a postgresql:// URL."""
    if db == "sqlite":
        yield None, "SQLite WAL, `synchronous=FULL`", None
        return
    if db != "cluster":
        yield db, "PostgreSQL (an existing server)", None
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "pg"))
    import cluster as pg_cluster

    running = pg_cluster.started()
    try:
        url = running.create_database("bench")
        postmaster = int((running.data / "postmaster.pid").read_text().split()[0])
        version = running.psql("SHOW server_version")
        yield (url, f"PostgreSQL {version} (throw-away local cluster, fsync on, synchronous_commit on)",
               lambda: process_cpu_seconds([postmaster, *child_pids(postmaster)]))
    finally:
        running.destroy()


async def run_on(args: argparse.Namespace, url: str | None, label: str,
                 database_cpu: Callable[[], float] | None, workers: int = 1) -> list[str]:
    directory = Path(tempfile.mkdtemp(prefix="liquidation-bench-"))
    server = Server(directory, db_name="bench.db", admin_password=ADMIN_PASSWORD, db=url, workers=workers)
    server.start()
    bench = Bench(server=server, clients=args.clients, database_cpu=database_cpu, database=label)
    mode = mode_of(args)
    command = " ".join(["python bench/liquidation.py", *sys.argv[1:]])
    report = [f"### Liquidation {mode} on {label.split(' (', maxsplit=1)[0]}: `{command}`", "",
              f"- Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
              f"- Server: `tradovate-sim serve` (one process, uvicorn), {label}, `--quotes manual`, "
              f"clock frozen at {OPEN_TIME}; client: raw HTTP/1.1 keep-alive over asyncio in one process."]
    try:
        await bench.connect()
        await set_up(bench)
        if args.scaling:
            await scaling_run(bench, args, report)
        elif args.open_loop:
            await open_loop_run(bench, args, report)
        else:
            await main_run(bench, args, report)
    finally:
        bench.close()
        server.stop()
    if "unhandled error" in server.log():
        raise RuntimeError(f"the server logged an unhandled error:\n{server.log()[-3000:]}")
    shutil.rmtree(directory, ignore_errors=True)
    return report


def mode_of(args: argparse.Namespace) -> str:
    return "scaling" if args.scaling else "open loop" if args.open_loop else "throughput"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1000, help="accounts to liquidate (default 1000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--me-requests", type=int, default=10_000, help="auth/me requests measured (default 10000)")
    parser.add_argument("--profile-accounts", type=int, default=3000,
                        help="accounts liquidated under py-spy (default 3000)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy pass")
    parser.add_argument("--scaling", action="store_true", help="measure growth with working orders and accounts")
    parser.add_argument("--big", action="store_true", help="with --scaling, also 100k accounts")
    parser.add_argument("--open-loop", type=float, nargs="+", metavar="RATE",
                        help="offer liquidations at each fixed RATE per second (open loop) instead")
    parser.add_argument("--writer-syscalls", action="store_true",
                        help="open loop: count the writer process's system calls (perf stat) per liquidation")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per open-loop rate (default 10)")
    parser.add_argument("--connections", type=int, default=256,
                        help="open loop: connections the requests take turns on (default 256)")
    parser.add_argument("--db", action="append", metavar="DB",
                        help="sqlite (default: a temporary file), cluster (a throw-away PostgreSQL cluster) or a "
                             "postgresql:// URL, with :N for N server processes (cluster:2); repeat to measure "
                             "several in one run, one after the other")
    parser.add_argument("--results", type=Path, help="write the section into this Markdown file (e.g. RESULTS.md)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    runner: Callable[[Awaitable[list[str]]], list[str]] = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    report = runner(run(args))
    print("\n".join(report))
    if args.results is not None:
        write_results(args.results, mode_of(args), report)
        print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""WebSocket fan-out (issue 4): events per second delivered and the delay to delivery, p50/p99.

Starts `tradovate-sim serve` on loopback (SQLite synchronous=FULL, manual quotes) and measures two things:

1. **props**: 100 sockets (50 as the organization admin, 50 as the trader; 50 is the per-user socket limit) each
   `user/syncrequest` the trader's account DEMO1; REST clients place market orders (Buy/Sell alternating, 1 lot) on
   DEMO1, and every committed change reaches all 100 sockets as `props` events. Reported: props events delivered
   per second (summed over the sockets), and the delay of each order's `order Created` event at each socket
   measured (a) from the moment its REST request was sent and (b) from the order's own `timestamp` (the server's
   clock at the decision, just before the durable commit) when the clock can run in real mode (the ES session is
   open at wall time); otherwise the clock is frozen in an open session and only (a) is reported.
2. **md**: 1,000 sockets (20 users x 50) subscribe to ESZ6 quotes; `/sim/quote` moves the quote in a loop at a
   fixed rate, then as fast as REST answers. Reported: md events delivered per second, the share of
   (updates x sockets) delivered (the rest were coalesced: a socket gets the latest quote, not a backlog), and the
   delay from sending each `/sim/quote` to receiving that quote (or a later one that replaced it).

Both run twice by default: with sockets that negotiate permessage-deflate (what the `websockets` client and most
browsers offer, and uvicorn accepts) and with sockets that do not (`--deflate on|off` runs one).

Client: one process, asyncio (uvloop when present), the `websockets` library, a raw HTTP/1.1 keep-alive client;
its CPU is reported next to the server's so that one can tell which side was the limit.

Run: `.venv/bin/python bench/fanout.py [--results bench/RESULTS.md]` (about 90 s).
"""

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
import msgspec
from harness import Connection, Server, replace_block
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

OPEN_TIME = "2026-11-24T15:00:00Z"  # a Tuesday, 09:00 in Chicago: the ES session is open
SYMBOL = "ESZ6"
ADMIN_PASSWORD = "fanout-admin-pw"
DEMO_PASSWORD = "fanout-demo-pw"
SOCKETS_PER_USER = 50  # the server's per-user connection limit
DEEP_QUOTE = {"symbol": SYMBOL, "bid": 6800.0, "ask": 6800.25, "bidSize": 1_000_000, "askSize": 1_000_000,
              "depthSize": 1_000_000, "depthLevels": 10}
MARK_BEGIN = "<!-- bench/fanout.py: begin -->"
MARK_END = "<!-- bench/fanout.py: end -->"
decode = msgspec.json.Decoder().decode

JSON = dict[str, Any]


# --- the server ----------------------------------------------------------------------------------------------------


def client_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# --- WebSocket clients ---------------------------------------------------------------------------------------------


@dataclass
class Socket:
    """One authorized socket and what it received."""

    connection: ClientConnection
    props: int = 0  # props events received
    frames: int = 0
    created: list[tuple[int, float, float]] = field(default_factory=list)  # (orderId, monotonic, wall) of Created
    quotes: list[tuple[float, float]] = field(default_factory=list)  # (bid, monotonic) of each quote received
    task: asyncio.Task[None] | None = None
    next_id: int = 1

    async def request(self, endpoint: str, body: object) -> Any:
        """Send one request and wait for its reply (only used before `listen`)."""
        request_id = self.next_id
        self.next_id += 1
        await self.connection.send(f"{endpoint}\n{request_id}\n\n{json.dumps(body)}")
        while True:
            raw = await self.connection.recv()
            if isinstance(raw, str) and raw.startswith("a"):
                for item in decode(raw[1:]):
                    if item.get("i") == request_id:
                        if item.get("s") != 200:
                            raise RuntimeError(f"{endpoint}: {item}")
                        return item.get("d")

    def listen(self) -> None:
        self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.connection:
                now = time.monotonic()
                if not isinstance(raw, str) or not raw.startswith("a"):
                    continue
                self.frames += 1
                for item in decode(raw[1:]):
                    kind = item.get("e")
                    if kind == "props":
                        self.props += 1
                        data = item["d"]
                        if data["entityType"] == "order" and data["eventType"] == "Created":
                            self.created.append((data["entity"]["id"], now, time.time()))
                    elif kind == "md":
                        for quote in item["d"].get("quotes", ()):
                            bid = quote["entries"].get("Bid")
                            if bid is not None:
                                self.quotes.append((bid["price"], now))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.close(), 5)


async def open_socket(port: int, token: str, deflate: bool) -> Socket:
    """An authorized socket; `deflate` offers permessage-deflate (the `websockets` default, which uvicorn accepts)."""
    connection = await connect(f"ws://127.0.0.1:{port}/v1/websocket", ping_interval=None, max_size=1 << 24,
                               open_timeout=30, close_timeout=2, compression="deflate" if deflate else None)
    assert await connection.recv() == "o"
    await connection.send(f"authorize\n0\n\n{token}")
    answer = await connection.recv()
    if answer != 'a[{"s":200,"i":0}]':
        raise RuntimeError(f"authorize: {answer}")
    return Socket(connection)


async def gather_limited(factories: Sequence[Callable[[], Awaitable[Any]]], limit: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(factory: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await factory()

    return await asyncio.gather(*(run(f) for f in factories))


async def heartbeat(sockets: Sequence[Socket], stop: asyncio.Event) -> None:
    """The client heartbeat `[]` every 2.5 s on every socket, so the server's silence timeout never fires."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.5)
        for sock in sockets:
            with contextlib.suppress(ConnectionClosed):
                await sock.connection.send("[]")


# --- statistics ----------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- props fan-out -------------------------------------------------------------------------------------------------


async def props_phase(server: Server, sockets: list[Socket], demo: str, accounts: Sequence[int], *, orders: int,
                      clients: int) -> dict[str, Any]:
    """`orders` market orders (round robin over `accounts`) from `clients` concurrent REST clients; waits until every
    socket has every order's events."""
    sent: dict[int, float] = {}  # orderId -> monotonic time its request was sent
    before = [(s.props, len(s.created)) for s in sockets]
    connections = [await Connection.open("127.0.0.1", server.port) for _ in range(clients)]
    counter = iter(range(orders))
    cpu0, server_cpu0, start = client_cpu_seconds(), server.cpu_seconds(), time.monotonic()

    async def place(rest: Connection) -> None:
        for k in counter:
            body = {"accountId": accounts[k % len(accounts)], "action": "Buy" if k // len(accounts) % 2 == 0
                    else "Sell", "symbol": SYMBOL, "orderQty": 1, "orderType": "Market", "isAutomated": True}
            t0 = time.monotonic()
            result = await rest.call("POST", "/v1/order/placeorder", body, demo)
            if "orderId" not in result or result.get("failureReason"):
                raise RuntimeError(f"placeorder: {result}")
            sent[result["orderId"]] = t0

    await asyncio.gather(*(place(rest) for rest in connections))
    deadline = time.monotonic() + 60
    while any(len(s.created) - b[1] < orders for s, b in zip(sockets, before, strict=True)):
        if time.monotonic() > deadline:
            raise RuntimeError("not every socket received every order")
        await asyncio.sleep(0.01)
    wall = max(s.created[-1][1] for s in sockets) - start
    await asyncio.sleep(0.3)  # the rest of the last orders' trails (fill, position, cash)
    client_cpu, server_cpu = client_cpu_seconds() - cpu0, server.cpu_seconds() - server_cpu0
    for rest in connections:
        rest.close()

    delivered = [s.props - b[0] for s, b in zip(sockets, before, strict=True)]
    received = [(order_id, at, wall_at) for sock, (_, first) in zip(sockets, before, strict=True)
                for order_id, at, wall_at in sock.created[first:]]
    return {"orders": orders, "clients": clients, "accounts": len(accounts), "wall": wall, "events": sum(delivered),
            "per_socket": (min(delivered), max(delivered)), "received": received,
            "from_send": [at - sent[order_id] for order_id, at, _ in received], "from_stamp": [],
            "client_cpu": client_cpu, "server_cpu": server_cpu}


async def props_bench(server: Server, admin: str, demo: str, accounts: Sequence[int], *, real_clock: bool,
                      deflate: bool, rounds: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """100 sockets (50 admin, 50 trader) synced to `accounts`; each round places orders on them."""
    tokens = [admin] * SOCKETS_PER_USER + [demo] * SOCKETS_PER_USER
    sockets: list[Socket] = await gather_limited([lambda t=t: open_socket(server.port, t, deflate) for t in tokens])
    for sock in sockets:
        await sock.request("user/syncrequest", {"splitResponses": False, "accounts": list(accounts)})
        sock.listen()
    stop = asyncio.Event()
    beats = asyncio.create_task(heartbeat(sockets, stop))
    results = []
    try:
        await props_phase(server, sockets, demo, accounts, orders=20, clients=1)  # warm-up
        for orders, clients in rounds:
            result = await props_phase(server, sockets, demo, accounts, orders=orders, clients=clients)
            if real_clock:  # the orders' own timestamps (wall time at the decision), from one REST query
                rest = await Connection.open("127.0.0.1", server.port)
                stamps = {e["id"]: parse_time(e["timestamp"])
                          for e in await rest.call("GET", "/v1/order/list", None, demo)}
                rest.close()
                result["from_stamp"] = [wall_at - stamps[order_id] for order_id, _, wall_at in result["received"]]
            result["deflate"] = deflate
            results.append(result)
            print(f"props (deflate {'on' if deflate else 'off'}): {orders} orders on {len(accounts)} account(s) "
                  f"from {clients} clients: {result['events'] / result['wall']:.0f} events/s, "
                  f"send->delivery p50 {ms(percentile(result['from_send'], 50))} ms "
                  f"p99 {ms(percentile(result['from_send'], 99))} ms", flush=True)
    finally:
        stop.set()
        await beats
        await asyncio.gather(*(s.close() for s in sockets))
    return results


# --- market-data fan-out -------------------------------------------------------------------------------------------


class QuoteDriver:
    """Moves the quote over REST from its own thread (so that it keeps its pace whatever the socket readers do):
    one tick per update, at `rate` per second or as fast as the server answers."""

    def __init__(self, port: int, admin: str) -> None:
        self.port = port
        self.admin = admin
        self.bid = 6000.0
        self.sent: dict[float, float] = {}  # bid -> monotonic time its /sim/quote was sent

    def run(self, rate: float | None, seconds: float) -> tuple[int, float]:
        """Updates sent and the seconds it took."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.admin}", "Content-Type": "application/json"}
        start = time.monotonic()
        k = 0
        try:
            while time.monotonic() - start < seconds:
                if rate is not None:
                    time.sleep(max(0.0, start + k / rate - time.monotonic()))
                self.bid += 0.25
                body = json.dumps({"symbol": SYMBOL, "bid": self.bid, "ask": self.bid + 0.25, "bidSize": 10,
                                   "askSize": 10})
                self.sent[self.bid] = time.monotonic()
                connection.request("POST", "/sim/quote", body, headers)
                response = connection.getresponse()
                if response.status != 200:
                    raise RuntimeError(f"/sim/quote: HTTP {response.status} {response.read()[:200]!r}")
                response.read()
                k += 1
        finally:
            connection.close()
        return k, time.monotonic() - start


async def md_bench(server: Server, admin: str, tokens: list[str], *, deflate: bool,
                   phases: Sequence[tuple[float | None, float]]) -> list[dict[str, Any]]:
    sockets: list[Socket] = await gather_limited([lambda t=t: open_socket(server.port, t, deflate) for t in tokens])
    for sock in sockets:
        await sock.request("md/subscribeQuote", {"symbol": SYMBOL})
        sock.listen()
    stop = asyncio.Event()
    beats = asyncio.create_task(heartbeat(sockets, stop))
    driver = QuoteDriver(server.port, admin)
    results = []
    try:
        await asyncio.sleep(0.5)  # the current quote each subscription sends first
        for rate, seconds in phases:
            first = [len(s.quotes) for s in sockets]
            cpu0, server_cpu0, start = client_cpu_seconds(), server.cpu_seconds(), time.monotonic()
            updates, sending = await asyncio.to_thread(driver.run, rate, seconds)
            last = driver.bid
            deadline = time.monotonic() + 60
            while not all(s.quotes and s.quotes[-1][0] == last for s in sockets):
                if time.monotonic() > deadline:
                    raise RuntimeError("not every socket received the last quote")
                await asyncio.sleep(0.01)
            end = max(s.quotes[-1][1] for s in sockets)
            client_cpu, server_cpu = client_cpu_seconds() - cpu0, server.cpu_seconds() - server_cpu0
            delays = [received - driver.sent[price] for s, n in zip(sockets, first, strict=True)
                      for price, received in s.quotes[n:] if price in driver.sent]
            delivered = sum(len(s.quotes) - n for s, n in zip(sockets, first, strict=True))
            result = {"rate": rate, "updates": updates, "sent_rate": updates / sending, "wall": end - start,
                      "events": delivered, "deflate": deflate, "share": delivered / (updates * len(sockets)),
                      "delays": delays, "client_cpu": client_cpu, "server_cpu": server_cpu}
            results.append(result)
            label = f"{rate:g}/s" if rate else "max"
            print(f"md (deflate {'on' if deflate else 'off'}): {updates} updates at {label}: "
                  f"{delivered / result['wall']:.0f} events/s, "
                  f"{result['share']:.0%} delivered, p50 {ms(percentile(delays, 50))} ms "
                  f"p99 {ms(percentile(delays, 99))} ms", flush=True)
    finally:
        stop.set()
        await beats
        await gather_limited([s.close for s in sockets], 200)
    return results


# --- set-up --------------------------------------------------------------------------------------------------------


@dataclass
class Setup:
    admin: str
    demo: str
    demo1: int
    spread: list[int]  # more accounts of the trader
    md_tokens: list[str]
    real_clock: bool


async def provision(server: Server, users: int, spread: int) -> Setup:
    """Admin and trader tokens, DEMO1 and `spread` more accounts of the trader, `users` tokens for market data, and
    whether the clock runs real."""
    rest = await Connection.open("127.0.0.1", server.port)
    try:
        login = await rest.call("POST", "/v1/auth/accesstokenrequest", {"name": "admin", "password": ADMIN_PASSWORD})
        admin = login["accessToken"]
        await rest.call("POST", "/sim/clock", {"now": OPEN_TIME}, admin)  # lists ESZ6 whatever the wall date
        admin = (await rest.call("POST", "/v1/auth/accesstokenrequest",
                                 {"name": "admin", "password": ADMIN_PASSWORD}))["accessToken"]
        demo = (await rest.call("POST", "/v1/auth/accesstokenrequest",
                                {"name": "demo", "password": DEMO_PASSWORD}))["accessToken"]
        accounts = {a["name"]: a["id"] for a in await rest.call("GET", "/v1/account/list", None, admin)}
        await rest.call("POST", "/sim/quote", DEEP_QUOTE, admin)
        # Real clock when the ES session is open at wall time (then entity timestamps are wall times).
        await rest.call("POST", "/sim/clock", {"mode": "real"}, admin)
        # tokens issued under the frozen clock may already be expired at wall time: log in again
        admin = (await rest.call("POST", "/v1/auth/accesstokenrequest",
                                 {"name": "admin", "password": ADMIN_PASSWORD}))["accessToken"]
        demo = (await rest.call("POST", "/v1/auth/accesstokenrequest",
                                {"name": "demo", "password": DEMO_PASSWORD}))["accessToken"]
        probe = {"accountId": accounts["DEMO1"], "action": "Buy", "symbol": SYMBOL, "orderQty": 1,
                 "orderType": "Market", "isAutomated": True}
        real = "orderId" in (result := await rest.call("POST", "/v1/order/placeorder", probe, demo)) and \
            not result.get("failureReason")
        if not real:
            await rest.call("POST", "/sim/clock", {"now": OPEN_TIME}, admin)
        names = [f"md{k:02d}" for k in range(users)]
        await rest.call("POST", "/v1/user/createevaluationusers", {"users": [
            {"name": n, "email": f"{n}@example.com", "password": f"{n}-pw-0123", "firstName": "Md",
             "lastName": "Bench"} for n in names]}, admin)
        md_tokens = []
        for name in names:
            md_tokens.append((await rest.call("POST", "/v1/auth/accesstokenrequest",
                                              {"name": name, "password": f"{name}-pw-0123"}))["accessToken"])
        demo_user = (await rest.call("GET", f"/v1/account/item?id={accounts['DEMO1']}", None, admin))["userId"]
        created = await rest.call("POST", "/v1/user/createevaluationaccounts", {"accounts": [
            {"userId": demo_user, "templateAccountId": accounts["TEMPLATE"], "name": f"SPREAD{k}",
             "initialBalance": 1_000_000.0} for k in range(spread)]}, admin)
        return Setup(admin=admin, demo=demo, demo1=accounts["DEMO1"],
                     spread=[r["accountId"] for r in created["results"]], md_tokens=md_tokens, real_clock=real)
    finally:
        rest.close()


def machine() -> str:
    loop = "uvloop" if "uvloop" in sys.modules else "asyncio"
    return f"{harness.machine()}, client loop {loop}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def report(props: list[dict[str, Any]], md: list[dict[str, Any]], real_clock: bool, command: str,
           took: float) -> str:
    lines = [MARK_BEGIN, "### WebSocket fan-out (issue 4): `bench/fanout.py`", "",
             f"- Command: `{command}` (took {took:.0f} s).",
             f"- Machine: {machine()}.",
             "- Server: `tradovate-sim serve` (one process, uvicorn), SQLite `synchronous=FULL`, `--quotes manual`, "
             + ("clock in real mode (the ES session was open at wall time)." if real_clock else
                f"clock frozen at {OPEN_TIME} (the ES session was closed at wall time)."),
             "- Client: one process on the same machine (asyncio, `websockets`), raw HTTP/1.1 keep-alive for REST.",
             "",
             "**props**: 100 sockets (50 admin + 50 trader, the per-user limit) each `user/syncrequest` the "
             "accounts listed (every entity type); market orders (1 lot, Buy/Sell alternating, round robin over the "
             "accounts) placed over REST by the trader. One account is the issue's case; its orders are serialized "
             "by the account's lock, each waiting for its durable commit, so 8 accounts show what the fan-out "
             "itself sustains. Events/s = props events delivered, summed over the 100 sockets, from the first "
             "request to the last order's `order Created` at the last socket (about 16.5 events per order: order, "
             "version, command, report, 2 execution reports, fill, fee, position, cash balance, cash logs...). "
             "Delay = each order's `order Created` event at each socket, from the REST request's send time, and "
             "from the order's own `timestamp` (the server's clock at the decision, before the durable commit; "
             "millisecond precision).", "",
             "| deflate | accounts | orders | REST clients | events/s delivered | events per socket | orders/s "
             "| send→delivery p50 ms | p99 ms | timestamp→delivery p50 ms | p99 ms | server CPU | client CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in props:
        low, high = r["per_socket"]
        per_socket = f"{low}" if low == high else f"{low} to {high}"
        stamp = (ms(percentile(r["from_stamp"], 50)), ms(percentile(r["from_stamp"], 99))) if r["from_stamp"] \
            else ("n/a", "n/a")
        lines.append(f"| {'on' if r['deflate'] else 'off'} | {r['accounts']} | {r['orders']} | {r['clients']} | "
                     f"{r['events'] / r['wall']:.0f} | {per_socket} | "
                     f"{r['orders'] / r['wall']:.0f} | {ms(percentile(r['from_send'], 50))} | "
                     f"{ms(percentile(r['from_send'], 99))} | {stamp[0]} | {stamp[1]} | "
                     f"{r['server_cpu'] / r['wall']:.0%} | {r['client_cpu'] / r['wall']:.0%} |")
    lines += ["", "**md**: 1,000 sockets (20 users x 50) subscribed to ESZ6 quotes; `/sim/quote` (from a thread of its "
              "own) moves the bid one tick per update, at a fixed rate, then as fast as REST answers (one request "
              "at a time). Delivered = "
              "md quote events received over (updates x 1,000); the rest were coalesced (a socket that is behind "
              "gets the latest quote). Delay = from sending the `/sim/quote` of the price received to receiving "
              "it.", "",
              "| deflate | update rate asked | achieved | updates | md events/s delivered | delivered | p50 ms "
              "| p99 ms | server CPU | client CPU |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in md:
        label = f"{r['rate']:g}/s" if r["rate"] else "as fast as REST answers"
        lines.append(f"| {'on' if r['deflate'] else 'off'} | {label} | {r['sent_rate']:.0f}/s | {r['updates']} | "
                     f"{r['events'] / r['wall']:.0f} | {r['share']:.0%} | "
                     f"{ms(percentile(r['delays'], 50))} | {ms(percentile(r['delays'], 99))} | "
                     f"{r['server_cpu'] / r['wall']:.0%} | {r['client_cpu'] / r['wall']:.0%} |")
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def write_results(path: Path, block: str) -> None:
    replace_block(path, MARK_BEGIN, MARK_END, block)


async def main(args: argparse.Namespace) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fanout-") as directory:
        server = Server(Path(directory), db_name="fanout.db", admin_password=ADMIN_PASSWORD,
                        demo_password=DEMO_PASSWORD)
        server.start()
        try:
            setup = await provision(server, args.md_sockets // SOCKETS_PER_USER, spread=8)
            print(f"server on port {server.port}; clock {'real' if setup.real_clock else 'frozen'}", flush=True)
            tokens = [t for t in setup.md_tokens for _ in range(SOCKETS_PER_USER)]
            props, md = [], []
            for deflate in {"both": (True, False), "on": (True,), "off": (False,)}[args.deflate]:
                options = {"real_clock": setup.real_clock, "deflate": deflate}
                props += await props_bench(server, setup.admin, setup.demo, [setup.demo1],
                                           rounds=[(300, 1), (args.orders, args.clients)], **options)
                props += await props_bench(server, setup.admin, setup.demo, setup.spread,
                                           rounds=[(args.orders, args.clients)], **options)
                md += await md_bench(server, setup.admin, tokens, deflate=deflate,
                                     phases=[(10.0, 4.0), (50.0, 4.0), (None, 4.0)])
        finally:
            server.stop()
    command = " ".join([".venv/bin/python bench/fanout.py", *sys.argv[1:]])
    block = report(props, md, setup.real_clock, command, time.monotonic() - started)
    print(block)
    if args.results:
        write_results(Path(args.results), block)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders in the throughput round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent REST clients in the throughput round")
    parser.add_argument("--md-sockets", type=int, default=1000, help="market-data sockets (a multiple of 50)")
    parser.add_argument("--deflate", choices=["both", "on", "off"], default="both",
                        help="sockets with permessage-deflate, without, or both in turn (default)")
    parser.add_argument("--results", help="write the results block into this Markdown file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(parse(sys.argv[1:])))
    else:
        uvloop.run(main(parse(sys.argv[1:])))

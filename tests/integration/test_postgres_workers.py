"""Several server processes on one PostgreSQL database behave as one server (issue 14): one account's commands
serialized across them, a write acknowledged by one read on the other, `props` of the other's commits on a socket,
simulator controls on both before they answer, and a killed process losing nothing it acknowledged."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cluster as pg_cluster
import httpx
import pytest
import websockets
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, OPEN_TIME, Api, ServerProcess, order, quote

LIQUIDATE = "order/liquidateposition"
JSON = dict[str, object]


class Pair:
    """Two `serve` processes on one database, with the seeded users' tokens from the first."""

    def __init__(self, url: str, directory: Path) -> None:
        self.servers = [ServerProcess(directory / f"unused{i}.db", directory / f"server{i}.log", db_url=url)
                        for i in range(2)]
        for server in self.servers:
            server.start()
        self.apis = [Api(s.base_url) for s in self.servers]
        self.admin = self.apis[0].token(ADMIN, ADMIN_PASSWORD)
        self.apis[0].set_clock(OPEN_TIME, self.admin)
        self.apis[0].reset(self.admin)
        self.admin = self.apis[0].token(ADMIN, ADMIN_PASSWORD)
        self.demo = self.apis[1].token(DEMO, DEMO_PASSWORD)  # logged in on the second, used on both
        accounts = {a["name"]: a["id"] for a in self.apis[0].entities("account", self.admin)}
        self.demo1, self.demo2 = int(accounts["DEMO1"]), int(accounts["DEMO2"])
        self.apis[0].set_quote(self.admin)

    def close(self) -> None:
        for api in self.apis:
            api.close()
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    url = pg_cluster.shared().create_database("workers_pair")
    found = Pair(url, tmp_path_factory.mktemp("workers"))
    try:
        yield found
    finally:
        found.close()


def net_pos(api: Api, token: str, account_id: int) -> int:
    return sum(int(p["netPos"]) for p in api.entities("position", token) if p["accountId"] == account_id)


async def storm(urls: list[str], token: str, path: str, body: JSON, each: int) -> list[httpx.Response]:
    """`each` requests at once on every server, each on its own connection."""
    clients = [httpx.AsyncClient(base_url=u, timeout=60.0, headers={"Authorization": f"Bearer {token}"},
                                 limits=httpx.Limits(max_connections=each + 1)) for u in urls]
    try:
        return list(await asyncio.gather(*(c.post(path, json=body) for c in clients for _ in range(each))))
    finally:
        for client in clients:
            await client.aclose()


def test_fifty_concurrent_liquidations_over_two_processes_send_exactly_one_closing_order(pair: Pair) -> None:
    api0, api1 = pair.apis
    placed = api1.call("order/placeorder", order(pair.demo1, qty=7), pair.demo)
    assert "orderId" in placed, placed
    assert net_pos(api0, pair.admin, pair.demo1) == 7  # placed on one, read on the other
    before = {int(o["id"]) for o in api0.entities("order", pair.admin)}  # ids: unique, not ordered across processes

    answers = asyncio.run(storm([s.base_url for s in pair.servers], pair.demo, f"/v1/{LIQUIDATE}",
                                {"accountId": pair.demo1, "contractId": placed_contract(api0, pair, placed),
                                 "admin": False}, 25))

    assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.status_code != 200]
    with_order = [a.json() for a in answers if "orderId" in a.json()]
    assert len(with_order) == 1, [a.json() for a in answers]
    for api in pair.apis:
        assert [o["id"] for o in api.entities("order", pair.admin) if o["id"] not in before] == [
            with_order[0]["orderId"]]
        assert net_pos(api, pair.admin, pair.demo1) == 0


def placed_contract(api: Api, pair: Pair, placed: JSON) -> int:
    return int(api.item("order", int(str(placed["orderId"])), pair.admin)["contractId"])


def test_ids_are_unique_across_processes_and_each_order_reads_back_on_the_other(pair: Pair) -> None:
    placed = [pair.apis[i % 2].call("order/placeorder", order(pair.demo2), pair.demo)["orderId"] for i in range(10)]

    assert len(set(placed)) == 10
    for i, order_id in enumerate(placed):
        assert pair.apis[(i + 1) % 2].item("order", int(order_id), pair.demo)["id"] == order_id


def test_simulator_controls_took_effect_on_both_processes_before_they_answer(pair: Pair) -> None:
    api0, api1 = pair.apis
    api1.sim("quote", quote(bid=6900.0, ask=6900.25), pair.admin)
    assert api0.get("/sim/quote", pair.admin, symbol="ESZ6").json()["bid"] == 6900.0
    moved = api0.set_clock("2026-11-18T16:00:00Z", pair.admin)
    assert api1.get("/sim/clock", pair.admin).json()["now"] == moved["now"]
    api1.sim("password", {"name": DEMO, "password": "another-pw"}, pair.admin)
    assert api0.post("/v1/auth/accesstokenrequest", {"name": DEMO, "password": "another-pw"}).json().get(
        "accessToken")
    api0.sim("password", {"name": DEMO, "password": DEMO_PASSWORD}, pair.admin)
    pair.demo = api1.token(DEMO, DEMO_PASSWORD)
    api0.set_clock(OPEN_TIME, pair.admin)
    api0.set_quote(pair.admin)


def test_props_of_commits_made_by_the_other_process_reach_a_socket_in_order(pair: Pair) -> None:
    async def scenario() -> list[int]:
        url = pair.servers[0].base_url.replace("http", "ws") + "/v1/websocket"
        async with websockets.connect(url) as socket:
            await socket.recv()  # the open frame
            await socket.send(f"authorize\n1\n\n{pair.demo}")
            await socket.send("user/syncrequest\n2\n\n" + json.dumps({"accounts": [pair.demo2]}))
            seen: list[int] = []
            placed: list[int] = []
            for _ in range(3):
                result = await asyncio.to_thread(pair.apis[1].call, "order/placeorder",
                                                 order(pair.demo2), pair.demo)
                placed.append(int(result["orderId"]))
            while set(placed) - set(seen):
                frame = await asyncio.wait_for(socket.recv(), 10)
                if isinstance(frame, str) and frame.startswith("a"):
                    for item in json.loads(frame[1:]):
                        data = item.get("d", {})
                        if item.get("e") == "props" and data.get("entityType") == "order" \
                                and data.get("eventType") == "Created":
                            seen.append(int(data["entity"]["id"]))
            return [s for s in seen if s in placed] + [-1] + placed

    found = asyncio.run(scenario())
    cut = found.index(-1)
    assert found[:cut] == found[cut + 1:]


def test_when_the_leader_is_killed_the_other_process_leads_and_carries_on(pair: Pair) -> None:
    first, second = pair.servers  # the first started first: it took the leader's lock
    first.kill()

    deadline = time.monotonic() + 10
    while "this process leads now" not in second.log() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert "this process leads now" in second.log(), second.log()
    assert "orderId" in pair.apis[1].call("order/placeorder", order(pair.demo2), pair.demo)


# --- `--workers 2`: one port, one supervisor ---------------------------------------------------------------------


# Known defect (issue 14, open): once in two CI runs the surviving worker answered the first placeorder after the
# kill with a 500; no acknowledged write was lost. Not strict, so the test still runs and reports.
@pytest.mark.xfail(reason="surviving worker may answer 500 right after a SIGKILL of the other (issue 14)", strict=False)
def test_sigkill_of_one_worker_under_load_loses_no_acknowledged_write_and_the_other_carries_on(
        tmp_path: Path) -> None:
    url = pg_cluster.shared().create_database("workers_kill")
    # `--clock`: the worker the supervisor starts again after the kill is at OPEN_TIME too, whatever the real date
    server = ServerProcess(tmp_path / "unused.db", tmp_path / "server.log", db_url=url, workers=2, clock=OPEN_TIME)
    server.start()
    try:
        with Api(server.base_url) as api:
            admin = api.token(ADMIN, ADMIN_PASSWORD)
            api.set_clock(OPEN_TIME, admin)
            api.set_quote(admin)
            demo = api.token(DEMO, DEMO_PASSWORD)
            account = int(api.find("account", "DEMO1", admin)["id"])
        workers = server.children()
        assert len(workers) == 2, server.log()

        async def load() -> list[int]:
            acknowledged: list[int] = []

            async def one(i: int) -> None:  # a new connection each time: the kernel spreads them over the workers
                async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0,
                                             headers={"Authorization": f"Bearer {demo}"}) as client:
                    try:
                        answer = await client.post("/v1/order/placeorder",
                                                   json=order(account, action="Buy" if i % 2 else "Sell"))
                    except httpx.TransportError:
                        return  # the killed worker's connection: not acknowledged
                    if answer.status_code == 200 and "orderId" in answer.json():
                        acknowledged.append(int(answer.json()["orderId"]))

            async def killer() -> None:
                await asyncio.sleep(0.4)
                os.kill(workers[0], signal.SIGKILL)

            await asyncio.gather(killer(), *(one(i) for i in range(120)))
            return acknowledged

        acknowledged = asyncio.run(load())

        assert len(acknowledged) > 10
        with Api(server.base_url) as api:
            demo = api.token(DEMO, DEMO_PASSWORD)
            found = {int(o["id"]) for o in api.entities("order", demo)}
            assert set(acknowledged) <= found
            assert "orderId" in api.call("order/placeorder", order(account), demo)  # it carries on
        stored = pg_cluster.shared().psql("SELECT count(*) FROM tradovate_sim.entity WHERE entity_type = 'order'"
                                          " AND id = ANY('{" + ",".join(map(str, acknowledged)) + "}')",
                                          "workers_kill")
        assert int(stored) == len(acknowledged)
    finally:
        server.stop()


def test_workers_on_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tradovate_sim.cli", "serve", "--workers", "2", "--db",
                           f"sqlite:///{tmp_path / 'x.db'}"], capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tradovate-sim: --workers 2: several processes need a postgresql:// database (SQLite is one process)"]

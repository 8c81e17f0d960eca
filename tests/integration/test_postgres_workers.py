"""Several server processes on one PostgreSQL database behave as one server (issue 14): one account's commands
serialized across them, a write acknowledged by one read on the other, `props` of the other's commits on a socket,
simulator controls on both before they answer, and a killed process losing nothing it acknowledged."""

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import cluster as pg_cluster
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    AFTER_ESZ6_EXPIRY,
    BACK,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    Api,
    ServerProcess,
    evaluation_user,
    limit,
    order,
    quote,
    running,
)
from ws_client import authorized

from tradovate_sim.cli import metrics_directory

LIQUIDATE = "order/liquidateposition"
AFTER_CLOSE = "2026-11-24T22:30:00Z"  # 16:30 CT: ESZ6's session of OPEN_TIME closed, its trade date not rolled
JSON = dict[str, object]


class Pair:
    """Two `serve` processes on one database, with the seeded users' tokens from the first."""

    def __init__(self, url: str, directory: Path, quotes: str = "manual") -> None:
        self.url = url
        self.servers = [ServerProcess(directory / f"unused{i}.db", directory / f"server{i}.log", db_url=url,
                                      workers=1, quotes=quotes)
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


def test_an_accounts_ids_increase_in_the_order_its_commands_ran_whichever_process_ran_them(pair: Pair) -> None:
    placed = [int(pair.apis[i % 2].call("order/placeorder", order(pair.demo2, action="Buy" if i % 2 else "Sell"),
                                        pair.demo)["orderId"]) for i in range(6)]

    assert placed == sorted(placed)
    fills = [f for f in pair.apis[0].entities("fill", pair.demo) if f["orderId"] in placed]
    assert [f["orderId"] for f in sorted(fills, key=lambda f: f["id"])] == placed


def test_a_third_login_ends_the_oldest_session_whichever_processes_served_the_three(pair: Pair) -> None:
    """The first and third login on one process, the second on the other, both ways round: one process's ids of a
    type come from a block above the other's, and the session book orders sessions by id."""
    # Arrange: one user per order of the processes
    names = [f"thrice{first}" for first in (0, 1)]
    created = pair.apis[0].call("user/createevaluationusers", {"users": [evaluation_user(n) for n in names]},
                                pair.admin)
    assert all(r.get("userId") for r in created["results"]), created
    # Act
    tokens = [[pair.apis[(first + i) % 2].token(name, f"{name}-pw") for i in range(3)]
              for first, name in enumerate(names)]
    # Assert: on both processes the first session is ended, the two newer ones live
    for sessions in tokens:
        assert [[api.get("/v1/auth/me", token).status_code for api in pair.apis] for token in sessions] == [
            [401, 401], [200, 200], [200, 200]]


def test_a_quote_set_on_one_process_is_traded_against_once(pair: Pair) -> None:
    api0, api1 = pair.apis
    api0.sim("quote", quote(ask=6800.25, ask_size=1, depthSize=0), pair.admin)  # one lot on offer
    working = int(api0.call("order/placeorder", order(pair.demo2, qty=5), pair.demo)["orderId"])  # fills 1

    api1.sim("quote", quote(ask=6800.5, ask_size=1, depthSize=0), pair.admin)  # one more lot on offer

    fills = [f for f in api0.entities("fill", pair.demo) if f["orderId"] == working]
    api0.call("order/cancelorder", {"orderId": working}, pair.demo)
    api0.call("order/liquidateposition", {"accountId": pair.demo2, "contractId": fills[0]["contractId"],
                                          "admin": False}, pair.demo)
    api0.set_quote(pair.admin)
    assert [(f["qty"], f["price"]) for f in fills] == [(1, 6800.25), (1, 6800.5)]


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


def test_a_clock_moved_a_day_on_by_one_process_and_back_by_the_other_leaves_positions_on_the_clocks_trade_date(
        pair: Pair) -> None:
    # each process remembered the trade date it last rolled to itself: the second, last rolled to Tuesday, took the
    # move back to Tuesday for nothing to do while the first had rolled everything to Wednesday (and the leader's
    # one-second timer, on its clock of before a control, could roll positions forward again after a roll back)
    api0, api1 = pair.apis
    tuesday = {"year": 2026, "month": 11, "day": 24}
    api0.set_quote(pair.admin)
    placed = api1.call("order/placeorder", order(pair.demo1), pair.demo)
    assert "orderId" in placed, placed
    for _ in range(3):
        api1.set_clock(OPEN_TIME, pair.admin)  # Tuesday, rolled to by the second
        api0.set_clock("2026-11-25T15:00:00Z", pair.admin)  # Wednesday, by the first

        api1.set_clock(OPEN_TIME, pair.admin)  # Tuesday again, by the second

        for api in pair.apis:
            dates = [p["tradeDate"] for p in api.entities("position", pair.admin) if p["accountId"] == pair.demo1]
            assert dates == [tuesday]
    api1.call(LIQUIDATE, {"accountId": pair.demo1, "contractId": placed_contract(api0, pair, placed),
                          "admin": False}, pair.demo)


async def stale_clock(pair: Pair, now: str) -> None:
    """A clock control sent straight on the channel, as a process sends it, but with no `/sim/clock` behind it:
    every process moves its clock to `now` while `sim.clock` keeps the clock set last."""
    control = {"id": f"stale-{now}", "origin": "test", "kind": "clock", "body": json.dumps({"now": now})}
    conn = await asyncpg.connect(pair.url)
    try:
        await conn.execute("SELECT pg_notify($1, $2)", "tradovate_sim_control", json.dumps(control))
    finally:
        await conn.close()


@pytest.mark.parametrize(("time_in_force", "later"), [("Day", AFTER_CLOSE), ("GTC", AFTER_ESZ6_EXPIRY)],
                         ids=["a Day order past the close", "ESZ6's book past its last session"])
def test_timers_do_not_act_on_a_clock_of_before_while_the_move_is_on_its_way(pair: Pair, time_in_force: str,
                                                                             later: str) -> None:
    """The window between a `/sim/clock` decided on one process (its `sim.clock` written) and its control applied on
    the leader, made to last: a clock control sent straight on the channel moves both processes to `later` without
    writing `sim.clock`, as the leader's clock of before would be. Its timers (order expiry; contract settlement)
    must not act on it."""
    # Arrange: the clock at the open, an order that cannot fill
    api0, api1 = pair.apis
    api0.set_clock(OPEN_TIME, pair.admin)
    api0.set_quote(pair.admin)
    resting = int(api1.call("order/placeorder", limit(pair.demo1, 6700.0, timeInForce=time_in_force),
                            pair.demo)["orderId"])
    logged = "".join(s.log() for s in pair.servers).count("its timers wait for the move")
    try:
        # Act: both processes at `later` on a clock the database does not hold; the leader's timer finds work due
        asyncio.run(stale_clock(pair, later))
        while "".join(s.log() for s in pair.servers).count("its timers wait for the move") == logged:
            if api0.item("order", resting, pair.demo)["ordStatus"] != "Working":
                break
            time.sleep(0.05)
        status = api0.item("order", resting, pair.demo)["ordStatus"]
        api1.set_clock(OPEN_TIME, pair.admin)  # the move the database held arrives
        # Assert
        assert status == "Working"
        assert [api.item("order", resting, pair.demo)["ordStatus"] for api in pair.apis] == ["Working", "Working"]
    finally:
        api0.set_clock(OPEN_TIME, pair.admin)
        api0.call("order/cancelorder", {"orderId": resting}, pair.demo)


def test_props_of_commits_made_by_the_other_process_reach_a_socket_in_order(pair: Pair) -> None:
    async def scenario() -> list[int]:
        client = await authorized(pair.servers[0].base_url, pair.demo)
        try:
            # the snapshot first: an order committed before it is in it, and no event of its own follows
            await client.call("user/syncrequest", {"accounts": [pair.demo2]}, within=10)
            placed: list[int] = []
            for _ in range(3):
                result = await asyncio.to_thread(pair.apis[1].call, "order/placeorder",
                                                 order(pair.demo2), pair.demo)
                placed.append(int(result["orderId"]))

            def created() -> list[int]:
                return [int(d["entity"]["id"]) for d in client.props()
                        if d.get("entityType") == "order" and d.get("eventType") == "Created"]

            await client.wait_until(lambda: set(placed) <= set(created()), within=10, what="the orders' events")
            return [s for s in created() if s in placed] + [-1] + placed
        finally:
            await client.close()

    found = asyncio.run(scenario())
    cut = found.index(-1)
    assert found[:cut] == found[cut + 1:]


def test_websocket_requests_see_every_write_acknowledged_by_the_other_process_before_they_were_sent(
        pair: Pair) -> None:
    async def scenario() -> None:
        here = await authorized(pair.servers[0].base_url, pair.demo)
        there = await authorized(pair.servers[1].base_url, pair.demo)
        try:
            for _ in range(20):  # placed on one process, read at once on the other: never stale
                placed = await there.call("order/placeorder", order(pair.demo2))
                read = await here.request("order/item", query=f"id={placed['orderId']}")
                assert read.get("s") == 200 and read["d"]["id"] == placed["orderId"], read
            for _ in range(3):  # a token issued by one process authorizes a socket on the other at once
                token = await asyncio.to_thread(pair.apis[1].token, DEMO, DEMO_PASSWORD)
                await (await authorized(pair.servers[0].base_url, token)).close()
                pair.demo = token
        finally:
            await here.close()
            await there.close()

    asyncio.run(scenario())


def test_a_process_that_joins_takes_on_the_frozen_clock_the_quotes_and_the_limits_set_by_hand(
        pair: Pair, tmp_path: Path) -> None:
    api0 = pair.apis[0]
    moved = api0.set_clock("2026-11-25T16:00:00Z", pair.admin)["now"]
    api0.sim("quote", quote(bid=6912.5, ask=6912.75), pair.admin)
    api0.sim("limits", {"penaltyMaxSeconds": 7}, pair.admin)
    api0.reset(pair.admin)  # keeps the clock and the limits, as on SQLite
    api0.sim("quote", quote(bid=6912.5, ask=6912.75), pair.admin)
    limits = api0.get("/sim/limits", pair.admin).json()
    cash = api0.deps("cashBalance", pair.demo1, pair.admin)
    joining = ServerProcess(tmp_path / "unused.db", tmp_path / "joining.log", db_url=pair.url, workers=1)
    try:
        with running(joining), Api(joining.base_url) as api:
            assert api.get("/sim/clock", pair.admin).json() == {"now": moved, "mode": "fixed"}
            assert api.get("/sim/quote", pair.admin, symbol="ESZ6").json()["bid"] == 6912.5
            assert api.get("/sim/limits", pair.admin).json() == limits
            assert api.deps("cashBalance", pair.demo1, pair.admin) == cash  # nothing rolled to the wall clock's date
            api.sim("quote", {"symbol": "ESZ6", "release": True}, pair.admin)
        assert api0.get("/sim/clock", pair.admin).json()["now"] == moved
    finally:
        api0.set_clock(OPEN_TIME, pair.admin)
        api0.set_quote(pair.admin)


def test_when_the_leader_is_killed_the_other_process_leads_and_carries_on(pair: Pair) -> None:
    first, second = pair.servers  # the first started first: it took the leader's lock
    first.kill()

    deadline = time.monotonic() + 10
    while "this process leads now" not in second.log() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert "this process leads now" in second.log(), second.log()
    assert "orderId" in pair.apis[1].call("order/placeorder", order(pair.demo2), pair.demo)


# Everything the leader runs (`/health` "leader" "running"): the market loop (synthetic quotes) and every timer.
LEADERS_TASKS = {"market-loop", "autoliq-clock", "autoliq-water-marks", "margin-watch", "trade-date-roll",
                 "order-expiry", "contract-settlement"}
LEADER_KEY = -0x7472_6164_0002  # the leader's advisory lock (pg_locks: its high and low 32 bits, objsubid 1)
LEADER_LOCK = f"classid = {(LEADER_KEY >> 32) & 0xFFFF_FFFF} AND objid = {LEADER_KEY & 0xFFFF_FFFF} AND objsubid = 1"


def leader(api: Api) -> JSON:
    """This process's `/health` "leader": {"leading": bool, "running": [task names]}."""
    found = api.get("/health").json()["leader"]
    assert isinstance(found, dict)
    return found


def settled(pair: Pair, wanted: list[bool] | None = None, deadline: float = 60.0) -> list[JSON]:
    """Poll both processes' `/health` until their "leading" is `wanted` (None: exactly one leads, either), with a
    generous deadline (no speed is measured); returns their last "leader"."""
    end = time.monotonic() + deadline
    while True:
        seen = []
        with contextlib.suppress(httpx.TransportError, KeyError, json.JSONDecodeError):
            seen = [leader(api) for api in pair.apis]
        found = [s.get("leading") for s in seen]
        if (found == wanted if wanted is not None else sorted(found) == [False, True]) or time.monotonic() > end:
            return seen
        time.sleep(0.1)


def one_market(pair: Pair, deadline: float = 60.0) -> bool:
    """Whether both processes come to show the same synthetic quote of a contract nobody set by hand (polled with a
    generous deadline): one market walks and the other follows it. Two leaders walk two markets that never meet."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        seen = [api.get("/sim/quote", pair.admin, symbol=BACK).json() for api in pair.apis]
        if (seen[0]["bid"], seen[0]["ask"]) == (seen[1]["bid"], seen[1]["ask"]):
            return True
        time.sleep(0.1)
    return False


def kill_the_leaders_lock(cluster: pg_cluster.Cluster, database: str) -> int:
    """pg_terminate_backend of the session that holds the leader's lock (its connection dies, the lock is free)."""
    return int(cluster.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
                            f" AND granted AND {LEADER_LOCK} AND database = (SELECT oid FROM pg_database"
                            " WHERE datname = current_database())", database))


def test_a_leader_whose_lock_connection_is_killed_steps_down_and_leads_again_only_by_taking_the_lock_again(
        tmp_path: Path) -> None:
    cluster = pg_cluster.shared()
    url = cluster.create_database("stepdown_kill")
    pair = Pair(url, tmp_path, quotes="synthetic")
    try:
        first = pair.apis[0]
        at_start = settled(pair, [True, False])

        killed = kill_the_leaders_lock(cluster, "stepdown_kill")
        after_kill = settled(pair, [False, True])  # the first steps down, the second takes the free lock
        health = [api.get("/health") for api in pair.apis]  # a process that does not lead is healthy
        followed = one_market(pair)
        gauges = [scrape(api.http)[("tradovate_sim_leader", ())] for api in pair.apis]
        placed = first.call("order/placeorder", order(pair.demo2), pair.demo)  # both serve all along
        killed_again = kill_the_leaders_lock(cluster, "stepdown_kill")
        back = settled(pair, [True, False])  # the first leads again: it took the lock again

        assert [s["leading"] for s in at_start] == [True, False], at_start
        assert set(at_start[0]["running"]) == LEADERS_TASKS and at_start[1]["running"] == [], at_start
        assert killed == 1
        assert [s["leading"] for s in after_kill] == [False, True], after_kill
        assert after_kill[0]["running"] == [], after_kill  # the old leader's market and timers are stopped
        assert set(after_kill[1]["running"]) == LEADERS_TASKS, after_kill
        assert [h.status_code for h in health] == [200, 200], [h.text for h in health]
        assert health[0].json()["marketLoop"] == {"ok": True, "quotes": "synthetic", "running": False}
        assert followed  # the old leader's market stopped walking: it follows the new leader's quotes
        assert gauges == [0, 1]
        assert "orderId" in placed, placed
        assert killed_again == 1
        assert [s["leading"] for s in back] == [True, False], back
        assert set(back[0]["running"]) == LEADERS_TASKS and back[1]["running"] == [], back
        logs = [server.log() for server in pair.servers]
        assert logs[0].count("this process no longer leads") == 1 and logs[1].count("this process leads now") == 1
        # the first says it leads as it starts and again when it takes the lock back
        assert logs[1].count("this process no longer leads") == 1 and logs[0].count("this process leads now") == 2
        assert "had failed" not in logs[0] + logs[1] and "stepping down" not in logs[0] + logs[1]
    finally:
        pair.close()


def test_after_postgresql_restarts_exactly_one_process_leads_and_health_names_the_lost_connection_meanwhile(
        tmp_path: Path) -> None:
    cluster = pg_cluster.started()  # this test's own: restarted below
    pair = None
    try:
        pair = Pair(cluster.create_database("stepdown_restart"), tmp_path, quotes="synthetic")
        at_start = settled(pair, [True, False])

        cluster.stop("fast")  # every connection of both processes dies with it, the leader's lock with its session
        down = [api.get("/health") for api in pair.apis]
        leading_while_down = [d.json()["leader"]["leading"] for d in down]
        cluster.start()
        after = settled(pair)
        healthy = [False, False]
        end = time.monotonic() + 60
        while not all(healthy) and time.monotonic() < end:  # each process restores its listening connection
            healthy = [api.get("/health").status_code == 200 for api in pair.apis]
            time.sleep(0.1)
        again = [leader(api) for api in pair.apis]
        followed = one_market(pair)

        assert [s["leading"] for s in at_start] == [True, False], at_start
        assert [d.status_code for d in down] == [503, 503], [d.text for d in down]
        for answer in down:
            body = answer.json()
            assert "listening" in body["failing"] and "database" in body["failing"], body
            assert "commands answer 503" in body["listening"]["error"], body
        assert leading_while_down == [False, False], [d.text for d in down]  # no lock, no leader
        assert sorted(s["leading"] for s in after) == [False, True], after  # exactly one leads again
        assert healthy == [True, True]
        assert sorted(s["leading"] for s in again) == [False, True], again
        for state in again:
            assert set(state["running"]) == (LEADERS_TASKS if state["leading"] else set()), again
        assert followed
    finally:
        if pair is not None:
            pair.close()
        cluster.destroy()


def listening(cluster: pg_cluster.Cluster, database: str) -> int:
    """How many server processes the database sees (their listening connections, named `tradovate-sim <id>`)."""
    return int(cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND application_name LIKE 'tradovate-sim %'", database))


def test_a_command_after_postgresql_restarted_is_decided_on_the_write_the_other_process_acknowledged_before_it(
        tmp_path: Path) -> None:
    cluster = pg_cluster.started()  # this test's own: restarted below
    pair = None
    try:
        pair = Pair(cluster.create_database("restarted"), tmp_path)
        api0, api1 = pair.apis
        cluster.stop("fast")  # every connection of both processes dies with it, their listening ones too
        cluster.start()
        for _ in range(100):  # 10 s at most: each process restores its listening connection by itself
            if listening(cluster, "restarted") == 2:
                break
            time.sleep(0.1)
        seen = listening(cluster, "restarted")
        stopped = pair.servers[0].process
        assert stopped is not None
        os.kill(stopped.pid, signal.SIGSTOP)  # the first process follows nothing while the second acknowledges
        try:
            placed = api1.call("order/placeorder", limit(pair.demo1, 6700.0), pair.demo)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                cancelling = pool.submit(api0.post, "/v1/order/cancelorder", {"orderId": placed["orderId"]},
                                         pair.demo)
                time.sleep(0.3)  # the request waits in the stopped process's socket; it decides first when resumed
                os.kill(stopped.pid, signal.SIGCONT)
                cancelled = cancelling.result()
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
        quoted = api0.set_quote(pair.admin, bid=6900.0, ask=6900.25)  # a control reaches the other process too

        assert seen == 2
        assert cancelled.status_code == 200, cancelled.text
        assert "failureReason" not in cancelled.json() and "errorText" not in cancelled.json(), cancelled.text
        for api in pair.apis:
            assert api.item("order", int(placed["orderId"]), pair.demo)["ordStatus"] == "Canceled"
        assert quoted["bid"] == 6900.0
        assert api1.get("/sim/quote", pair.admin, symbol="ESZ6").json()["bid"] == 6900.0
    finally:
        if pair is not None:
            pair.close()
        cluster.destroy()


# --- `--workers 2`: one port, one supervisor ---------------------------------------------------------------------


async def reaped(server: ServerProcess, pid: int) -> None:
    """Until the supervisor has reaped worker `pid`: every thread of it has ended and its sockets are closed (its
    main thread shows as a zombie earlier, while the others still hold the listening socket)."""
    for _ in range(1000):  # 10 s at most
        if f"worker {pid} ended" in server.log():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"worker {pid} was not reaped after SIGKILL:\n{server.log()}")


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

        answered: list[int] = []  # the status of every request that got an answer
        after_kill: list[int | str] = []  # what each request sent after the kill got

        async def load() -> list[int]:
            acknowledged: list[int] = []
            killed = asyncio.Event()
            # no keep-alive: every request on a new connection, which the kernel gives to either worker (a
            # worker that is starting again takes none until it serves)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0,
                                         headers={"Authorization": f"Bearer {demo}"},
                                         limits=httpx.Limits(max_keepalive_connections=0)) as client:

                async def one(i: int) -> None:
                    sent_after_kill = killed.is_set()
                    try:
                        answer = await client.post("/v1/order/placeorder",
                                                   json=order(account, action="Buy" if i % 2 else "Sell"))
                    except httpx.TransportError as error:  # the killed worker's connection: not acknowledged
                        if sent_after_kill:
                            after_kill.append(f"request {i}: {error!r}")
                        return
                    answered.append(answer.status_code)
                    if sent_after_kill:
                        after_kill.append(answer.status_code)
                    if answer.status_code == 200 and "orderId" in answer.json():
                        acknowledged.append(int(answer.json()["orderId"]))

                requests = []
                for i in range(120):  # over about 1.2 s, the kill after 0.4 s
                    if i == 40:
                        os.kill(workers[0], signal.SIGKILL)
                        await reaped(server, workers[0])  # no new connection can reach it
                        killed.set()
                    requests.append(asyncio.create_task(one(i)))
                    await asyncio.sleep(0.01)
                await asyncio.gather(*requests)
            return acknowledged

        acknowledged = asyncio.run(load())

        assert len(acknowledged) > 10
        assert set(answered) == {200}, sorted(answered)  # the survivor answers everything it takes, no 5xx
        assert after_kill and set(after_kill) == {200}, after_kill  # every request sent after the kill: carried on
        with Api(server.base_url) as api:
            demo = api.token(DEMO, DEMO_PASSWORD)
            found = {int(o["id"]) for o in api.entities("order", demo)}
            assert set(acknowledged) <= found
            assert "orderId" in api.call("order/placeorder", order(account), demo)  # it carries on
        stored = pg_cluster.shared().psql("SELECT count(*) FROM tradovate_sim.entity WHERE entity_type = 'order'"
                                          " AND id = ANY('{" + ",".join(map(str, acknowledged)) + "}')",
                                          "workers_kill")
        assert int(stored) == len(acknowledged)
        assert "unhandled error" not in server.log()
    finally:
        server.stop()


HOLD = 0x686F_6C64  # an advisory key the test holds: every COMMIT waits for it meanwhile (the trigger below)
_HOLD_COMMITS = f"""
CREATE FUNCTION public.hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON tradovate_sim.journal DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.hold_commit();
"""


def test_a_command_after_a_process_was_killed_with_its_commit_on_the_way_decides_on_that_commit(
        tmp_path: Path) -> None:
    """The first process is killed after sending a commit's COMMIT, before its answer: its account lock goes with its
    session at once, the COMMIT lands a moment later. The second process's command on that account, queued on the
    lock meanwhile, must decide on that commit (it waited for it), not on the state before: else both land and its
    memory holds the first's position with its own fills (500s: "open lots must add up to the net position")."""
    url = pg_cluster.shared().create_database("workers_in_flight")
    pair = Pair(url, tmp_path)
    try:
        first, second = pair.apis
        first.call("order/placeorder", order(pair.demo1), pair.demo)  # long 1
        pg_cluster.shared().psql(_HOLD_COMMITS, url.rsplit("/", 1)[1])
        bought = asyncio.run(_killed_with_a_commit_on_the_way(pair, url))

        assert bought.status_code == 200 and "orderId" in bought.json(), bought.text
        for action in ("Buy", "Sell", "Sell"):  # on memory holding both commits, as the core made them
            assert "orderId" in second.call("order/placeorder", order(pair.demo1, action=action), pair.demo)
        orders = {int(o["id"]) for o in second.entities("order", pair.demo) if o["accountId"] == pair.demo1}
        filled = sum(int(f["qty"]) * (1 if f["action"] == "Buy" else -1)
                     for f in second.entities("fill", pair.demo) if f["orderId"] in orders)
        assert net_pos(second, pair.demo, pair.demo1) == filled == 0  # +1 -1 (the killed one's) +1 +1 -1 -1
        assert "unhandled error" not in pair.servers[1].log()
    finally:
        pair.close()


async def _killed_with_a_commit_on_the_way(pair: Pair, url: str) -> httpx.Response:
    """The first process sells with its COMMIT held and is killed; the second's buy, queued on the account's lock
    behind that sell, is answered once the COMMIT is let go."""
    account = pair.demo1
    holder = await asyncpg.connect(url)

    async def waiting(condition: str, *args: object) -> list[int]:
        """The backends waiting for a lock that matches `condition`."""
        return [int(r[0]) for r in await holder.fetch(f"SELECT pid FROM pg_locks WHERE NOT granted AND {condition}",
                                                      *args)]

    async def until(check: Callable[[], Awaitable[object]]) -> None:
        for _ in range(1000):  # 10 s at most
            if await check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"still waiting:\n{pair.servers[0].log()}\n{pair.servers[1].log()}")

    on_account = "locktype = 'advisory' AND objid = $1"
    try:
        await holder.execute("SELECT pg_advisory_lock($1), pg_advisory_lock($2)", HOLD, account)
        async with httpx.AsyncClient(timeout=60.0, headers={"Authorization": f"Bearer {pair.demo}"}) as client:
            def send(server: ServerProcess, action: str) -> asyncio.Future[httpx.Response]:
                return asyncio.ensure_future(client.post(f"{server.base_url}/v1/order/placeorder",
                                                         json=order(account, action=action)))

            selling = send(pair.servers[0], "Sell")  # fresh at once; then waits for the account's lock
            await until(lambda: waiting(on_account, account))
            buying = send(pair.servers[1], "Buy")  # fresh at once too (no commit in flight); queued behind the sell
            await until(lambda: _two(waiting(on_account, account)))
            await holder.execute("SELECT pg_advisory_unlock($1)", account)  # the sell decides; its COMMIT waits
            committing: list[int] = []

            async def commit_held() -> bool:
                committing[:] = await waiting(on_account, HOLD)
                return bool(committing)

            await until(commit_held)
            assert pair.servers[0].process is not None
            pair.servers[0].process.kill()  # its lock's session ends; its COMMIT is sent and waits for HOLD
            pair.servers[0].process.wait()

            async def buy_decided_or_waits() -> bool:  # past the account's lock: waiting for the sell, or its COMMIT
                if buying.done():
                    return True
                return not await waiting(on_account, account) and bool(await waiting("pid <> $1", committing[0]))

            await until(buy_decided_or_waits)
            await holder.execute("SELECT pg_advisory_unlock($1)", HOLD)
            with contextlib.suppress(httpx.TransportError):
                await selling
            return await buying
    finally:
        await holder.close()


async def _two(found: Awaitable[list[int]]) -> bool:
    return len(await found) == 2


def scrape(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, by name and labels (prometheus-client's own parser)."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_of_two_workers_count_every_request_and_each_liquidation_once_whichever_answers_the_scrape(
        tmp_path: Path) -> None:
    url = pg_cluster.shared().create_database("workers_metrics")
    server = ServerProcess(tmp_path / "unused.db", tmp_path / "server.log", db_url=url, workers=2)
    server.start()
    me = ("tradovate_sim_requests_total", (("operation", "auth/me"), ("status", "200"), ("transport", "http")))
    customer = ("tradovate_sim_liquidations_total", (("initiator", "Customer"),))
    admin = ("tradovate_sim_liquidations_total", (("initiator", "Admin"),))
    sockets = ("tradovate_sim_websocket_sockets", ())
    workers = server.children()
    environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
    shared = Path(next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).split(b"=", 1)[1].decode())
    try:
        assert len(workers) == 2, server.log()
        assert shared.is_dir() and shared.stat().st_mode & 0o777 == 0o700  # the supervisor's private directory
        # a new connection per request: the kernel gives each to either worker
        with Api(server.base_url) as api:
            api.http.close()
            http = api.http = httpx.Client(base_url=server.base_url, timeout=10.0,
                                           limits=httpx.Limits(max_keepalive_connections=0))
            admin_token = api.token(ADMIN, ADMIN_PASSWORD)
            api.set_clock(OPEN_TIME, admin_token)
            api.set_quote(admin_token)
            demo = api.token(DEMO, DEMO_PASSWORD)
            accounts = {a["name"]: int(a["id"]) for a in api.entities("account", admin_token)}
            api.call("order/placeorder", order(accounts["DEMO1"], qty=2), demo)
            api.call("order/placeorder", order(accounts["DEMO2"]), demo)
            contract = int(api.find("contract", FRONT, demo)["id"])
            before = scrape(http)

            for _ in range(40):
                assert http.get("/v1/auth/me", headers={"Authorization": f"Bearer {demo}"}).status_code == 200
            assert "orderId" in api.call(LIQUIDATE, {"accountId": accounts["DEMO1"], "contractId": contract,
                                                     "admin": False}, demo)
            assert "orderId" in api.call(LIQUIDATE, {"accountId": accounts["DEMO2"], "contractId": contract,
                                                     "admin": True}, admin_token)
            for _ in range(10):  # reads on both workers: each has applied the other's commits when it answers
                assert len(api.entities("autoLiqTransaction", admin_token)) >= 2

            async def with_a_socket() -> list[dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
                client = await authorized(server.base_url, demo)
                try:
                    await client.call("auth/me")
                    return [scrape(http) for _ in range(6)]
                finally:
                    await client.close()

            during = asyncio.run(with_a_socket())
            scrapes = [scrape(http) for _ in range(6)]

        # every scrape, whichever worker answers it, holds the sum over both workers
        for after in scrapes:
            assert after[me] - before.get(me, 0.0) == 40
            assert after[customer] - before.get(customer, 0.0) == 1  # committed on one worker, applied on both
            assert after[admin] - before.get(admin, 0.0) == 1
            assert after[("tradovate_sim_writer_queue_depth", ())] == 0
            assert after[("tradovate_sim_leader", ())] == 1  # one of the two workers leads
        assert {after[me] for after in scrapes} == {scrapes[0][me]}
        assert [s[sockets] for s in during] == [1.0] * 6  # the one open socket, on one of the two workers
        assert "unhandled error" not in server.log()
    finally:
        server.stop()
    assert not shared.exists()  # removed by the supervisor as it exits


def test_two_workers_behind_one_port_count_one_leader_after_the_leaders_lock_is_killed(tmp_path: Path) -> None:
    """`--workers 2`: `/metrics` sums `tradovate_sim_leader` over the machine's workers, whichever answers: one
    leads before the leader's lock connection is killed and one after (two, were the old leader not to step down)."""
    cluster = pg_cluster.shared()
    url = cluster.create_database("workers_stepdown")
    server = ServerProcess(tmp_path / "unused.db", tmp_path / "server.log", db_url=url, workers=2,
                           quotes="synthetic")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10.0,
                          limits=httpx.Limits(max_keepalive_connections=0)) as http:
            before = [scrape(http)[("tradovate_sim_leader", ())] for _ in range(4)]
            terms = server.log().count("this process leads now")  # the leader's, as it started
            killed = kill_the_leaders_lock(cluster, "workers_stepdown")
            # a term after the kill: the old leader's or the other worker's (by its election or, when it is still
            # starting, as it starts)
            end = time.monotonic() + 60
            while server.log().count("this process leads now") == terms and time.monotonic() < end:
                time.sleep(0.1)
            # a worker that leads from its start sets its gauge once its start is over, a moment after its line
            while scrape(http)[("tradovate_sim_leader", ())] != 1 and time.monotonic() < end:
                time.sleep(0.1)
            after = [scrape(http)[("tradovate_sim_leader", ())] for _ in range(6)]

        assert before == [1, 1, 1, 1]
        assert terms == 1 and killed == 1
        assert "this process no longer leads" in server.log()
        assert server.log().count("this process leads now") == 2, server.log()
        assert after == [1] * 6, after
    finally:
        server.stop()


def test_a_killed_supervisor_takes_its_workers_with_it(tmp_path: Path) -> None:
    url = pg_cluster.shared().create_database("workers_orphans")
    server = ServerProcess(tmp_path / "unused.db", tmp_path / "server.log", db_url=url, workers=2)
    server.start()
    workers = server.children()
    try:
        assert len(workers) == 2, server.log()
        assert server.process is not None
        server.process.kill()  # the supervisor alone
        server.process.wait(10)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)

        assert not any(alive(pid) for pid in workers)  # no orphan keeps serving on the port
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_supervisor_removes_the_metrics_directories_killed_supervisors_left_and_no_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the supervisors' temporary directory, this test's alone
    url = pg_cluster.shared().create_database("workers_leftovers")
    first = ServerProcess(tmp_path / "unused.db", tmp_path / "first.log", db_url=url, workers=2)
    first.start()
    [left] = temp.glob("tradovate-sim-metrics-*")
    assert first.process is not None
    dead = first.process.pid
    first.kill()  # SIGKILL: it cannot remove its directory
    assert left.is_dir()
    me = os.getpid()
    live = temp / f"tradovate-sim-metrics-{me}-{metrics_directory.start_time(me)}-live"  # a live supervisor's
    shared = temp / f"tradovate-sim-metrics-{dead}-1-open"  # not private (0755): not one of ours
    older = temp / "tradovate-sim-metrics-0w2zkxx0"  # the older name: no owner to check
    for path, mode in ((live, 0o700), (shared, 0o755), (older, 0o700)):
        path.mkdir()
        path.chmod(mode)

    with running(ServerProcess(tmp_path / "unused.db", tmp_path / "second.log", db_url=url, workers=2)) as second:
        assert not left.exists()
        assert live.is_dir() and shared.is_dir() and older.is_dir()
        assert len(list(temp.glob("tradovate-sim-metrics-*"))) == 4  # and the second's own
        assert f"removed {left}" in second.log()


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its new parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_workers_on_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tradovate_sim.cli", "serve", "--workers", "2", "--db",
                           f"sqlite:///{tmp_path / 'x.db'}"], capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tradovate-sim: --workers 2: several processes need a postgresql:// database (SQLite is one process)"]

"""Durability: what the server acknowledged is still there after it is stopped (SIGTERM) or killed (SIGKILL) and
started again on the same database, and the tokens it issued still work."""

import os
import signal
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    NEXT_DAY,
    OPEN_TIME,
    Api,
    ServerProcess,
    limit,
    order,
    quote,
)

# Everything a client can read back about orders, fills, positions and balances.
ENTITY_TYPES = ("user", "account", "tradingPermission", "accountRiskStatus", "cashBalance", "order", "orderVersion",
                "command", "commandReport", "executionReport", "fill", "fillFee", "fillPair", "position")


class Session:
    """One server on one database file, restartable, with the admin and demo tokens issued by its first life."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = ServerProcess(directory / "durable.db", directory / "server.log")
        self.server.start()
        self.api = Api(self.server.base_url)
        # Logged in right after start, under the wall clock a restarted server starts with again; still valid at
        # OPEN_TIME unless wall time is more than 90 minutes before it, and then issued at OPEN_TIME instead.
        self.admin = self.api.token(ADMIN, ADMIN_PASSWORD)
        self.demo = self.api.token(DEMO, DEMO_PASSWORD)
        self.api.set_clock(OPEN_TIME, self.admin)
        if self.api.get("/v1/auth/me", self.admin).status_code != 200:
            self.admin = self.api.token(ADMIN, ADMIN_PASSWORD)
            self.demo = self.api.token(DEMO, DEMO_PASSWORD)
        self.accounts = {a["name"]: a["id"] for a in self.api.entities("account", self.admin)}

    def restart(self, how: str) -> int | None:
        """Stop (`term`) or kill (`kill`) the server, start a new one on the same database with its clock at the next
        day (`--clock`: a restart on a later trade date whatever the real date, ESZ6 still trading); the old exit
        code."""
        if how == "term":
            code: int | None = self.server.stop()
        else:
            self.server.kill()
            code = self.server.process.returncode if self.server.process else None
        self.api.close()
        self.server = ServerProcess(self.server.db_path, self.server.log_path, clock=NEXT_DAY)
        self.server.start()
        self.api = Api(self.server.base_url)
        return code

    def state(self) -> dict[str, object]:
        seen: dict[str, object] = {t: self.api.entities(t, self.admin) for t in ENTITY_TYPES}
        for name, account_id in self.accounts.items():
            seen[f"cashBalanceLog of {name}"] = self.api.deps("cashBalanceLog", account_id, self.admin)
        return seen

    def close(self) -> None:
        self.api.close()
        self.server.kill()


ROLLED = {"position": ("timestamp", "tradeDate", "prevPos", "prevPrice", "bought", "boughtValue", "sold",
                        "soldValue"),
          "cashBalance": ("timestamp", "tradeDate", "realizedPnL", "weekRealizedPnL", "amountSOD")}


def unrolled(state: dict[str, object]) -> dict[str, object]:
    """The state without what a trade-date roll changes (core/rollover.py)."""
    return {kind: [{k: v for k, v in row.items() if k not in ROLLED[kind]} for row in rows]  # type: ignore[attr-defined]
            if kind in ROLLED else rows for kind, rows in state.items()}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    opened = Session(tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("how", ["kill", "term"])
def test_acknowledged_orders_fills_positions_and_balances_survive_when_the_server_restarts(
        session: Session, how: str) -> None:
    # Arrange: a filled buy, a partial close, a resting limit, a cancelled limit and a balance change
    api, admin, demo = session.api, session.admin, session.demo
    demo1, demo2 = session.accounts["DEMO1"], session.accounts["DEMO2"]
    api.set_quote(admin)
    api.call("order/placeorder", order(demo1, qty=3), demo)
    api.call("order/placeorder", order(demo1, action="Sell", qty=1), demo)
    resting = api.call("order/placeorder", limit(demo1, 6790.0, qty=2), demo)["orderId"]
    cancelled = api.call("order/placeorder", limit(demo2, 6780.0), demo)["orderId"]
    api.call("order/cancelorder", {"orderId": cancelled}, demo)
    api.call("cashBalance/changedemobalance", {"accountId": demo2, "cashChange": 500.0}, admin)
    before = session.state()
    # Act
    code = session.restart(how)
    # Assert
    if how == "term":
        assert code in (0, -signal.SIGTERM)
    assert session.api.get("/v1/auth/me", demo).status_code == 200
    assert session.api.get("/v1/auth/me", admin).status_code == 200
    after = session.state()
    # the restarted server runs on a later trade date: positions and cash balances have rolled to it
    # (same net position, price and cash; the day's counters start again), everything else is as it was
    assert unrolled(after) == unrolled(before)
    position = next(p for p in after["position"] if p["accountId"] == demo1)  # type: ignore[attr-defined]
    assert (position["netPos"], position["prevPos"], position["bought"], position["sold"]) == (2, 2, 0, 0)
    assert session.api.item("order", resting, demo)["ordStatus"] == "Working"
    assert session.api.item("order", cancelled, demo)["ordStatus"] == "Canceled"


def test_working_order_can_be_cancelled_when_the_server_was_killed_and_restarted(session: Session) -> None:
    # Arrange
    demo1 = session.accounts["DEMO1"]
    resting = session.api.call("order/placeorder", limit(demo1, 6790.0), session.demo)["orderId"]
    session.restart("kill")
    session.api.set_clock(OPEN_TIME, session.admin)
    # Act
    result = session.api.call("order/cancelorder", {"orderId": resting}, session.demo)
    # Assert
    assert "failureReason" not in result
    assert session.api.item("order", resting, session.demo)["ordStatus"] == "Canceled"


def test_every_acknowledged_order_of_a_concurrent_burst_survives_when_the_server_is_killed(session: Session) -> None:
    # Arrange
    api, demo = session.api, session.demo
    accounts = [session.accounts["DEMO1"], session.accounts["DEMO2"]]
    api.sim("quote", quote(), session.admin)

    def place(n: int) -> int:
        with Api(session.server.base_url) as client:
            result = client.call("order/placeorder", limit(accounts[n % 2], 6700.0 + n * 0.25), demo)
        return int(result["orderId"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        acknowledged = sorted(pool.map(place, range(40)))
    # Act
    session.restart("kill")
    # Assert
    orders = session.api.entities("order", session.admin)
    assert sorted(o["id"] for o in orders) == acknowledged
    assert {o["ordStatus"] for o in orders} == {"Working"}
    prices = sorted(v["price"] for v in session.api.entities("orderVersion", session.admin))
    assert prices == [6700.0 + n * 0.25 for n in range(40)]


def test_existing_client_flow_works_end_to_end_when_the_server_restarts(session: Session) -> None:
    """The issue's "Done means" flow: log in (the session did, right after the server started), find a contract by
    name, place a market order, see the fill and the position, place a resting limit, cancel it, restart the
    server, see everything still there."""
    # Arrange
    api, token = session.api, session.demo
    api.set_quote(session.admin, bid=6800.0, ask=6800.25)
    account = api.find("account", "DEMO1", token)
    contract = api.find("contract", "ESZ6", token)
    # Act
    bought = api.call("order/placeorder", order(None, symbol=contract["id"], accountSpec=account["name"], qty=2),
                      token)["orderId"]
    fill = api.deps("fill", bought, token)
    position = api.deps("position", account["id"], token)
    resting = api.call("order/placeorder", limit(account["id"], 6790.0), token)["orderId"]
    cancel = api.call("order/cancelorder", {"orderId": resting}, token)
    session.restart("term")
    # Assert
    api = session.api
    assert [(f["qty"], f["price"]) for f in fill] == [(2, 6800.25)]
    assert [(p["netPos"], p["netPrice"]) for p in position] == [(2, 6800.25)]
    assert "failureReason" not in cancel
    assert api.item("order", bought, token)["ordStatus"] == "Filled"
    assert api.item("order", resting, token)["ordStatus"] == "Canceled"
    assert api.deps("fill", bought, token) == fill
    assert unrolled({"position": api.deps("position", account["id"], token)}) == unrolled({"position": position})
    assert api.deps("cashBalance", account["id"], token)[0]["amount"] == 49995.82


@pytest.mark.sqlite_only
def test_writes_answer_503_and_change_nothing_when_the_writer_process_dies(session: Session) -> None:
    # Arrange
    api, demo = session.api, session.demo
    demo1 = session.accounts["DEMO1"]
    resting = api.call("order/placeorder", limit(demo1, 6790.0), demo)["orderId"]
    (writer,) = session.server.children()
    # Act
    os.kill(writer, signal.SIGKILL)
    answers = [api.post("/v1/order/placeorder", limit(demo1, 6780.0), demo) for _ in range(3)]
    cancel = api.post("/v1/order/cancelorder", {"orderId": resting}, demo)
    # Assert
    assert [a.status_code for a in answers] == [503, 503, 503]
    assert "database" in answers[0].json()["errorText"]
    assert cancel.status_code == 503
    assert api.get("/v1/auth/me", demo).status_code == 200  # reads keep working
    assert [o["id"] for o in api.entities("order", demo)] == [resting]
    assert api.item("order", resting, demo)["ordStatus"] == "Working"
    session.restart("term")
    assert [o["id"] for o in session.api.entities("order", session.admin)] == [resting]


@pytest.mark.sqlite_only
def test_the_same_state_is_served_when_the_writer_was_killed_with_entities_behind_its_journal(
        session: Session) -> None:
    # Arrange: an order before a /sim/reset (wiped with it); after it orders, fills, a cancel and a balance change;
    # then the writer killed at once, not idle long enough to bring its entity table up to date (the journal rows
    # past `entity_applied_through` are what the next start replays: tests/unit/test_entity_backlog.py leaves such
    # a tail without depending on timing)
    api = session.api
    api.set_quote(session.admin)
    api.call("order/placeorder", limit(session.accounts["DEMO1"], 6795.0), session.demo)
    api.reset(session.admin)
    session.admin, session.demo = api.token(ADMIN, ADMIN_PASSWORD), api.token(DEMO, DEMO_PASSWORD)
    session.accounts = {a["name"]: a["id"] for a in api.entities("account", session.admin)}
    demo1, demo2 = session.accounts["DEMO1"], session.accounts["DEMO2"]
    api.set_quote(session.admin)
    api.call("order/placeorder", order(demo1, qty=2), session.demo)
    resting = api.call("order/placeorder", limit(demo1, 6790.0), session.demo)["orderId"]
    cancelled = api.call("order/placeorder", limit(demo2, 6780.0), session.demo)["orderId"]
    api.call("order/cancelorder", {"orderId": cancelled}, session.demo)
    api.call("cashBalance/changedemobalance", {"accountId": demo2, "cashChange": 125.0}, session.admin)
    (writer,) = session.server.children()
    os.kill(writer, signal.SIGKILL)
    before = session.state()  # reads are served from memory
    # Act
    session.restart("kill")
    # Assert
    assert unrolled(session.state()) == unrolled(before)
    assert session.api.item("order", resting, session.demo)["ordStatus"] == "Working"
    assert session.api.item("order", cancelled, session.demo)["ordStatus"] == "Canceled"
    session.restart("term")  # a clean stop leaves the entity table current: the same again
    assert unrolled(session.state()) == unrolled(before)


def test_a_running_order_strategy_finishes_at_its_target_when_the_server_was_killed_and_restarted(
        session: Session) -> None:
    # Arrange: long 1 from 6800.25 with a target at 6802.75 and a stop at 6799.00
    api, admin, demo = session.api, session.admin, session.demo
    demo1 = session.accounts["DEMO1"]
    api.set_quote(admin, bid=6800.0, ask=6800.25)
    params = '{"entryVersion":{"orderQty":1,"orderType":"Market"},"brackets":[{"qty":1,"profitTarget":2.5,' \
             '"stopLoss":-1.25}]}'
    started = api.call("orderStrategy/startorderstrategy", {"accountId": demo1, "symbol": "ESZ6", "action": "Buy",
                                                            "orderStrategyTypeId": 2, "params": params}, demo)
    strategy_id = started["orderStrategy"]["id"]
    session.restart("kill")
    session.api.set_clock(OPEN_TIME, session.admin)
    # Act
    session.api.set_quote(session.admin, bid=6802.75, ask=6803.0)
    # Assert
    assert session.api.item("orderStrategy", strategy_id, demo)["status"] == "ExecutionFinished"
    position = next(p for p in session.api.entities("position", demo) if p["accountId"] == demo1)
    assert position["netPos"] == 0


SCHEMA_2_ENTITY = """CREATE TABLE entity (entity_type TEXT NOT NULL, id INTEGER NOT NULL, body BLOB NOT NULL,
                     PRIMARY KEY (entity_type, id)) STRICT"""


@pytest.mark.sqlite_only
def test_a_schema_2_file_is_migrated_and_serves_the_same_state_when_the_server_restarts(session: Session) -> None:
    # Arrange: orders, a fill, a position and a balance change, then the file rewritten as schema 2 left it (the
    # entity table keyed (entity_type, id)) while the server is stopped
    api, admin, demo = session.api, session.admin, session.demo
    demo1 = session.accounts["DEMO1"]
    api.set_quote(admin)
    api.call("order/placeorder", order(demo1, qty=2), demo)
    resting = api.call("order/placeorder", limit(demo1, 6790.0), demo)["orderId"]
    api.call("cashBalance/changedemobalance", {"accountId": demo1, "cashChange": 250.0}, admin)
    before = session.state()
    assert session.server.stop() in (0, -signal.SIGTERM)
    with sqlite3.connect(session.server.db_path, isolation_level=None) as conn:
        entities = conn.execute("SELECT entity_type, id, body FROM entity ORDER BY rowid").fetchall()
        journal = conn.execute("SELECT seq, body FROM journal ORDER BY seq").fetchall()
        conn.execute("BEGIN")
        conn.execute("DROP TABLE entity")
        conn.execute(SCHEMA_2_ENTITY)
        conn.executemany("INSERT INTO entity VALUES (?, ?, ?)", entities)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"2",))
        conn.execute("COMMIT")
    conn.close()
    # Act
    session.restart("term")
    # Assert: the same state served, the file at schema 4 with every entity and journal row; it still takes writes
    assert unrolled(session.state()) == unrolled(before)
    assert b"SQLite schema version 2 -> 4" in session.server.log_path.read_bytes()  # the operator is told
    with sqlite3.connect(session.server.db_path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (b"4",)
        # (the restart on the next trade date rolled positions and balances: new bodies and journal rows after these)
        assert {(t, i) for t, i, _ in entities} <= set(conn.execute("SELECT entity_type, id FROM entity"))
        assert conn.execute("SELECT seq, body FROM journal ORDER BY seq").fetchall()[:len(journal)] == journal
    conn.close()
    session.api.call("order/cancelorder", {"orderId": resting}, demo)
    assert session.api.item("order", resting, demo)["ordStatus"] == "Canceled"

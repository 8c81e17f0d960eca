"""`order/liquidateposition` and `order/liquidatepositions` over HTTP against a running server (issue 3).

One server process serves this module (its own loopback port and SQLite file, FULL sync, manual quotes); before
each test the clock is frozen in an open ES session, `/sim/reset` brings back the seeded state (admin `admin`,
trader `demo` holding DEMO1 and DEMO2) and ES is quoted 6800 / 6800.25 with 10 lots at the touch and 10 levels
of 10 lots behind it. The numbers in the section headers are the numbered points of issue 3.
"""

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from liquidation_support import (
    ADMIN,
    ADMIN_PASSWORD,
    ASK,
    BID,
    DEMO,
    DEMO_PASSWORD,
    ES,
    JSON,
    NQ,
    OPEN_TIME,
    SATURDAY,
    Client,
    LiquidationServer,
    evaluation_user,
    leg,
    limit,
    liquidation,
    login,
    order,
    quote,
    running_server,
    stop,
)

LIQUIDATE = "order/liquidateposition"
LIQUIDATE_MANY = "order/liquidatepositions"
TAG = "risk-desk-7"
RACES = 12  # attempts per race test, each on a fresh account with random jitter between the racing requests

# --- harness -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def liq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiquidationServer]:
    directory: Path = tmp_path_factory.mktemp("liquidation")
    with running_server(directory) as server:
        yield server


@pytest.fixture(scope="module")
def liq_http(liq_server: LiquidationServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=liq_server.base_url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def seeded_tokens(liq_http: httpx.Client) -> dict[str, str]:
    """One session per seeded user for the whole module (a user keeps at most two live sessions)."""
    admin = login(liq_http, ADMIN, ADMIN_PASSWORD)
    Client(liq_http, admin).sim("clock", {"now": OPEN_TIME})
    if liq_http.get("/v1/auth/me", headers={"Authorization": f"Bearer {admin}"}).status_code != 200:
        admin = login(liq_http, ADMIN, ADMIN_PASSWORD)  # issued at the frozen time this time
    return {ADMIN: admin, DEMO: login(liq_http, DEMO, DEMO_PASSWORD)}


@dataclass
class Desk:
    """What a test works with: the seeded users' clients and ids, and shortcuts for the usual calls."""

    base_url: str
    http: httpx.Client
    admin: Client
    demo: Client
    demo1: int
    demo2: int
    template: int
    es: int
    nq: int

    def quote(self, **fields: Any) -> JSON:
        result: JSON = self.admin.sim("quote", quote(**fields))
        return result

    def clock(self, now: str) -> None:
        self.admin.sim("clock", {"now": now})

    def place(self, body: JSON, client: Client | None = None, operation: str = "order/placeorder") -> JSON:
        result: JSON = (client or self.demo).call(operation, body)
        assert "failureReason" not in result, result
        return result

    def liquidate(self, account_id: int, contract_id: int, admin: bool = False, client: Client | None = None,
                  **extra: object) -> JSON:
        result: JSON = (client or self.demo).call(LIQUIDATE, liquidation(account_id, contract_id, admin, **extra))
        return result

    def order(self, order_id: int) -> JSON:
        return self.admin.item("order", order_id)

    def status(self, order_id: int) -> str:
        return str(self.order(order_id)["ordStatus"])

    def version(self, order_id: int) -> JSON:
        versions = self.admin.deps("orderVersion", order_id)
        return versions[-1]

    def orders(self, account_id: int, contract_id: int | None = None) -> list[JSON]:
        return [o for o in self.admin.deps("order", account_id)
                if contract_id is None or o["contractId"] == contract_id]

    def working(self, account_id: int, contract_id: int | None = None) -> list[JSON]:
        return [o for o in self.orders(account_id, contract_id) if o["ordStatus"] in ("Working", "Suspended")]

    def net_pos(self, account_id: int, contract_id: int) -> int:
        found = [p for p in self.admin.deps("position", account_id) if p["contractId"] == contract_id]
        assert len(found) <= 1, found
        return int(found[0]["netPos"]) if found else 0

    def position_id(self, account_id: int, contract_id: int) -> int:
        found = [p for p in self.admin.deps("position", account_id) if p["contractId"] == contract_id]
        assert len(found) == 1, found
        return int(found[0]["id"])

    def audit(self, account_id: int) -> list[JSON]:
        return self.admin.deps("autoLiqTransaction", account_id)

    def footprint(self) -> dict[str, int]:
        """How many entities of each kind a command could write exist: equal before and after = nothing sent."""
        kinds = ("order", "orderVersion", "command", "commandReport", "executionReport", "fill",
                 "autoLiqTransaction")
        return {kind: len(self.admin.entities(kind)) for kind in kinds}

    def trader(self, name: str, account_name: str | None = None) -> tuple[Client, int]:
        """A new trader of the organization with one funded account; returns their client and the account id."""
        users = self.admin.call("user/createevaluationusers", {"users": [evaluation_user(name)]})
        user_id = users["results"][0]["userId"]
        accounts = self.admin.call("user/createevaluationaccounts", {"accounts": [{
            "userId": user_id, "templateAccountId": self.template, "name": account_name or f"{name.upper()}1",
            "initialBalance": 50_000.0}]})
        account_id = accounts["results"][0]["accountId"]
        return Client(self.http, login(self.http, name, f"{name}-pw")), int(account_id)

    def demo_account(self, name: str) -> int:
        """One more funded account held by the seeded trader `demo`."""
        user_id = self.demo.query("auth/me")["userId"]
        accounts = self.admin.call("user/createevaluationaccounts", {"accounts": [{
            "userId": user_id, "templateAccountId": self.template, "name": name, "initialBalance": 50_000.0}]})
        return int(accounts["results"][0]["accountId"])

    def set_admin_action(self, account_id: int, action: str) -> JSON:
        result: JSON = self.admin.call("accountRiskStatus/setadminautoliqaction", {
            "accountId": account_id, "adminAction": action, "adminActionReasonCode": "Other",
            "adminActionReason": "integration test"})
        return result

    def assert_cancelled_by_liquidation(self, order_id: int, tag: str | None = None) -> None:
        """The normal cancel trail: command Cancel, its commandReport, executionReport Canceled, order Canceled."""
        assert self.status(order_id) == "Canceled"
        cancels = [c for c in self.admin.deps("command", order_id) if c["commandType"] == "Cancel"]
        assert len(cancels) == 1, cancels
        command = cancels[0]
        assert command.get("customTag50") == tag
        reports = self.admin.deps("commandReport", command["id"])
        assert len(reports) == 1 and reports[0]["ordStatus"] == "Canceled", reports
        executions = self.admin.deps("executionReport", command["id"])
        assert [(e["execType"], e["ordStatus"], e["orderId"]) for e in executions] == \
            [("Canceled", "Canceled", order_id)]

    def assert_untouched(self, order_id: int, status: str = "Working") -> None:
        assert self.status(order_id) == status
        assert not [c for c in self.admin.deps("command", order_id) if c["commandType"] == "Cancel"]


@pytest.fixture
def desk(liq_server: LiquidationServer, liq_http: httpx.Client, seeded_tokens: dict[str, str]) -> Desk:
    admin = Client(liq_http, seeded_tokens[ADMIN])
    admin.sim("clock", {"now": OPEN_TIME})  # before the reset, so that contracts are listed for this date
    assert admin.sim("reset", {}) == {"ok": True}
    accounts = {a["name"]: a["id"] for a in admin.entities("account")}
    contracts = {name: admin.query("contract/find", name=name)["id"] for name in (ES, NQ)}
    desk = Desk(base_url=liq_server.base_url, http=liq_http, admin=admin, demo=Client(liq_http, seeded_tokens[DEMO]),
                demo1=accounts["DEMO1"], demo2=accounts["DEMO2"], template=accounts["TEMPLATE"],
                es=contracts[ES], nq=contracts[NQ])
    desk.quote()
    desk.quote(symbol=NQ, bid=21000.0, ask=21000.25)
    return desk


def long_position(desk: Desk, qty: int = 3, account_id: int | None = None) -> int:
    """Buy `qty` ES at the market on DEMO1 (or `account_id`); returns the filled order's id."""
    account = account_id or desk.demo1
    before = desk.net_pos(account, desk.es)
    order_id = int(desk.place(order(account, "Buy", qty))["orderId"])
    assert desk.net_pos(account, desk.es) == before + qty
    return order_id


def last_order_id(desk: Desk) -> int:
    return max((int(o["id"]) for o in desk.admin.entities("order")), default=0)


def orders_after(desk: Desk, last: int) -> list[JSON]:
    """Orders created since `last_order_id` answered `last`."""
    return [o for o in desk.admin.entities("order") if o["id"] > last]


async def storm(base_url: str, token: str, requests: list[tuple[str, JSON]], *,
                jitter: float = 0.0) -> list[httpx.Response]:
    """Send every (path, body) at once on its own keep-alive connection; `jitter` delays each by up to that many
    seconds, so that repeated races interleave differently."""
    limits = httpx.Limits(max_connections=len(requests) + 1, max_keepalive_connections=len(requests) + 1)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        async def send(path: str, body: JSON) -> httpx.Response:
            if jitter:
                await asyncio.sleep(random.uniform(0, jitter))
            return await client.post(path, json=body)
        return list(await asyncio.gather(*(send(p, b) for p, b in requests)))


# --- 1. who may --------------------------------------------------------------------------------------------------


def test_account_holder_liquidates_when_admin_false(desk: Desk) -> None:
    long_position(desk)

    result = desk.liquidate(desk.demo1, desk.es)

    assert set(result) == {"orderId"}
    assert desk.order(result["orderId"])["admin"] is False
    assert desk.net_pos(desk.demo1, desk.es) == 0


def test_trader_sending_admin_true_is_unauthorized_and_nothing_is_sent(desk: Desk) -> None:
    long_position(desk)
    resting = desk.place(limit(desk.demo1, "Buy", 1, 6790.0))["orderId"]
    before = desk.footprint()

    result = desk.liquidate(desk.demo1, desk.es, admin=True)

    assert result["failureReason"] == "Unauthorized" and "orderId" not in result
    assert desk.footprint() == before
    desk.assert_untouched(resting)
    assert desk.net_pos(desk.demo1, desk.es) == 3


def test_organization_admin_liquidates_a_traders_account_when_admin_true(desk: Desk) -> None:
    long_position(desk)

    result = desk.liquidate(desk.demo1, desk.es, admin=True, client=desk.admin)

    assert set(result) == {"orderId"}
    assert desk.order(result["orderId"])["admin"] is True
    assert desk.net_pos(desk.demo1, desk.es) == 0
    assert [a["initiator"] for a in desk.audit(desk.demo1)] == ["Admin"]


def test_account_of_another_trader_is_unauthorized_like_an_unknown_account(desk: Desk) -> None:
    long_position(desk)
    resting = desk.place(limit(desk.demo1, "Sell", 1, 6810.0))["orderId"]
    other, other_account = desk.trader("mallory")
    before = desk.footprint()

    for admin in (False, True):
        stranger = desk.liquidate(desk.demo1, desk.es, admin=admin, client=other)
        unknown = desk.liquidate(999_999, desk.es, admin=admin, client=other)
        assert stranger["failureReason"] == "Unauthorized", stranger
        assert stranger == unknown  # indistinguishable from an account that does not exist

    assert desk.footprint() == before
    desk.assert_untouched(resting)
    assert desk.net_pos(desk.demo1, desk.es) == 3
    assert desk.liquidate(other_account, desk.es, client=other) == {}  # their own account is fine


def test_unknown_contract_is_invalid_contract(desk: Desk) -> None:
    long_position(desk)
    before = desk.footprint()

    result = desk.liquidate(desk.demo1, 999_999)

    assert result["failureReason"] == "InvalidContract", result
    assert desk.footprint() == before


def test_closed_account_is_account_closed(desk: Desk) -> None:
    pytest.skip("no endpoint closes an account yet (Account.closed is never set), so AccountClosed cannot be "
                "reached over HTTP")


# --- 2. cancel first, everything ---------------------------------------------------------------------------------


def test_every_working_order_of_the_account_on_the_contract_is_cancelled_with_its_trail(desk: Desk) -> None:
    long_position(desk, 2)
    buy_limit = desk.place(limit(desk.demo1, "Buy", 1, 6790.0))["orderId"]
    sell_limit = desk.place(limit(desk.demo1, "Sell", 2, 6810.0))["orderId"]
    sell_stop = desk.place(stop(desk.demo1, "Sell", 3, 6780.0))["orderId"]
    buy_stop = desk.place(stop(desk.demo1, "Buy", 4, 6820.0))["orderId"]
    oco = desk.place({**limit(desk.demo1, "Sell", 1, 6830.0), "other": leg("Sell", "Stop", stopPrice=6770.0)},
                     operation="order/placeoco")
    # An entry still resting: both bracket legs are Suspended (not yet sent).
    resting_oso = desk.place({**limit(desk.demo1, "Buy", 1, 6700.0), "bracket1": leg("Sell", "Limit", price=6900.0),
                              "bracket2": leg("Sell", "Stop", stopPrice=6600.0)}, operation="order/placeoso")
    # An entry that filled: the server itself sent both bracket legs (Working, OCO-linked).
    filled_oso = desk.place({**order(desk.demo1, "Buy", 1), "bracket1": leg("Sell", "Limit", price=6850.0),
                             "bracket2": leg("Sell", "Stop", stopPrice=6750.0)}, operation="order/placeoso")
    by_admin = desk.place(limit(desk.demo1, "Buy", 5, 6795.0), client=desk.admin)["orderId"]
    other_contract = desk.place(limit(desk.demo1, "Buy", 1, 20000.0, symbol=NQ))["orderId"]
    other_account = desk.place(limit(desk.demo2, "Buy", 1, 6790.0))["orderId"]
    assert desk.status(resting_oso["oso1Id"]) == "Suspended"
    assert desk.status(filled_oso["oso1Id"]) == "Working"
    assert desk.net_pos(desk.demo1, desk.es) == 3

    result = desk.liquidate(desk.demo1, desk.es, customTag50=TAG, isAutomated=True)

    assert set(result) == {"orderId"}
    cancelled = [buy_limit, sell_limit, sell_stop, buy_stop, oco["orderId"], oco["ocoId"], resting_oso["orderId"],
                 resting_oso["oso1Id"], resting_oso["oso2Id"], filled_oso["oso1Id"], filled_oso["oso2Id"], by_admin]
    for order_id in cancelled:
        desk.assert_cancelled_by_liquidation(order_id, TAG)
    desk.assert_untouched(other_contract)
    desk.assert_untouched(other_account)
    assert desk.working(desk.demo1, desk.es) == []
    assert desk.net_pos(desk.demo1, desk.es) == 0
    # Audit: cancelled quantities per side and type (Suspended bracket legs count with their type).
    [audit] = desk.audit(desk.demo1)
    assert audit["cancelledBuyLimitQty"] == 1 + 1 + 5  # buy limit, resting OSO entry, admin's order
    assert audit["cancelledSellLimitQty"] == 2 + 1 + 1 + 1  # sell limit, OCO limit, two bracket take-profits
    assert audit["cancelledSellStopQty"] == 3 + 1 + 1 + 1  # sell stop, OCO stop, two bracket stops
    assert audit["cancelledBuyStopQty"] == 4
    assert audit["liquidatedNetPos"] == 3 and audit["orderId"] == result["orderId"]


RESTING = st.lists(st.tuples(st.sampled_from(["Buy", "Sell"]), st.sampled_from(["Limit", "Stop"]),
                             st.integers(1, 5), st.integers(4, 40)), max_size=6)


@settings(max_examples=15, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(net=st.integers(-6, 6), resting=RESTING)
def test_any_book_is_cancelled_exactly_and_the_position_ends_flat(desk: Desk, net: int,
                                                                   resting: list[tuple[str, str, int, int]]) -> None:
    account = desk.demo_account(f"P{uuid.uuid4().hex[:12]}")
    if net:
        desk.place(order(account, "Buy" if net > 0 else "Sell", abs(net)))
    expected = {"cancelledBuyLimitQty": 0, "cancelledBuyStopQty": 0, "cancelledSellLimitQty": 0,
                "cancelledSellStopQty": 0}
    ids = []
    for action, kind, qty, ticks in resting:
        below, above = BID - ticks * 0.25, ASK + ticks * 0.25  # never marketable, never triggered
        if kind == "Limit":
            body = limit(account, action, qty, below if action == "Buy" else above)
        else:
            body = stop(account, action, qty, above if action == "Buy" else below)
        ids.append(desk.place(body)["orderId"])
        expected[f"cancelled{action}{kind}Qty"] += qty

    result = desk.liquidate(account, desk.es)

    assert ("orderId" in result) == (net != 0) and "failureReason" not in result, result
    assert desk.net_pos(account, desk.es) == 0
    assert desk.working(account) == []
    for order_id in ids:
        desk.assert_cancelled_by_liquidation(order_id)
    [audit] = desk.audit(account)
    assert {k: audit[k] for k in expected} == expected
    assert audit["liquidatedNetPos"] == net


# --- 3. then close -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("opening", "closing", "price"), [("Buy", "Sell", BID), ("Sell", "Buy", ASK)])
def test_position_is_closed_by_one_market_order_for_its_size(desk: Desk, opening: str, closing: str,
                                                             price: float) -> None:
    desk.place(order(desk.demo1, opening, 4))
    last = last_order_id(desk)

    result = desk.liquidate(desk.demo1, desk.es, customTag50=TAG, isAutomated=True)

    assert set(result) == {"orderId"}  # Tradovate's sample answer: no failureReason at all
    [closing_order] = orders_after(desk, last)
    assert closing_order["id"] == result["orderId"]
    assert (closing_order["action"], closing_order["ordStatus"], closing_order["admin"]) == (closing, "Filled", False)
    version = desk.version(result["orderId"])
    assert (version["orderType"], version["orderQty"], version.get("text")) == ("Market", 4, "Liquidation")
    fills = desk.admin.deps("fill", result["orderId"])
    assert [(f["qty"], f["price"]) for f in fills] == [(4, price)]
    assert desk.net_pos(desk.demo1, desk.es) == 0


def test_closing_order_walks_the_displayed_depth(desk: Desk) -> None:
    long_position(desk, 25)

    result = desk.liquidate(desk.demo1, desk.es)

    fills = desk.admin.deps("fill", result["orderId"])
    assert [(f["qty"], f["price"]) for f in fills] == [(10, 6800.0), (10, 6799.75), (5, 6799.5)]
    assert desk.net_pos(desk.demo1, desk.es) == 0


@pytest.mark.parametrize("admin", [False, True])
def test_closing_orders_command_carries_custom_tag50_and_is_automated(desk: Desk, admin: bool) -> None:
    desk.place(order(desk.demo1, "Sell", 2))
    client = desk.admin if admin else desk.demo

    result = desk.liquidate(desk.demo1, desk.es, admin=admin, client=client, customTag50=TAG, isAutomated=admin)

    assert desk.order(result["orderId"])["admin"] is admin
    assert desk.net_pos(desk.demo1, desk.es) == 0
    [execution] = [e for e in desk.admin.entities("executionReport")
                   if e["orderId"] == result["orderId"] and e["execType"] == "New"]
    command = desk.admin.item("command", execution["commandId"])
    assert (command["commandType"], command["orderId"]) == ("New", result["orderId"])
    assert (command.get("customTag50"), command.get("isAutomated")) == (TAG, admin)
    [report] = desk.admin.deps("commandReport", command["id"])
    assert report["commandStatus"] == "AtExecution"


# --- 4. flat position --------------------------------------------------------------------------------------------


def test_flat_position_cancels_working_orders_and_succeeds_without_order_id(desk: Desk) -> None:
    resting = [desk.place(limit(desk.demo1, "Buy", 1, 6790.0))["orderId"],
               desk.place(stop(desk.demo1, "Sell", 2, 6780.0))["orderId"]]
    last = last_order_id(desk)

    result = desk.liquidate(desk.demo1, desk.es)

    assert result == {}
    assert orders_after(desk, last) == []
    for order_id in resting:
        desk.assert_cancelled_by_liquidation(order_id)
    [audit] = desk.audit(desk.demo1)
    assert audit["liquidatedNetPos"] == 0 and "orderId" not in audit


def test_flat_position_without_orders_succeeds_and_sends_no_order(desk: Desk) -> None:
    last = last_order_id(desk)

    assert desk.liquidate(desk.demo1, desk.es) == {}
    assert orders_after(desk, last) == []


# --- 5. account states -------------------------------------------------------------------------------------------


def test_liquidation_only_mode_allows_the_holders_liquidation(desk: Desk) -> None:
    long_position(desk)
    resting = desk.place(limit(desk.demo1, "Sell", 1, 6810.0))["orderId"]
    desk.set_admin_action(desk.demo1, "LiquidateOnlyModeImmediately")
    opening = desk.demo.call("order/placeorder", order(desk.demo1, "Buy", 1))
    assert opening["failureReason"] == "LiquidationOnly"

    result = desk.liquidate(desk.demo1, desk.es)

    assert set(result) == {"orderId"}
    desk.assert_cancelled_by_liquidation(resting)
    assert desk.net_pos(desk.demo1, desk.es) == 0


def test_trading_locked_refuses_the_holder_and_allows_the_admin(desk: Desk) -> None:
    long_position(desk)
    resting = desk.place(limit(desk.demo1, "Sell", 1, 6810.0))["orderId"]
    desk.set_admin_action(desk.demo1, "LockTradingImmediately")
    before = desk.footprint()

    refused = desk.liquidate(desk.demo1, desk.es)

    assert refused["failureReason"] == "TradingLocked", refused
    assert desk.footprint() == before
    desk.assert_untouched(resting)

    allowed = desk.liquidate(desk.demo1, desk.es, admin=True, client=desk.admin)

    assert set(allowed) == {"orderId"}
    desk.assert_cancelled_by_liquidation(resting)
    assert desk.net_pos(desk.demo1, desk.es) == 0


def test_liquidate_immediately_liquidates_every_position_of_the_account_and_locks_it(desk: Desk) -> None:
    long_position(desk, 2)
    desk.place(order(desk.demo1, "Sell", 3, symbol=NQ))
    resting = desk.place(limit(desk.demo1, "Buy", 1, 6790.0))["orderId"]
    flat_contract_order = desk.place(limit(desk.demo1, "Buy", 1, 60.0, symbol="CLF7"))["orderId"]
    untouched = desk.place(limit(desk.demo2, "Buy", 1, 6790.0))["orderId"]
    desk.place(order(desk.demo2, "Buy", 1))

    answer = desk.set_admin_action(desk.demo1, "LiquidateImmediately")

    assert answer["accountRiskStatus"]["adminAction"] == "LiquidateImmediately"
    assert "errorText" not in answer, answer
    assert desk.net_pos(desk.demo1, desk.es) == 0 and desk.net_pos(desk.demo1, desk.nq) == 0
    assert desk.working(desk.demo1) == []
    desk.assert_cancelled_by_liquidation(resting)
    desk.assert_cancelled_by_liquidation(flat_contract_order)
    audits = desk.audit(desk.demo1)
    cl = desk.order(flat_contract_order)["contractId"]
    assert sorted((a["contractId"], a["liquidatedNetPos"]) for a in audits) == sorted(
        [(desk.es, 2), (desk.nq, -3), (cl, 0)])
    assert {(a["initiator"], a["adminAction"]) for a in audits} == {("Admin", "LiquidateImmediately")}
    for audit in audits:
        if "orderId" in audit:
            assert desk.order(audit["orderId"])["admin"] is True
    desk.assert_untouched(untouched)
    assert desk.net_pos(desk.demo2, desk.es) == 1
    # ... and locked: the holder can neither trade nor liquidate, the admin still can.
    assert desk.demo.call("order/placeorder", order(desk.demo1, "Buy", 1))["failureReason"] == "TradingLocked"
    assert desk.liquidate(desk.demo1, desk.es)["failureReason"] == "TradingLocked"
    assert desk.liquidate(desk.demo1, desk.es, admin=True, client=desk.admin) == {}


def test_liquidate_immediately_racing_the_holders_orders_leaves_nothing_working(desk: Desk) -> None:
    for attempt in range(RACES):
        account = desk.demo_account(f"LOCKRACE{attempt}")
        long_position(desk, 1, account_id=account)
        desk.place(order(account, "Sell", 1, symbol=NQ))
        placing = [("/v1/order/placeorder", limit(account, "Buy", 1, 6790.0 - k * 0.25)) for k in range(20)]
        locking = ("/v1/accountRiskStatus/setadminautoliqaction",
                   {"accountId": account, "adminAction": "LiquidateImmediately"})

        locked, placed = asyncio.run(_lock_while_placing(desk, locking, placing))

        assert locked.status_code == 200, locked.text
        assert locked.json()["accountRiskStatus"]["adminAction"] == "LiquidateImmediately"
        accepted = [r.json()["orderId"] for r in placed if "failureReason" not in r.json()]
        working = [o["id"] for o in desk.working(account)]
        assert set(working) <= set(accepted)
        assert working == [], f"attempt {attempt}: orders {working} left working on locked account {account}"
        assert desk.net_pos(account, desk.es) == 0 and desk.net_pos(account, desk.nq) == 0


async def _lock_while_placing(desk: Desk, locking: tuple[str, JSON], placing: list[tuple[str, JSON]],
                              ) -> tuple[httpx.Response, list[httpx.Response]]:
    locked, placed = await asyncio.gather(storm(desk.base_url, desk.admin.token, [locking]),
                                          storm(desk.base_url, desk.demo.token, placing, jitter=0.01))
    return locked[0], placed


# --- 6. market conditions ----------------------------------------------------------------------------------------


def test_closed_session_refuses_and_cancels_nothing(desk: Desk) -> None:
    long_position(desk)
    resting = desk.place(limit(desk.demo1, "Sell", 1, 6810.0))["orderId"]
    desk.clock(SATURDAY)
    before = desk.footprint()

    result = desk.liquidate(desk.demo1, desk.es)

    assert result["failureReason"] == "SessionClosed", result
    assert desk.footprint() == before
    desk.assert_untouched(resting)
    assert desk.net_pos(desk.demo1, desk.es) == 3


def test_closed_session_refuses_a_flat_account_too(desk: Desk) -> None:
    resting = desk.place(limit(desk.demo1, "Sell", 1, 6810.0))["orderId"]
    desk.clock(SATURDAY)

    assert desk.liquidate(desk.demo1, desk.es)["failureReason"] == "SessionClosed"
    desk.assert_untouched(resting)


def test_no_quote_refuses_and_cancels_nothing(desk: Desk) -> None:
    long_position(desk)
    resting = desk.place(limit(desk.demo1, "Sell", 1, 6810.0))["orderId"]
    desk.quote(bid=None, ask=None)
    before = desk.footprint()

    result = desk.liquidate(desk.demo1, desk.es)

    assert result["failureReason"] == "NoQuote", result
    assert desk.footprint() == before
    desk.assert_untouched(resting)


def test_thin_book_closes_what_it_shows_and_leaves_the_rest_working_as_a_market_order(desk: Desk) -> None:
    long_position(desk, 5)
    resting = desk.place(limit(desk.demo1, "Buy", 1, 6790.0))["orderId"]
    desk.quote(size=2, depth=0)

    result = desk.liquidate(desk.demo1, desk.es)

    assert set(result) == {"orderId"}
    closing = result["orderId"]
    assert desk.status(closing) == "Working"
    version = desk.version(closing)
    assert (version["orderType"], version["orderQty"]) == ("Market", 5)
    assert [f["qty"] for f in desk.admin.deps("fill", closing)] == [2]
    assert desk.net_pos(desk.demo1, desk.es) == 3
    desk.assert_cancelled_by_liquidation(resting)


def test_second_liquidation_while_the_closing_order_works_is_another_command_pending(desk: Desk) -> None:
    long_position(desk, 5)
    desk.quote(size=2, depth=0)
    first = desk.liquidate(desk.demo1, desk.es)
    before = desk.footprint()

    for admin, client in ((False, desk.demo), (True, desk.admin)):
        second = desk.liquidate(desk.demo1, desk.es, admin=admin, client=client)

        assert second["failureReason"] == "AnotherCommandPending", second
        assert "orderId" not in second and str(first["orderId"]) in second["failureText"]
    assert desk.footprint() == before
    assert desk.status(first["orderId"]) == "Working"
    assert desk.net_pos(desk.demo1, desk.es) == 3


def test_traders_own_working_market_order_is_cancelled_not_a_pending_liquidation(desk: Desk) -> None:
    long_position(desk, 2)
    desk.quote(size=1, depth=0)
    opening = desk.place(order(desk.demo1, "Buy", 4))["orderId"]  # takes 1, 3 stay working
    assert desk.status(opening) == "Working" and desk.net_pos(desk.demo1, desk.es) == 3

    result = desk.liquidate(desk.demo1, desk.es)

    assert "failureReason" not in result, result
    desk.assert_cancelled_by_liquidation(opening)
    assert desk.version(result["orderId"])["orderQty"] == 3


def test_thin_book_remainder_fills_on_the_next_quote_and_ends_flat(desk: Desk) -> None:
    long_position(desk, 5)
    desk.quote(size=2, depth=0)
    closing = desk.liquidate(desk.demo1, desk.es)["orderId"]

    desk.quote(bid=6799.0, ask=6799.25)

    assert desk.status(closing) == "Filled"
    assert [(f["qty"], f["price"]) for f in desk.admin.deps("fill", closing)] == [(2, 6800.0), (3, 6799.0)]
    assert desk.net_pos(desk.demo1, desk.es) == 0


def test_account_trades_the_contract_again_after_a_liquidation(desk: Desk) -> None:
    long_position(desk, 2)
    desk.liquidate(desk.demo1, desk.es)
    [closing_fill] = [f for f in desk.admin.entities("fill") if f["action"] == "Sell"]

    response = desk.demo.post("/v1/order/placeorder", order(desk.demo1, "Buy", 1))

    assert closing_fill["finallyPaired"] == 2, closing_fill
    assert response.status_code == 200, response.text
    assert desk.net_pos(desk.demo1, desk.es) == 1


def test_empty_bid_leaves_the_whole_closing_order_working(desk: Desk) -> None:
    long_position(desk, 2)
    desk.quote(size=0, depth=0)

    result = desk.liquidate(desk.demo1, desk.es)

    assert set(result) == {"orderId"}
    assert desk.status(result["orderId"]) == "Working"
    assert desk.net_pos(desk.demo1, desk.es) == 2
    desk.quote()
    assert desk.net_pos(desk.demo1, desk.es) == 0


# --- 7. races ----------------------------------------------------------------------------------------------------


def test_fifty_concurrent_liquidations_send_exactly_one_closing_order(desk: Desk) -> None:
    long_position(desk, 7)
    resting = desk.place(limit(desk.demo1, "Buy", 1, 6790.0))["orderId"]
    last = last_order_id(desk)
    body = liquidation(desk.demo1, desk.es)

    answers = asyncio.run(storm(desk.base_url, desk.demo.token, [(f"/v1/{LIQUIDATE}", body)] * 50))

    assert {a.status_code for a in answers} == {200}
    results = [a.json() for a in answers]
    with_order = [r for r in results if "orderId" in r]
    assert len(with_order) == 1, results
    assert all(r == {} for r in results if "orderId" not in r), results
    assert [o["id"] for o in orders_after(desk, last)] == [with_order[0]["orderId"]]
    assert desk.net_pos(desk.demo1, desk.es) == 0
    desk.assert_cancelled_by_liquidation(resting)
    assert [a["liquidatedNetPos"] for a in desk.audit(desk.demo1)].count(7) == 1


def test_fifty_concurrent_liquidations_on_a_thin_book_leave_one_order_working(desk: Desk) -> None:
    long_position(desk, 7)
    desk.quote(size=3, depth=0)
    last = last_order_id(desk)
    body = liquidation(desk.demo1, desk.es, admin=True)

    answers = asyncio.run(storm(desk.base_url, desk.admin.token, [(f"/v1/{LIQUIDATE}", body)] * 50))

    results = [a.json() for a in answers]
    with_order = [r for r in results if "orderId" in r]
    assert len(with_order) == 1, results
    assert {r.get("failureReason") for r in results if "orderId" not in r} == {"AnotherCommandPending"}
    assert [o["id"] for o in orders_after(desk, last)] == [with_order[0]["orderId"]]
    assert desk.net_pos(desk.demo1, desk.es) == 4
    assert [o["id"] for o in desk.working(desk.demo1)] == [with_order[0]["orderId"]]


@pytest.mark.parametrize("crossing", ["take-profit", "stop-loss"])
def test_liquidation_racing_a_bracket_leg_ends_flat_with_nothing_working(desk: Desk, crossing: str) -> None:
    outcomes = set()
    for attempt in range(RACES):
        account = desk.demo_account(f"BRACKET{attempt}")
        desk.quote()
        entry = desk.place({**order(account, "Buy", 2), "bracket1": leg("Sell", "Limit", price=6801.0),
                            "bracket2": leg("Sell", "Stop", stopPrice=6799.0)}, operation="order/placeoso")
        assert desk.status(entry["oso1Id"]) == "Working" and desk.net_pos(account, desk.es) == 2
        moved = quote(bid=6801.0, ask=6801.25) if crossing == "take-profit" else quote(bid=6798.75, ask=6799.0)
        as_admin = attempt % 3 == 0
        token = desk.admin.token if as_admin else desk.demo.token

        liquidated, quoted = asyncio.run(_liquidation_and_quote(
            desk, token, liquidation(account, desk.es, admin=as_admin), moved, jitter=0.004))

        assert liquidated.status_code == 200 and quoted.status_code == 200, (liquidated.text, quoted.text)
        assert desk.net_pos(account, desk.es) == 0, f"attempt {attempt}: {liquidated.text}"
        assert desk.working(account) == [], f"attempt {attempt}"
        legs = sorted([desk.status(entry["oso1Id"]), desk.status(entry["oso2Id"])])
        assert legs in (["Canceled", "Canceled"], ["Canceled", "Filled"]), legs
        assert ("orderId" in liquidated.json()) == (legs == ["Canceled", "Canceled"]), (legs, liquidated.text)
        outcomes.add(tuple(legs))
    print(f"bracket race outcomes ({crossing}): {sorted(outcomes)}")


async def _liquidation_and_quote(desk: Desk, token: str, body: JSON, moved: JSON, *,
                                 jitter: float) -> tuple[httpx.Response, httpx.Response]:
    """The liquidation (with `token`) and the admin's quote at the same moment, each delayed up to `jitter` s."""
    liquidated, quoted = await asyncio.gather(
        storm(desk.base_url, token, [(f"/v1/{LIQUIDATE}", body)], jitter=jitter),
        storm(desk.base_url, desk.admin.token, [("/sim/quote", moved)], jitter=jitter))
    return liquidated[0], quoted[0]


def test_liquidation_racing_the_fill_of_a_resting_order_ends_flat(desk: Desk) -> None:
    for attempt in range(RACES):
        account = desk.demo_account(f"RESTING{attempt}")
        desk.quote()
        long_position(desk, 1, account_id=account)
        desk.place(limit(account, "Buy", 2, 6799.0))
        desk.place(limit(account, "Sell", 1, 6801.0))
        moved = quote(bid=6798.5, ask=6798.75) if attempt % 2 else quote(bid=6801.0, ask=6801.25)

        liquidated, quoted = asyncio.run(_liquidation_and_quote(
            desk, desk.admin.token, liquidation(account, desk.es, admin=True), moved, jitter=0.004))

        assert liquidated.status_code == 200 and quoted.status_code == 200, (liquidated.text, quoted.text)
        assert desk.net_pos(account, desk.es) == 0, f"attempt {attempt}: {liquidated.text}"
        assert desk.working(account) == [], f"attempt {attempt}"


def test_liquidations_of_different_accounts_run_side_by_side(desk: Desk) -> None:
    long_position(desk, 2)
    long_position(desk, 3, account_id=desk.demo2)
    requests = [(f"/v1/{LIQUIDATE}", liquidation(a, desk.es)) for a in (desk.demo1, desk.demo2)] * 10

    answers = asyncio.run(storm(desk.base_url, desk.demo.token, requests))

    assert sum("orderId" in a.json() for a in answers) == 2
    assert desk.net_pos(desk.demo1, desk.es) == 0 and desk.net_pos(desk.demo2, desk.es) == 0


# --- 8. audit ----------------------------------------------------------------------------------------------------


def test_audit_records_who_what_and_how_much_and_is_readable_through_the_api(desk: Desk) -> None:
    long_position(desk, 2)
    desk.place(limit(desk.demo1, "Buy", 3, 6790.0))
    desk.place(stop(desk.demo1, "Buy", 4, 6820.0))
    desk.place(order(desk.demo2, "Sell", 1))
    desk.place(limit(desk.demo2, "Sell", 2, 6810.0))
    desk.place(stop(desk.demo2, "Sell", 5, 6780.0))
    customer_liquidation = desk.liquidate(desk.demo1, desk.es, customTag50=TAG)
    admin_liquidation = desk.liquidate(desk.demo2, desk.es, admin=True, client=desk.admin)
    demo_user = desk.demo.query("auth/me")["userId"]
    admin_user = desk.admin.query("auth/me")["userId"]

    customer_rows = desk.admin.deps("autoLiqTransaction", desk.demo1)
    admin_rows = desk.demo.deps("autoLiqTransaction", desk.demo2)
    listed = desk.demo.entities("autoLiqTransaction")

    assert listed == customer_rows + admin_rows
    assert listed == [desk.demo.item("autoLiqTransaction", a["id"]) for a in listed]
    [customer] = customer_rows
    [admin] = admin_rows
    assert customer | {"id": 0, "timestamp": ""} == {
        "id": 0, "accountId": desk.demo1, "contractId": desk.es, "timestamp": "", "liquidatedNetPos": 2,
        "cancelledBuyLimitQty": 3, "cancelledBuyStopQty": 4, "cancelledSellLimitQty": 0, "cancelledSellStopQty": 0,
        "initiator": "Customer", "adminAction": "Normal", "orderId": customer_liquidation["orderId"],
        "userId": demo_user}
    assert admin | {"id": 0, "timestamp": ""} == {
        "id": 0, "accountId": desk.demo2, "contractId": desk.es, "timestamp": "", "liquidatedNetPos": -1,
        "cancelledBuyLimitQty": 0, "cancelledBuyStopQty": 0, "cancelledSellLimitQty": 2, "cancelledSellStopQty": 5,
        "initiator": "Admin", "adminAction": "Normal", "orderId": admin_liquidation["orderId"],
        "userId": admin_user}
    assert customer["timestamp"].startswith("2026-11-24T15:00:00")
    assert desk.admin.deps("autoLiqTransaction", desk.template) == []
    other, _ = desk.trader("trent")
    assert other.entities("autoLiqTransaction") == []
    assert other.http.get("/v1/autoLiqTransaction/item", params={"id": customer["id"]},
                          headers=other.headers).status_code == 404


def test_refused_liquidations_leave_no_audit(desk: Desk) -> None:
    long_position(desk)
    desk.liquidate(desk.demo1, desk.es, admin=True)  # Unauthorized
    desk.liquidate(desk.demo1, 999_999)  # InvalidContract
    desk.clock(SATURDAY)
    desk.liquidate(desk.demo1, desk.es)  # SessionClosed

    assert desk.audit(desk.demo1) == []


# --- 9. paths and shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["order/liquidatePosition", "order/liquidateposition", "order/LIQUIDATEPOSITION"])
def test_liquidate_position_routes_in_any_case(desk: Desk, path: str) -> None:
    long_position(desk, 1)

    result = desk.demo.call(path, liquidation(desk.demo1, desk.es))

    assert set(result) == {"orderId"}
    assert desk.net_pos(desk.demo1, desk.es) == 0


@pytest.mark.parametrize("path", ["order/liquidatePositions", "order/liquidatepositions"])
def test_liquidate_positions_routes_in_any_case(desk: Desk, path: str) -> None:
    long_position(desk, 1)

    result = desk.demo.call(path, {"positions": [desk.position_id(desk.demo1, desk.es)], "admin": False})

    assert result == {"ok": True}
    assert desk.net_pos(desk.demo1, desk.es) == 0


BAD_BODIES = [
    pytest.param(b'{"accountId": 2, "contractId": 1}', "admin", id="missing-admin"),
    pytest.param(b'{"contractId": 1, "admin": false}', "accountId", id="missing-accountId"),
    pytest.param(b'{"accountId": 2, "admin": false}', "contractId", id="missing-contractId"),
    pytest.param(b'{"accountId": "2", "contractId": 1, "admin": false}', "accountId", id="accountId-string"),
    pytest.param(b'{"accountId": 2, "contractId": "1", "admin": false}', "contractId", id="contractId-string"),
    pytest.param(b'{"accountId": -2, "contractId": 1, "admin": false}', "accountId", id="accountId-negative"),
    pytest.param(b'{"accountId": 2, "contractId": 0, "admin": false}', "contractId", id="contractId-zero"),
    pytest.param(b'{"accountId": 2.5, "contractId": 1, "admin": false}', "accountId", id="accountId-float"),
    pytest.param(b'{"accountId": true, "contractId": 1, "admin": false}', "accountId", id="accountId-bool"),
    pytest.param(b'{"accountId": 9223372036854775808, "contractId": 1, "admin": false}', "accountId",
                 id="accountId-over-int64"),
    pytest.param(b'{"accountId": 2, "contractId": 1, "admin": "false"}', "admin", id="admin-string"),
    pytest.param(b'{"accountId": 2, "contractId": 1, "admin": null}', "admin", id="admin-null"),
    pytest.param(b'{"accountId": 2, "contractId": 1, "admin": false, "customTag50": 7}', "customTag50",
                 id="customTag50-int"),
    pytest.param(b'{"accountId": 2, "contractId": 1, "admin": false, "customTag50": "' + b"x" * 65 + b'"}',
                 "customTag50", id="customTag50-too-long"),
    pytest.param(b'{"accountId": 2, "contractId": 1, "admin": false, "isAutomated": "yes"}', "isAutomated",
                 id="isAutomated-string"),
    pytest.param(b"not json", "body", id="not-json"),
    pytest.param(b'{"accountId": 2, "contractId": 1, "admin": false', "body", id="truncated-json"),
    pytest.param(b"", "body", id="empty"),
]


@pytest.mark.parametrize(("raw", "field"), BAD_BODIES)
def test_bad_body_is_a_4xx_naming_the_field_and_changes_nothing(desk: Desk, raw: bytes, field: str) -> None:
    long_position(desk)
    raw = raw.replace(b'"accountId": 2,', f'"accountId": {desk.demo1},'.encode())
    before = desk.footprint()

    for path in ("order/liquidateposition", "order/liquidatePosition"):
        response = desk.demo.post(f"/v1/{path}", raw=raw)

        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert field in response.json()["errorText"], response.text
    assert desk.footprint() == before
    assert desk.net_pos(desk.demo1, desk.es) == 3


@pytest.mark.parametrize("raw", [b"[]", b"null", b"42", b'"liquidate"', b'{"accountId": {"id": 2}}'],
                         ids=["array", "null", "number", "string", "object-id"])
def test_body_of_the_wrong_shape_is_a_4xx(desk: Desk, raw: bytes) -> None:
    response = desk.demo.post(f"/v1/{LIQUIDATE}", raw=raw)

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["errorText"]


def test_unknown_fields_are_ignored(desk: Desk) -> None:
    long_position(desk, 1)

    result = desk.liquidate(desk.demo1, desk.es, **{"p-ticket": {"nested": [1, 2]}, "extra": None})

    assert set(result) == {"orderId"}


def test_get_and_missing_token_are_4xx(desk: Desk) -> None:
    assert desk.http.post(f"/v1/{LIQUIDATE}", json=liquidation(desk.demo1, desk.es)).status_code == 401
    response = desk.http.get(f"/v1/{LIQUIDATE}", headers=desk.demo.headers)
    assert 400 <= response.status_code < 500, response.text


# --- liquidatepositions ------------------------------------------------------------------------------------------


def three_positions(desk: Desk) -> list[int]:
    long_position(desk, 2)
    desk.place(order(desk.demo1, "Sell", 1, symbol=NQ))
    long_position(desk, 4, account_id=desk.demo2)
    return [desk.position_id(desk.demo1, desk.es), desk.position_id(desk.demo1, desk.nq),
            desk.position_id(desk.demo2, desk.es)]


def test_liquidate_positions_liquidates_each_position(desk: Desk) -> None:
    ids = three_positions(desk)
    resting = desk.place(limit(desk.demo2, "Sell", 1, 6810.0))["orderId"]

    result = desk.demo.call(LIQUIDATE_MANY, {"positions": ids, "admin": False, "customTag50": TAG,
                                             "isAutomated": True})

    assert result == {"ok": True}
    for account, contract in ((desk.demo1, desk.es), (desk.demo1, desk.nq), (desk.demo2, desk.es)):
        assert desk.net_pos(account, contract) == 0
    desk.assert_cancelled_by_liquidation(resting, TAG)
    audits = desk.audit(desk.demo1) + desk.audit(desk.demo2)
    assert sorted(a["liquidatedNetPos"] for a in audits) == [-1, 2, 4]
    for audit in audits:
        closing = desk.order(audit["orderId"])
        assert (closing["ordStatus"], closing["admin"]) == ("Filled", False)


def test_liquidate_positions_reports_a_bad_id_and_liquidates_the_others(desk: Desk) -> None:
    ids = three_positions(desk)
    _, other_account = desk.trader("oscar")
    desk.place(order(other_account, "Buy", 1), client=desk.admin)
    foreign = desk.position_id(other_account, desk.es)

    result = desk.demo.call(LIQUIDATE_MANY, {"positions": [ids[0], 987_654, ids[1], foreign, ids[2]],
                                             "admin": False})

    assert result["ok"] is False
    assert "987654" in result["errorText"] and str(foreign) in result["errorText"], result
    assert str(ids[0]) not in result["errorText"].replace("987654", "")
    for account, contract in ((desk.demo1, desk.es), (desk.demo1, desk.nq), (desk.demo2, desk.es)):
        assert desk.net_pos(account, contract) == 0
    assert desk.net_pos(other_account, desk.es) == 1


def test_liquidate_positions_reports_the_reason_of_a_refused_position(desk: Desk) -> None:
    ids = three_positions(desk)
    desk.set_admin_action(desk.demo2, "LockTradingImmediately")

    result = desk.demo.call(LIQUIDATE_MANY, {"positions": ids, "admin": False})

    assert result["ok"] is False
    assert str(ids[2]) in result["errorText"] and "TradingLocked" in result["errorText"], result
    assert desk.net_pos(desk.demo1, desk.es) == 0 and desk.net_pos(desk.demo1, desk.nq) == 0
    assert desk.net_pos(desk.demo2, desk.es) == 4


def test_liquidate_positions_refuses_more_than_a_hundred_ids(desk: Desk) -> None:
    ids = three_positions(desk)
    before = desk.footprint()

    response = desk.demo.post(f"/v1/{LIQUIDATE_MANY}", {"positions": [*ids, *range(10_000, 10_098)],
                                                        "admin": False})

    assert 400 <= response.status_code < 500 and "positions" in response.json()["errorText"], response.text
    assert desk.footprint() == before


def test_liquidate_positions_refuses_duplicate_ids_without_side_effects(desk: Desk) -> None:
    ids = three_positions(desk)
    before = desk.footprint()

    response = desk.demo.post(f"/v1/{LIQUIDATE_MANY}", {"positions": [ids[0], ids[1], ids[0]], "admin": False})

    refused = 400 <= response.status_code < 500 or response.json().get("ok") is False
    assert refused, response.text
    assert "positions" in response.json()["errorText"], response.text
    assert desk.footprint() == before
    assert desk.net_pos(desk.demo1, desk.es) == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"positions": [], "admin": False}, "positions"),
    ({"positions": [1]}, "admin"),
    ({"admin": False}, "positions"),
    ({"positions": ["1"], "admin": False}, "positions"),
    ({"positions": [-1], "admin": False}, "positions"),
    ({"positions": 1, "admin": False}, "positions"),
    ({"positions": [1], "admin": 1}, "admin"),
], ids=["empty", "missing-admin", "missing-positions", "string-id", "negative-id", "not-a-list", "admin-int"])
def test_liquidate_positions_bad_body_is_a_4xx_naming_the_field(desk: Desk, body: JSON, field: str) -> None:
    response = desk.demo.post(f"/v1/{LIQUIDATE_MANY}", body)

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert field in response.json()["errorText"], response.text


def test_liquidate_positions_with_admin_true_needs_an_admin(desk: Desk) -> None:
    ids = three_positions(desk)

    refused = desk.demo.call(LIQUIDATE_MANY, {"positions": ids, "admin": True})
    allowed = desk.admin.call(LIQUIDATE_MANY, {"positions": ids, "admin": True})

    assert refused["ok"] is False and refused["errorText"].count("Unauthorized") == 3, refused
    assert allowed == {"ok": True}
    assert {a["initiator"] for a in desk.audit(desk.demo1) + desk.audit(desk.demo2)} == {"Admin"}


# --- the server stayed healthy -----------------------------------------------------------------------------------


def test_server_logged_no_unhandled_error_when_the_suite_ran(liq_server: LiquidationServer) -> None:
    errors = liq_server.log().split("unhandled error on ")[1:]
    assert errors == [], errors[0][:4000]

"""Contract expiry against a running server: at the end of a contract's last trading session its working orders
expire, its strategies end and its positions are closed at the final settlement price (a clock jump across it, a
restart after it); and the contracts a socket is sent follow what it knows."""

from pathlib import Path
from typing import Any

from server import (
    ADMIN,
    ADMIN_PASSWORD,
    AFTER_ESZ6_EXPIRY,
    DEMO,
    DEMO_PASSWORD,
    ES_POINT_VALUE,
    Api,
    Desk,
    ServerProcess,
    evaluation_account,
    limit,
    order,
    quote,
)
from test_order_review import inconsistencies, start_strategy
from ws_client import Opener

JSON = dict[str, Any]
THURSDAY_BREAK = "2026-12-17T22:30:00Z"  # 16:30 CT the day before ESZ6's last trade date: the daily break
INSTRUMENTS = {"exchange": "exchanges", "product": "products", "contractMaturity": "contractMaturities",
               "contract": "contracts"}


def settlement_orders(desk: Desk, account_id: int) -> list[JSON]:
    return [o for o in desk.api.deps("order", account_id, desk.admin) if o["admin"]]


def execution_reports(desk: Desk, order_id: int) -> list[JSON]:
    """The order's execution reports: those of its commands (an execution report's master is its command)."""
    commands = desk.api.deps("command", order_id, desk.demo)
    found = [r for c in commands for r in desk.api.deps("executionReport", c["id"], desk.demo)]
    assert all(r["orderId"] == order_id for r in found), found
    return sorted(found, key=lambda r: int(r["id"]))


async def test_a_clock_jump_across_the_last_trade_date_settles_the_book_and_says_so_in_props(desk: Desk,
                                                                                            ws: Opener) -> None:
    # Arrange: long 3 in ESZ6 at 6800.25 (two outright, one through a running strategy), a resting GTC buy
    client = await ws(desk.demo)
    snapshot = await client.sync()
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1, qty=2))
    strategy = start_strategy(desk, {"orderQty": 1}, [{"qty": 1, "profitTarget": 2.5, "stopLoss": -1.25}])
    resting = desk.place(limit(desk.demo1, 6700.0, timeInForce="GTC"))["orderId"]
    desk.quote(bid=6801.0, ask=6801.25, last=6801.0)  # the mark: the final settlement price
    before = desk.cash(desk.demo1)["amount"]
    # Act
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    # Assert: orders expired with their reports, the strategy ended, the position closed at the mark
    assert desk.status(resting) == "Expired"
    assert execution_reports(desk, resting)[-1]["execType"] == "Expired"
    assert execution_reports(desk, resting)[-1]["text"] == "Contract ESZ6 expired"
    ended = desk.api.item("orderStrategy", strategy["orderStrategy"]["id"], desk.demo)
    assert (ended["status"], ended["failureMessage"]) == ("ExecutionInterrupted", "Contract ESZ6 expired")
    assert desk.position(desk.demo1)["netPos"] == 0
    closing, = settlement_orders(desk, desk.demo1)
    assert closing["ordStatus"] == "Filled" and closing["action"] == "Sell"
    assert [(f["qty"], f["price"]) for f in desk.fills(closing["id"])] == [(3, 6801.0)]
    settled = [e for e in desk.cash_log(desk.demo1) if e["cashChangeType"] == "CashSettlement"]
    assert sum(e["delta"] for e in settled) == 3 * 0.75 * ES_POINT_VALUE
    assert desk.cash(desk.demo1)["amount"] == round(before + 3 * 0.75 * ES_POINT_VALUE, 2)  # no fees
    # and the expired contract takes nothing new; liquidating it finds nothing to do
    assert desk.place(order(desk.demo1))["failureReason"] == "TooLate"
    assert "failureReason" not in desk.api.call("order/liquidateposition", {
        "accountId": desk.demo1, "contractId": desk.front, "admin": False}, desk.demo)
    # and a bot following props saw it all, consistently
    await client.wait_until(lambda: any(p["entityType"] == "cashBalanceLog"
                                        and p["entity"]["cashChangeType"] == "CashSettlement"
                                        for p in client.props()), what="the settlement's cash")
    props = client.props()
    assert any(p["entityType"] == "order" and p["entity"]["id"] == resting and p["entity"]["ordStatus"] == "Expired"
               for p in props)
    assert any(p["entityType"] == "position" and p["entity"]["netPos"] == 0 for p in props)
    assert inconsistencies(snapshot, props) == []


def test_a_liquidation_waiting_for_the_open_and_the_expiry_close_the_position_once(desk: Desk) -> None:
    # Arrange: long 1, breaching its daily loss in Thursday's break: locked, the liquidation waits for the open
    result = desk.api.call("user/createevaluationaccounts", {"accounts": [evaluation_account(
        desk.demo_user, desk.template, "EXPIRING", postTradeRisk={"dailyLossAutoLiq": 50.0})]}, desk.admin)
    account = int(result["results"][0]["accountId"])
    desk.quote(bid=6800.0, ask=6800.25, last=6800.25)
    assert desk.place(order(account)).get("orderId")
    desk.api.set_clock(THURSDAY_BREAK, desk.admin)
    desk.quote(bid=6798.0, ask=6798.25, last=6798.25)
    assert desk.api.item("accountRiskStatus", account, desk.admin)["adminAction"] == "LockTradingImmediately"
    assert desk.position(account)["netPos"] == 1
    # Act: the clock runs past Thursday's open and ESZ6's last session at once, then on
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    desk.api.set_clock("2026-12-21T16:00:00Z", desk.admin)
    # Assert: one closing order, no flip, no second liquidation
    assert desk.position(account)["netPos"] == 0
    assert len(settlement_orders(desk, account)) == 1
    fills = [f for o in desk.api.deps("order", account, desk.admin) for f in desk.fills(o["id"])]
    assert sorted(f["action"] for f in fills) == ["Buy", "Sell"]


def test_a_contract_that_expired_while_the_server_was_down_is_settled_at_start_up(tmp_path: Path) -> None:
    # Arrange: on 2026-06-02 (ESM6 trades until 2026-06-19) DEMO1 buys 1 ESM6 at 6800.25 and rests a GTC buy,
    # DEMO2 sells 1 at 6801.00: the last fill the server records in ESM6
    server = ServerProcess(tmp_path / "sim.db", tmp_path / "server.log")
    server.start()
    try:
        with Api(server.base_url) as api:
            admin, demo = api.token(ADMIN, ADMIN_PASSWORD), api.token(DEMO, DEMO_PASSWORD)
            api.set_clock("2026-06-02T15:00:00Z", admin)
            accounts = {a["name"]: a["id"] for a in api.entities("account", admin)}
            api.set_quote(admin, **quote(symbol="ESM6", bid=6800.0, ask=6800.25))
            assert api.call("order/placeorder", order(accounts["DEMO1"], symbol="ESM6"), demo).get("orderId")
            resting = api.call("order/placeorder", limit(accounts["DEMO1"], 6700.0, symbol="ESM6",
                                                         timeInForce="GTC"), demo)["orderId"]
            api.set_quote(admin, **quote(symbol="ESM6", bid=6801.0, ask=6801.25))
            assert api.call("order/placeorder", order(accounts["DEMO2"], symbol="ESM6", action="Sell"),
                            demo).get("orderId")
            cash_before = {name: api.deps("cashBalance", i, admin)[0]["amount"] for name, i in accounts.items()}
        server.stop()
        # Act: started again on the real clock, months after ESM6's last session
        server = ServerProcess(server.db_path, server.log_path)
        server.start()
        # Assert
        with Api(server.base_url) as api:
            admin = api.token(ADMIN, ADMIN_PASSWORD)
            assert api.item("order", resting, admin)["ordStatus"] == "Expired"
            esm6 = api.find("contract", "ESM6", admin)["id"]
            for name, pnl in (("DEMO1", 0.75 * ES_POINT_VALUE), ("DEMO2", 0.0)):
                positions = [p for p in api.deps("position", accounts[name], admin) if p["contractId"] == esm6]
                assert [p["netPos"] for p in positions] == [0]
                closing, = [o for o in api.deps("order", accounts[name], admin) if o["admin"]]
                assert [f["price"] for f in api.deps("fill", closing["id"], admin)] == [6801.0]
                amount = api.deps("cashBalance", accounts[name], admin)[0]["amount"]
                assert amount == round(cash_before[name] + pnl, 2), name
    finally:
        server.kill()


async def test_instrument_changes_reach_only_the_sockets_that_know_the_instrument(desk: Desk, ws: Opener) -> None:
    # Arrange: DEMO1 holds ESZ6; one socket follows DEMO1, another DEMO2 (nothing open: no contract in its snapshot)
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1))
    holder = await ws(desk.demo)
    held = await holder.sync({"accounts": [desk.demo1]})
    bystander = await ws(desk.demo)
    empty = await bystander.sync({"accounts": [desk.demo2]})
    assert empty["contracts"] == [] and [c["name"] for c in held["contracts"]] == ["ESZ6"]
    # Act: the clock passes ESZ6's expiry (ESH7 becomes the front month, ESM7 is listed); DEMO2 then buys ESH7
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    desk.quote(symbol="ESH7", bid=6850.0, ask=6850.25)
    desk.place(order(desk.demo2, symbol="ESH7"))
    await bystander.wait_until(lambda: any(p["entityType"] == "order" for p in bystander.props()),
                               what="DEMO2's order")
    esz6_maturity = held["contractMaturities"][0]["id"]
    await holder.wait_until(lambda: any(p["entityType"] == "contractMaturity" for p in holder.props()),
                            what="ESZ6's maturity update")
    # Assert: the holder hears of ESZ6's maturity only; the bystander of ESH7, introduced before its order
    assert {(p["entityType"], p["entity"]["id"]) for p in holder.props() if p["entityType"] in INSTRUMENTS} == \
        {("contractMaturity", esz6_maturity)}
    introduced = [(p["entityType"], p["eventType"]) for p in bystander.props() if p["entityType"] in INSTRUMENTS]
    assert introduced == [("exchange", "Created"), ("product", "Created"), ("contractMaturity", "Created"),
                          ("contract", "Created")]
    kinds = [p["entityType"] for p in bystander.props()]
    assert kinds.index("contract") < kinds.index("order")
    for snapshot, socket in ((held, holder), (empty, bystander)):
        assert unknown(snapshot, socket.props()) == []


def unknown(snapshot: JSON, props: list[JSON]) -> list[str]:
    """Instrument updates of instruments the socket never saw, and orders and positions in contracts it never saw."""
    seen = {(kind, e["id"]) for kind, plural in INSTRUMENTS.items() for e in snapshot.get(plural) or []}
    found: list[str] = []
    for event in props:
        kind, entity = event["entityType"], event["entity"]
        if kind in INSTRUMENTS:
            if event["eventType"] != "Created" and (kind, entity["id"]) not in seen:
                found.append(f"{kind} {entity['id']} {event['eventType']} before it was seen")
            seen.add((kind, entity["id"]))
        elif kind in ("order", "position") and ("contract", entity["contractId"]) not in seen:
            found.append(f"{kind} {entity['id']} in contract {entity['contractId']} never seen")
    return found

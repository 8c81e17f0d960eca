"""Orders over HTTP as a Tradovate client sends them: fills, positions, cash, the entity trail, cancels, modifies,
OCO/OSO brackets, realized P&L, and the HTTP-200 rejections with their `failureReason`."""

import pytest
from server import (
    AFTER_ESZ6_EXPIRY,
    BACK,
    DEMO,
    DEMO_PASSWORD,
    ES_FEES_PER_SIDE,
    ES_POINT_VALUE,
    SATURDAY,
    START_BALANCE,
    Desk,
    leg,
    limit,
    order,
    stop,
)

FEE_LOG = [("Commission", 0.59), ("ExchangeFee", 1.38), ("ClearingFee", 0.10), ("NfaFee", 0.02)]


def fee_entries(qty: int) -> list[tuple[str, float]]:
    return [(kind, round(-fee * qty, 2)) for kind, fee in FEE_LOG]


def trades(desk: Desk, account_id: int) -> list[tuple[str, float]]:
    """The cash-balance log of an account after its initial funding: (cashChangeType, delta)."""
    return [(e["cashChangeType"], e["delta"]) for e in desk.cash_log(account_id)[1:]]


def lots(fills: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(f["qty"], f["price"]) for f in fills]


def set_admin_action(desk: Desk, account_id: int, action: str) -> dict[str, object]:
    result: dict[str, object] = desk.api.call("accountRiskStatus/setadminautoliqaction",
                                              {"accountId": account_id, "adminAction": action}, desk.admin)
    return result


# --- market orders, positions, cash --------------------------------------------------------------


def test_market_buy_fills_at_the_ask_when_the_book_shows_enough(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25, bid_size=10, ask_size=10)
    # Act
    result = desk.place(order(desk.demo1, action="Buy", qty=1))
    # Assert
    assert set(result) == {"orderId"}
    placed = desk.order(result["orderId"])
    assert (placed["accountId"], placed["contractId"], placed["action"], placed["ordStatus"]) == (
        desk.demo1, desk.front, "Buy", "Filled")
    fills = desk.fills(result["orderId"])
    assert [(f["qty"], f["price"], f["action"], f["contractId"]) for f in fills] == [(1, 6800.25, "Buy", desk.front)]
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["netPrice"], position["bought"], position["boughtValue"]) == (
        1, 6800.25, 1, 6800.25)
    assert (position["sold"], position["soldValue"], position["prevPos"]) == (0, 0.0, 0)
    cash = desk.cash(desk.demo1)
    assert (cash["amount"], cash["realizedPnL"]) == (round(START_BALANCE - ES_FEES_PER_SIDE, 2), 0.0)
    assert trades(desk, desk.demo1) == fee_entries(1)
    assert {e["fillId"] for e in desk.cash_log(desk.demo1)[1:]} == {fills[0]["id"]}


def test_market_sell_fills_at_the_bid_and_opens_a_short_when_flat(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    result = desk.place(order(desk.demo1, action="Sell", qty=2))
    assert lots(desk.fills(result["orderId"])) == [(2, 6800.0)]
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["netPrice"], position["sold"], position["soldValue"]) == (
        -2, 6800.0, 2, 13600.0)


def test_execution_reports_trace_new_then_trade_when_a_market_order_fills(desk: Desk) -> None:
    desk.quote()
    order_id = desk.place(order(desk.demo1, qty=3))["orderId"]
    reports = [r for r in desk.api.entities("executionReport", desk.demo) if r["orderId"] == order_id]
    assert [(r["execType"], r["ordStatus"]) for r in reports] == [("New", "Working"), ("Trade", "Filled")]
    trade = reports[1]
    assert (trade["cumQty"], trade["avgPx"], trade["lastQty"], trade["lastPx"], trade["name"]) == (
        3, 6800.25, 3, 6800.25, "ESZ6")


def test_command_and_command_report_are_visible_when_an_order_was_placed(desk: Desk) -> None:
    # Arrange
    desk.quote()
    order_id = desk.place(order(desk.demo1))["orderId"]
    command_id = desk.api.entities("executionReport", desk.demo)[0]["commandId"]
    # Act
    commands = desk.api.deps("command", order_id, desk.demo)
    item = desk.api.get("/v1/command/item", desk.demo, id=command_id)
    # Assert
    assert [(c["id"], c["commandType"]) for c in commands] == [(command_id, "New")]
    assert item.status_code == 200
    assert len(desk.api.deps("commandReport", command_id, desk.demo)) == 1


def test_snapshot_marks_the_open_position_at_the_last_trade_when_the_market_moved(desk: Desk) -> None:
    # Arrange
    desk.quote()
    desk.place(order(desk.demo1))
    desk.quote(bid=6809.75, ask=6810.0, last=6810.0)
    # Act
    snapshot = desk.snapshot(desk.demo1)
    # Assert
    cash = round(START_BALANCE - ES_FEES_PER_SIDE, 2)
    open_pnl = (6810.0 - 6800.25) * ES_POINT_VALUE
    assert (snapshot["totalCashValue"], snapshot["openPnL"], snapshot["realizedPnL"]) == (cash, open_pnl, 0.0)
    assert snapshot["netLiq"] == round(cash + open_pnl, 2)
    assert snapshot["totalPnL"] == open_pnl


def test_market_order_walks_the_depth_when_its_qty_exceeds_the_top_size(desk: Desk) -> None:
    # Arrange
    desk.quote(ask=6800.25, ask_size=2, depthSize=3, depthLevels=2)
    # Act
    order_id = desk.place(order(desk.demo1, qty=7))["orderId"]
    # Assert
    assert desk.status(order_id) == "Filled"
    assert lots(desk.fills(order_id)) == [(2, 6800.25), (3, 6800.5), (2, 6800.75)]
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["netPrice"], position["boughtValue"]) == (7, 6800.5, 47603.5)
    reports = [r for r in desk.api.entities("executionReport", desk.demo) if r["execType"] == "Trade"]
    assert [(r["cumQty"], r["lastQty"], r["lastPx"]) for r in reports] == [
        (2, 2, 6800.25), (5, 3, 6800.5), (7, 2, 6800.75)]
    assert desk.cash(desk.demo1)["amount"] == round(START_BALANCE - 7 * ES_FEES_PER_SIDE, 2)


def test_market_order_keeps_working_and_fills_later_when_the_book_shows_less_than_its_qty(desk: Desk) -> None:
    # Arrange
    desk.quote(ask=6800.25, ask_size=2, depthSize=0)
    order_id = desk.place(order(desk.demo1, qty=5))["orderId"]
    assert (desk.status(order_id), lots(desk.fills(order_id))) == ("Working", [(2, 6800.25)])
    # Act
    desk.quote(bid=6800.25, ask=6800.5, ask_size=10, depthSize=0)
    # Assert
    assert desk.status(order_id) == "Filled"
    assert lots(desk.fills(order_id)) == [(2, 6800.25), (3, 6800.5)]


# --- limits, stops, cancel, modify ---------------------------------------------------------------


def test_resting_limit_is_cancelled_with_its_trail_when_cancel_is_sent(desk: Desk) -> None:
    # Arrange
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6790.0, qty=2))["orderId"]
    assert desk.status(order_id) == "Working"
    # Act
    result = desk.cancel(order_id)
    # Assert
    assert set(result) == {"commandId"}
    assert desk.status(order_id) == "Canceled"
    command = desk.api.item("command", result["commandId"], desk.demo)
    assert (command["orderId"], command["commandType"], command["senderId"]) == (order_id, "Cancel", desk.demo_user)
    reports = desk.api.deps("commandReport", result["commandId"], desk.demo)
    assert [(r["commandStatus"], r["ordStatus"]) for r in reports] == [("AtExecution", "Canceled")]
    executions = [r for r in desk.api.entities("executionReport", desk.demo) if r["orderId"] == order_id]
    assert [(r["execType"], r["ordStatus"]) for r in executions] == [("New", "Working"), ("Canceled", "Canceled")]
    versions = desk.api.deps("orderVersion", order_id, desk.demo)
    assert [(v["orderQty"], v["orderType"], v["price"]) for v in versions] == [(2, "Limit", 6790.0)]
    assert desk.fills(order_id) == []
    assert desk.api.deps("position", desk.demo1, desk.demo) == []
    assert desk.cash(desk.demo1)["amount"] == START_BALANCE


def test_cancel_answers_too_late_when_the_order_already_filled(desk: Desk) -> None:
    desk.quote()
    order_id = desk.place(order(desk.demo1))["orderId"]
    result = desk.cancel(order_id)
    assert result["failureReason"] == "TooLate"
    assert desk.status(order_id) == "Filled"


def test_resting_limit_fills_at_its_price_when_a_later_quote_crosses_it(desk: Desk) -> None:
    # Arrange
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6795.0, qty=2))["orderId"]
    assert desk.status(order_id) == "Working"
    # Act
    desk.quote(bid=6794.5, ask=6794.75)
    # Assert
    assert desk.status(order_id) == "Filled"
    assert lots(desk.fills(order_id)) == [(2, 6795.0)]
    assert desk.position(desk.demo1)["netPos"] == 2


def test_resting_limit_keeps_working_when_the_quote_does_not_reach_it(desk: Desk) -> None:
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6795.0))["orderId"]
    desk.quote(bid=6795.25, ask=6795.5)
    assert desk.status(order_id) == "Working"
    assert desk.fills(order_id) == []


def test_marketable_limit_fills_at_the_touch_when_it_arrives(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    order_id = desk.place(limit(desk.demo1, 6801.0))["orderId"]
    assert lots(desk.fills(order_id)) == [(1, 6800.25)]


def test_buy_stop_triggers_and_fills_at_market_when_the_offer_reaches_it(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    order_id = desk.place(stop(desk.demo1, 6802.0))["orderId"]
    desk.quote(bid=6801.5, ask=6801.75)
    assert desk.status(order_id) == "Working"
    # Act
    desk.quote(bid=6802.0, ask=6802.25)
    # Assert
    assert desk.status(order_id) == "Filled"
    assert lots(desk.fills(order_id)) == [(1, 6802.25)]


def test_sell_stop_limit_triggers_and_sells_within_its_limit_when_the_bid_falls_to_it(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    order_id = desk.place(order(desk.demo1, action="Sell", order_type="StopLimit", stopPrice=6795.0,
                                price=6794.75))["orderId"]
    assert desk.status(order_id) == "Working"
    desk.quote(bid=6795.0, ask=6795.25)
    assert lots(desk.fills(order_id)) == [(1, 6795.0)]


def test_modify_creates_a_new_order_version_when_the_order_is_working(desk: Desk) -> None:
    # Arrange
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6790.0))["orderId"]
    # Act
    result = desk.api.call("order/modifyorder", {"orderId": order_id, "orderQty": 3, "orderType": "Limit",
                                                 "price": 6791.0}, desk.demo)
    # Assert
    assert set(result) == {"commandId"}
    versions = sorted(desk.api.deps("orderVersion", order_id, desk.demo), key=lambda v: v["id"])
    assert [(v["orderQty"], v["price"]) for v in versions] == [(1, 6790.0), (3, 6791.0)]
    assert desk.status(order_id) == "Working"
    executions = [r["execType"] for r in desk.api.entities("executionReport", desk.demo) if r["orderId"] == order_id]
    assert executions == ["New", "Replaced"]


def test_modify_fills_the_order_when_its_new_price_crosses_the_market(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    order_id = desk.place(limit(desk.demo1, 6790.0))["orderId"]
    desk.api.call("order/modifyorder", {"orderId": order_id, "orderQty": 1, "orderType": "Limit", "price": 6801.0},
                  desk.demo)
    assert desk.status(order_id) == "Filled"
    assert lots(desk.fills(order_id)) == [(1, 6800.25)]


def test_modify_answers_too_late_when_the_order_was_cancelled(desk: Desk) -> None:
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6790.0))["orderId"]
    desk.cancel(order_id)
    result = desk.api.call("order/modifyorder", {"orderId": order_id, "orderQty": 1, "orderType": "Limit",
                                                 "price": 6791.0}, desk.demo)
    assert result["failureReason"] == "TooLate"
    assert len(desk.api.deps("orderVersion", order_id, desk.demo)) == 1


@pytest.mark.parametrize(("tif", "status", "filled"), [("IOC", "Canceled", [(10, 6800.25)]),
                                                        ("FOK", "Canceled", []),
                                                        ("Day", "Working", [(10, 6800.25)])])
def test_time_in_force_decides_the_remainder_when_the_book_is_too_thin(
        desk: Desk, tif: str, status: str, filled: list[tuple[int, float]]) -> None:
    desk.quote(ask=6800.25, ask_size=10, depthSize=0)
    order_id = desk.place(limit(desk.demo1, 6800.5, qty=15, timeInForce=tif))["orderId"]
    assert (desk.status(order_id), lots(desk.fills(order_id))) == (status, filled)


def test_order_is_placed_on_the_named_account_when_account_spec_is_given(desk: Desk) -> None:
    desk.quote()
    result = desk.place(order(None, accountSpec="DEMO2", text="spec", clOrdId="client-1"))
    assert desk.order(result["orderId"])["accountId"] == desk.demo2
    assert desk.api.deps("orderVersion", result["orderId"], desk.demo)[0]["text"] == "spec"


# --- OCO and OSO ---------------------------------------------------------------------------------


def test_oco_cancels_the_other_leg_when_one_leg_fills(desk: Desk) -> None:
    # Arrange: long one, protected by a target and a stop
    desk.quote()
    desk.place(order(desk.demo1))
    result = desk.place({**limit(desk.demo1, 6810.0, action="Sell"), "other": leg("Sell", "Stop", stopPrice=6790.0)},
                        operation="order/placeoco")
    target, protection = result["orderId"], result["ocoId"]
    assert desk.order(target)["ocoId"] == desk.order(protection)["ocoId"]
    assert (desk.status(target), desk.status(protection)) == ("Working", "Working")
    assert desk.api.deps("orderVersion", protection, desk.demo)[0]["orderType"] == "Stop"
    # Act
    desk.quote(bid=6810.0, ask=6810.25)
    # Assert
    assert (desk.status(target), desk.status(protection)) == ("Filled", "Canceled")
    assert lots(desk.fills(target)) == [(1, 6810.0)]
    assert desk.position(desk.demo1)["netPos"] == 0


def test_oso_brackets_work_as_an_oco_when_the_suspended_legs_entry_fills(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    result = desk.place({**limit(desk.demo2, 6795.0, qty=2), "bracket1": leg("Sell", "Limit", price=6805.0),
                         "bracket2": leg("Sell", "Stop", stopPrice=6790.0)}, operation="order/placeoso")
    entry, target, protection = result["orderId"], result["oso1Id"], result["oso2Id"]
    legs = [desk.order(target), desk.order(protection)]
    assert desk.status(entry) == "Working"
    assert [(o["ordStatus"], o["parentId"]) for o in legs] == [("Suspended", entry), ("Suspended", entry)]
    assert legs[0]["ocoId"] == legs[1]["ocoId"] is not None
    assert desk.api.deps("orderVersion", target, desk.demo)[0]["orderQty"] == 2
    # Act 1: the entry fills
    desk.quote(bid=6794.75, ask=6795.0)
    assert [desk.status(i) for i in (entry, target, protection)] == ["Filled", "Working", "Working"]
    # Act 2: the target fills
    desk.quote(bid=6805.0, ask=6805.25)
    # Assert
    assert [desk.status(i) for i in (entry, target, protection)] == ["Filled", "Filled", "Canceled"]
    pairs = desk.api.entities("fillPair", desk.demo)
    assert [(p["qty"], p["buyPrice"], p["sellPrice"]) for p in pairs] == [(2, 6795.0, 6805.0)]
    cash = desk.cash(desk.demo2)
    realized = (6805.0 - 6795.0) * 2 * ES_POINT_VALUE
    assert (cash["realizedPnL"], cash["amount"]) == (realized, round(START_BALANCE + realized - 4 * ES_FEES_PER_SIDE,
                                                                     2))


# --- closing trades ------------------------------------------------------------------------------


def test_closing_trade_realizes_pnl_in_dollars_minus_fees_when_a_long_is_sold(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    buy = desk.place(order(desk.demo1, qty=2))["orderId"]
    desk.quote(bid=6790.0, ask=6790.25)
    # Act
    sell = desk.place(order(desk.demo1, action="Sell", qty=2))["orderId"]
    # Assert
    realized = (6790.0 - 6800.25) * 2 * ES_POINT_VALUE
    assert realized == -1025.0
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["bought"], position["sold"]) == (0, 2, 2)
    assert (position["boughtValue"], position["soldValue"], "netPrice" in position) == (13600.5, 13580.0, False)
    pairs = desk.api.deps("fillPair", position["id"], desk.demo)
    buy_fill, sell_fill = desk.fills(buy)[0], desk.fills(sell)[0]
    assert [(p["buyFillId"], p["sellFillId"], p["qty"], p["buyPrice"], p["sellPrice"]) for p in pairs] == [
        (buy_fill["id"], sell_fill["id"], 2, 6800.25, 6790.0)]
    assert trades(desk, desk.demo1) == [*fee_entries(2), ("TradePaired", realized), *fee_entries(2)]
    paired = next(e for e in desk.cash_log(desk.demo1) if e["cashChangeType"] == "TradePaired")
    assert (paired["fillPairId"], paired["realizedPnL"]) == (pairs[0]["id"], realized)
    balance = round(START_BALANCE + realized - 4 * ES_FEES_PER_SIDE, 2)
    assert balance == 48966.64
    cash = desk.cash(desk.demo1)
    assert (cash["amount"], cash["realizedPnL"]) == (balance, realized)
    snapshot = desk.snapshot(desk.demo1)
    assert (snapshot["totalCashValue"], snapshot["realizedPnL"], snapshot["openPnL"], snapshot["netLiq"]) == (
        balance, realized, 0.0, balance)


def test_closing_fill_is_recorded_as_paired_when_it_closes_a_position(desk: Desk) -> None:
    desk.quote()
    desk.place(order(desk.demo1, action="Buy"))
    sell = desk.place(order(desk.demo1, action="Sell"))["orderId"]
    fills = sorted(desk.api.entities("fill", desk.demo), key=lambda f: f["id"])
    assert [(f["orderId"], f["finallyPaired"]) for f in fills][-1] == (sell, 1)
    assert [f["finallyPaired"] for f in fills] == [1, 1]


def test_position_reopens_when_an_order_fills_after_a_closing_trade(desk: Desk) -> None:
    # Arrange: buy 1, sell 1 (flat)
    desk.quote()
    desk.place(order(desk.demo1, action="Buy"))
    desk.place(order(desk.demo1, action="Sell"))
    # Act
    response = desk.api.post("/v1/order/placeorder", order(desk.demo1, action="Buy"), desk.demo)
    # Assert
    assert response.status_code == 200, response.text
    assert desk.status(response.json()["orderId"]) == "Filled"
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["netPrice"], position["bought"], position["sold"]) == (1, 6800.25, 2, 1)


def test_partial_close_pairs_first_in_first_out_when_two_lots_are_open(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1))
    desk.quote(bid=6801.0, ask=6801.25)
    desk.place(order(desk.demo1))
    desk.quote(bid=6805.0, ask=6805.25)
    # Act
    desk.place(order(desk.demo1, action="Sell"))
    # Assert
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["netPrice"]) == (1, 6801.25)
    pairs = desk.api.deps("fillPair", position["id"], desk.demo)
    assert [(p["qty"], p["buyPrice"], p["sellPrice"]) for p in pairs] == [(1, 6800.25, 6805.0)]
    assert desk.cash(desk.demo1)["realizedPnL"] == 237.5


# --- rejections ----------------------------------------------------------------------------------


def test_order_without_account_answers_violations_when_neither_id_nor_spec_is_given(desk: Desk) -> None:
    desk.quote()
    result = desk.place(order(None))
    assert [v["constraint"] for v in result["violations"]] == ["accountId"]
    assert "orderId" not in result
    assert desk.api.entities("order", desk.admin) == []


@pytest.mark.parametrize(("body_of", "reason"), [
    (lambda d: order(d.demo1, symbol="XXZ6"), "InvalidContract"),
    (lambda d: order(d.demo1, symbol=987654), "InvalidContract"),
    (lambda d: limit(d.demo1, 6800.1), "InvalidPrice"),
    (lambda d: stop(d.demo1, 6802.3), "InvalidPrice"),
    (lambda d: order(d.demo1, order_type="Limit"), "InvalidPrice"),
    (lambda d: order(d.template), "Unauthorized"),
    (lambda d: order(987654), "Unauthorized"),
    (lambda d: order(d.demo1, accountSpec="DEMO2"), "Unauthorized"),
    (lambda d: order(None, accountSpec="TEMPLATE"), "Unauthorized"),
    (lambda d: order(d.demo1, order_type="QTS", price=6790.0), "Unsupported"),
], ids=["unknown-symbol", "unknown-contract-id", "limit-off-grid", "stop-off-grid", "limit-without-price",
        "template-account", "unknown-account", "id-and-spec-disagree", "spec-of-template", "unsupported-type"])
def test_order_is_refused_and_nothing_is_written_when_it_cannot_be_placed(
        desk: Desk, body_of: object, reason: str) -> None:
    # Arrange
    desk.quote()
    assert callable(body_of)
    # Act
    response = desk.api.post("/v1/order/placeorder", body_of(desk), desk.demo)
    # Assert
    assert response.status_code == 200
    result = response.json()
    assert result["failureReason"] == reason
    assert result["failureText"]
    assert "orderId" not in result
    assert desk.api.entities("order", desk.admin) == []
    assert desk.api.entities("executionReport", desk.admin) == []


def assert_rejected(desk: Desk, result: dict[str, object], reason: str, token: str | None = None) -> None:
    """A risk refusal: HTTP 200 with the reason, and a Rejected order whose trail carries it."""
    assert result["failureReason"] == reason
    order_id = result["orderId"]
    assert isinstance(order_id, int)
    assert desk.api.item("order", order_id, token or desk.demo)["ordStatus"] == "Rejected"
    reports = [r for r in desk.api.entities("executionReport", token or desk.demo) if r["orderId"] == order_id]
    assert [(r["execType"], r["rejectReason"]) for r in reports] == [("Rejected", reason)]
    assert desk.api.deps("fill", order_id, token or desk.demo) == []


def test_order_is_rejected_as_session_closed_when_the_clock_is_on_a_saturday(desk: Desk) -> None:
    desk.quote()
    desk.api.set_clock(SATURDAY, desk.admin)
    assert_rejected(desk, desk.place(order(desk.demo1)), "SessionClosed")
    assert_rejected(desk, desk.place(limit(desk.demo1, 6790.0)), "SessionClosed")


def test_order_is_rejected_as_too_late_when_the_contract_has_expired(desk: Desk) -> None:
    # Arrange: past ESZ6's last trade date (2026-12-18); tokens from before the move have expired
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    demo = desk.api.token(DEMO, DEMO_PASSWORD)
    # Act
    expired = desk.place(order(desk.demo1, symbol="ESZ6"), token=demo)
    live = desk.place(order(desk.demo1, symbol=BACK), token=demo)
    # Assert
    assert_rejected(desk, expired, "TooLate", demo)
    assert desk.api.item("order", live["orderId"], demo)["ordStatus"] == "Filled"


def test_order_is_rejected_as_no_quote_when_the_contract_has_no_bid_or_offer(desk: Desk) -> None:
    desk.quote(bid=None, ask=None)
    assert_rejected(desk, desk.place(order(desk.demo1)), "NoQuote")


def test_market_buy_is_rejected_as_no_quote_when_only_a_bid_is_shown(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=None)
    assert_rejected(desk, desk.place(order(desk.demo1, action="Buy")), "NoQuote")
    assert desk.status(desk.place(order(desk.demo1, action="Sell"))["orderId"]) == "Filled"


def test_order_is_rejected_as_trading_locked_when_the_admin_locked_the_account(desk: Desk) -> None:
    # Arrange
    desk.quote()
    status = set_admin_action(desk, desk.demo1, "LockTradingImmediately")
    assert status["accountRiskStatus"]["adminAction"] == "LockTradingImmediately"  # type: ignore[index]
    # Act / Assert
    assert_rejected(desk, desk.place(order(desk.demo1)), "TradingLocked")
    assert desk.api.item("accountRiskStatus", desk.demo1, desk.demo)["adminAction"] == "LockTradingImmediately"
    assert desk.status(desk.place(order(desk.demo2))["orderId"]) == "Filled"
    set_admin_action(desk, desk.demo1, "Normal")
    assert desk.status(desk.place(order(desk.demo1))["orderId"]) == "Filled"


def test_only_reducing_orders_are_accepted_when_the_account_is_liquidation_only(desk: Desk) -> None:
    # Arrange: long 2
    desk.quote()
    desk.place(order(desk.demo1, qty=2))
    set_admin_action(desk, desk.demo1, "LiquidateOnlyModeImmediately")
    # Act / Assert
    assert_rejected(desk, desk.place(order(desk.demo1, action="Buy")), "LiquidationOnly")
    assert_rejected(desk, desk.place(order(desk.demo1, action="Sell", qty=3)), "LiquidationOnly")
    reduce = desk.place(order(desk.demo1, action="Sell", qty=1))
    assert desk.status(reduce["orderId"]) == "Filled"
    assert desk.position(desk.demo1)["netPos"] == 1
    set_admin_action(desk, desk.demo1, "Normal")
    assert desk.status(desk.place(limit(desk.demo1, 6790.0))["orderId"]) == "Working"
